"""Bulk deletions as records: what a bulk deletion is asked to delete (its target), the
record of it (who, why, the exact SIDs as items), its progress, cancel and retry. Recording
queues nothing: the caller hands the record to `tasks.bulk_deletion_enqueue`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from ..audit import Actor, audit_record, bulk_batch
from ..models import AuditEvent, BulkDeletion, BulkDeletionItem, Transcription
from ..personal_data import mask_query
from ..processes import process_gone
from ..sids import is_transcription_sid
from ..table import DEFAULT_SORT, TableFilters, transcription_list
from ..table.paging import SORTS
from ..twilio_client import twilio_configuration_check

_IN_CLAUSE_CHUNK = 500
_REASON_MAX_LENGTH = 500
# The confirmation shows this many of the transcriptions to delete.
SAMPLE_SIZE = 10
# Above this many items the confirmation asks for the count to be typed.
TYPED_CONFIRM_ABOVE = 100
# At most this many explicitly selected SIDs in one request (a page holds at most 100).
SELECTION_MAX = 1000


class BulkDeletionRefused(ValueError):
    """A bulk deletion that cannot be recorded (no reason, no SIDs, a malformed SID, nothing
    failed to retry); the message says why and is safe to show."""


def stale_cutoff(now: datetime) -> datetime:
    """Heartbeats and claims older than this belong to a worker that died."""
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
    def bar(self) -> dict[str, int]:
        """The progress bar's parts in thousandths of its width: deleted, then failed (a run
        that mostly failed must not look like a full, good bar)."""
        if not self.total:
            return {"done": 1000, "failed": 0}
        done = round(1000 * self.done / self.total)
        return {"done": done, "failed": min(1000 - done, round(1000 * self.failed / self.total))}

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


def item_counts(bulk_deletion_id: int) -> dict[str, int]:
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


def counter_fields(counts: dict[str, int]) -> dict[str, int]:
    state = BulkDeletionItem.State
    return {
        "total_count": sum(counts.values()),
        "deleted_count": counts[state.DELETED],
        "already_gone_count": counts[state.ALREADY_GONE],
        "failed_count": counts[state.FAILED],
    }


def bulk_deletion_progress(*, bulk_deletion: BulkDeletion) -> BulkProgress:
    """The live counts of a bulk deletion's items (one query), with the time it has run."""
    counts = item_counts(bulk_deletion.pk)
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
    with_recordings: bool = False,
    known_recordings: dict[str, str] | None = None,
) -> BulkDeletion:
    """Record a bulk deletion of exactly `sids` (order kept, duplicates dropped) with its
    reason and filter, for a background job to delete at Twilio (`tasks.bulk_deletion_enqueue`).

    Nothing is deleted here. Raises TwilioNotConfigured without Twilio credentials, and
    BulkDeletionRefused for an empty reason, no SIDs, or a SID that is not a transcription SID."""
    twilio_configuration_check()
    reason = " ".join((reason or "").split())[:_REASON_MAX_LENGTH]
    if not reason:
        raise BulkDeletionRefused("A bulk deletion needs a reason.")
    unique = list(dict.fromkeys(sids))
    if not unique:
        raise BulkDeletionRefused("A bulk deletion needs at least one transcription.")
    malformed = [sid for sid in unique if not is_transcription_sid(sid)]
    if malformed:
        raise BulkDeletionRefused(f"Not a transcription SID: {str(malformed[0])[:40]!r}")
    # Recording SIDs from the cache; a retry knows those of items no longer cached.
    recordings: dict[str, str] = dict(known_recordings or {})
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
            with_recordings=with_recordings,
        )
        asked = BulkDeletionItem.RecordingState.PENDING if with_recordings else ""
        BulkDeletionItem.objects.bulk_create(
            [
                BulkDeletionItem(
                    bulk_deletion=bulk,
                    sid=sid,
                    recording_sid=recordings.get(sid, ""),
                    recording_state=asked if recordings.get(sid) else "",
                )
                for sid in unique
            ],
            batch_size=1000,
        )
        # The trail lists the run as one event; its items are the deletes the worker records.
        audit_record(
            user=person,
            action=AuditEvent.Action.BULK_DELETION,
            outcome=f"#{bulk.pk}: {len(unique)} transcriptions queued; reason: "
            f"{mask_query(reason)}",
            batch=bulk_batch(bulk.pk),
            batch_head=True,
        )
    return bulk


def bulk_deletion_retry_failed(*, bulk_deletion: BulkDeletion, actor: Actor) -> BulkDeletion:
    """Record a new bulk deletion over the failed items of a finished one (same reason and
    filter, linked to it). Raises BulkDeletionRefused if it is still running or nothing
    failed."""
    if bulk_deletion.is_active:
        raise BulkDeletionRefused("This bulk deletion is still running.")
    # The text that failed, and the recordings that failed after their text was deleted
    # (asked again: Twilio's 404 for the text, then the recording).
    failed = dict(
        _failed(bulk_deletion.items.all()).order_by("id").values_list("sid", "recording_sid")
    )
    if not failed:
        raise BulkDeletionRefused("No items of this bulk deletion failed.")
    return bulk_deletion_start(
        actor=actor,
        sids=list(failed),
        reason=f"Retry of #{bulk_deletion.pk}: {bulk_deletion.reason}",
        filter_params=bulk_deletion.filter_params,
        retry_of=bulk_deletion,
        with_recordings=bulk_deletion.with_recordings,
        known_recordings=failed,
    )


def bulk_deletion_continue_cancelled(*, bulk_deletion: BulkDeletion, actor: Actor) -> BulkDeletion:
    """Record a new bulk deletion over what a cancelled one left (same reason, filter and
    choice of recordings, linked to it). BulkDeletionRefused if it was not cancelled or
    nothing is left."""
    if bulk_deletion.state != BulkDeletion.State.CANCELLED:
        raise BulkDeletionRefused("Only a cancelled bulk deletion has a rest to delete.")
    left = list(
        bulk_deletion.items.filter(state=BulkDeletionItem.State.PENDING)
        .order_by("id")
        .values_list("sid", "recording_sid")
    )
    if not left:
        raise BulkDeletionRefused("Nothing of this bulk deletion is left to delete.")
    return bulk_deletion_start(
        actor=actor,
        sids=[sid for sid, _ in left],
        reason=f"Rest of #{bulk_deletion.pk}: {bulk_deletion.reason}",
        filter_params=bulk_deletion.filter_params,
        retry_of=bulk_deletion,
        with_recordings=bulk_deletion.with_recordings,
        known_recordings=dict(left),
    )


def _failed(items: QuerySet[BulkDeletionItem]) -> QuerySet[BulkDeletionItem]:
    return items.filter(
        Q(state=BulkDeletionItem.State.FAILED)
        | Q(recording_state=BulkDeletionItem.RecordingState.FAILED)
    )


def bulk_deletion_cancel(*, bulk_deletion: BulkDeletion) -> BulkDeletion:
    """Stop a bulk deletion: a queued one, or one whose worker is gone, is cancelled at once;
    a running one becomes "cancelling", its worker lets the DELETEs in flight finish and
    deletes nothing more. Items not yet deleted stay (and their rows with them)."""
    now = timezone.now()
    state = BulkDeletion.State
    rows = BulkDeletion.objects.filter(pk=bulk_deletion.pk)
    no_worker = Q(state=state.QUEUED) | Q(heartbeat_at__lt=stale_cutoff(now))
    with transaction.atomic():
        counts = counter_fields(item_counts(bulk_deletion.pk))
        if (
            not rows.filter(state__in=BulkDeletion.ACTIVE_STATES)
            .filter(no_worker)
            .update(state=state.CANCELLED, finished_at=now, **counts)
        ):
            rows.filter(state=state.RUNNING).update(state=state.CANCELLING)
    bulk_deletion.refresh_from_db()
    return bulk_deletion


def bulk_deletion_get(pk: int) -> BulkDeletion | None:
    return BulkDeletion.objects.select_related("created_by", "retry_of").filter(pk=pk).first()


def bulk_deletion_list() -> QuerySet[BulkDeletion]:
    """Every bulk deletion, newest first."""
    return BulkDeletion.objects.select_related("created_by").order_by("-created_at", "-id")


def bulk_deletions_running(limit: int = 3) -> list[BulkDeletion]:
    """The unfinished bulk deletions, newest first, for the table's word on them (their
    counters are the ones each worker's heartbeat refreshes)."""
    active = BulkDeletion.objects.filter(state__in=BulkDeletion.ACTIVE_STATES)
    return list(active.order_by("-created_at", "-id")[:limit])


def bulk_deletions_finished_since(since: datetime, limit: int = 3) -> list[BulkDeletion]:
    """The bulk deletions that ended after `since`, newest first."""
    ended = BulkDeletion.objects.filter(finished_at__gt=since).exclude(
        state__in=BulkDeletion.ACTIVE_STATES
    )
    return list(ended.order_by("-finished_at")[:limit])


def bulk_deletion_failed_count(*, bulk_deletion: BulkDeletion) -> int:
    """Items whose text or recording failed: what a retry asks for again."""
    return _failed(bulk_deletion.items.all()).count()


def bulk_deletion_failure_groups(
    *, bulk_deletion: BulkDeletion, limit: int = 10
) -> list[tuple[str, int]]:
    """The failures of a finished bulk deletion by Twilio's answer, the most frequent first:
    one line for an error that failed many items, not the same words a hundred times."""
    if bulk_deletion.is_active:
        return []
    rows = (
        bulk_deletion.items.filter(state=BulkDeletionItem.State.FAILED)
        .order_by()
        .values("error")
        .annotate(n=Count("id"))
        .order_by("-n", "error")[:limit]
    )
    return [(row["error"] or "no answer recorded", row["n"]) for row in rows]


def bulk_deletion_table_url(bulk_deletion: BulkDeletion) -> str:
    """The table as the bulk deletion's filter shows it (the plain table for a selection or
    a retention policy, whose filter is not the table's)."""
    base = reverse("transcriptions:list")
    params = bulk_deletion.filter_params or {}
    if not params or any(name.startswith("retention_") for name in params):
        return base
    return f"{base}?{urlencode(params, doseq=True)}"


def bulk_deletion_failed_items(
    *, bulk_deletion: BulkDeletion, limit: int
) -> list[BulkDeletionItem]:
    """The first `limit` failed items of a finished bulk deletion (none while it runs)."""
    if bulk_deletion.is_active:
        return []
    return list(_failed(bulk_deletion.items.all()).order_by("id")[:limit])


@dataclass(frozen=True)
class BulkTarget:
    """What a bulk deletion request points at: the exact SIDs, a sample, and where they came
    from (a selection, or "all matching" a filter, re-evaluated on every request)."""

    count: int
    sample: list[Transcription]
    from_filter: bool
    filter_params: dict[str, list[str]]
    # The exact SIDs; for "all matching" only read when the bulk deletion is created.
    sids: list[str] | None = None
    # Selected SIDs dropped: malformed, or no longer in the cache.
    ignored: int = 0

    @property
    def needs_typed_count(self) -> bool:
        return self.count > TYPED_CONFIRM_ABOVE


def bulk_target_of_filter(*, filters: TableFilters, with_sids: bool = False) -> BulkTarget:
    """Every cached transcription matching the table's filters, evaluated now with the table's
    own query. `with_sids` also reads every matching SID (to record the bulk deletion)."""
    rows = transcription_list(filters=filters)
    sids = list(rows.values_list("sid", flat=True)) if with_sids else None
    return BulkTarget(
        count=len(sids) if sids is not None else rows.order_by().count(),
        sample=list(rows.defer("transcription_text")[:SAMPLE_SIZE]),
        from_filter=True,
        filter_params=filters.params_by_name(),
        sids=sids,
    )


def bulk_target_of_selection(*, sids: list[str]) -> BulkTarget:
    """The selected SIDs that are well formed and still cached, newest first; the others are
    counted as ignored."""
    raw = sids[:SELECTION_MAX]
    wanted = [sid for sid in dict.fromkeys(raw) if is_transcription_sid(sid)]
    rows = list(
        Transcription.objects.filter(sid__in=wanted)
        .defer("transcription_text")
        .order_by(*SORTS[DEFAULT_SORT])
    )
    return BulkTarget(
        count=len(rows),
        sids=[row.sid for row in rows],
        sample=rows[:SAMPLE_SIZE],
        from_filter=False,
        filter_params={},
        ignored=len(raw) - len(rows),
    )


def bulk_deletion_looks_stale(bulk_deletion: BulkDeletion) -> bool:
    """An unfinished bulk deletion whose worker has gone silent (a stale heartbeat), or whose
    worker's process is known to be gone (see `processes`)."""
    if not bulk_deletion.is_active:
        return False
    if bulk_deletion.worker and process_gone(bulk_deletion.worker):
        return True
    cutoff = stale_cutoff(timezone.now())
    return bulk_deletion.heartbeat_at is None or bulk_deletion.heartbeat_at < cutoff


def bulk_deletion_take_over(bulk_deletion: BulkDeletion) -> bool:
    """Claim a stale bulk deletion for resuming: of concurrent callers exactly one gets True.
    Moving the heartbeat on is the lock: a second caller's update matches no row."""
    now = timezone.now()
    dead = Q(heartbeat_at__lt=stale_cutoff(now)) | Q(heartbeat_at__isnull=True)
    if bulk_deletion.worker and process_gone(bulk_deletion.worker):
        # Gone: the lock is the heartbeat as it was read, unchanged since.
        dead = Q(worker=bulk_deletion.worker, heartbeat_at=bulk_deletion.heartbeat_at)
    won = (
        BulkDeletion.objects.filter(pk=bulk_deletion.pk, state__in=BulkDeletion.ACTIVE_STATES)
        .filter(dead)
        .update(heartbeat_at=now, worker="")
    )
    if won:
        bulk_deletion.heartbeat_at = now
    return bool(won)


def bulk_deletions_unfinished() -> list[BulkDeletion]:
    return list(BulkDeletion.objects.filter(state__in=BulkDeletion.ACTIVE_STATES).order_by("id"))


def bulk_deletion_task_recorded(bulk_deletion: BulkDeletion, task_id: str) -> None:
    """Remember the task last queued for it, to tell "waiting for a worker" from "lost"."""
    # Why update() and not save(): with an immediate backend the job has already run and
    # changed the row; only the task id is ours to write.
    BulkDeletion.objects.filter(pk=bulk_deletion.pk).update(task_id=task_id)
    bulk_deletion.task_id = task_id
