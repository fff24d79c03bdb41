"""Deleting transcriptions: at Twilio first, then in the cache, always on the audit trail.

Only Twilio's 204, or its 404 (the transcription is already gone), lets the cache forget a row.
Any other answer keeps the row, records the failure, and raises the TwilioError again so the
caller can say what went wrong.

Bulk deletions run the same two steps for each of their items in background workers (see
`bulk_deletion_run`), several DELETEs in flight at once, with every outcome kept per item.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from .audit import audit_record
from .models import AuditEvent, BulkDeletion, BulkDeletionItem, Transcription
from .twilio_client import (
    RETRY_STATUSES,
    TwilioClient,
    TwilioError,
    TwilioNotFound,
    get_client,
)

logger = logging.getLogger(__name__)

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


def _twilio_delete(*, sid: str, client: TwilioClient) -> bool:
    """DELETE the transcription at Twilio. Returns True when Twilio answered 404 (already
    gone), False on 204; raises any other TwilioError. Touches no database."""
    try:
        client.delete_transcription(sid)
    except TwilioNotFound:
        return True
    return False


def _delete_confirmed_record(
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


def _delete_failed_record(
    *, sid: str, recording_sid: str, actor: Actor, exc: TwilioError, note: str = ""
) -> None:
    """After Twilio refused or could not be reached: keep the row, audit "delete_failed"."""
    audit_record(
        user=actor,
        action=AuditEvent.Action.DELETE_FAILED,
        transcription_sid=sid,
        recording_sid=recording_sid,
        outcome=f"{_failure_outcome(exc)}{note}",
    )


def transcription_delete(
    *, transcription: Transcription, client: TwilioClient, actor: Actor
) -> DeleteOutcome:
    """Delete one transcription at Twilio, then from the cache, and audit it.

    Twilio's 204 and its 404 (already gone) both remove the cached row and record a "deleted"
    event (outcome "deleted" or "already gone at Twilio"). Any other TwilioError keeps the row,
    records a "delete_failed" event with the status and code, and is raised again."""
    sid, recording_sid = transcription.sid, transcription.recording_sid
    try:
        already_gone = _twilio_delete(sid=sid, client=client)
    except TwilioError as exc:
        _delete_failed_record(sid=sid, recording_sid=recording_sid, actor=actor, exc=exc)
        raise
    _delete_confirmed_record(
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


# ---- Bulk deletion ----

_SID_RE = re.compile(r"^TR[0-9a-fA-F]{32}$")
# How often a running worker refreshes its heartbeat and its claims, and checks for a cancel.
HEARTBEAT_SECONDS = 1.0
# A transient failure (429, 5xx, no answer) that outlasts the client's own retries is tried
# this many times in all, with a pause, before the item counts as failed.
ITEM_ROUNDS = 3
_IN_CLAUSE_CHUNK = 500
_REASON_MAX_LENGTH = 500


def _stale_cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.BULK_DELETE_STALE_SECONDS)


@dataclass(frozen=True)
class BulkProgress:
    """Where a bulk deletion stands, counted from its items."""

    total: int
    pending: int
    claimed: int
    deleted: int
    already_gone: int
    failed: int
    elapsed_seconds: float | None

    @property
    def done(self) -> int:
        """Items Twilio confirmed gone (deleted now, or already gone)."""
        return self.deleted + self.already_gone

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def remaining(self) -> int:
        return self.pending + self.claimed

    @property
    def percent(self) -> int:
        return int(100 * self.finished / self.total) if self.total else 100

    @property
    def rate(self) -> float | None:
        """Items finished per second since the start."""
        if not self.elapsed_seconds or not self.finished:
            return None
        return self.finished / self.elapsed_seconds

    @property
    def seconds_left(self) -> float | None:
        rate = self.rate
        return self.remaining / rate if rate else None


def _item_counts(bulk_deletion_id: int) -> dict[str, int]:
    counts = dict.fromkeys(BulkDeletionItem.State.values, 0)
    rows = (
        BulkDeletionItem.objects.filter(bulk_deletion_id=bulk_deletion_id)
        .order_by()
        .values("state")
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts[row["state"]] = row["n"]
    return counts


def _counter_fields(counts: dict[str, int]) -> dict[str, int]:
    state = BulkDeletionItem.State
    return {
        "total_count": sum(counts.values()),
        "deleted_count": counts[state.DELETED],
        "already_gone_count": counts[state.ALREADY_GONE],
        "failed_count": counts[state.FAILED],
    }


def bulk_deletion_progress(*, bulk_deletion: BulkDeletion) -> BulkProgress:
    """The live counts of a bulk deletion's items (one query), with the time it has run."""
    counts = _item_counts(bulk_deletion.pk)
    elapsed = None
    if bulk_deletion.started_at is not None:
        end = bulk_deletion.finished_at or timezone.now()
        elapsed = max((end - bulk_deletion.started_at).total_seconds(), 0.001)
    state = BulkDeletionItem.State
    return BulkProgress(
        total=sum(counts.values()),
        pending=counts[state.PENDING],
        claimed=counts[state.CLAIMED],
        deleted=counts[state.DELETED],
        already_gone=counts[state.ALREADY_GONE],
        failed=counts[state.FAILED],
        elapsed_seconds=elapsed,
    )


def _enqueue(bulk_deletion: BulkDeletion) -> None:
    """Queue the job that runs the bulk deletion, and remember its task id."""
    from .tasks import run_bulk_deletion

    result = run_bulk_deletion.enqueue(bulk_deletion_id=bulk_deletion.pk)
    # Why update() and not save(): with an immediate backend the job has already run and
    # changed the row; only the task id is ours to write.
    BulkDeletion.objects.filter(pk=bulk_deletion.pk).update(task_id=str(result.id))
    bulk_deletion.task_id = str(result.id)


def _chunks(values: list[str], size: int = _IN_CLAUSE_CHUNK) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def bulk_deletion_start(
    *,
    actor: Actor,
    sids: list[str],
    reason: str,
    filter_params: dict | None = None,
    retry_of: BulkDeletion | None = None,
) -> BulkDeletion:
    """Record a bulk deletion of exactly `sids` (order kept, duplicates dropped) with its
    reason and filter, and enqueue the background job that deletes them at Twilio.

    Nothing is deleted here. Raises ValueError for an empty reason, no SIDs, or a SID that is
    not a transcription SID."""
    reason = " ".join((reason or "").split())[:_REASON_MAX_LENGTH]
    if not reason:
        raise ValueError("A bulk deletion needs a reason.")
    unique = list(dict.fromkeys(sids))
    if not unique:
        raise ValueError("A bulk deletion needs at least one transcription.")
    malformed = [sid for sid in unique if not isinstance(sid, str) or not _SID_RE.match(sid)]
    if malformed:
        raise ValueError(f"Not a transcription SID: {str(malformed[0])[:40]!r}")
    recordings: dict[str, str] = {}
    for chunk in _chunks(unique):
        recordings.update(
            Transcription.objects.filter(sid__in=chunk).values_list("sid", "recording_sid")
        )
    person = actor if actor is not None and actor.is_authenticated else None
    now = timezone.now()
    with transaction.atomic():
        bulk = BulkDeletion.objects.create(
            created_by=person,
            created_by_username=person.get_username() if person is not None else "",
            reason=reason,
            filter_params=filter_params or {},
            account_sid=settings.TWILIO_ACCOUNT_SID,
            retry_of=retry_of,
            state=BulkDeletion.State.QUEUED,
            heartbeat_at=now,
            total_count=len(unique),
        )
        BulkDeletionItem.objects.bulk_create(
            [
                BulkDeletionItem(bulk_deletion=bulk, sid=sid, recording_sid=recordings.get(sid, ""))
                for sid in unique
            ],
            batch_size=1000,
        )
    _enqueue(bulk)
    return bulk


def bulk_deletion_retry_failed(*, bulk_deletion: BulkDeletion, actor: Actor) -> BulkDeletion:
    """Start a new bulk deletion over the failed items of a finished one (same reason and
    filter, linked to it). Raises ValueError if it is still running or nothing failed."""
    if bulk_deletion.is_active:
        raise ValueError("This bulk deletion is still running.")
    failed = list(
        bulk_deletion.items.filter(state=BulkDeletionItem.State.FAILED)
        .order_by("id")
        .values_list("sid", flat=True)
    )
    if not failed:
        raise ValueError("No items of this bulk deletion failed.")
    return bulk_deletion_start(
        actor=actor,
        sids=failed,
        reason=f"Retry of #{bulk_deletion.pk}: {bulk_deletion.reason}",
        filter_params=bulk_deletion.filter_params,
        retry_of=bulk_deletion,
    )


def bulk_deletion_cancel(*, bulk_deletion: BulkDeletion) -> BulkDeletion:
    """Stop a bulk deletion: a queued one, or one whose worker is gone, is cancelled at once;
    a running one becomes "cancelling", its worker lets the DELETEs in flight finish and
    deletes nothing more. Items not yet deleted stay (and their rows with them)."""
    now = timezone.now()
    state = BulkDeletion.State
    rows = BulkDeletion.objects.filter(pk=bulk_deletion.pk)
    no_worker = Q(state=state.QUEUED) | Q(heartbeat_at__lt=_stale_cutoff(now))
    with transaction.atomic():
        counts = _counter_fields(_item_counts(bulk_deletion.pk))
        if (
            not rows.filter(state__in=BulkDeletion.ACTIVE_STATES)
            .filter(no_worker)
            .update(state=state.CANCELLED, finished_at=now, **counts)
        ):
            rows.filter(state=state.RUNNING).update(state=state.CANCELLING)
    bulk_deletion.refresh_from_db()
    return bulk_deletion


def _task_is_waiting(task_id: str) -> bool:
    """Whether the bulk deletion's task is still queued, waiting for a worker to take it."""
    if not task_id:
        return False
    from django_tasks.base import TaskResultStatus

    from .tasks import run_bulk_deletion

    try:
        result = run_bulk_deletion.get_result(task_id)
    except Exception:  # noqa: BLE001 - no such result, or a backend that keeps none
        return False
    return result.status == TaskResultStatus.READY


def bulk_deletion_resume_if_stale(*, bulk_deletion: BulkDeletion) -> bool:
    """Enqueue the job again for an unfinished bulk deletion whose worker has gone silent
    (a stale heartbeat) and whose task is not simply waiting in the queue. Of concurrent
    callers only one enqueues. Returns whether it did."""
    if not bulk_deletion.is_active:
        return False
    now = timezone.now()
    cutoff = _stale_cutoff(now)
    if bulk_deletion.heartbeat_at is not None and bulk_deletion.heartbeat_at >= cutoff:
        return False
    if _task_is_waiting(bulk_deletion.task_id):
        return False
    # Moving the heartbeat on is the lock: a second caller's update matches no row.
    won = (
        BulkDeletion.objects.filter(pk=bulk_deletion.pk, state__in=BulkDeletion.ACTIVE_STATES)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
        .update(heartbeat_at=now)
    )
    if not won:
        return False
    logger.warning("Bulk deletion #%s had no live worker; enqueued it again", bulk_deletion.pk)
    bulk_deletion.heartbeat_at = now
    _enqueue(bulk_deletion)
    return True


def resume_bulk_deletions() -> list[int]:
    """Resume every unfinished bulk deletion whose worker died (see
    `bulk_deletion_resume_if_stale`); returns their ids. Run it when workers start."""
    resumed = []
    for bulk in BulkDeletion.objects.filter(state__in=BulkDeletion.ACTIVE_STATES).order_by("id"):
        if bulk_deletion_resume_if_stale(bulk_deletion=bulk):
            resumed.append(bulk.pk)
    return resumed


def _default_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def _is_transient(exc: TwilioError) -> bool:
    return exc.status is None or exc.status in RETRY_STATUSES


class _BulkRun:
    """One worker's part in one bulk deletion.

    The database is only touched from the thread that runs `run` (claims, outcomes,
    heartbeats, each in a short transaction); the pool's threads only talk to Twilio, each
    with its own client. So a job holds one database connection however many DELETEs are in
    flight, and SQLite's single writer is never held while waiting on Twilio."""

    def __init__(
        self,
        *,
        bulk_deletion: BulkDeletion,
        client_factory: Callable[[], TwilioClient],
        concurrency: int,
        worker_id: str,
    ) -> None:
        self.bulk = bulk_deletion
        self.client_factory = client_factory
        self.concurrency = concurrency
        self.worker_id = worker_id
        self.actor = bulk_deletion.created_by
        self.note = f"; bulk deletion #{bulk_deletion.pk}: {bulk_deletion.reason}"
        self._local = threading.local()
        self._clients: list[TwilioClient] = []
        self._clients_lock = threading.Lock()

    # Pool threads: Twilio only

    def _client(self) -> TwilioClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self.client_factory()
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def _delete_at_twilio(self, sid: str) -> tuple[str, TwilioError | None]:
        """DELETE one SID at Twilio; the item's new state and the error if it failed."""
        client = self._client()
        for round_number in range(1, ITEM_ROUNDS + 1):
            try:
                already_gone = _twilio_delete(sid=sid, client=client)
            except TwilioError as exc:
                if _is_transient(exc) and round_number < ITEM_ROUNDS:
                    time.sleep(max(settings.TWILIO_BACKOFF_CAP_SECONDS, 0.05))
                    continue
                return BulkDeletionItem.State.FAILED, exc
            state = BulkDeletionItem.State
            return (state.ALREADY_GONE if already_gone else state.DELETED), None
        raise AssertionError("unreachable")  # pragma: no cover

    # The job's own thread: the database

    def _items(self):
        return BulkDeletionItem.objects.filter(bulk_deletion_id=self.bulk.pk)

    def _claim(self, limit: int) -> list[BulkDeletionItem]:
        """Atomically take up to `limit` pending items (or items whose claim went stale with
        a dead worker). On PostgreSQL rows other workers are claiming are skipped, not waited
        for; on SQLite the IMMEDIATE transaction makes the whole claim one writer's turn."""
        now = timezone.now()
        state = BulkDeletionItem.State
        claimable = Q(state=state.PENDING) | Q(
            state=state.CLAIMED, claimed_at__lt=_stale_cutoff(now)
        )
        with transaction.atomic():
            ids = list(
                self._items()
                .select_for_update(skip_locked=True)
                .filter(claimable)
                .order_by("id")
                .values_list("id", flat=True)[:limit]
            )
            if not ids:
                return []
            self._items().filter(id__in=ids).filter(claimable).update(
                state=state.CLAIMED,
                claimed_by=self.worker_id,
                claimed_at=now,
                attempts=F("attempts") + 1,
            )
            return list(
                self._items()
                .filter(id__in=ids, state=state.CLAIMED, claimed_by=self.worker_id)
                .order_by("id")
            )

    def _record(
        self, results: list[tuple[BulkDeletionItem, tuple[str, TwilioError | None]]]
    ) -> None:
        """Write the outcomes Twilio gave: each item's state, the cached row removed only for
        a confirmed delete, and the audit event, all in one transaction."""
        now = timezone.now()
        state = BulkDeletionItem.State
        with transaction.atomic():
            for item, (new_state, exc) in results:
                error = _failure_outcome(exc)[:255] if exc is not None else ""
                updated = (
                    self._items()
                    .filter(pk=item.pk, state=state.CLAIMED, claimed_by=self.worker_id)
                    .update(state=new_state, error=error, finished_at=now)
                )
                if not updated:
                    # Our claim went stale and another worker took the item; it records it.
                    continue
                if exc is None:
                    _delete_confirmed_record(
                        sid=item.sid,
                        recording_sid=item.recording_sid,
                        actor=self.actor,
                        already_gone=new_state == state.ALREADY_GONE,
                        note=self.note,
                    )
                else:
                    _delete_failed_record(
                        sid=item.sid,
                        recording_sid=item.recording_sid,
                        actor=self.actor,
                        exc=exc,
                        note=self.note,
                    )

    def _release(self, items: list[BulkDeletionItem]) -> None:
        """Give back claimed items that were never sent to Twilio."""
        if items:
            self._items().filter(
                pk__in=[item.pk for item in items],
                state=BulkDeletionItem.State.CLAIMED,
                claimed_by=self.worker_id,
            ).update(state=BulkDeletionItem.State.PENDING, claimed_by="", claimed_at=None)

    def _heartbeat(self) -> str:
        """Show this worker is alive (the job's heartbeat, its own claims), refresh the
        counters, and return the job's state (a cancel shows up here)."""
        now = timezone.now()
        with transaction.atomic():
            self._items().filter(
                state=BulkDeletionItem.State.CLAIMED, claimed_by=self.worker_id
            ).update(claimed_at=now)
            BulkDeletion.objects.filter(
                pk=self.bulk.pk, state__in=BulkDeletion.ACTIVE_STATES
            ).update(heartbeat_at=now, **_counter_fields(_item_counts(self.bulk.pk)))
        return BulkDeletion.objects.values_list("state", flat=True).get(pk=self.bulk.pk)

    def _finish(self) -> None:
        """After this worker's last outcome: mark the job finished, unless another live
        worker still holds some of its items (that worker finishes it)."""
        now = timezone.now()
        states = BulkDeletion.State
        item_state = BulkDeletionItem.State
        with transaction.atomic():
            counts = _item_counts(self.bulk.pk)
            fields = _counter_fields(counts)
            rows = BulkDeletion.objects.filter(pk=self.bulk.pk)
            others_working = self._items().filter(
                state=item_state.CLAIMED, claimed_at__gte=_stale_cutoff(now)
            )
            if others_working.exists():
                rows.update(heartbeat_at=now, **fields)
                return
            if counts[item_state.PENDING] == 0 and counts[item_state.CLAIMED] == 0:
                final = (
                    states.COMPLETED_WITH_FAILURES
                    if counts[item_state.FAILED]
                    else states.COMPLETED
                )
                rows.filter(state__in=(states.RUNNING, states.CANCELLING)).update(
                    state=final, finished_at=now, heartbeat_at=now, **fields
                )
            else:
                rows.filter(state=states.CANCELLING).update(
                    state=states.CANCELLED, finished_at=now, heartbeat_at=now, **fields
                )
                rows.filter(state=states.RUNNING).update(heartbeat_at=now, **fields)

    def run(self) -> None:
        in_flight: dict[Future, BulkDeletionItem] = {}
        stopping = False
        last_beat = 0.0
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="bulk-delete")
        try:
            while True:
                if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                    stopping = self._heartbeat() != BulkDeletion.State.RUNNING
                    last_beat = time.monotonic()
                    if stopping:
                        # Cancelled: what is not yet sent to Twilio is not sent, and stays.
                        unsent = [future for future in in_flight if future.cancel()]
                        self._release([in_flight.pop(future) for future in unsent])
                # Twice the concurrency claimed, so the pool has the next items at hand while
                # this thread records outcomes; only `concurrency` are sent at once.
                free = 2 * self.concurrency - len(in_flight)
                # Claiming again at the tail costs little and picks up claims that went
                # stale with a dead worker meanwhile.
                if not stopping and free > 0:
                    for item in self._claim(free):
                        in_flight[pool.submit(self._delete_at_twilio, item.sid)] = item
                if not in_flight:
                    break
                done, _ = wait(in_flight, timeout=HEARTBEAT_SECONDS, return_when=FIRST_COMPLETED)
                if done:
                    self._record([(in_flight.pop(future), future.result()) for future in done])
        finally:
            # On an unexpected error the DELETEs in flight still finish; their items keep a
            # claim that goes stale, and the worker that resumes the job asks Twilio again.
            pool.shutdown(wait=True)
            with self._clients_lock:
                for client in self._clients:
                    client.close()
        self._finish()


def bulk_deletion_run(
    *,
    bulk_deletion_id: int,
    client_factory: Callable[[], TwilioClient] = get_client,
    concurrency: int | None = None,
    worker_id: str | None = None,
) -> BulkDeletion | None:
    """Run (or join, or resume) a bulk deletion in this worker: claim its pending items,
    DELETE each at Twilio with `BULK_DELETE_CONCURRENCY` requests in flight (backing off on
    429 and 5xx as the client does, then trying a transient failure again a few times), and
    record each outcome as Twilio confirms it: a 204 or a 404 removes the cached row, any
    other answer keeps it and marks the item failed; every item is audited.

    Several workers may run the same bulk deletion at once: each item is claimed by one.
    Returns the bulk deletion as it stands afterwards (None if it does not exist)."""
    states = BulkDeletion.State
    now = timezone.now()
    rows = BulkDeletion.objects.filter(pk=bulk_deletion_id)
    rows.filter(state=states.QUEUED).update(state=states.RUNNING, started_at=now, heartbeat_at=now)
    rows.filter(state__in=(states.RUNNING, states.CANCELLING), started_at__isnull=True).update(
        started_at=now
    )
    bulk = rows.select_related("created_by").first()
    if bulk is None or not bulk.is_active:
        return bulk
    try:
        client_factory().close()
    except ImproperlyConfigured as exc:
        rows.filter(state__in=BulkDeletion.ACTIVE_STATES).update(
            state=states.FAILED, finished_at=timezone.now(), error_message=str(exc)
        )
        bulk.refresh_from_db()
        return bulk
    run = _BulkRun(
        bulk_deletion=bulk,
        client_factory=client_factory,
        concurrency=max(1, concurrency or settings.BULK_DELETE_CONCURRENCY),
        worker_id=worker_id or _default_worker_id(),
    )
    run.run()
    bulk.refresh_from_db()
    return bulk
