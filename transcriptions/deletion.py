"""Deleting transcriptions: at Twilio first, then in the cache, always on the audit trail.

Only Twilio's 204, or its 404 (the transcription is already gone), lets the cache forget a row.
Any other answer keeps the row, records the failure, and raises the TwilioError again so the
caller can say what went wrong.

Bulk deletions (`bulk_deletion`) run the same two steps for each of their items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .audit import Actor, audit_record
from .models import AuditEvent, DeletionClaim, Transcription
from .twilio_client import TwilioClient, TwilioError, TwilioNotFound, client_or_settings

OUTCOME_DELETED = "deleted"
OUTCOME_ALREADY_GONE = "already gone at Twilio"
OUTCOME_EARLIER_ATTEMPT = "deleted (by an earlier attempt whose answer was lost)"


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


class DeleteOutcomeUnknown(TwilioError):
    """Twilio did not answer a DELETE, and could not be asked afterwards whether it applied
    it (the request may have reached it before the connection broke)."""


class DeleteUnderWay(Exception):
    """Another request is deleting this transcription right now."""


def failure_outcome(exc: TwilioError) -> str:
    """The audit outcome of a failed delete: status, code and Twilio's message (which never
    carries credentials or text)."""
    status = "no answer" if exc.status is None else f"status {exc.status}"
    code = "" if exc.code is None else f", code {exc.code}"
    return f"{status}{code}: {exc.message}"


def _cache_forget(
    *, sid: str, recording_sid: str, actor: Actor, action: str, outcome: str, batch: str = ""
) -> None:
    """Remove the cached row (if it is still there) and record why, together."""
    with transaction.atomic():
        Transcription.objects.filter(sid=sid).delete()
        audit_record(
            user=actor,
            action=action,
            transcription_sid=sid,
            recording_sid=recording_sid,
            outcome=outcome,
            batch=batch,
        )


def delete_settled(delete: Callable[[], object], *, still_there: Callable[[], bool]) -> bool:
    """Run a DELETE at Twilio. Returns True when Twilio answered 404 (already gone), False
    when it deleted it; raises the TwilioError of a refusal.

    No answer at all (a timeout, a connection broken after the request went out) does not
    say whether Twilio applied the DELETE: Twilio is asked (`still_there`, whose 404 means
    it did). DeleteOutcomeUnknown when it cannot be asked either."""
    try:
        delete()
    except TwilioNotFound as exc:
        # After a try whose answer was lost, the 404 is that try's doing.
        return not exc.may_have_arrived
    except TwilioError as exc:
        if not exc.may_have_arrived:
            raise
        try:
            there = still_there()
        except TwilioNotFound:
            return False
        except TwilioError:
            raise DeleteOutcomeUnknown(
                None, None, f"{exc.message}; whether Twilio deleted it is not known"
            ) from exc
        if not there:
            return False
        raise
    return False


def twilio_delete(*, sid: str, client: TwilioClient) -> bool:
    """DELETE the transcription at Twilio (see `delete_settled`). Touches no database."""

    def still_there() -> bool:
        client.fetch_transcription(sid)
        return True

    return delete_settled(lambda: client.delete_transcription(sid), still_there=still_there)


def _deleted_before(sid: str) -> bool:
    return AuditEvent.objects.filter(
        action=AuditEvent.Action.DELETED, transcription_sid=sid
    ).exists()


def _earlier_attempt_unknown(sid: str) -> bool:
    return AuditEvent.objects.filter(
        action=AuditEvent.Action.DELETE_UNKNOWN, transcription_sid=sid
    ).exists()


def delete_confirmed_record(
    *,
    sid: str,
    recording_sid: str,
    actor: Actor,
    already_gone: bool,
    note: str = "",
    batch: str = "",
) -> None:
    """After Twilio confirmed (204 or 404): forget the cached row and audit "deleted".

    A 404 for a SID whose deletion is already on the trail records nothing more (one
    deletion, one record); a 404 after an attempt whose outcome was unknown is that
    attempt's deletion."""
    if already_gone and _deleted_before(sid):
        Transcription.objects.filter(sid=sid).delete()
        return
    outcome = OUTCOME_ALREADY_GONE if already_gone else OUTCOME_DELETED
    if already_gone and _earlier_attempt_unknown(sid):
        outcome = OUTCOME_EARLIER_ATTEMPT
    _cache_forget(
        sid=sid,
        recording_sid=recording_sid,
        actor=actor,
        action=AuditEvent.Action.DELETED,
        outcome=f"{outcome}{note}",
        batch=batch,
    )


def delete_failed_record(
    *,
    sid: str,
    recording_sid: str,
    actor: Actor,
    exc: TwilioError,
    note: str = "",
    batch: str = "",
) -> None:
    """After Twilio refused or could not be reached: keep the row, audit "delete_failed"
    ("delete_unknown" when whether Twilio deleted it is not known)."""
    unknown = isinstance(exc, DeleteOutcomeUnknown)
    audit_record(
        user=actor,
        action=AuditEvent.Action.DELETE_UNKNOWN if unknown else AuditEvent.Action.DELETE_FAILED,
        transcription_sid=sid,
        recording_sid=recording_sid,
        outcome=f"{failure_outcome(exc)}{note}",
        batch=batch,
    )


@contextmanager
def _deletion_claimed(sid: str, actor: Actor) -> Iterator[None]:
    """Hold the claim on deleting `sid` for the block; DeleteUnderWay when another request
    holds it. A claim older than two request budgets belongs to a process that died."""
    now = timezone.now()
    stale = now - timedelta(seconds=2 * settings.TWILIO_REQUEST_BUDGET_SECONDS + 30)
    DeletionClaim.objects.filter(sid=sid, claimed_at__lt=stale).delete()
    try:
        with transaction.atomic():
            claim = DeletionClaim.objects.create(
                sid=sid, claimed_at=now, username=getattr(actor, "username", "") or ""
            )
    except IntegrityError:
        raise DeleteUnderWay(f"{sid} is being deleted by someone else right now.") from None
    try:
        yield
    finally:
        DeletionClaim.objects.filter(pk=claim.pk).delete()


def transcription_delete(
    *, transcription: Transcription, actor: Actor, client: TwilioClient | None = None
) -> DeleteOutcome:
    """Delete one transcription at Twilio, then from the cache, and audit it.

    Twilio's 204 and its 404 (already gone) both remove the cached row and record a "deleted"
    event (outcome "deleted" or "already gone at Twilio"). Any other TwilioError keeps the row,
    records a "delete_failed" event with the status and code ("delete_unknown" when Twilio did
    not answer and whether it deleted cannot be told), and is raised again. The client
    comes from the settings unless one is given (TwilioNotConfigured, with nothing recorded,
    when the settings lack credentials).

    One request at a time deletes a given transcription: DeleteUnderWay for a second one
    while the first runs, and a row already removed when its turn comes is not sent again."""
    sid, recording_sid = transcription.sid, transcription.recording_sid
    with client_or_settings(client) as twilio, _deletion_claimed(sid, actor):
        if not Transcription.objects.filter(sid=sid).exists():
            raise DeleteUnderWay(f"{sid} was deleted meanwhile by someone else.")
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
