"""One of Twilio's pages into the cache: prepared (rows, word vectors, the statement's data)
away from the database, then upserted in one statement, stamped with the run that saw it, and
counted on the run. `writing` runs a pass's pages through here."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Field, Model
from django.utils import timezone

from ..models import SEARCH_VECTOR, AuditEvent, SyncRun, Transcription
from ..personal_data import personal_data_columns
from ..retention import is_past, retention_cutoff
from ..twilio_client import SetAside, TranscriptionPage, TwilioTranscription
from .runs import raise_if_taken_over
from .search_vector import search_vector_source

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
    "personal_data",
    "personal_data_found",
    "personal_data_version",
]

ProgressCallback = Callable[[SyncRun], None]
# SIDs kept on a run for each reason an item was read around or set aside.
PROBLEM_SIDS_KEPT = 5


# Strings the cache's columns cannot hold (PostgreSQL refuses both; SQLite would store them):
# NUL characters, and halves of a UTF-16 surrogate pair that JSON can spell on its own.
_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")
_SID_COLUMNS = ("account_sid", "recording_sid")
_CUT_COLUMNS = ("status", "price_unit", "type", "api_version", "uri")
_DURATION_MAX = 2**31 - 1  # the largest PositiveIntegerField on every database
_PRICE_LIMIT = Decimal(10) ** 7  # DecimalField(max_digits=12, decimal_places=5)


def _column_limit(name: str) -> int:
    column = Transcription._meta.get_field(name)
    assert isinstance(column, Field) and column.max_length
    return column.max_length


def storable_text(text: str | None) -> str | None:
    """The text as the cache stores it (characters no column holds removed)."""
    return text if text is None or not _UNSTORABLE_RE.search(text) else _UNSTORABLE_RE.sub("", text)


def _storable(value: str | None, name: str, problems: list[str]) -> str | None:
    if value is None or not _UNSTORABLE_RE.search(value):
        return value
    problems.append(f"characters the database cannot store removed from {name}")
    return _UNSTORABLE_RE.sub("", value)


def transcription_fields(
    item: TwilioTranscription,
    *,
    account_sid: str,
    synced_at: datetime,
    text_cutoff: datetime | None,
    problems: list[str] | None = None,
    personal_data: dict | None = None,
) -> dict:
    """The cache's column values for one item from Twilio (all but `sid` and `last_seen_run`).
    The text is dropped when the item is older than the retention cutoff. A value no column
    can hold is made storable (characters removed, a string cut to its column, a negative or
    impossible number left unknown), and what was done is appended to `problems` (by field
    name, never a value): one odd item never stops a sync. Personal data is looked for in
    Twilio's text, kept or not: what is found describes Twilio's copy (`personal_data`: the
    columns when already detected, from `storable_text` of the item's text)."""
    problems = [] if problems is None else problems
    date_created = item.date_created or item.date_updated or synced_at
    text = _storable(item.transcription_text, "transcription_text", problems)
    strings = {}
    for name in (*_SID_COLUMNS, *_CUT_COLUMNS):
        value = _storable(getattr(item, name), name, problems) or ""
        limit = _column_limit(name)
        if len(value) > limit:
            problems.append(f"{name} longer than its column ({limit})")
            value = "" if name in _SID_COLUMNS else value[:limit]
        strings[name] = value
    duration = item.duration
    if duration is not None and not 0 <= duration <= _DURATION_MAX:
        problems.append("duration out of range, stored as unknown")
        duration = None
    price = item.price
    if price is not None and abs(price) >= _PRICE_LIMIT:
        problems.append("price out of range, stored as unknown")
        price = None
    return {
        "account_sid": strings["account_sid"] or account_sid,
        "recording_sid": strings["recording_sid"],
        "status": strings["status"],
        "transcription_text": None if is_past(date_created, text_cutoff) else text,
        "duration": duration,
        "price": price,
        "price_unit": strings["price_unit"],
        "type": strings["type"],
        "api_version": strings["api_version"],
        "uri": strings["uri"],
        "date_created": date_created,
        "date_updated": item.date_updated or date_created,
        "synced_at": synced_at,
        **(personal_data if personal_data is not None else personal_data_columns(text)),
    }


# Columns of one upsert, `sid` (the conflict target) first.
UPSERT_COLUMNS = ["sid", *UPDATE_FIELDS, "last_seen_run"]
_DATETIME_INDEXES = [
    UPSERT_COLUMNS.index(name) for name in ("date_created", "date_updated", "synced_at")
]


def _table() -> str:
    return connection.ops.quote_name(Transcription._meta.db_table)


def _quoted_column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    return connection.ops.quote_name(field.column)


def _not_deleted_sql(sid: str) -> str:
    """A condition on a SID expression: Twilio has not confirmed its delete. A page read just
    before a delete still lists the deleted transcription; writing it back would bring its
    text back until the next sync. The audit trail holds every delete that Twilio confirmed,
    and a deleted SID never returns at Twilio. One parameter: the deleted action."""
    return (
        f"NOT EXISTS (SELECT 1 FROM {connection.ops.quote_name(AuditEvent._meta.db_table)} "
        f"WHERE {_quoted_column(AuditEvent, 'action')} = %s "
        f"AND {_quoted_column(AuditEvent, 'transcription_sid')} = {sid})"
    )


def _upsert_sql(source: str, *, extra_columns: tuple[str, ...] = ()) -> str:
    """INSERT INTO the cache's table the rows of `source` (a SELECT giving `UPSERT_COLUMNS`,
    then `extra_columns`, in order), updating the rows whose sid is already there.

    Hand-built rather than `bulk_create(update_conflicts=True)`: the statement is the same,
    but bulk_create prepares every value through the field layers, which took most of a
    sync's time (a 100,000-row sync ran about twice as long). `bench/sync_throughput.py`
    measures the result."""
    quote = connection.ops.quote_name
    columns = [_quoted_column(Transcription, name) for name in UPSERT_COLUMNS]
    columns += [quote(name) for name in extra_columns]
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns[1:])
    return (
        f"INSERT INTO {_table()} ({', '.join(columns)}) {source} "
        f"ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"
    )


@dataclass(frozen=True)
class PreparedPage:
    """One page of Twilio's items as the statements that write it take them, built in the
    read-ahead thread while the database writes the page before (see `read_ahead.ReadAhead`)."""

    sids: str  # the page's SIDs, a JSON array
    rows: str | list[list[Any]]  # PostgreSQL: COPY text; SQLite: a list of VALUES rows
    read_at: datetime
    # What had to be done to store some items (by SID), and the items that could not be.
    problems: dict[str, list[str]] = field(default_factory=dict)
    set_aside: list[SetAside] = field(default_factory=list)
    # What a head sync compares with the cache: each item's status and Twilio's last change,
    # and the oldest creation date on the page.
    versions: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    oldest: datetime | None = None

    @property
    def empty(self) -> bool:
        return not self.rows

    def one_by_one(self) -> Iterator[tuple[str, PreparedPage]]:
        """Each row as a page of its own, with its SID (when the page as a whole failed)."""
        sids = json.loads(self.sids)
        if isinstance(self.rows, str):
            # COPY text escapes line breaks inside values: one line is one row.
            ones: list[str | list[list[Any]]] = list(self.rows.splitlines(keepends=True))
        else:
            ones = [[row] for row in self.rows]
        for sid, one in zip(sids, ones, strict=True):
            yield sid, PreparedPage(sids=json.dumps([sid]), rows=one, read_at=self.read_at)


def page_prepare(
    page: list[TwilioTranscription],
    *,
    run_pk: int,
    account_sid: str,
    vendor: str,
    ops,
    personal_data: dict[str, dict] | None = None,
) -> PreparedPage:
    """No database access here: this runs in the read-ahead thread. `personal_data`: the
    personal-data columns by SID, when detected already."""
    now = timezone.now()
    cutoff = retention_cutoff(now=now)
    problems = dict(page.problems) if isinstance(page, TranscriptionPage) else {}
    set_aside = list(page.set_aside) if isinstance(page, TranscriptionPage) else []
    # A page repeats no SID, but one upsert statement must not touch a row twice.
    items = {item.sid: item for item in page}
    rows = []
    for sid, item in items.items():
        item_problems = list(problems.get(sid, ()))
        fields = transcription_fields(
            item,
            account_sid=account_sid,
            synced_at=now,
            text_cutoff=cutoff,
            problems=item_problems,
            personal_data=(personal_data or {}).get(sid),
        )
        if item_problems:
            problems[sid] = item_problems
        rows.append({"sid": sid, "last_seen_run": run_pk, **fields})
    if vendor == "postgresql":
        payload: str | list[list[Any]] = _copy_text(rows)
    elif vendor == "sqlite":
        payload = _sqlite_values(rows, ops)
    else:
        raise NotImplementedError(f"sync supports SQLite and PostgreSQL, not {vendor}")
    return PreparedPage(
        sids=json.dumps(list(items)),
        rows=payload,
        read_at=now,
        problems=problems,
        set_aside=set_aside,
        versions={r["sid"]: (r["status"], r["date_updated"]) for r in rows},
        oldest=min((r["date_created"] for r in rows), default=None),
    )


# COPY's text format: these characters are written as escapes; \N is NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_COLUMNS = (*UPSERT_COLUMNS, SEARCH_VECTOR)


def _copy_field(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)


def _copy_text(rows: list[dict]) -> str:
    """PostgreSQL: the rows as COPY text (`_COPY_COLUMNS`), each with its word vector (see
    `search_vector_source`). Datetimes and decimals as their str(), which PostgreSQL reads
    exactly."""
    lines = []
    for row in rows:
        values = [row[name] for name in UPSERT_COLUMNS]
        values.append(search_vector_source(row["transcription_text"], row["status"]))
        lines.append("\t".join(map(_copy_field, values)) + "\n")
    return "".join(lines)


def _sqlite_values(rows: list[dict], ops: Any) -> list[list[Any]]:
    """SQLite: the rows as VALUES rows (`UPSERT_COLUMNS`), datetimes adapted as Django does."""
    values = [[row[name] for name in UPSERT_COLUMNS] for row in rows]
    # Every row of a page has the same synced_at, and often equal dates: adapt each once.
    adapted: dict[datetime, object] = {}
    for row_values in values:
        for index in _DATETIME_INDEXES:
            value = row_values[index]
            if value not in adapted:
                adapted[value] = ops.adapt_datetimefield_value(value)
            row_values[index] = adapted[value]
    return values


def _page_upsert(page: PreparedPage) -> int:
    """Write a prepared page, leaving out the SIDs whose delete Twilio confirmed; how many
    rows it wrote (inserted or updated)."""
    deleted = AuditEvent.Action.DELETED.value
    if isinstance(page.rows, str):
        return _page_upsert_postgresql(page.rows, deleted)
    return _page_upsert_sqlite(page.rows, deleted)


# PostgreSQL: a page is copied into this table of the session, then upserted from it.
PAGE_TABLE = "transcriptions_sync_page"


def _page_upsert_postgresql(copy_text: str, deleted: str) -> int:
    """COPY is PostgreSQL's cheapest way in: parsing the page as one JSON document
    (json_populate_recordset) took a quarter of its time, and psycopg's quoting of one array
    per column, done in Python, more than the insert itself. The page table lives as long
    as the session and is emptied after each page, also inside an enclosing transaction."""
    quote = connection.ops.quote_name
    names = [quote(name) for name in _COPY_COLUMNS]
    columns = ", ".join(names)
    source = (
        f"SELECT {', '.join('page.' + n for n in names)} FROM {PAGE_TABLE} AS page "
        f"WHERE {_not_deleted_sql('page.' + quote('sid'))}"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {PAGE_TABLE} AS "
            f"SELECT {columns} FROM {_table()} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY {PAGE_TABLE} ({columns}) FROM STDIN") as copy:
            copy.write(copy_text)
        cursor.execute(_upsert_sql(source, extra_columns=(SEARCH_VECTOR,)), [deleted])
        written = cursor.rowcount
        cursor.execute(f"TRUNCATE {PAGE_TABLE}")
    return written


@functools.cache
def _sqlite_upsert_sql(rows: int) -> str:
    """The upsert of `rows` VALUES rows, with SQLite's own `?` placeholders: the statement is
    run on the driver's cursor, as Django's rewriting of 19,000 `%s` per page took a twentieth
    of the sync's writing time; and built once for each length."""
    placeholders = "(" + ", ".join(["?"] * len(UPSERT_COLUMNS)) + ")"
    # SQLite names a VALUES list's columns column1, column2…; sid is the first.
    source = (
        f"SELECT * FROM (VALUES {', '.join([placeholders] * rows)}) AS page "
        f"WHERE {_not_deleted_sql('page.column1')}"
    )
    return _upsert_sql(source).replace("%s", "?")


def _page_upsert_sqlite(values: list[list[Any]], deleted: str) -> int:
    """One VALUES list (SQLite builds older than 3.32 allow only 999 variables a statement:
    then in as few statements as fit)."""
    written = 0
    connection.ensure_connection()
    sqlite_connection = connection.connection
    limit = sqlite_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per_statement = max(1, (limit - 1) // len(UPSERT_COLUMNS))
    # Inside Django's transaction: the driver's connection is the one Django opened it on.
    # Driver errors as Django's (DatabaseError and its kind), as Django's cursor raises them.
    with connection.wrap_database_errors, closing(sqlite_connection.cursor()) as cursor:
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            params = [value for row in chunk for value in row] + [deleted]
            cursor.execute(_sqlite_upsert_sql(len(chunk)), params)
            written += cursor.rowcount
    return written


def _sid_set_sql(vendor: str) -> str:
    """A subquery giving the SIDs of one JSON array parameter: a page's thousand SIDs as one
    parameter rather than a thousand, which Django and the driver prepared one by one."""
    if vendor == "postgresql":
        return "SELECT json_array_elements_text(%s::json)"
    return "SELECT value FROM json_each(%s)"


def _cached_count(page: PreparedPage) -> int:
    """How many of the page's SIDs the cache holds, and the upsert will update."""
    sid = f"{_table()}.{_quoted_column(Transcription, 'sid')}"
    sql = (
        f"SELECT count(*) FROM {_table()} WHERE {sid} IN ({_sid_set_sql(connection.vendor)}) "
        f"AND {_not_deleted_sql(sid)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [page.sids, AuditEvent.Action.DELETED.value])
        return cursor.fetchone()[0]


def _page_upsert_or_set_aside(page: PreparedPage) -> tuple[int, list[SetAside]]:
    """Write the page in one statement; if the database refuses it, row by row, setting
    aside the rows it refuses. Rows written, and those set aside. The database's message is
    never kept nor logged: PostgreSQL's holds the failing row, text and all."""
    try:
        with transaction.atomic():
            return _page_upsert(page), []
    except DatabaseError:
        pass
    written, refused = 0, []
    for sid, row in page.one_by_one():
        try:
            with transaction.atomic():
                written += _page_upsert(row)
        except DatabaseError as exc:
            refused.append(
                SetAside(sid=sid, reason=f"refused by the database ({type(exc).__name__})")
            )
    return written, refused


def _problems_merge(run: SyncRun, page: PreparedPage, refused: list[SetAside]) -> None:
    """Count what was read around or set aside on the run, by reason, with a few SIDs each
    (SIDs only: enough to look an item up at Twilio)."""
    problems = dict(run.problems or {})

    def add(reason: str, sid: str) -> None:
        entry = problems.setdefault(reason, {"count": 0, "sids": []})
        entry["count"] += 1
        if sid and len(entry["sids"]) < PROBLEM_SIDS_KEPT:
            entry["sids"].append(sid)

    for sid, reasons in page.problems.items():
        for reason in dict.fromkeys(reasons):
            add(reason, sid)
    for item in (*page.set_aside, *refused):
        add(f"set aside: {item.reason}", item.sid)
    run.problems = problems


def page_write(*, run: SyncRun, page: PreparedPage, unchanged: int | None = None) -> None:
    """Upsert one page in one statement, stamped as seen by this run, and record the page on
    the run (its heartbeat, its counts, what was set aside). Both or neither: a run taken
    over writes nothing more. With `unchanged` (a head sync), `updated` counts only the rows
    that changed at Twilio."""
    with transaction.atomic():
        existing = written = 0
        refused: list[SetAside] = []
        if not page.empty:
            existing = _cached_count(page)
            written, refused = _page_upsert_or_set_aside(page)
        run.pages += 1
        run.rows_seen += written
        run.created += max(0, written - existing)
        rewritten = min(existing, written)
        run.updated += rewritten if unchanged is None else max(0, rewritten - unchanged)
        run.set_aside += len(page.set_aside) + len(refused)
        run.adjusted += len(page.problems)
        if page.problems or page.set_aside or refused:
            _problems_merge(run, page, refused)
        run.heartbeat_at = page.read_at
        updated = SyncRun.objects.filter(pk=run.pk, state=SyncRun.State.RUNNING).update(
            pages=run.pages,
            rows_seen=run.rows_seen,
            created=run.created,
            updated=run.updated,
            set_aside=run.set_aside,
            adjusted=run.adjusted,
            problems=run.problems,
            heartbeat_at=run.heartbeat_at,
        )
        raise_if_taken_over(updated, run)
