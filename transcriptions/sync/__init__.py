"""Writes from Twilio into the local cache: a full pass over the account, a pass over one
recording, and one transcription's refresh or text.

A pass pages through Twilio (1,000 items a page), upserts each page in one statement, and only
after a complete pass removes the cached rows that the pass did not see. One sync runs at a time
per account (see `runs`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

from django.db import DatabaseError
from django.utils import timezone

from ..models import SyncRun, Transcription, TranscriptionStatus
from ..planner_stats import planner_stats_refresh
from ..sids import recording_sid_validate
from ..twilio_client import (
    TwilioClient,
    TwilioNotFound,
    TwilioTranscription,
    client_or_settings,
)
from .head import HeadStop
from .pages import (
    ProgressCallback,
    transcription_fields,
)
from .runs import (
    SyncAlreadyRunning,
    SyncDatabaseError,
    SyncTakenOver,
    default_started_by,
    latest_run,
    run_complete,
    run_fail,
    run_looks_alive,
    run_start,
    running_run,
)
from .search_vector import search_vector_source
from .text import transcription_refresh, transcription_text_fetch
from .writing import run_pages

PAGE_SIZE = 1000


def _pass(
    *,
    kind: str,
    client: TwilioClient,
    pages: Callable[[TwilioClient], Iterator[list[TwilioTranscription]]],
    recording_sid: str = "",
    progress: ProgressCallback | None,
    started_by: str,
    head: bool = False,
) -> SyncRun:
    """One pass: the lock, every page written, then what the pass did not see removed. Any
    error (Twilio's, the database's, a stop) marks the run failed with the reason, removes
    nothing, and is raised again; running the sync again finishes the job."""
    account_sid = client.account_sid
    run = run_start(
        kind=kind,
        account_sid=account_sid,
        recording_sid=recording_sid,
        started_by=started_by or default_started_by(),
    )
    try:
        stop = _head_stop(account_sid) if head else None
        run_pages(
            run=run, pages=pages(client), account_sid=account_sid, progress=progress, head=stop
        )
        unseen = Transcription.objects.filter(account_sid=account_sid)
        if recording_sid:
            unseen = unseen.filter(recording_sid=recording_sid)
        # Only a complete pass can tell what Twilio no longer has; and not of a row written
        # by another path while it ran (a callback's new transcription, newer than the
        # pages the pass had read).
        if head:
            unseen = unseen.none()
        else:
            unseen = unseen.exclude(last_seen_run=run.pk).exclude(synced_at__gte=run.started_at)
        run_complete(run, unseen=unseen)
    except BaseException as exc:
        run_fail(run, exc)
        if isinstance(exc, Exception) and run.created:
            # What a failed pass wrote stays, and is planned on too.
            planner_stats_refresh(changed=run.created, reason=f"sync run {run.pk} (failed)")
        if isinstance(exc, DatabaseError):
            raise SyncDatabaseError(run.error_message) from None
        raise
    planner_stats_refresh(
        changed=run.created + run.removed, rewritten=run.updated, reason=f"sync run {run.pk}"
    )
    return run


# Twilio finishes a transcription within minutes: a row in progress for longer than this is
# left to the complete passes, or every head sync would read down to it.
HEAD_IN_PROGRESS_WINDOW = timedelta(days=1)
# How far before the start of the last sync a head sync reads back: Twilio's dates come from
# its clock, not ours, and a transcription may be listed a moment after its creation date.
HEAD_OVERLAP = timedelta(minutes=5)


def _head_stop(account_sid: str) -> HeadStop:
    last = (
        SyncRun.objects.filter(
            account_sid=account_sid,
            kind__in=[SyncRun.Kind.FULL, SyncRun.Kind.HEAD],
            state=SyncRun.State.SUCCEEDED,
        )
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    oldest = (
        Transcription.objects.filter(
            account_sid=account_sid,
            status=TranscriptionStatus.IN_PROGRESS,
            date_created__gte=timezone.now() - HEAD_IN_PROGRESS_WINDOW,
        )
        .order_by("date_created")
        .values_list("date_created", flat=True)
        .first()
    )
    return HeadStop(
        read_since=last - HEAD_OVERLAP if last is not None else None, in_progress_since=oldest
    )


def transcriptions_head_sync(
    *,
    client: TwilioClient | None = None,
    progress: ProgressCallback | None = None,
    started_by: str = "",
) -> SyncRun:
    """Read the account's newest pages until the cache already holds the rest: stop after the
    page that reaches back before the start of the last sync that succeeded (less
    `HEAD_OVERLAP`) and before the oldest row held in progress (see `HeadStop`). What changed
    since (new, completed, failed) is written; nothing is removed (only a complete pass can
    tell what Twilio no longer has). On a quiet account one page; it also catches callbacks
    that never arrived."""
    return _account_pass(head=True, client=client, progress=progress, started_by=started_by)


def transcriptions_sync(
    *,
    client: TwilioClient | None = None,
    progress: ProgressCallback | None = None,
    started_by: str = "",
) -> SyncRun:
    """Copy every transcription of the account into the cache, then remove the cached rows of
    that account that Twilio no longer has. The client comes from the settings unless one is
    given.

    Raises SyncAlreadyRunning when another sync of the account is running, TwilioNotConfigured
    without credentials. `progress` gets the run after every commit (a page or a few)."""
    return _account_pass(head=False, client=client, progress=progress, started_by=started_by)


def _account_pass(
    *,
    head: bool,
    client: TwilioClient | None,
    progress: ProgressCallback | None,
    started_by: str,
) -> SyncRun:
    with client_or_settings(client) as twilio:
        return _pass(
            kind=SyncRun.Kind.HEAD if head else SyncRun.Kind.FULL,
            client=twilio,
            pages=lambda c: c.iter_transcription_pages(page_size=PAGE_SIZE),
            progress=progress,
            started_by=started_by,
            head=head,
        )


def _recording_pages(
    client: TwilioClient, recording_sid: str
) -> Iterator[list[TwilioTranscription]]:
    """The recording's pages; a recording Twilio does not know (404 on the first page) has
    none. Twilio usually answers an unknown recording with an empty list instead."""
    pages = client.iter_recording_transcription_pages(recording_sid, page_size=PAGE_SIZE)
    first = True
    while True:
        try:
            page = next(pages)
        except StopIteration:
            return
        except TwilioNotFound:
            if first:
                return
            raise
        first = False
        yield page


def recording_transcriptions_sync(
    *,
    recording_sid: str,
    client: TwilioClient | None = None,
    progress: ProgressCallback | None = None,
    started_by: str = "",
) -> SyncRun:
    """Refresh the cached transcriptions of one recording, removing those Twilio no longer has.
    Same lock, failure handling and counts as the full sync."""
    recording_sid_validate(recording_sid)
    with client_or_settings(client) as twilio:
        return _pass(
            kind=SyncRun.Kind.RECORDING,
            client=twilio,
            pages=lambda c: _recording_pages(c, recording_sid),
            recording_sid=recording_sid,
            progress=progress,
            started_by=started_by,
        )


__all__ = [
    "PAGE_SIZE",
    "ProgressCallback",
    "SyncAlreadyRunning",
    "SyncDatabaseError",
    "SyncTakenOver",
    "latest_run",
    "recording_transcriptions_sync",
    "run_looks_alive",
    "running_run",
    "search_vector_source",
    "transcription_fields",
    "transcription_refresh",
    "transcription_text_fetch",
    "transcriptions_head_sync",
    "transcriptions_sync",
]
