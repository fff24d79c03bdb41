"""Deleting a call's recording at Twilio, beside its transcription's text ("also delete the
call recording"). Twilio's answer is the outcome: 204 deleted, 404 already gone; anything else
is a failure, kept and audited; no answer at all is settled by asking Twilio for the recording
(deleted recordings stay listable as `deleted`)."""

from __future__ import annotations

from dataclasses import dataclass

from .audit import Actor, audit_record
from .deletion import DeleteOutcome, delete_settled, failure_outcome, transcription_delete
from .models import AuditEvent, Transcription
from .sids import is_recording_sid
from .twilio_client import TwilioClient, TwilioError, client_or_settings

OUTCOME_RECORDING_DELETED = "recording deleted"
OUTCOME_RECORDING_ALREADY_GONE = "recording already gone at Twilio"


def twilio_recording_delete(*, recording_sid: str, client: TwilioClient) -> bool:
    """DELETE the recording at Twilio (see `deletion.delete_settled`; a recording deleted
    stays listable as `deleted`). Touches no database."""
    return delete_settled(
        lambda: client.delete_recording(recording_sid),
        still_there=lambda: client.fetch_recording_status(recording_sid) != "deleted",
    )


def recording_outcome_record(
    *,
    recording_sid: str,
    transcription_sid: str,
    actor: Actor,
    already_gone: bool = False,
    exc: TwilioError | None = None,
    note: str = "",
    batch: str = "",
) -> None:
    """Audit what Twilio said to a recording's delete (never any text)."""
    if exc is not None:
        action, outcome = AuditEvent.Action.RECORDING_DELETE_FAILED, failure_outcome(exc)
    else:
        action = AuditEvent.Action.RECORDING_DELETED
        outcome = OUTCOME_RECORDING_ALREADY_GONE if already_gone else OUTCOME_RECORDING_DELETED
    audit_record(
        user=actor,
        action=action,
        transcription_sid=transcription_sid,
        recording_sid=recording_sid,
        outcome=f"{outcome}{note}",
        batch=batch,
    )


@dataclass(frozen=True)
class RecordingOutcome:
    recording_sid: str
    deleted: bool
    message: str


def recording_delete(
    *,
    recording_sid: str,
    transcription_sid: str,
    actor: Actor,
    client: TwilioClient | None = None,
) -> RecordingOutcome:
    """Delete one recording at Twilio and audit the outcome; a failure is said, not raised."""
    with client_or_settings(client) as twilio:
        try:
            already_gone = twilio_recording_delete(recording_sid=recording_sid, client=twilio)
        except TwilioError as exc:
            recording_outcome_record(
                recording_sid=recording_sid,
                transcription_sid=transcription_sid,
                actor=actor,
                exc=exc,
            )
            return RecordingOutcome(
                recording_sid,
                False,
                f"Its recording {recording_sid} could not be deleted: {exc.in_plain_words()} "
                "It is on the audit trail, to be deleted again.",
            )
    recording_outcome_record(
        recording_sid=recording_sid,
        transcription_sid=transcription_sid,
        actor=actor,
        already_gone=already_gone,
    )
    if already_gone:
        return RecordingOutcome(recording_sid, True, f"Its recording {recording_sid} was gone.")
    return RecordingOutcome(recording_sid, True, f"Its recording {recording_sid} too.")


@dataclass(frozen=True)
class ErasureOutcome:
    """A delete of a transcription's text, and of its recording when that was asked for."""

    text: DeleteOutcome
    recording: RecordingOutcome | None = None

    @property
    def sid(self) -> str:
        return self.text.sid

    @property
    def message(self) -> str:
        return self.text.message + (f" {self.recording.message}" if self.recording else "")


def transcription_erase(
    *, transcription: Transcription, actor: Actor, with_recording: bool = False
) -> ErasureOutcome:
    """Delete the transcription (Twilio first, then the cache: see `deletion`), then, when
    asked, its recording at Twilio. The text's failures raise as there; the recording's are
    said in the outcome's message, the text being gone by then."""
    text = transcription_delete(transcription=transcription, actor=actor)
    if not (with_recording and is_recording_sid(text.recording_sid)):
        return ErasureOutcome(text)
    recording = recording_delete(
        recording_sid=text.recording_sid, transcription_sid=text.sid, actor=actor
    )
    return ErasureOutcome(text, recording)
