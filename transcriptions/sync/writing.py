"""A pass's pages into the cache: each read, detected and prepared in a read-ahead thread
(detection in a process of its own) while the database writes the pages before, which are
committed a few at a time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager

from django.db import connection, transaction

from ..models import SyncRun
from ..personal_data.pool import Detection, pages_detected
from ..twilio_client import TwilioTranscription
from .head import HeadStop, held_before
from .pages import PreparedPage, ProgressCallback, page_prepare, page_write, storable_text
from .read_ahead import ReadAhead

# SQLite's page cache during a sync, in KiB (counts towards the sync process's memory).
SQLITE_CACHE_KIB = 64 * 1024
# Write-ahead log pages (4 KiB each) between checkpoints during a sync on SQLite.
SQLITE_CHECKPOINT_PAGES = 20_000


def run_pages(
    *,
    run: SyncRun,
    pages: Iterator[list[TwilioTranscription]],
    account_sid: str,
    progress: ProgressCallback | None,
    head: HeadStop | None = None,
) -> None:
    vendor, ops = connection.vendor, connection.ops
    # A head sync reads few pages, and must not read on ahead to feed the detecting process.
    detection = Detection(elsewhere=head is None)
    # Each page is read, detected and prepared in the read-ahead thread (detection in a
    # process of its own) while the one before is written.
    prepared = (
        page_prepare(
            page,
            run_pk=run.pk,
            account_sid=account_sid,
            vendor=vendor,
            ops=ops,
            personal_data=columns,
        )
        for page, columns in pages_detected(
            pages, detection, text_of=lambda item: storable_text(item.transcription_text)
        )
    )
    try:
        if head is not None:
            # A head sync reads one page at a time: it stops at the first page it did not
            # need, and must not have fetched the pages beyond.
            _pages_write(run=run, pages=prepared, ready=lambda: False, progress=progress, head=head)
            return
        ahead = ReadAhead(prepared)
        # Closed at once on an error, so the fetching thread stops with the pass.
        with _sqlite_bulk_writes(), closing(ahead):
            _pages_write(run=run, pages=ahead, ready=ahead.ready, progress=progress)
    finally:
        detection.close()


# Pages that are ready one after another are written in one transaction for up to this long.
# A commit writes out every index page the transaction touched, and a page of new rows
# touches most pages of the indexes in random order (duration, recording): on SQLite a commit
# per page took a quarter of a sync's time. Short enough that a callback or a delete waiting
# for the write lock is not kept long.
COMMIT_EVERY_SECONDS = 0.5


def _pages_write(
    *,
    run: SyncRun,
    pages: Iterator[PreparedPage],
    ready: Callable[[], bool],
    progress: ProgressCallback | None,
    head: HeadStop | None = None,
) -> None:
    """Write the pages, each in a savepoint of its own, committing when the transaction has
    run for `COMMIT_EVERY_SECONDS` or the next page is not `ready()` (a transaction never
    waits for Twilio); `progress` gets the run after each commit. An error, in a page or
    while fetching one, rolls back that page only: the pages before it are committed, then
    the error is raised."""
    more = True
    while more:
        failure: BaseException | None = None
        pages_before = run.pages
        with transaction.atomic():
            until = time.monotonic() + COMMIT_EVERY_SECONDS
            while True:
                try:
                    page = next(pages, None)
                    if page is None:
                        more = False
                        break
                    held = held_before(page) if head is not None else None
                    page_write(run=run, page=page, unchanged=held.unchanged if held else None)
                except BaseException as exc:  # noqa: BLE001 - raised once the pages before are kept
                    failure = exc
                    break
                if head is not None and head.reached(page):
                    more = False
                    break
                if time.monotonic() >= until or not ready():
                    break
        if failure is not None:
            raise failure
        if progress is not None and run.pages > pages_before:
            progress(run)


@contextmanager
def _sqlite_bulk_writes() -> Iterator[None]:
    """On SQLite, settings for a long run of large writes, restored afterwards: a page cache
    that holds the indexes the upserts walk (SQLite's default is 2 MiB, and inserts at random
    places in the sid index then read from disk ever more often as the table grows), and a
    checkpoint of the write-ahead log every 80 MiB rather than every 4 MiB, so that the index
    pages every upsert rewrites are copied back into the database file less often."""
    if connection.vendor != "sqlite":
        yield
        return
    wanted = {"cache_size": -SQLITE_CACHE_KIB, "wal_autocheckpoint": SQLITE_CHECKPOINT_PAGES}
    previous = {}
    with connection.cursor() as cursor:
        for name, value in wanted.items():
            cursor.execute(f"PRAGMA {name}")
            previous[name] = int(cursor.fetchone()[0])
            cursor.execute(f"PRAGMA {name} = {value}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name, value in previous.items():
                cursor.execute(f"PRAGMA {name} = {value}")
