"""Writes from Twilio into the local cache: full sync, per-recording refresh, text fetch, and the
text retention policy.

A full sync pages through the account (1,000 items a page), upserts each page in one statement,
and only after a complete pass removes the cached rows that the pass did not see. One sync runs
at a time per account; the lock is a row in the database (a SyncRun in state "running", unique
per account), so it holds across processes and machines, and a run whose process died is taken
over once its heartbeat is older than `SYNC_STALE_AFTER_SECONDS`.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .models import AuditEvent, SyncRun, Transcription
from .twilio_client import TwilioClient, TwilioError, TwilioNotFound, TwilioTranscription

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000
# A run refreshes its heartbeat after every page; one page takes well under a second, or a
# couple of minutes at worst while the client retries. Older than this, its process is gone.
DEFAULT_STALE_AFTER_SECONDS = 300
# SQLite's page cache during a sync, in KiB (counts towards the sync process's memory).
SQLITE_CACHE_KIB = 64 * 1024
# Write-ahead log pages (4 KiB each) between checkpoints during a sync on SQLite.
SQLITE_CHECKPOINT_PAGES = 20_000
RECORDING_SID_RE = re.compile(r"^RE[0-9a-fA-F]{32}$")

# Every column a sync writes on a row that is already cached (all but `sid`).
UPDATE_FIELDS = [
    "account_sid",
    "recording_sid",
    "status",
    "transcription_text",
    "duration",
    "price",
    "price_unit",
    "type",
    "api_version",
    "uri",
    "date_created",
    "date_updated",
    "synced_at",
]

ProgressCallback = Callable[[SyncRun], None]


class SyncAlreadyRunning(Exception):
    """Another sync of the same account is running; this one did not start."""

    def __init__(self, running: SyncRun) -> None:
        self.running = running
        since = timezone.localtime(running.started_at).strftime("%H:%M")
        what = "A sync" if running.kind == SyncRun.Kind.FULL else "A recording sync"
        by = f" (started by {running.started_by})" if running.started_by else ""
        super().__init__(
            f"{what} is already running since {since}{by}; wait for it to finish, "
            "then run this one again."
        )


class SyncTakenOver(Exception):
    """This run was marked failed by another process (it looked dead); it stops writing."""


class InvalidRecordingSid(ValueError):
    """A recording SID that is not RE followed by 32 hexadecimal digits."""


# Retention


def retention_cutoff(*, now: datetime | None = None) -> datetime | None:
    """The moment before which cached text must not be kept, or None when
    TRANSCRIPT_TEXT_RETENTION_DAYS is not set (text lives as long as Twilio keeps it)."""
    days = getattr(settings, "TRANSCRIPT_TEXT_RETENTION_DAYS", None)
    if days is None:
        return None
    if days < 0:
        raise ImproperlyConfigured("TRANSCRIPT_TEXT_RETENTION_DAYS must be 0 or more.")
    return (now or timezone.now()) - timedelta(days=days)


def _is_past(date_created: datetime | None, cutoff: datetime | None) -> bool:
    return cutoff is not None and date_created is not None and date_created < cutoff


def text_is_past_retention(transcription: Transcription) -> bool:
    """Whether the retention setting forbids keeping this transcription's text."""
    return _is_past(transcription.date_created, retention_cutoff())


def purge_transcript_text(*, now: datetime | None = None) -> int:
    """Clear the cached text of every transcription older than the retention window; returns
    how many were cleared (0 when retention is not set)."""
    cutoff = retention_cutoff(now=now)
    if cutoff is None:
        return 0
    return Transcription.objects.filter(
        date_created__lt=cutoff, transcription_text__isnull=False
    ).update(transcription_text=None)


# Converting Twilio's items into cache rows


def transcription_fields(
    item: TwilioTranscription,
    *,
    account_sid: str,
    synced_at: datetime,
    text_cutoff: datetime | None,
) -> dict:
    """The cache's column values for one item from Twilio (all but `sid` and `last_seen_run`).
    The text is dropped when the item is older than the retention cutoff."""
    date_created = item.date_created or item.date_updated or synced_at
    return {
        "account_sid": item.account_sid or account_sid,
        "recording_sid": item.recording_sid or "",
        "status": item.status or "",
        "transcription_text": (
            None if _is_past(date_created, text_cutoff) else item.transcription_text
        ),
        "duration": item.duration,
        "price": item.price,
        "price_unit": item.price_unit or "",
        "type": item.type or "",
        "api_version": item.api_version or "",
        "uri": item.uri or "",
        "date_created": date_created,
        "date_updated": item.date_updated or date_created,
        "synced_at": synced_at,
    }


# Running and recording a sync


def _default_started_by() -> str:
    return f"{socket.gethostname()}, pid {os.getpid()}"


def _stale_after() -> timedelta:
    return timedelta(
        seconds=getattr(settings, "SYNC_STALE_AFTER_SECONDS", DEFAULT_STALE_AFTER_SECONDS)
    )


def _run_start(*, kind: str, account_sid: str, recording_sid: str = "", started_by: str) -> SyncRun:
    """Insert this run as "running", which the unique constraint allows once per account.
    A running run without a heartbeat for too long is marked failed and replaced."""
    for _attempt in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                return SyncRun.objects.create(
                    kind=kind,
                    account_sid=account_sid,
                    recording_sid=recording_sid,
                    state=SyncRun.State.RUNNING,
                    started_by=started_by[:150],
                    started_at=now,
                    heartbeat_at=now,
                )
        except IntegrityError:
            running = SyncRun.objects.filter(
                account_sid=account_sid, state=SyncRun.State.RUNNING
            ).first()
            if running is None:
                continue  # it finished in the meantime
            stale_before = now - _stale_after()
            last_sign = running.heartbeat_at or running.started_at
            if last_sign >= stale_before:
                raise SyncAlreadyRunning(running) from None
            # Conditional, so that of two processes taking over, one wins, and a run that
            # just showed a sign of life is left alone.
            SyncRun.objects.filter(
                pk=running.pk, state=SyncRun.State.RUNNING, heartbeat_at__lt=stale_before
            ).update(
                state=SyncRun.State.FAILED,
                finished_at=now,
                error_message=(
                    "The process running it stopped: no sign of life since "
                    f"{timezone.localtime(last_sign):%Y-%m-%d %H:%M}; a later sync took over."
                ),
            )
            logger.warning("Sync run %s looked dead and was marked failed", running.pk)
    running = SyncRun.objects.filter(account_sid=account_sid, state=SyncRun.State.RUNNING).first()
    if running is not None:
        raise SyncAlreadyRunning(running)
    raise DatabaseError("Could not record the start of a sync run")  # pragma: no cover


def _failure_reason(exc: BaseException, run: SyncRun) -> str:
    """Why the run failed, for the SyncRun record: never credentials, never text."""
    where = f"after {run.pages} page{'s' if run.pages != 1 else ''}"
    if isinstance(exc, TwilioError):
        return f"{exc} ({where})"
    if isinstance(exc, SyncTakenOver):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return f"Stopped before the pass was complete ({where})."
    if isinstance(exc, DatabaseError):
        first_line = (str(exc).splitlines() or [""])[0][:300]
        return f"Database error {where}: {type(exc).__name__}: {first_line}"
    return f"Unexpected {type(exc).__name__} {where}; see the log."


def _run_fail(run: SyncRun, exc: BaseException) -> None:
    run.state = SyncRun.State.FAILED
    run.finished_at = timezone.now()
    run.error_message = _failure_reason(exc, run)
    if not isinstance(exc, TwilioError | KeyboardInterrupt | SystemExit | SyncTakenOver):
        logger.exception("Sync run %s failed", run.pk)
    try:
        # Conditional: a run already taken over keeps the reason its taker gave.
        SyncRun.objects.filter(pk=run.pk, state=SyncRun.State.RUNNING).update(
            state=run.state, finished_at=run.finished_at, error_message=run.error_message
        )
    except DatabaseError:
        # The original error is what matters; the run then looks dead and is taken over.
        logger.exception("Could not record the failure of sync run %s", run.pk)


def _raise_if_taken_over(updated_rows: int, run: SyncRun) -> None:
    if updated_rows == 0:
        raise SyncTakenOver(
            "Another process took this sync over because it looked dead; it stopped writing."
        )


# Columns of one upsert, `sid` (the conflict target) first.
UPSERT_COLUMNS = ["sid", *UPDATE_FIELDS, "last_seen_run"]
_DATETIME_INDEXES = [
    UPSERT_COLUMNS.index(name) for name in ("date_created", "date_updated", "synced_at")
]


def _upsert_sql(source: str) -> str:
    """INSERT INTO the cache's table the rows of `source` (a VALUES list or a SELECT giving
    `UPSERT_COLUMNS` in order), updating the rows whose sid is already there.

    Hand-built rather than `bulk_create(update_conflicts=True)`: the statement is the same,
    but bulk_create prepares every value through the field layers, which took most of a
    sync's time (a 100,000-row sync ran about twice as long). `bench/sync_throughput.py`
    measures the result."""
    quote = connection.ops.quote_name
    columns = [quote(Transcription._meta.get_field(name).column) for name in UPSERT_COLUMNS]
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns[1:])
    return (
        f"INSERT INTO {quote(Transcription._meta.db_table)} ({', '.join(columns)}) {source} "
        f"ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"
    )


def _rows_upsert(rows: list[dict]) -> None:
    """Write rows (column values by field name, `UPSERT_COLUMNS`) in one statement."""
    if connection.vendor == "postgresql":
        _rows_upsert_postgresql(rows)
    elif connection.vendor == "sqlite":
        _rows_upsert_sqlite(rows)
    else:
        raise NotImplementedError(f"sync supports SQLite and PostgreSQL, not {connection.vendor}")


def _rows_upsert_postgresql(rows: list[dict]) -> None:
    """The page travels as one JSON document, turned into rows of the table's type by
    json_populate_recordset (the field names are the column names): psycopg's quoting of one
    array per column, done in Python, cost more than the insert itself."""
    quote = connection.ops.quote_name
    table = quote(Transcription._meta.db_table)
    columns = ", ".join(quote(name) for name in UPSERT_COLUMNS)
    source = f"SELECT {columns} FROM json_populate_recordset(NULL::{table}, %s)"
    # Datetimes and decimals as their str(), which PostgreSQL reads exactly.
    document = json.dumps(rows, default=str, ensure_ascii=False)
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(source), [document])


def _rows_upsert_sqlite(rows: list[dict]) -> None:
    """One VALUES list (SQLite builds older than 3.32 allow only 999 variables a statement:
    then in as few statements as fit)."""
    adapt_datetime = connection.ops.adapt_datetimefield_value
    values = [[row[name] for name in UPSERT_COLUMNS] for row in rows]
    # Every row of a page has the same synced_at, and often equal dates: adapt each once.
    adapted: dict[datetime, object] = {}
    for row_values in values:
        for index in _DATETIME_INDEXES:
            value = row_values[index]
            if value not in adapted:
                adapted[value] = adapt_datetime(value)
            row_values[index] = adapted[value]
    placeholders = "(" + ", ".join(["%s"] * len(UPSERT_COLUMNS)) + ")"
    with connection.cursor() as cursor:
        limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        per_statement = max(1, limit // len(UPSERT_COLUMNS))
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            source = "VALUES " + ", ".join([placeholders] * len(chunk))
            cursor.execute(_upsert_sql(source), [value for row in chunk for value in row])


def _page_write(*, run: SyncRun, page: list[TwilioTranscription], account_sid: str) -> None:
    """Upsert one page in one statement, stamped as seen by this run, and record the page on
    the run (its heartbeat). Both or neither: a run taken over writes nothing more."""
    now = timezone.now()
    cutoff = retention_cutoff(now=now)
    # A page repeats no SID, but one upsert statement must not touch a row twice.
    items = {item.sid: item for item in page}
    # A page read just before a delete still lists the deleted transcription; writing it back
    # would bring its text back until the next sync. The audit trail holds every delete that
    # Twilio confirmed, and a deleted SID never returns at Twilio.
    for sid in AuditEvent.objects.filter(
        action=AuditEvent.Action.DELETED, transcription_sid__in=list(items)
    ).values_list("transcription_sid", flat=True):
        items.pop(sid, None)
    rows = [
        {
            "sid": sid,
            "last_seen_run": run.pk,
            **transcription_fields(
                item, account_sid=account_sid, synced_at=now, text_cutoff=cutoff
            ),
        }
        for sid, item in items.items()
    ]
    with transaction.atomic():
        existing = Transcription.objects.filter(sid__in=items.keys()).count() if rows else 0
        if rows:
            _rows_upsert(rows)
        run.pages += 1
        run.rows_seen += len(rows)
        run.created += len(rows) - existing
        run.updated += existing
        run.heartbeat_at = now
        updated = SyncRun.objects.filter(pk=run.pk, state=SyncRun.State.RUNNING).update(
            pages=run.pages,
            rows_seen=run.rows_seen,
            created=run.created,
            updated=run.updated,
            heartbeat_at=now,
        )
        _raise_if_taken_over(updated, run)


def _run_complete(run: SyncRun, *, unseen: QuerySet[Transcription]) -> None:
    """Remove the rows the complete pass did not see and mark the run succeeded, together."""
    now = timezone.now()
    with transaction.atomic():
        removed, _ = unseen.delete()
        run.removed = removed
        run.state = SyncRun.State.SUCCEEDED
        run.finished_at = now
        run.heartbeat_at = now
        updated = SyncRun.objects.filter(pk=run.pk, state=SyncRun.State.RUNNING).update(
            removed=removed, state=run.state, finished_at=now, heartbeat_at=now
        )
        _raise_if_taken_over(updated, run)


def _run_pages(
    *,
    run: SyncRun,
    pages: Iterator[list[TwilioTranscription]],
    account_sid: str,
    progress: ProgressCallback | None,
) -> None:
    # Closed at once on an error, so the fetching thread stops with the pass.
    with _sqlite_bulk_writes(), closing(_read_ahead(pages)) as ahead:
        for page in ahead:
            _page_write(run=run, page=page, account_sid=account_sid)
            if progress is not None:
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


def _read_ahead(pages: Iterator[list[TwilioTranscription]]) -> Iterator[list[TwilioTranscription]]:
    """The same pages, with the next one fetched from Twilio (in a thread) while this one is
    written: the wait for Twilio overlaps the database's work. One page ahead at most, so
    memory stays flat. An error while fetching is raised here, in the caller's thread."""
    handoff: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(kind: str, value: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not hand_over("page", page):
                    return
            hand_over("done", None)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            hand_over("error", exc)

    # A daemon: when the caller stops early, a request in flight must not keep the process.
    thread = threading.Thread(target=fetch, name="sync-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "page":
                yield value  # type: ignore[misc]
            elif kind == "error":
                raise value  # type: ignore[misc]
            else:
                return
    finally:
        stop.set()


def transcriptions_sync(
    *,
    client: TwilioClient,
    progress: ProgressCallback | None = None,
    started_by: str = "",
) -> SyncRun:
    """Copy every transcription of the client's account into the cache, then remove the cached
    rows of that account that Twilio no longer has.

    Raises SyncAlreadyRunning when another sync of the account is running. Any error (Twilio's,
    the database's, a stop) marks the run failed with the reason, removes nothing, and is
    raised again; running the sync again finishes the job. `progress` gets the run after every
    page."""
    account_sid = client.account_sid
    run = _run_start(
        kind=SyncRun.Kind.FULL,
        account_sid=account_sid,
        started_by=started_by or _default_started_by(),
    )
    try:
        _run_pages(
            run=run,
            pages=client.iter_transcription_pages(page_size=PAGE_SIZE),
            account_sid=account_sid,
            progress=progress,
        )
        _run_complete(
            run,
            unseen=Transcription.objects.filter(account_sid=account_sid).exclude(
                last_seen_run=run.pk
            ),
        )
    except BaseException as exc:
        _run_fail(run, exc)
        raise
    return run


def recording_sid_validate(recording_sid: str) -> str:
    """The SID itself when it is a recording SID; InvalidRecordingSid otherwise."""
    if not isinstance(recording_sid, str) or not RECORDING_SID_RE.fullmatch(recording_sid):
        shown = repr(recording_sid)[:50]
        raise InvalidRecordingSid(
            f"{shown} is not a recording SID: expected RE followed by 32 hexadecimal digits."
        )
    return recording_sid


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
    client: TwilioClient,
    recording_sid: str,
    progress: ProgressCallback | None = None,
    started_by: str = "",
) -> SyncRun:
    """Refresh the cached transcriptions of one recording, removing those Twilio no longer has.
    Same lock, failure handling and counts as the full sync."""
    recording_sid_validate(recording_sid)
    account_sid = client.account_sid
    run = _run_start(
        kind=SyncRun.Kind.RECORDING,
        account_sid=account_sid,
        recording_sid=recording_sid,
        started_by=started_by or _default_started_by(),
    )
    try:
        _run_pages(
            run=run,
            pages=_recording_pages(client, recording_sid),
            account_sid=account_sid,
            progress=progress,
        )
        _run_complete(
            run,
            unseen=Transcription.objects.filter(
                account_sid=account_sid, recording_sid=recording_sid
            ).exclude(last_seen_run=run.pk),
        )
    except BaseException as exc:
        _run_fail(run, exc)
        raise
    return run


# One transcription


def transcription_refresh(*, transcription: Transcription, client: TwilioClient) -> Transcription:
    """Re-fetch one transcription from Twilio and update its cached row (text included, unless
    past retention). TwilioNotFound means Twilio no longer has it; the caller decides."""
    item = client.fetch_transcription(transcription.sid)
    now = timezone.now()
    fields = transcription_fields(
        item,
        account_sid=transcription.account_sid or client.account_sid,
        synced_at=now,
        text_cutoff=retention_cutoff(now=now),
    )
    # An UPDATE rather than save(): a row removed meanwhile (a sync, a delete) stays removed.
    Transcription.objects.filter(pk=transcription.pk).update(**fields)
    for name, value in fields.items():
        setattr(transcription, name, value)
    return transcription


def transcription_text_fetch(*, transcription: Transcription, client: TwilioClient) -> str | None:
    """The transcription's text: the cached copy, or fetched from Twilio and cached when the
    cache has none. None when Twilio has no text for it, or when it is past retention (then
    nothing is fetched and any cached copy is cleared)."""
    if text_is_past_retention(transcription):
        if transcription.transcription_text is not None:
            Transcription.objects.filter(pk=transcription.pk).update(transcription_text=None)
            transcription.transcription_text = None
        return None
    if transcription.transcription_text is not None:
        return transcription.transcription_text
    return transcription_refresh(transcription=transcription, client=client).transcription_text


def run_looks_alive(run: SyncRun) -> bool:
    """Whether a run marked running has shown a sign of life recently enough to be believed."""
    last_sign = run.heartbeat_at or run.started_at
    return last_sign >= timezone.now() - _stale_after()
