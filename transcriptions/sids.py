"""Twilio's SIDs as the desk accepts them: two letters naming the resource, then 32 hexadecimal
digits. Anything else is never sent to Twilio nor looked up in the cache."""

from __future__ import annotations

import re

TRANSCRIPTION_SID_RE = re.compile(r"^TR[0-9a-fA-F]{32}$")
RECORDING_SID_RE = re.compile(r"^RE[0-9a-fA-F]{32}$")
# The start of a transcription or recording SID as typed in the search box: the type in upper
# case and at least four hexadecimal digits.
SID_PREFIX_RE = re.compile(r"^(?:TR|RE)[0-9a-fA-F]{4,32}$")


class InvalidRecordingSid(ValueError):
    """A recording SID that is not RE followed by 32 hexadecimal digits."""


def is_transcription_sid(value: object) -> bool:
    return isinstance(value, str) and TRANSCRIPTION_SID_RE.fullmatch(value) is not None


def is_recording_sid(value: object) -> bool:
    return isinstance(value, str) and RECORDING_SID_RE.fullmatch(value) is not None


def recording_sid_validate(recording_sid: object) -> str:
    """The SID itself when it is a recording SID; InvalidRecordingSid otherwise."""
    if not is_recording_sid(recording_sid):
        shown = repr(recording_sid)[:50]
        raise InvalidRecordingSid(
            f"{shown} is not a recording SID: expected RE followed by 32 hexadecimal digits."
        )
    return str(recording_sid)


def sid_canonical(value: str) -> str:
    """A SID (or a SID's start) in Twilio's spelling: the type as is, the hex lower-case."""
    return value[:2] + value[2:].lower()


def sid_prefix(word: str) -> str | None:
    """The SID prefix a search word stands for, in Twilio's spelling, or None when it cannot
    be the start of a transcription or recording SID."""
    return sid_canonical(word) if SID_PREFIX_RE.match(word) else None
