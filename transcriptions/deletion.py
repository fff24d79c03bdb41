"""Deleting transcriptions: at Twilio first, then in the cache, always on the audit trail.

Only Twilio's 204, or its 404 (the transcription is already gone), lets the cache forget a row.
Any other answer keeps the row, records the failure, and raises the TwilioError again so the
caller can say what went wrong.

Bulk deletions (`bulk_deletion`) run the same two steps for each of their items.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from .audit import Actor, audit_record
from .models import AuditEvent, Transcription
from .twilio_client import TwilioClient, TwilioError, TwilioNotFound, client_or_settings

OUTCOME_DELETED = "deleted"
OUTCOME_ALREADY_GONE = "already gone at Twilio"


@dataclass(frozen=True)
class DeleteOutcome:
    """What a successful delete did: the SIDs it concerned, and whether Twilio still had it."""

    sid: str
    recording_sid: str
    already_gone: bool

    @property
    def message(self) -> str:
        if self.already_gone:
            return f"{self.sid} was already gone at Twilio; it is removed from the list."
        return f"Deleted {self.sid} at Twilio and from the list."


def failure_outcome(exc: TwilioError) -> str:
    """The audit outcome of a failed delete: status, code and Twilio's message (which never
    carries credentials or text)."""
    status = "no answer" if exc.status is None else f"status {exc.status}"
    code = "" if exc.code is None else f", code {exc.code}"
    return f"{status}{code}: {exc.message}"


def _cache_forget(*, sid: str, recording_sid: str, actor: Actor, action: str, outcome: str) -> None:
    """Remove the cached row (if it is still there) and record why, together."""
    with transaction.atomic():
        Transcription.objects.filter(sid=sid).delete()
        audit_record(
            user=actor,
            action=action,
            transcription_sid=sid,
            recording_sid=recording_sid,
            outcome=outcome,
        )


def twilio_delete(*, sid: str, client: TwilioClient) -> bool:
    """DELETE the transcription at Twilio. Returns True when Twilio answered 404 (already
    gone), False on 204; raises any other TwilioError. Touches no database."""
    try:
        client.delete_transcription(sid)
    except TwilioNotFound:
        return True
    return False


def delete_confirmed_record(
    *, sid: str, recording_sid: str, actor: Actor, already_gone: bool, note: str = ""
) -> None:
    """After Twilio confirmed (204 or 404): forget the cached row and audit "deleted"."""
    outcome = OUTCOME_ALREADY_GONE if already_gone else OUTCOME_DELETED
    _cache_forget(
        sid=sid,
        recording_sid=recording_sid,
        actor=actor,
        action=AuditEvent.Action.DELETED,
        outcome=f"{outcome}{note}",
    )


def delete_failed_record(
    *, sid: str, recording_sid: str, actor: Actor, exc: TwilioError, note: str = ""
) -> None:
    """After Twilio refused or could not be reached: keep the row, audit "delete_failed"."""
    audit_record(
        user=actor,
        action=AuditEvent.Action.DELETE_FAILED,
        transcription_sid=sid,
        recording_sid=recording_sid,
        outcome=f"{failure_outcome(exc)}{note}",
    )


def transcription_delete(
    *, transcription: Transcription, actor: Actor, client: TwilioClient | None = None
) -> DeleteOutcome:
    """Delete one transcription at Twilio, then from the cache, and audit it.

    Twilio's 204 and its 404 (already gone) both remove the cached row and record a "deleted"
    event (outcome "deleted" or "already gone at Twilio"). Any other TwilioError keeps the row,
    records a "delete_failed" event with the status and code, and is raised again. The client
    comes from the settings unless one is given (TwilioNotConfigured, with nothing recorded,
    when the settings lack credentials)."""
    sid, recording_sid = transcription.sid, transcription.recording_sid
    with client_or_settings(client) as twilio:
        try:
            already_gone = twilio_delete(sid=sid, client=twilio)
        except TwilioError as exc:
            delete_failed_record(sid=sid, recording_sid=recording_sid, actor=actor, exc=exc)
            raise
    delete_confirmed_record(
        sid=sid, recording_sid=recording_sid, actor=actor, already_gone=already_gone
    )
    return DeleteOutcome(sid=sid, recording_sid=recording_sid, already_gone=already_gone)


def transcription_forget_gone(*, transcription: Transcription, actor: Actor) -> None:
    """Remove a cached row that Twilio answered 404 for while reading it (a preview or a
    refresh): it was deleted elsewhere. Recorded as a "synced" event, since nothing was
    deleted here, only the cache brought in line with Twilio."""
    _cache_forget(
        sid=transcription.sid,
        recording_sid=transcription.recording_sid,
        actor=actor,
        action=AuditEvent.Action.SYNCED,
        outcome="gone at Twilio; removed from the cache",
    )
