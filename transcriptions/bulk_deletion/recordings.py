"""A bulk deletion's recordings ("also delete the call recording"): once every transcription of
the job has its outcome, each recording the job asked for is deleted at Twilio once, after all
of the job's transcriptions of it are gone; a recording whose transcription here could not be
deleted is kept. Each item keeps its recording's outcome, and each is audited by its SID."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..audit import Actor
from ..deletion import failure_outcome
from ..models import BulkDeletionItem
from ..recording_deletion import recording_outcome_record, twilio_recording_delete
from ..twilio_client import TwilioClient, TwilioError

KEPT_REASON = "kept: a transcription of it could not be deleted"


def _recordings_keep_where_text_failed(items: QuerySet[BulkDeletionItem]) -> None:
    rs = BulkDeletionItem.RecordingState
    failed = (
        items.filter(state=BulkDeletionItem.State.FAILED)
        .exclude(recording_sid="")
        .values("recording_sid")
    )
    items.filter(recording_state__in=(rs.PENDING, rs.CLAIMED), recording_sid__in=failed).update(
        recording_state=rs.KEPT, recording_error=KEPT_REASON, recording_finished_at=timezone.now()
    )


def recordings_erase(
    *,
    items: QuerySet[BulkDeletionItem],
    client_factory: Callable[[], TwilioClient],
    concurrency: int,
    actor: Actor,
    note: str,
    batch: str,
) -> None:
    """Delete the job's pending recordings at Twilio, `concurrency` at a time, and record each
    outcome on every item of that recording. Run when no transcription of the job is pending
    or claimed; a recording left claimed by a worker that died is asked for again (Twilio's
    404 then says it is gone)."""
    rs = BulkDeletionItem.RecordingState
    _recordings_keep_where_text_failed(items)
    asked = items.filter(recording_state__in=(rs.PENDING, rs.CLAIMED)).exclude(recording_sid="")
    recording_sids = sorted(set(asked.values_list("recording_sid", flat=True)))
    if not recording_sids:
        return
    asked.update(recording_state=rs.CLAIMED)

    def erase(recording_sid: str) -> tuple[str, bool, TwilioError | None]:
        with client_factory() as client:
            try:
                return (
                    recording_sid,
                    twilio_recording_delete(recording_sid=recording_sid, client=client),
                    None,
                )
            except TwilioError as exc:
                return recording_sid, False, exc

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bulk-recordings") as pool:
        for recording_sid, already_gone, exc in pool.map(erase, recording_sids):
            _recording_record(
                items.filter(recording_sid=recording_sid, recording_state=rs.CLAIMED),
                recording_sid=recording_sid,
                already_gone=already_gone,
                exc=exc,
                actor=actor,
                note=note,
                batch=batch,
            )


def _recording_record(
    items: QuerySet[BulkDeletionItem],
    *,
    recording_sid: str,
    already_gone: bool,
    exc: TwilioError | None,
    actor: Actor,
    note: str,
    batch: str,
) -> None:
    rs = BulkDeletionItem.RecordingState
    state = rs.FAILED if exc is not None else rs.ALREADY_GONE if already_gone else rs.DELETED
    with transaction.atomic():
        sids = list(items.values_list("sid", flat=True))
        items.update(
            recording_state=state,
            recording_error=failure_outcome(exc)[:255] if exc is not None else "",
            recording_finished_at=timezone.now(),
        )
        # One event for each transcription of the recording: each SID answers for its audio.
        for sid in sids:
            recording_outcome_record(
                recording_sid=recording_sid,
                transcription_sid=sid,
                actor=actor,
                already_gone=already_gone,
                exc=exc,
                note=note,
                batch=batch,
            )
