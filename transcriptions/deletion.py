"""Deleting transcriptions: at Twilio first, then in the cache, always on the audit trail.

Only Twilio's 204, or its 404 (the transcription is already gone), lets the cache forget a row.
Any other answer keeps the row, records the failure, and raises the TwilioError again so the
caller can say what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from .audit import audit_record
from .models import AuditEvent, Transcription
from .twilio_client import TwilioClient, TwilioError, TwilioNotFound

Actor = AbstractBaseUser | AnonymousUser | None

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


def _failure_outcome(exc: TwilioError) -> str:
    """The audit outcome of a failed delete: status, code and Twilio's message (which never
    carries credentials or text)."""
    status = "no answer" if exc.status is None else f"status {exc.status}"
    code = "" if exc.code is None else f", code {exc.code}"
    return f"{status}{code}: {exc.message}"


def _cache_forget(*, transcription: Transcription, actor: Actor, action: str, outcome: str) -> None:
    """Remove the cached row and record why, together."""
    with transaction.atomic():
        Transcription.objects.filter(pk=transcription.pk).delete()
        audit_record(
            user=actor,
            action=action,
            transcription_sid=transcription.sid,
            recording_sid=transcription.recording_sid,
            outcome=outcome,
        )


def transcription_delete(
    *, transcription: Transcription, client: TwilioClient, actor: Actor
) -> DeleteOutcome:
    """Delete one transcription at Twilio, then from the cache, and audit it.

    Twilio's 204 and its 404 (already gone) both remove the cached row and record a "deleted"
    event (outcome "deleted" or "already gone at Twilio"). Any other TwilioError keeps the row,
    records a "delete_failed" event with the status and code, and is raised again."""
    try:
        client.delete_transcription(transcription.sid)
    except TwilioNotFound:
        already_gone = True
    except TwilioError as exc:
        audit_record(
            user=actor,
            action=AuditEvent.Action.DELETE_FAILED,
            transcription_sid=transcription.sid,
            recording_sid=transcription.recording_sid,
            outcome=_failure_outcome(exc),
        )
        raise
    else:
        already_gone = False
    _cache_forget(
        transcription=transcription,
        actor=actor,
        action=AuditEvent.Action.DELETED,
        outcome=OUTCOME_ALREADY_GONE if already_gone else OUTCOME_DELETED,
    )
    return DeleteOutcome(
        sid=transcription.sid,
        recording_sid=transcription.recording_sid,
        already_gone=already_gone,
    )


def transcription_forget_gone(*, transcription: Transcription, actor: Actor) -> None:
    """Remove a cached row that Twilio answered 404 for while reading it (a preview or a
    refresh): it was deleted elsewhere. Recorded as a "synced" event, since nothing was
    deleted here, only the cache brought in line with Twilio."""
    _cache_forget(
        transcription=transcription,
        actor=actor,
        action=AuditEvent.Action.SYNCED,
        outcome="gone at Twilio; removed from the cache",
    )
