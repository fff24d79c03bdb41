"""Bulk deletions as work: a worker claims items, DELETEs each at Twilio with several requests
in flight, and records each outcome as Twilio confirms it. Several workers may share one bulk
deletion; an item is claimed by one, and a claim left by a worker that died is taken over."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..audit import bulk_batch
from ..deletion import delete_confirmed_record, delete_failed_record, failure_outcome, twilio_delete
from ..models import BulkDeletion, BulkDeletionItem
from ..planner_stats import planner_stats_refresh
from ..processes import process_gone, process_tag
from ..twilio_client import (
    RETRY_STATUSES,
    TwilioClient,
    TwilioError,
    TwilioNotConfigured,
    get_client,
)
from .recordings import recordings_erase
from .records import counter_fields, item_counts, stale_cutoff
from .verification import items_verify

# How often a running worker refreshes its heartbeat and its claims, and checks for a cancel.
HEARTBEAT_SECONDS = 1.0
# A transient failure (429, 5xx, no answer) that outlasts the client's own retries is tried
# this many times in all, with a pause, before the item counts as failed.
ITEM_ROUNDS = 3

logger = logging.getLogger(__name__)
# This many items in a row failing for want of a good answer (no answer, 429, 5xx) mean Twilio
# is down: the job then sends one item at a time, waiting between tries (doubling from
# OUTAGE_FIRST_PAUSE_SECONDS up to BULK_OUTAGE_PAUSE_MAX_SECONDS), and gives the items it
# tries back to the queue rather than failing them, until an answer comes.
OUTAGE_AFTER_FAILURES = 5
OUTAGE_FIRST_PAUSE_SECONDS = 1.0


def _default_worker_id() -> str:
    return f"{secrets.token_hex(4)}@{process_tag()}"


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
        self._failing_in_a_row = 0
        self._pause = 0.0  # > 0 while Twilio is down: the wait before the next try
        self._next_try = 0.0

    # Pool threads: Twilio only

    def _client(self) -> TwilioClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self.client_factory()
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def _delete_at_twilio(self, sid: str, *, sent_before: bool) -> tuple[str, TwilioError | None]:
        """DELETE one SID at Twilio; the item's new state and the error if it failed.

        Twilio's 404 after a DELETE of this job's that got no answer (an earlier round here,
        or a worker that died holding the item: `sent_before`) is that DELETE's doing: the
        item is deleted by the job, not "already gone"."""
        client = self._client()
        state = BulkDeletionItem.State
        uncertain = sent_before
        for round_number in range(1, ITEM_ROUNDS + 1):
            try:
                already_gone = twilio_delete(sid=sid, client=client)
            except TwilioError as exc:
                uncertain = uncertain or exc.status is None
                if _is_transient(exc) and round_number < ITEM_ROUNDS:
                    time.sleep(max(settings.TWILIO_BACKOFF_CAP_SECONDS, 0.05))
                    continue
                return state.FAILED, exc
            if already_gone and not uncertain:
                return state.ALREADY_GONE, None
            return state.DELETED, None
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
            state=state.CLAIMED, claimed_at__lt=stale_cutoff(now)
        )
        gone = self._gone_workers()
        if gone:
            claimable |= Q(state=state.CLAIMED, claimed_by__in=gone)
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

    def _gone_workers(self) -> list[str]:
        """Workers holding claims on this job whose process is known to be gone."""
        holders = (
            self._items()
            .filter(state=BulkDeletionItem.State.CLAIMED)
            .exclude(claimed_by=self.worker_id)
            .values_list("claimed_by", flat=True)
            .distinct()
        )
        return [holder for holder in holders if process_gone(holder)]

    def _outage_watch(
        self, results: list[tuple[BulkDeletionItem, tuple[str, TwilioError | None]]]
    ) -> list[BulkDeletionItem]:
        """Follow whether Twilio is down (see OUTAGE_AFTER_FAILURES); the items that failed
        while it was, to go back to the queue instead of failing."""
        back: list[BulkDeletionItem] = []
        for item, (_state, exc) in results:
            if exc is None or not _is_transient(exc):
                self._failing_in_a_row = 0
                continue
            self._failing_in_a_row += 1
            if self._pause:
                back.append(item)
        if self._failing_in_a_row == 0 and self._pause:
            self._pause = 0.0
            BulkDeletion.objects.filter(pk=self.bulk.pk).update(twilio_down_since=None)
            logger.info("Twilio answers again; bulk deletion #%s goes on", self.bulk.pk)
        elif self._failing_in_a_row >= OUTAGE_AFTER_FAILURES:
            if not self._pause:
                BulkDeletion.objects.filter(pk=self.bulk.pk).update(
                    twilio_down_since=timezone.now()
                )
                logger.warning(
                    "Twilio is not answering; bulk deletion #%s waits between tries",
                    self.bulk.pk,
                )
            cap = max(settings.BULK_OUTAGE_PAUSE_MAX_SECONDS, 0.01)
            self._pause = min(cap, self._pause * 2 or OUTAGE_FIRST_PAUSE_SECONDS)
            self._next_try = time.monotonic() + self._pause
        return back

    def _claimable_now(self, free: int, in_flight: int) -> int:
        """How many items to claim: `free`, or while Twilio is down one try at a time once
        the wait is over."""
        if not self._pause:
            return free
        return 1 if in_flight == 0 and time.monotonic() >= self._next_try else 0

    def _pending_left(self) -> bool:
        return self._items().filter(state=BulkDeletionItem.State.PENDING).exists()

    def _record(
        self, results: list[tuple[BulkDeletionItem, tuple[str, TwilioError | None]]]
    ) -> None:
        """Write the outcomes Twilio gave: each item's state, the cached row removed only for
        a confirmed delete, and the audit event, all in one transaction. While Twilio is down
        a failed try goes back to the queue, its try counted (it may have reached Twilio)."""
        now = timezone.now()
        state = BulkDeletionItem.State
        back = {item.pk for item in self._outage_watch(results)}
        with transaction.atomic():
            if back:
                self._items().filter(
                    pk__in=back, state=state.CLAIMED, claimed_by=self.worker_id
                ).update(state=state.PENDING, claimed_by="", claimed_at=None)
            for item, (new_state, exc) in results:
                if item.pk in back:
                    continue
                error = failure_outcome(exc)[:255] if exc is not None else ""
                updated = (
                    self._items()
                    .filter(pk=item.pk, state=state.CLAIMED, claimed_by=self.worker_id)
                    .update(state=new_state, error=error, finished_at=now)
                )
                if not updated:
                    # Our claim went stale and another worker took the item; it records it.
                    continue
                if exc is None:
                    delete_confirmed_record(
                        sid=item.sid,
                        recording_sid=item.recording_sid,
                        actor=self.actor,
                        already_gone=new_state == state.ALREADY_GONE,
                        note=self.note,
                        batch=bulk_batch(self.bulk.pk),
                    )
                else:
                    delete_failed_record(
                        sid=item.sid,
                        recording_sid=item.recording_sid,
                        actor=self.actor,
                        exc=exc,
                        note=self.note,
                        batch=bulk_batch(self.bulk.pk),
                    )

    def _release(self, items: list[BulkDeletionItem]) -> None:
        """Give back claimed items that were never sent to Twilio."""
        if items:
            self._items().filter(
                pk__in=[item.pk for item in items],
                state=BulkDeletionItem.State.CLAIMED,
                claimed_by=self.worker_id,
            ).update(
                state=BulkDeletionItem.State.PENDING,
                claimed_by="",
                claimed_at=None,
                # Never sent: the claim does not count as a try (see `_delete_at_twilio`).
                attempts=F("attempts") - 1,
            )

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
            ).update(
                heartbeat_at=now,
                worker=self.worker_id,
                **counter_fields(item_counts(self.bulk.pk)),
            )
        return BulkDeletion.objects.values_list("state", flat=True).get(pk=self.bulk.pk)

    def _recordings(self) -> None:
        """Once no transcription of the job is left to delete, and no other worker is at
        work on it: its recordings, when the job asked for them (not after a cancel)."""
        if not self.bulk.with_recordings:
            return
        item_state = BulkDeletionItem.State
        if self._items().filter(state__in=(item_state.PENDING, item_state.CLAIMED)).exists():
            return
        if not BulkDeletion.objects.filter(
            pk=self.bulk.pk, state=BulkDeletion.State.RUNNING
        ).exists():
            return
        recordings_erase(
            items=self._items(),
            client_factory=self.client_factory,
            concurrency=self.concurrency,
            actor=self.actor,
            note=self.note,
            batch=bulk_batch(self.bulk.pk),
        )

    def _verify(self) -> None:
        """Once nothing of the job is in a worker's hands (and nothing left to do, unless it
        was cancelled): ask Twilio again about every item it deleted, and keep the answers."""
        item_state = BulkDeletionItem.State
        if self._items().filter(state=item_state.CLAIMED).exists():
            return
        state = BulkDeletion.objects.values_list("state", flat=True).get(pk=self.bulk.pk)
        pending = self._items().filter(state=item_state.PENDING).exists()
        if state not in BulkDeletion.ACTIVE_STATES or (
            pending and state == BulkDeletion.State.RUNNING
        ):
            return
        # Reads change nothing at Twilio: twice as many in flight as the deletes.
        items_verify(
            items=self._items(),
            client_factory=self.client_factory,
            concurrency=2 * self.concurrency,
        )

    def _finish(self) -> None:
        """After this worker's last outcome: mark the job finished, unless another live
        worker still holds some of its items (that worker finishes it)."""
        self._recordings()
        self._verify()
        now = timezone.now()
        states = BulkDeletion.State
        item_state = BulkDeletionItem.State
        recording_failed = BulkDeletionItem.RecordingState.FAILED
        with transaction.atomic():
            counts = item_counts(self.bulk.pk)
            fields = counter_fields(counts)
            rows = BulkDeletion.objects.filter(pk=self.bulk.pk)
            others_working = self._items().filter(
                state=item_state.CLAIMED, claimed_at__gte=stale_cutoff(now)
            )
            if others_working.exists():
                rows.update(heartbeat_at=now, **fields)
                return
            if counts[item_state.PENDING] == 0 and counts[item_state.CLAIMED] == 0:
                failures = counts[item_state.FAILED] or (
                    self._items().filter(recording_state=recording_failed).exists()
                )
                final = states.COMPLETED_WITH_FAILURES if failures else states.COMPLETED
                rows.filter(state__in=(states.RUNNING, states.CANCELLING)).update(
                    state=final, finished_at=now, heartbeat_at=now, verified_at=now, **fields
                )
            else:
                rows.filter(state=states.CANCELLING).update(
                    state=states.CANCELLED,
                    finished_at=now,
                    heartbeat_at=now,
                    verified_at=now,
                    **fields,
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
                claimable = self._claimable_now(free, len(in_flight)) if not stopping else 0
                if claimable > 0:
                    for item in self._claim(claimable):
                        # Claimed before by a worker that recorded nothing: it may have sent it.
                        sent_before = item.attempts > 1
                        future = pool.submit(
                            self._delete_at_twilio, item.sid, sent_before=sent_before
                        )
                        in_flight[future] = item
                if not in_flight:
                    if self._pause and not stopping and self._pending_left():
                        # Twilio is down: wait for the next try, beating the heart meanwhile.
                        wait_for = min(HEARTBEAT_SECONDS, self._next_try - time.monotonic())
                        time.sleep(max(wait_for, 0.0))
                        continue
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
        if self._pause:
            BulkDeletion.objects.filter(pk=self.bulk.pk).update(twilio_down_since=None)
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
    worker_id = worker_id or _default_worker_id()
    rows.filter(state=states.QUEUED).update(
        state=states.RUNNING, started_at=now, heartbeat_at=now, worker=worker_id
    )
    rows.filter(state__in=(states.RUNNING, states.CANCELLING), started_at__isnull=True).update(
        started_at=now
    )
    bulk = rows.select_related("created_by").first()
    if bulk is None or not bulk.is_active:
        return bulk
    try:
        client_factory().close()
    except TwilioNotConfigured as exc:
        rows.filter(state__in=BulkDeletion.ACTIVE_STATES).update(
            state=states.FAILED, finished_at=timezone.now(), error_message=str(exc)
        )
        bulk.refresh_from_db()
        return bulk
    run = _BulkRun(
        bulk_deletion=bulk,
        client_factory=client_factory,
        concurrency=max(1, concurrency or settings.BULK_DELETE_CONCURRENCY),
        worker_id=worker_id,
    )
    run.run()
    bulk.refresh_from_db()
    if not bulk.is_active:
        planner_stats_refresh(
            changed=bulk.deleted_count + bulk.already_gone_count,
            reason=f"bulk deletion #{bulk.pk}",
        )
    return bulk
