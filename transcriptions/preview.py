"""The preview of one transcription: the cached row, its recording's other transcriptions, and
the text to show, fetched from Twilio on demand. Every time text is shown, the view is audited;
the text itself never reaches the audit trail or a log."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from .audit import Actor, audit_record
from .deletion import transcription_forget_gone
from .models import AuditEvent, Transcription
from .personal_data import masked_text
from .retention import text_is_past_retention
from .sids import is_transcription_sid
from .sync import transcription_text_fetch
from .twilio_client import TwilioError, TwilioNotConfigured, TwilioNotFound

# Why there is no text, for the statuses Twilio has none for ("Refresh from Twilio" asks).
_NO_TEXT = {
    "failed": "Twilio has no text for this transcription: it failed.",
    "in-progress": "Twilio has not finished this transcription yet; refresh to ask again.",
}
# The preview lists this many of the recording's other transcriptions at most.
RECORDING_OTHERS_LIMIT = 50


def transcription_cached(sid: str) -> Transcription | None:
    """The cached row for a well-formed SID, or None (malformed SIDs are never queried)."""
    if not is_transcription_sid(sid):
        return None
    return Transcription.objects.filter(sid=sid).first()


def recording_others(transcription: Transcription) -> list[Transcription]:
    """The recording's other cached transcriptions, newest first, without their text."""
    if not transcription.recording_sid:
        return []
    others = (
        Transcription.objects.filter(recording_sid=transcription.recording_sid)
        .exclude(pk=transcription.pk)
        .defer("transcription_text")
    )
    return list(others[:RECORDING_OTHERS_LIMIT])


@dataclass(frozen=True)
class PreviewText:
    """What the preview shows in place of the text: the text, or why there is none. `gone`:
    Twilio answered 404, and the row was removed from the cache."""

    text: str | None = None
    notice: str = ""
    error: str = ""
    gone: bool = False
    # Personal data in the text was masked (it can be revealed, by those who may).
    masked: bool = False
    # The text came from Twilio just now: the table's row can show it too.
    fetched: bool = False


def preview_text_load(
    *, transcription: Transcription, actor: Actor, reveal: bool = False
) -> PreviewText:
    """The text to show, fetched from Twilio (and cached) when the cache has none, unless the
    retention setting forbids keeping it; personal data masked, unless `reveal` (the caller
    checks the right). Every time text is shown, the view is audited, a reveal as such."""
    if text_is_past_retention(transcription):
        days = settings.TRANSCRIPT_TEXT_RETENTION_DAYS
        return PreviewText(
            notice=(
                f"This transcription is older than the retention period ({days} days): its "
                "text is not kept here and was not fetched from Twilio."
            )
        )
    source = "cache"
    if transcription.transcription_text is None and transcription.status in _NO_TEXT:
        # Twilio has no text for a failed or unfinished transcription: no call to ask it.
        return PreviewText(notice=_NO_TEXT[transcription.status])
    if transcription.transcription_text is None:
        try:
            transcription_text_fetch(transcription=transcription)
        except TwilioNotConfigured as exc:
            return PreviewText(notice=f"The text is not cached yet. {exc.in_plain_words()}")
        except TwilioNotFound:
            transcription_forget_gone(transcription=transcription, actor=actor)
            return PreviewText(gone=True)
        except TwilioError as exc:
            return PreviewText(error=f"The text could not be fetched. {exc.in_plain_words()}")
        source = "fetched from Twilio"
    text = transcription.transcription_text
    if text is None:
        return PreviewText(
            notice=f"Twilio has no text for this transcription (status: {transcription.status})."
        )
    shown = text if reveal else masked_text(text, transcription.personal_data_found)
    outcome = source
    if reveal:
        outcome += ", personal data shown"
    elif shown != text:
        outcome += ", personal data masked"
    audit_record(
        user=actor,
        action=AuditEvent.Action.REVEALED if reveal else AuditEvent.Action.VIEWED_TEXT,
        transcription_sid=transcription.sid,
        recording_sid=transcription.recording_sid,
        outcome=outcome,
    )
    return PreviewText(text=shown, masked=shown != text, fetched=source != "cache")
