"""Keyset pages of the table: a cursor holds the sort key of the row a page follows or
precedes, and each page is one or a few index walks from there, however deep. Rows deleted or
added between two page loads neither hide nor repeat others."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from ..models import Transcription
from .search import WordCheck, condition, connection
from .search import column as sql_column

# Sort keys offered by the table, each with its tie-breakers so that paging is stable.
# Durations can be null; nulls go last in both directions so SQLite and PostgreSQL agree.
SORTS: dict[str, tuple] = {
    "-created": (F("date_created").desc(), F("id").desc()),
    "created": (F("date_created").asc(), F("id").asc()),
    "-duration": (
        F("duration").desc(nulls_last=True),
        F("date_created").desc(),
        F("id").desc(),
    ),
    "duration": (
        F("duration").asc(nulls_last=True),
        F("date_created").desc(),
        F("id").desc(),
    ),
    "-status": (F("status").desc(), F("date_created").desc(), F("id").desc()),
    "status": (F("status").asc(), F("date_created").desc(), F("id").desc()),
}


@dataclass(frozen=True)
class Key:
    """What orders a row, and what the filters applied in Python read (`_few_matches`)."""

    id: int
    date_created: datetime
    duration: int | None
    status: str
    recording_sid: str = ""
    personal_data: int = 0


_STATUS_RE = re.compile(r"[a-z0-9_-]{0,16}")

KEY_FIELDS = ("id", "date_created", "duration", "status", "recording_sid", "personal_data")


@dataclass(frozen=True)
class Cursor:
    """A position between rows: the sort key of the row a page follows or precedes."""

    sort: str
    lead: str | int | None  # status or duration for those sorts; None otherwise (or null)
    date_created: datetime
    id: int

    @property
    def lead_status(self) -> str:
        return self.lead if isinstance(self.lead, str) else ""

    @property
    def lead_duration(self) -> int | None:
        return self.lead if isinstance(self.lead, int) else None

    def encode(self) -> str:
        raw = json.dumps([self.sort, self.lead, self.date_created.isoformat(), self.id])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, sort: str) -> Cursor:
        """Raises ValueError for anything but a cursor of this sort."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            cursor_sort, lead, created, pk = json.loads(raw)
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
            raise ValueError("not a cursor") from exc
        if cursor_sort != sort or sort not in SORTS:
            raise ValueError("a cursor of another sort")
        # Only what the database can compare: ids and durations within a 64-bit (and a
        # PositiveIntegerField's) range, a status of the characters statuses are made of
        # (no NUL, which PostgreSQL refuses), and a date within the calendar in UTC.
        if type(pk) is not int or not 0 < pk < 2**63 or not isinstance(created, str):
            raise ValueError("not a cursor")
        column = sort.lstrip("-")
        if column == "status" and not (isinstance(lead, str) and _STATUS_RE.fullmatch(lead)):
            raise ValueError("not a cursor")
        if column == "duration" and not (lead is None or (type(lead) is int and 0 <= lead < 2**31)):
            raise ValueError("not a cursor")
        if column == "created" and lead is not None:
            raise ValueError("not a cursor")
        when = datetime.fromisoformat(created)
        if timezone.is_naive(when):
            raise ValueError("not a cursor")
        try:
            # In UTC: an offset PostgreSQL does not take (beyond ±15:59), or a date that
            # leaves the calendar once moved to UTC, is no cursor of ours.
            when = when.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("not a cursor") from exc
        return cls(sort=sort, lead=lead, date_created=when, id=pk)

    @classmethod
    def of(cls, row: Transcription | Key, *, sort: str) -> Cursor:
        column = sort.lstrip("-")
        lead = getattr(row, column) if column in ("status", "duration") else None
        return cls(sort=sort, lead=lead, date_created=row.date_created, id=row.id)


@dataclass(frozen=True)
class _Segment:
    """Part of a sort order that one index walk reads: rows with `condition`, in `order`."""

    condition: Q | RawSQL | None
    order: tuple[tuple[str, bool], ...]  # (column, descending)


def _tail_after(direction_desc: bool, cursor: Cursor) -> RawSQL:
    """(date_created, id) beyond the cursor in the given direction, as one row comparison
    that both databases answer with a range on the index."""
    adapt = connection().ops.adapt_datetimefield_value
    op = "<" if direction_desc else ">"
    return condition(
        f"({sql_column('date_created')}, {sql_column('id')}) {op} (%s, %s)",
        [adapt(cursor.date_created), cursor.id],
    )


def _segments(
    sort: str, *, cursor: Cursor | None, backward: bool, statuses: list[str]
) -> Iterator[_Segment]:
    """The index walks that read the rows after `cursor` (before it with `backward`; from
    the start, or from the end with `backward`, without a cursor), in order. Each sort is
    split where one index cannot serve it: per status (few values), and durations apart
    from the null ones (which sort last both ways)."""
    column = sort.lstrip("-")
    lead_desc = sort.startswith("-")
    tail_desc = sort != "created"
    if backward:
        lead_desc, tail_desc = not lead_desc, not tail_desc
    tail = (("date_created", tail_desc), ("id", tail_desc))

    if column == "created":
        yield _Segment(_tail_after(tail_desc, cursor) if cursor else None, tail)
        return

    if column == "status":
        values = sorted(statuses, reverse=lead_desc)
        if cursor is not None:
            yield _Segment(Q(status=cursor.lead) & Q(_tail_after(tail_desc, cursor)), tail)
            lead = cursor.lead_status
            values = [v for v in values if (v < lead if lead_desc else v > lead)]
        for value in values:
            yield _Segment(Q(status=value), tail)
        return

    # Duration: non-null values in order, then the nulls (last in both directions, so first
    # when walking backward).
    lead_order = (("duration", lead_desc), *tail)
    non_null = Q(duration__isnull=False)
    nulls = Q(duration__isnull=True)
    if cursor is None:
        parts = [(non_null, lead_order), (nulls, tail)]
        yield from (_Segment(q, order) for q, order in (reversed(parts) if backward else parts))
        return
    after = Q(_tail_after(tail_desc, cursor))
    if cursor.lead is None:
        yield _Segment(nulls & after, tail)
        if backward:
            yield _Segment(non_null, lead_order)
        return
    yield _Segment(Q(duration=cursor.lead) & after, tail)
    beyond = Q(duration__lt=cursor.lead) if lead_desc else Q(duration__gt=cursor.lead)
    yield _Segment(beyond, lead_order)
    if not backward:
        yield _Segment(nulls, tail)


def _order_by(order: tuple[tuple[str, bool], ...]) -> list:
    return [F(name).desc() if desc else F(name).asc() for name, desc in order]


def _sort_key(sort: str):
    """A key function ordering `Key`s as `sort` does (the Python twin of `_segments`, for
    the few matches ordered here)."""
    column = sort.lstrip("-")
    lead_desc = sort.startswith("-")
    tail_sign = 1 if sort == "created" else -1

    def key(row: Key) -> tuple:
        # A timestamp keeps microseconds apart at today's dates, and can be negated.
        tail = (tail_sign * row.date_created.timestamp(), tail_sign * row.id)
        if column == "duration":
            value = row.duration or 0
            return (row.duration is None, -value if lead_desc else value, *tail)
        if column == "status":
            if lead_desc:
                # Descending text: negated code points, and a shorter string after its
                # extensions.
                return (tuple(-ord(c) for c in row.status) + (1,), *tail)
            return (row.status, *tail)
        return tail

    return key


def cursor_parse(token: str | None, sort: str) -> tuple[Cursor | None, str | None]:
    if not token:
        return None, None
    try:
        return Cursor.decode(token, sort=sort), None
    except ValueError:
        return None, "That page link is not valid (any more); showing the first page."


def page_from_keys(
    keys: list[Key], *, sort: str, cursor: Cursor | None, backward: bool, per_page: int
) -> tuple[list[Key], bool]:
    """The page of `keys` after (before) the cursor, and whether more lie beyond it."""
    key = _sort_key(sort)
    ordered = sorted(keys, key=key)
    if cursor is not None:
        column = sort.lstrip("-")
        at = key(
            Key(
                cursor.id,
                cursor.date_created,
                cursor.lead_duration if column == "duration" else None,
                cursor.lead_status if column == "status" else "",
            )
        )
        if backward:
            ordered = [k for k in ordered if key(k) < at]
        else:
            ordered = [k for k in ordered if key(k) > at]
    if backward:
        chunk = ordered[-(per_page + 1) :]
        return chunk[-per_page:], len(chunk) > per_page
    chunk = ordered[: per_page + 1]
    return chunk[:per_page], len(chunk) > per_page


# PostgreSQL: a search's walk checks at most this many rows of one index walk against the
# words before it reads the matches from the word index instead (~5 ms a thousand rows).
WORDS_WALK_MAX = 3000


def _words_walk(words: WordCheck, segment: _Segment, need: int) -> list[Transcription]:
    """The first `need` rows of one walk that match the words. The walk checks the first
    `WORDS_WALK_MAX` rows in order; if it did not fill the page and there were more, the
    matches are read from the word index and sorted instead, which costs what they number,
    not what the walk would (a word never found with a status walked every row of it:
    0.28 s at a million rows). Both give the same rows: when the first rows in order hold
    `need` matches, they are the first `need` matches."""
    order = _order_by(segment.order)
    walked = words.walked if segment.condition is None else words.walked.filter(segment.condition)
    bounded = walked.order_by(*order)[:WORDS_WALK_MAX]
    # The bounded walk as an ordered subquery, each row marked as matching or not: the outer
    # LIMIT stops the walk at the `need`th match (its order is the subquery's, so no sort).
    inner, params = bounded.annotate(
        words_match=ExpressionWrapper(words.check, BooleanField())
    ).query.sql_with_params()
    outer_order = ", ".join(
        f"walk.{connection().ops.quote_name(name)} {'DESC' if desc else 'ASC'}"
        for name, desc in segment.order
    )
    found = list(
        Transcription.objects.raw(
            f"SELECT * FROM ({inner}) AS walk WHERE walk.words_match "
            f"ORDER BY {outer_order} LIMIT {int(need)}",
            params,
        )
    )
    if len(found) >= need or bounded.count() < WORDS_WALK_MAX:
        return found
    indexed = (
        words.indexed if segment.condition is None else words.indexed.filter(segment.condition)
    )
    db = connection()
    with transaction.atomic(using=db.alias), db.cursor() as cursor:
        # Only bitmap reads: the word index (with any other index), then a sort; never the
        # walk again.
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        return list(indexed.order_by(*order)[:need])


def rows_walk(
    qs: QuerySet[Transcription],
    *,
    sort: str,
    cursor: Cursor | None,
    backward: bool,
    per_page: int,
    statuses: list[str],
    words: WordCheck | None = None,
) -> tuple[list[Transcription], bool]:
    """Up to `per_page` rows of `qs` after (before) the cursor by index walks, and whether
    more lie beyond; backward pages come back in display order. With `words` (PostgreSQL),
    `qs` is not used: each walk is bounded (see `_words_walk`)."""
    rows: list[Transcription] = []
    for segment in _segments(sort, cursor=cursor, backward=backward, statuses=statuses):
        need = per_page + 1 - len(rows)
        if words is not None:
            rows += _words_walk(words, segment, need)
        else:
            part = qs if segment.condition is None else qs.filter(segment.condition)
            rows += list(part.order_by(*_order_by(segment.order))[:need])
        if len(rows) > per_page:
            break
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backward:
        rows.reverse()
    return rows, more
