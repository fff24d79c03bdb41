"""Listening to a transcription's recording in the desk. The audio comes through the desk (the
browser never gets Twilio's URL or credentials), a range at a time, so that memory stays flat
and no worker is held by a slow listener. A listening session starts with one audited request,
which gives a short-lived signed URL; the player's range requests (seeking) carry it, and are
not audited again: listening is reading, once per session."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import requests
from django.core import signing

from .audit import Actor, audit_record
from .models import AuditEvent, Transcription
from .sids import is_recording_sid, is_transcription_sid
from .twilio_client import (
    TwilioClient,
    TwilioError,
    TwilioNotConfigured,
    TwilioNotFound,
    get_client,
)

# How long a listening session's URL works: enough to listen to a long call and seek in it.
LISTEN_SECONDS = 2 * 60 * 60
# At most this much audio in one answer: an open-ended range gets this much (206, with its
# Content-Range) and the player asks for the rest as it plays, so no answer holds a worker
# for longer than it takes to send this.
MEDIA_CHUNK_BYTES = 1024 * 1024
STREAM_CHUNK_BYTES = 64 * 1024
FORMATS = {"mp3": ("audio/mpeg", ".mp3"), "wav": ("audio/wav", ".wav")}
_SALT = "transcriptions.listening"
_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")
_RELAYED = ("Content-Length", "Content-Range")


@dataclass(frozen=True)
class ListeningStart:
    """A listening session's signed token, or why there is none (in plain words)."""

    token: str = ""
    error: str = ""


@dataclass(frozen=True)
class ListenGrant:
    user_pk: int
    sid: str
    recording_sid: str


def listening_start(*, transcription: Transcription, user: Actor) -> ListeningStart:
    """Ask Twilio whether the recording's audio is there; if it is, audit the listening and
    sign a URL for it. Plain words for every reason it cannot be played."""
    recording_sid = transcription.recording_sid
    if not is_recording_sid(recording_sid):
        return ListeningStart(error="This transcription names no recording to play.")
    try:
        with get_client() as client:
            status = client.fetch_recording_status(recording_sid)
    except TwilioNotFound:
        return ListeningStart(error=f"Twilio has no recording {recording_sid} (deleted?).")
    except TwilioError as exc:
        return ListeningStart(error=f"The recording cannot be played. {exc.in_plain_words()}")
    if status == "deleted":
        return ListeningStart(error=f"The audio of {recording_sid} was deleted at Twilio.")
    if status not in ("completed", ""):
        return ListeningStart(error=f"The recording is not ready at Twilio ({status}).")
    audit_record(
        user=user,
        action=AuditEvent.Action.LISTENED,
        transcription_sid=transcription.sid,
        recording_sid=recording_sid,
    )
    payload = {"u": getattr(user, "pk", None), "t": transcription.sid, "r": recording_sid}
    return ListeningStart(token=signing.dumps(payload, salt=_SALT, compress=True))


def listen_grant(token: str, sid: str) -> ListenGrant | None:
    """What a listening token allows, if it is genuine, unexpired and for this transcription."""
    try:
        payload = signing.loads(token, salt=_SALT, max_age=LISTEN_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("t") != sid:
        return None
    if not (is_transcription_sid(sid) and is_recording_sid(str(payload.get("r", "")))):
        return None
    return ListenGrant(user_pk=payload.get("u") or 0, sid=sid, recording_sid=payload["r"])


def bounded_range(requested: str) -> str:
    """The range to ask Twilio for: the player's, cut to `MEDIA_CHUNK_BYTES`. No range when
    none was asked for (the whole file, 200: players always ask for ranges); a suffix or a
    multiple range from the first byte."""
    if not requested.strip():
        return ""
    match = _RANGE_RE.match(requested.strip())
    if match is None:
        return f"bytes=0-{MEDIA_CHUNK_BYTES - 1}"
    start = int(match.group(1))
    end = start + MEDIA_CHUNK_BYTES - 1
    if match.group(2):
        end = min(end, int(match.group(2)))
    return f"bytes={start}-{max(start, end)}"


class _Relayed:
    """Twilio's answer as an iterable of chunks, closed (with its connection) by Django once
    the answer is sent or the listener has gone."""

    def __init__(self, upstream: requests.Response, client: TwilioClient) -> None:
        self._upstream, self._client = upstream, client

    def __iter__(self) -> Iterator[bytes]:
        return self._upstream.iter_content(STREAM_CHUNK_BYTES)

    def close(self) -> None:
        self._upstream.close()
        self._client.close()


@dataclass
class MediaAnswer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] = ()
    error: str = ""


def media_relay(grant: ListenGrant, *, fmt: str, requested_range: str) -> MediaAnswer:
    """One range of the recording's audio from Twilio, to be streamed on as it comes."""
    content_type, extension = FORMATS[fmt]
    try:
        client = get_client()
    except TwilioNotConfigured as exc:
        return MediaAnswer(503, error=exc.in_plain_words())
    try:
        upstream = client.recording_media(
            grant.recording_sid, extension=extension, byte_range=bounded_range(requested_range)
        )
    except TwilioNotFound:
        client.close()
        return MediaAnswer(404, error="The audio is not at Twilio.")
    except TwilioError as exc:
        client.close()
        return MediaAnswer(416 if exc.status == 416 else 502, error="Twilio did not send it.")
    headers = {name: upstream.headers[name] for name in _RELAYED if name in upstream.headers}
    headers.update({"Content-Type": content_type, "Accept-Ranges": "bytes"})
    return MediaAnswer(upstream.status_code, headers, _Relayed(upstream, client))
