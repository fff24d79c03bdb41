"""Reads for the review table: search, filters, sort, keyset pages, capped counts, cache status.

The table must answer in milliseconds at a million cached rows on SQLite and on PostgreSQL:

* Search goes through a word index, never `LIKE` or a regex over the text: an FTS5 table on
  SQLite, a stored tsvector column with a GIN index on PostgreSQL (migrations 0006, 0008). Both see
  the text as runs of letters and digits, case-folded, accents kept, so the same search gives
  the same rows on both.
* Counts over large match sets are capped (`COUNT_CAP`, shown as "1,000+"); the unfiltered
  totals come from `TranscriptionCount`, which triggers keep exact.
* Pages are keyset pages: a cursor holds the sort key of the row it follows or precedes, and
  each page is one or a few index walks from there, however deep.
* On SQLite the planner cannot tell a rare word from a frequent one, so this module chooses:
  few matches are read from the index and ordered here; many are found by walking the sort's
  index and checking each row against the word index (gathered once, or looked up per row
  when most rows match). The last word's prefix is spelled out as the few whole words it
  starts, when they are few: FTS5 merges a prefix's lists in full on every query.
* On PostgreSQL, a search the planner expects to match many rows is read by walking the
  sort's index and checking each row's stored tsvector, and its counts (tens of
  milliseconds there, however capped) can be left to a second request (`defer_counts`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.humanize.templatetags.humanize import intcomma
from django.db import connections, router
from django.db.models import BooleanField, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .models import SyncRun, Transcription, TranscriptionCount, TranscriptionStatus

TABLE = Transcription._meta.db_table
FTS_TABLE = f"{TABLE}_fts"  # SQLite only (migration 0006)
FTS_TERMS_TABLE = f"{FTS_TABLE}_terms"  # SQLite only (migration 0007)
SEARCH_VECTOR = "search_vector"  # PostgreSQL only (migrations 0006, 0008)

# Counts above this are shown as "1,000+": counting every match of a frequent word costs
# hundreds of milliseconds on either database, the first 1,001 a few.
COUNT_CAP = 1000
# SQLite: up to this many matches are read from the word index and ordered here.
FEW_MATCHES = 2000

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
DEFAULT_SORT = "-created"

# A word is a run of letters and digits: everything else (punctuation, quotes, `%`, `_`,
# FTS operators) only separates words, as the indexes on both databases see the text.
_WORD_RE = re.compile(r"[^\W_]+")
# A SID prefix: TR or RE (as typed, upper case) and at least four hexadecimal digits.
_SID_TOKEN_RE = re.compile(r"^(?:TR|RE)[0-9a-fA-F]{4,32}$")


@dataclass(frozen=True)
class SearchTerms:
    """A search box value split into the words that must each match the text."""

    words: tuple[str, ...] = ()
    # SQLite: the whole words of the index the last word starts, when few (`_prefix_words`).
    last_expanded: tuple[str, ...] | None = None

    @staticmethod
    def sid_prefix(word: str) -> str | None:
        """The SID prefix a word stands for, in Twilio's form (upper-case type, lower-case
        hex), or None when it cannot be the start of a SID."""
        return word[:2] + word[2:].lower() if _SID_TOKEN_RE.match(word) else None

    @property
    def sid_prefixes(self) -> tuple[str, ...]:
        return tuple(p for w in self.words if (p := self.sid_prefix(w)))

    def text_words(self) -> list[tuple[str, bool | tuple[str, ...]]]:
        """(word, matches as a prefix) for the words that only search the text; for the last
        word, the whole words it starts when they were looked up."""
        last = len(self.words) - 1
        return [
            (w, (self.last_expanded or True) if i == last else False)
            for i, w in enumerate(self.words)
            if not self.sid_prefix(w)
        ]

    def expanded(self) -> SearchTerms:
        """SQLite: these terms with the last word's prefix spelled out as whole words when it
        starts few (one query); the same matches, found without a prefix query."""
        if not self.words or self.sid_prefix(self.words[-1]):
            return self
        return SearchTerms(words=self.words, last_expanded=_prefix_words(self.words[-1]))

    def sid_words(self) -> list[tuple[str, str, bool]]:
        """(word, SID prefix, matches the text as a prefix) for SID-like words."""
        last = len(self.words) - 1
        return [
            (w, prefix, i == last)
            for i, w in enumerate(self.words)
            if (prefix := self.sid_prefix(w))
        ]

    def __bool__(self) -> bool:
        return bool(self.words)


def parse_search(search: str) -> SearchTerms:
    """Split the search box into words (see `_WORD_RE`): nothing the user types reaches SQL,
    FTS5 or tsquery syntax except runs of letters and digits."""
    return SearchTerms(words=tuple(_WORD_RE.findall(search or "")))


# ---- The word index, per database ----


def _vendor() -> str:
    return connections[router.db_for_read(Transcription)].vendor


def _column(name: str) -> str:
    return f'"{TABLE}"."{name}"'


# A prefix that starts at most this many distinct words is searched as those words.
PREFIX_EXPANSION_MAX = 16


def _prefix_words(prefix: str) -> tuple[str, ...] | None:
    """SQLite: the indexed words starting with `prefix` when there are few of them, else None.

    FTS5 answers a prefix query by merging, whole, the lists of every word the prefix starts,
    on each query (24 ms for a 50,000-row word at a million rows, against well under 1 ms
    for the word alone, which is read only as far as needed). The index's words are found by
    seeking from one to the next in its term b-tree (an `fts5vocab` table, which stores
    nothing), in one statement (migration 0007 makes the `fts5vocab` table)."""
    if not prefix.isascii():
        # unicode61 folds non-ASCII case differently from str.lower(); let FTS5 fold it.
        return None
    prefix = prefix.lower()
    vocabulary = FTS_TERMS_TABLE
    # Just past a word: words hold letters and digits only, all above \x01.
    sql = f"""
        WITH RECURSIVE found(term, n) AS (
            SELECT (SELECT term FROM "{vocabulary}" WHERE term >= %s LIMIT 1), 1
            UNION ALL
            SELECT (SELECT term FROM "{vocabulary}" WHERE term >= found.term || char(1)
                    LIMIT 1), n + 1
            FROM found WHERE substr(found.term, 1, %s) = %s AND n <= %s
        )
        SELECT term FROM found WHERE substr(term, 1, %s) = %s"""
    params = [prefix, len(prefix), prefix, PREFIX_EXPANSION_MAX, len(prefix), prefix]
    connection = connections[router.db_for_read(Transcription)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = tuple(term for (term,) in cursor.fetchall())
    if not found or len(found) > PREFIX_EXPANSION_MAX:
        return None
    return found


def _fts_word(word: str, prefix: bool | tuple[str, ...]) -> str:
    """`prefix`: False for the whole word, True for a prefix query, or the whole words the
    prefix starts (see `_prefix_words`)."""
    quoted = '"{}"'.format(word.replace('"', '""'))
    if prefix is True:
        return f"transcription_text : {quoted}*"
    if not prefix:
        return f"transcription_text : {quoted}"
    return "transcription_text : ({})".format(
        " OR ".join('"{}"'.format(w.replace('"', '""')) for w in prefix)
    )


def _fts_expression(
    words: Iterable[tuple[str, bool | tuple[str, ...]]], statuses: Iterable[str] = ()
) -> str:
    """An FTS5 query: every word in the text column (a prefix query where asked, spelled out
    as the words it starts when they are few), and one of the statuses. Words are letters
    and digits only; quoting keeps them from being read as FTS5 operators (AND, OR, NOT,
    NEAR) all the same."""
    parts = [_fts_word(word, prefix) for word, prefix in words]
    statuses = list(statuses)
    if statuses:
        parts.append("(" + " OR ".join(f'status : "{s}"' for s in statuses) + ")")
    return " AND ".join(parts)


def _tsquery_text(words: Iterable[tuple[str, bool | tuple[str, ...]]]) -> str:
    """tsquery source for `to_tsquery('simple', …)`: each word quoted, `:*` for a prefix."""
    return " & ".join(
        "'{}'{}".format(word.replace("'", "''"), ":*" if prefix else "") for word, prefix in words
    )


def _tsquery_statuses(statuses: Iterable[str]) -> str:
    """The status lexemes of the tsvector (`~<status>`), taken verbatim by `::tsquery`."""
    return " | ".join("'~{}'".format(s.replace("'", "''")) for s in statuses)


def _text_match_sql(
    words: list[tuple[str, bool | tuple[str, ...]]], statuses: Iterable[str] = (), *, vendor: str
) -> tuple[str, list]:
    """A condition on the transcription table's row: the text has every word (and, when
    given, the row has one of the statuses, checked in the word index too)."""
    statuses = list(statuses)
    if vendor == "postgresql":
        sql = f"{_column(SEARCH_VECTOR)} @@ to_tsquery('simple'::regconfig, %s)"
        params: list = [_tsquery_text(words)]
        if statuses:
            sql = (
                f"{_column(SEARCH_VECTOR)} @@ (to_tsquery('simple'::regconfig, %s) && %s::tsquery)"
            )
            params.append(_tsquery_statuses(statuses))
        return sql, params
    return (
        f'{_column("id")} IN (SELECT rowid FROM "{FTS_TABLE}" WHERE "{FTS_TABLE}" MATCH %s)',
        [_fts_expression(words, statuses)],
    )


def _sid_prefix_range(prefix: str) -> tuple[str, str]:
    """[low, high) bounds of the SIDs starting with `prefix`, for a range on a b-tree index
    (a case-sensitive prefix; SQLite's LIKE is case-insensitive and cannot use the index)."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _sid_word_sql(word: str, prefix: str, text_prefix: bool, *, vendor: str) -> tuple[str, list]:
    """The rows a SID-like word matches: SID or recording SID starting with it (on their
    indexes), or the word in the text."""
    low, high = _sid_prefix_range(prefix)
    text_sql, text_params = _text_match_sql([(word, text_prefix)], vendor=vendor)
    sql = (
        f"{_column('id')} IN ("
        f'SELECT "id" FROM "{TABLE}" WHERE "sid" >= %s AND "sid" < %s '
        f'UNION ALL SELECT "id" FROM "{TABLE}" WHERE "recording_sid" >= %s '
        f'AND "recording_sid" < %s '
        f'UNION ALL SELECT "id" FROM "{TABLE}" WHERE {text_sql})'
    )
    return sql, [low, high, low, high, *text_params]


def _condition(sql: str, params: list) -> RawSQL:
    return RawSQL(sql, params, output_field=BooleanField())


def _day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the current time zone (TIME_ZONE by default)."""
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class _Filters:
    """The table's filters, validated: what every query below starts from."""

    terms: SearchTerms
    statuses: tuple[str, ...]
    recording_sid: str | None
    created_from: datetime | None  # inclusive
    created_before: datetime | None  # exclusive

    @classmethod
    def of(
        cls,
        *,
        search: str,
        statuses: Iterable[str],
        recording_sid: str | None,
        created_from: date | None,
        created_to: date | None,
    ) -> _Filters:
        return cls(
            terms=parse_search(search),
            statuses=tuple(s for s in TranscriptionStatus.values if s in set(statuses)),
            recording_sid=recording_sid or None,
            created_from=_day_start(created_from) if created_from else None,
            # Inclusive of the whole last day.
            created_before=_day_start(created_to + timedelta(days=1)) if created_to else None,
        )

    def expanded(self) -> _Filters:
        return _Filters(
            self.terms.expanded(),
            self.statuses,
            self.recording_sid,
            self.created_from,
            self.created_before,
        )

    def without_statuses(self) -> _Filters:
        return _Filters(self.terms, (), self.recording_sid, self.created_from, self.created_before)

    def plain_q(self, *, statuses: bool = True) -> Q:
        """Every filter but the search, as ORM conditions (but the status with `statuses`
        False: the word index checks it)."""
        q = Q()
        if self.statuses and statuses:
            q &= Q(status__in=self.statuses)
        if self.recording_sid:
            q &= Q(recording_sid=self.recording_sid)
        if self.created_from:
            q &= Q(date_created__gte=self.created_from)
        if self.created_before:
            q &= Q(date_created__lt=self.created_before)
        return q

    def keeps(self, row: _Key) -> bool:
        """The same filters as `plain_q`, on a row already read (see `_few_matches`)."""
        return (
            (not self.statuses or row.status in self.statuses)
            and (not self.recording_sid or row.recording_sid == self.recording_sid)
            and (not self.created_from or row.date_created >= self.created_from)
            and (not self.created_before or row.date_created < self.created_before)
        )

    @property
    def only_search_and_status(self) -> bool:
        return not (self.recording_sid or self.created_from or self.created_before)


def _search_conditions(filters: _Filters, *, vendor: str, probe: bool = False) -> list[RawSQL]:
    """The search as conditions on the transcription table. With `probe`, the words are
    looked up per row (the row is found some other way, walking an index in the page's
    order), not gathered first: on SQLite in the word index by rowid, on PostgreSQL in the
    row's stored tsvector."""
    conditions = []
    words = filters.terms.text_words()
    if words:
        if vendor == "sqlite" and probe:
            conditions.append(
                _condition(
                    f'EXISTS (SELECT 1 FROM "{FTS_TABLE}" WHERE "{FTS_TABLE}" MATCH %s '
                    f'AND "{FTS_TABLE}".rowid = {_column("id")})',
                    [_fts_expression(words, filters.statuses)],
                )
            )
        elif vendor == "sqlite":
            # The unary + keeps SQLite from driving the query from this set: it walks the
            # sort's index and checks each row against the set, built once.
            sql, params = _text_match_sql(words, filters.statuses, vendor=vendor)
            conditions.append(_condition("+" + sql, params))
        elif probe:
            # The GIN index is declared on the bare column: wrapped, the planner cannot
            # choose it, and walks the sort's index instead (the status is checked on its
            # column, see `_filtered`).
            conditions.append(
                _condition(
                    f"COALESCE({_column(SEARCH_VECTOR)}, ''::tsvector) "
                    "@@ to_tsquery('simple'::regconfig, %s)",
                    [_tsquery_text(words)],
                )
            )
        else:
            conditions.append(_condition(*_text_match_sql(words, filters.statuses, vendor=vendor)))
    for word, prefix, text_prefix in filters.terms.sid_words():
        conditions.append(_condition(*_sid_word_sql(word, prefix, text_prefix, vendor=vendor)))
    return conditions


def _filtered(filters: _Filters, *, vendor: str, probe: bool = False) -> QuerySet[Transcription]:
    # PostgreSQL would intersect the word index with the status index (tens of milliseconds
    # for a common status) though the word index already holds the status.
    in_word_index = vendor == "postgresql" and bool(filters.terms.text_words()) and not probe
    qs = Transcription.objects.filter(filters.plain_q(statuses=not in_word_index))
    for condition in _search_conditions(filters, vendor=vendor, probe=probe):
        qs = qs.filter(condition)
    return qs


def transcription_list(
    *,
    search: str = "",
    statuses: Iterable[str] = (),
    recording_sid: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    sort: str = DEFAULT_SORT,
) -> QuerySet[Transcription]:
    """Every cached transcription matching the search and filters, in `sort` order (one of
    `SORTS`; anything else falls back to newest first). Never calls Twilio. The table shows
    these a page at a time through `transcription_page`.

    Search: every word must be a whole word of the text (case-insensitive), the last one
    also a word's start; a word like `TR1a2b…`/`RE1a2b…` (TR or RE and 4+ hex digits) also
    matches the transcriptions whose SID or recording SID starts with it. Dates are whole
    days in the current time zone, both ends inclusive. Unknown statuses are ignored.
    """
    filters = _Filters.of(
        search=search,
        statuses=statuses,
        recording_sid=recording_sid,
        created_from=created_from,
        created_to=created_to,
    )
    vendor = _vendor()
    return _filtered(filters, vendor=vendor).order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))


# ---- Counts ----


@dataclass(frozen=True)
class Count:
    """A number of rows, exact up to `COUNT_CAP`, "more than the cap" above it."""

    value: int
    capped: bool = False

    @classmethod
    def of(cls, value: int, *, cap: int = COUNT_CAP) -> Count:
        return cls(cap, True) if value > cap else cls(value)

    def __add__(self, other: Count) -> Count:
        total = self.value + other.value
        if self.capped or other.capped:
            return Count(min(total, COUNT_CAP), True)
        return Count(total)

    def __str__(self) -> str:
        return f"{intcomma(self.value)}+" if self.capped else intcomma(self.value)


def _capped_sql(qs: QuerySet, cap: int) -> tuple[str, list]:
    sql, params = qs.order_by().values("id")[: cap + 1].query.sql_with_params()
    return f"SELECT COUNT(*) FROM ({sql}) AS capped", list(params)


def _fts_capped_sql(expression: str, cap: int) -> tuple[str, list]:
    return (
        f'SELECT COUNT(*) FROM (SELECT 1 FROM "{FTS_TABLE}" WHERE "{FTS_TABLE}" MATCH %s '
        f"LIMIT {cap + 1}) AS capped",
        [expression],
    )


def _counts_run(parts: dict[str, tuple[str, list]], *, vendor: str) -> dict[str, int]:
    """Several counts in one statement."""
    if not parts:
        return {}
    names = list(parts)
    sql = "SELECT " + ", ".join(f"({parts[n][0]})" for n in names)
    params = [p for n in names for p in parts[n][1]]
    with connections[router.db_for_read(Transcription)].cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return dict(zip(names, (int(v) for v in row), strict=True))


def status_totals() -> dict[str, int]:
    """Cached transcriptions per status, every known status present (zero when none), from
    the counts the database keeps (one small query, exact after every write)."""
    counts = dict.fromkeys(TranscriptionStatus.values, 0)
    for status, n in TranscriptionCount.objects.values_list("status", "count"):
        if n > 0 or status in counts:
            counts[status] = n
    return counts


def _status_counts(
    filters: _Filters, *, vendor: str, probe: bool = False, totals: dict[str, int] | None = None
) -> dict[str, Count]:
    """Facet counts: rows per status under every filter but the status filter, capped."""
    filters = filters.without_statuses()
    statuses = list(TranscriptionStatus.values)
    if not filters.terms and filters.only_search_and_status:
        totals = totals if totals is not None else status_totals()
        return {s: Count(totals.get(s, 0)) for s in statuses}
    parts: dict[str, tuple[str, list]] = {}
    words = filters.terms.text_words()
    if (
        vendor == "sqlite"
        and words
        and not filters.terms.sid_words()
        and filters.only_search_and_status
    ):
        # Counted in the word index alone, which holds the status too.
        for s in statuses:
            parts[s] = _fts_capped_sql(_fts_expression(words, [s]), COUNT_CAP)
    else:
        for s in statuses:
            per_status = _Filters(
                filters.terms,
                (s,),
                filters.recording_sid,
                filters.created_from,
                filters.created_before,
            )
            qs = _filtered(per_status, vendor=vendor, probe=probe)
            parts[s] = _capped_sql(qs, COUNT_CAP)
    return {s: Count.of(n) for s, n in _counts_run(parts, vendor=vendor).items()}


def status_counts(
    *,
    search: str = "",
    recording_sid: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
) -> dict[str, int]:
    """How many rows each status has under the search and the other filters (the status
    filter's facet counts), in one query. Every status is present, zero when none; counts
    above `COUNT_CAP` are `COUNT_CAP + 1` (see `Count`)."""
    filters = _Filters.of(
        search=search,
        statuses=(),
        recording_sid=recording_sid,
        created_from=created_from,
        created_to=created_to,
    )
    counts = _status_counts(filters, vendor=_vendor())
    return {s: c.value + (1 if c.capped else 0) for s, c in counts.items()}


# ---- Keyset pages ----


@dataclass(frozen=True)
class _Key:
    """What orders a row, and what the filters applied in Python read (`_few_matches`)."""

    id: int
    date_created: datetime
    duration: int | None
    status: str
    recording_sid: str = ""


_KEY_FIELDS = ("id", "date_created", "duration", "status", "recording_sid")


@dataclass(frozen=True)
class _Cursor:
    """A position between rows: the sort key of the row a page follows or precedes."""

    sort: str
    lead: str | int | None  # status or duration for those sorts; None otherwise (or null)
    date_created: datetime
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.sort, self.lead, self.date_created.isoformat(), self.id])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, sort: str) -> _Cursor:
        """Raises ValueError for anything but a cursor of this sort."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            cursor_sort, lead, created, pk = json.loads(raw)
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
            raise ValueError("not a cursor") from exc
        if cursor_sort != sort or sort not in SORTS:
            raise ValueError("a cursor of another sort")
        if not isinstance(pk, int) or isinstance(pk, bool) or not isinstance(created, str):
            raise ValueError("not a cursor")
        column = sort.lstrip("-")
        if column == "status" and not (isinstance(lead, str) and len(lead) <= 16):
            raise ValueError("not a cursor")
        if column == "duration" and not (lead is None or type(lead) is int):
            raise ValueError("not a cursor")
        if column == "created" and lead is not None:
            raise ValueError("not a cursor")
        when = datetime.fromisoformat(created)
        if timezone.is_naive(when):
            raise ValueError("not a cursor")
        return cls(sort=sort, lead=lead, date_created=when, id=pk)

    @classmethod
    def of(cls, row: Transcription | _Key, *, sort: str) -> _Cursor:
        column = sort.lstrip("-")
        lead = getattr(row, column) if column in ("status", "duration") else None
        return cls(sort=sort, lead=lead, date_created=row.date_created, id=row.id)


@dataclass(frozen=True)
class _Segment:
    """Part of a sort order that one index walk reads: rows with `condition`, in `order`."""

    condition: Q | RawSQL | None
    order: tuple[tuple[str, bool], ...]  # (column, descending)


def _tail_after(direction_desc: bool, cursor: _Cursor, *, vendor: str) -> RawSQL:
    """(date_created, id) beyond the cursor in the given direction, as one row comparison
    that both databases answer with a range on the index."""
    adapt = connections[router.db_for_read(Transcription)].ops.adapt_datetimefield_value
    op = "<" if direction_desc else ">"
    return _condition(
        f"({_column('date_created')}, {_column('id')}) {op} (%s, %s)",
        [adapt(cursor.date_created), cursor.id],
    )


def _segments(
    sort: str, *, cursor: _Cursor | None, backward: bool, statuses: list[str], vendor: str
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
        yield _Segment(_tail_after(tail_desc, cursor, vendor=vendor) if cursor else None, tail)
        return

    if column == "status":
        values = sorted(statuses, reverse=lead_desc)
        if cursor is not None:
            yield _Segment(
                Q(status=cursor.lead) & Q(_tail_after(tail_desc, cursor, vendor=vendor)), tail
            )
            values = [v for v in values if (v < cursor.lead if lead_desc else v > cursor.lead)]
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
    after = Q(_tail_after(tail_desc, cursor, vendor=vendor))
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
    """A key function ordering `_Key`s as `sort` does (the Python twin of `_segments`, for
    the few matches ordered here)."""
    column = sort.lstrip("-")
    lead_desc = sort.startswith("-")
    tail_sign = 1 if sort == "created" else -1

    def key(row: _Key) -> tuple:
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


@dataclass(frozen=True)
class TablePage:
    """One page of the table, with what the pager and the counts show."""

    rows: list[Transcription]
    count: Count | None  # None: deferred (see `transcription_page`)
    facets: dict[str, Count] | None
    first_cursor: str | None  # the cursor before the first row (for `before=`)
    last_cursor: str | None  # the cursor after the last row (for `after=`)
    has_previous: bool
    has_next: bool
    notice: str | None = None  # a cursor that could not be used, said to the user


def _cursor_parse(token: str | None, sort: str) -> tuple[_Cursor | None, str | None]:
    if not token:
        return None, None
    try:
        return _Cursor.decode(token, sort=sort), None
    except ValueError:
        return None, "That page link is not valid (any more); showing the first page."


def _few_matches(filters: _Filters, *, vendor: str) -> list[_Key] | None:
    """SQLite: the keys of every row the search matches under the filters but the status
    filter (the facets count them by status), when the word index has at most
    `FEW_MATCHES` of them; None when there are more.

    The ids come from the word index (and the SID indexes), never from a walk of the table:
    SQLite would otherwise often choose to walk a sort index and test each row, which costs
    a second for a rare word at a million rows."""
    terms = filters.terms
    words = terms.text_words()
    sid_words = terms.sid_words()
    if vendor != "sqlite" or not terms:
        return None
    inner_parts, params = [], []
    if sid_words:
        for word, prefix, text_prefix in sid_words:
            sql, p = _sid_word_sql(word, prefix, text_prefix, vendor=vendor)
            inner_parts.append(sql)
            params += p
        if words:
            inner_parts.append(
                f'EXISTS (SELECT 1 FROM "{FTS_TABLE}" WHERE "{FTS_TABLE}" MATCH %s '
                f'AND "{FTS_TABLE}".rowid = {_column("id")})'
            )
            params.append(_fts_expression(words))
        where = " AND ".join(inner_parts)
        source = f'SELECT {_column("id")} FROM "{TABLE}" WHERE {where} LIMIT {FEW_MATCHES + 1}'
    else:
        source = (
            f'SELECT rowid FROM "{FTS_TABLE}" WHERE "{FTS_TABLE}" MATCH %s LIMIT {FEW_MATCHES + 1}'
        )
        params.append(_fts_expression(words))
    columns = ", ".join(_column(name) for name in _KEY_FIELDS)
    connection = connections[router.db_for_read(Transcription)]
    date_field = Transcription._meta.get_field("date_created")
    converters = date_field.get_db_converters(connection)
    with connection.cursor() as cursor:
        # The ids first: reading (and parsing the dates of) 2,001 rows only to find there
        # are too many would cost more than the rest of the page.
        cursor.execute(source, params)
        ids = [pk for (pk,) in cursor.fetchall()]
        if len(ids) > FEW_MATCHES:
            return None
        cursor.execute(
            f'SELECT {columns} FROM "{TABLE}" WHERE {_column("id")} IN '
            "(SELECT value FROM json_each(%s))",
            [json.dumps(ids)],
        )
        rows = cursor.fetchall()
    unfiltered_status = filters.without_statuses()
    keys = []
    for pk, created, duration, status, recording in rows:
        for converter in converters:
            created = converter(created, date_field, connection)
        key = _Key(pk, created, duration, status, recording)
        if unfiltered_status.keeps(key):
            keys.append(key)
    return keys


def _page_from_keys(
    keys: list[_Key], *, sort: str, cursor: _Cursor | None, backward: bool, per_page: int
) -> tuple[list[_Key], bool]:
    """The page of `keys` after (before) the cursor, and whether more lie beyond it."""
    key = _sort_key(sort)
    ordered = sorted(keys, key=key)
    if cursor is not None:
        column = sort.lstrip("-")
        at = key(
            _Key(
                cursor.id,
                cursor.date_created,
                cursor.lead if column == "duration" else None,
                cursor.lead if column == "status" else "",
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


def _rows_walk(
    qs: QuerySet[Transcription],
    *,
    sort: str,
    cursor: _Cursor | None,
    backward: bool,
    per_page: int,
    statuses: list[str],
    vendor: str,
) -> tuple[list[Transcription], bool]:
    """Up to `per_page` rows of `qs` after (before) the cursor by index walks, and whether
    more lie beyond; backward pages come back in display order."""
    rows: list[Transcription] = []
    for segment in _segments(
        sort, cursor=cursor, backward=backward, statuses=statuses, vendor=vendor
    ):
        part = qs if segment.condition is None else qs.filter(segment.condition)
        need = per_page + 1 - len(rows)
        rows += list(part.order_by(*_order_by(segment.order))[:need])
        if len(rows) > per_page:
            break
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backward:
        rows.reverse()
    return rows, more


def _probe_chosen(filters: _Filters) -> bool:
    """SQLite, many matches: whether to look each walked row up in the word index rather than
    gather the matches once. Only when a recording or a SID leaves a few rows to walk: the
    last word is also a prefix, and FTS5 merges a prefix's lists on every lookup, so a lookup
    per row of a long walk would repeat that merge a thousand times."""
    return bool(filters.terms.text_words() and (filters.terms.sid_words() or filters.recording_sid))


# SQLite: the share of rows matching above which probing each walked row beats gathering
# every match first (a probe costs ~75 us, gathering ~0.2 us per match: equal near 14 %).
DENSE_SHARE = 0.14
# ... estimated on the newest rows by id, this many of them.
DENSITY_SAMPLE = 10_000


def _dense(filters: _Filters) -> bool:
    """SQLite: whether the search matches so many rows that the walk should look each row up
    in the word index rather than gather the matches first. Only for whole words (a prefix
    query would repeat its merge on every lookup); the estimate only picks a strategy, both
    give the same rows."""
    words = filters.terms.text_words()
    if not words or filters.terms.sid_words():
        return False
    expression = _fts_expression(words, filters.statuses)
    if "*" in expression:
        return False
    sql = (
        f'SELECT COUNT(*) FROM "{FTS_TABLE}" WHERE "{FTS_TABLE}" MATCH %s '
        f'AND rowid > (SELECT MAX("id") FROM "{TABLE}") - %s'
    )
    with connections[router.db_for_read(Transcription)].cursor() as cursor:
        cursor.execute(sql, [expression, DENSITY_SAMPLE])
        (found,) = cursor.fetchone()
    return found >= DENSE_SHARE * DENSITY_SAMPLE


# PostgreSQL: a search the planner expects to match at least this many rows is read by
# walking the sort's index and checking each row's tsvector (50 rows of a word in 1 % of the
# rows: ~5,000 rows checked, a few milliseconds), and its counts are deferred.
MANY_MATCHES = 10_000


def _estimated_matches(filters: _Filters) -> int:
    """PostgreSQL: the planner's estimate of the rows the text words match (from the
    tsvector column's statistics; a fraction of a millisecond)."""
    words = filters.terms.text_words()
    sql, params = _text_match_sql(words, vendor="postgresql")
    with connections[router.db_for_read(Transcription)].cursor() as cursor:
        cursor.execute(f'EXPLAIN (FORMAT JSON) SELECT 1 FROM "{TABLE}" WHERE {sql}', params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _many_matches(filters: _Filters, *, vendor: str) -> bool:
    """Whether the words match so many rows that counting them would cost more than the
    page (and, on PostgreSQL, that an index walk finds the page sooner than the word index).
    On SQLite this is asked only once the word index has shown more than `FEW_MATCHES`."""
    if not filters.terms.text_words() or filters.terms.sid_words() or filters.recording_sid:
        return False
    return vendor == "sqlite" or _estimated_matches(filters) >= MANY_MATCHES


def transcription_page(
    *,
    search: str = "",
    statuses: Iterable[str] = (),
    recording_sid: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    sort: str = DEFAULT_SORT,
    per_page: int = 25,
    after: str | None = None,
    before: str | None = None,
    last: bool = False,
    totals: dict[str, int] | None = None,
    defer_counts: bool = False,
) -> TablePage:
    """One page of `transcription_list`: the rows after the `after` cursor, before the
    `before` cursor, the last page with `last`, or the first page; the facet counts and the
    number of matches (capped). `totals` (from `status_totals`) saves a query when the caller
    has them. A cursor that cannot be used gives the first page and a `notice`. With
    `defer_counts`, counts that would cost more than the page are left out (`count` and
    `facets` None): ask for them again without it, in a second request.

    Rows deleted or added between two page loads neither hide nor repeat others: a cursor
    is a position in the sort order, not a row number."""
    sort = sort if sort in SORTS else DEFAULT_SORT
    filters = _Filters.of(
        search=search,
        statuses=statuses,
        recording_sid=recording_sid,
        created_from=created_from,
        created_to=created_to,
    )
    vendor = _vendor()
    if vendor == "sqlite" and filters.terms:
        filters = filters.expanded()
    cursor, notice = _cursor_parse(after or before, sort)
    backward = bool(before and cursor) or (last and not cursor)
    if totals is None and not (filters.terms or not filters.only_search_and_status):
        totals = status_totals()
    status_values = sorted(
        set(TranscriptionStatus.values) | {s for s, n in (totals or {}).items() if n}
    )

    keys = _few_matches(filters, vendor=vendor) if filters.terms else None
    if keys is not None:
        facets = dict.fromkeys(TranscriptionStatus.values, 0)
        for key in keys:
            facets[key.status] = facets.get(key.status, 0) + 1
        matched = [k for k in keys if not filters.statuses or k.status in filters.statuses]
        page_keys, more = _page_from_keys(
            matched, sort=sort, cursor=cursor, backward=backward, per_page=per_page
        )
        by_id = Transcription.objects.in_bulk([k.id for k in page_keys])
        rows = [by_id[k.id] for k in page_keys if k.id in by_id]
        facet_counts = {s: Count.of(n) for s, n in facets.items()}
    else:
        many = _many_matches(filters, vendor=vendor)
        few_to_walk = vendor == "sqlite" and _probe_chosen(filters)
        if vendor == "sqlite":
            probe = few_to_walk or _dense(filters)
        else:
            probe = many
        facet_counts = None
        if not (many and defer_counts):
            facet_counts = _status_counts(filters, vendor=vendor, probe=few_to_walk, totals=totals)
        rows, more = _rows_walk(
            _filtered(filters, vendor=vendor, probe=probe),
            sort=sort,
            cursor=cursor,
            backward=backward,
            per_page=per_page,
            statuses=status_values,
            vendor=vendor,
        )

    # The matches: the facets of the statuses shown, so a capped facet caps the total.
    count: Count | None = None
    if facet_counts is not None:
        count = Count(0)
        for status in filters.statuses or tuple(facet_counts):
            count = count + facet_counts.get(status, Count(0))
    if backward and cursor and not more and len(rows) < per_page:
        # Back at the start with rows gone before it: show a full first page instead.
        return transcription_page(
            search=search,
            statuses=statuses,
            recording_sid=recording_sid,
            created_from=created_from,
            created_to=created_to,
            sort=sort,
            per_page=per_page,
            totals=totals,
            defer_counts=defer_counts,
        )
    if backward:
        has_previous, has_next = more, bool(cursor)
    else:
        has_previous, has_next = bool(cursor), more
    return TablePage(
        rows=rows,
        count=count,
        facets=facet_counts,
        first_cursor=_Cursor.of(rows[0], sort=sort).encode() if rows else None,
        last_cursor=_Cursor.of(rows[-1], sort=sort).encode() if rows else None,
        has_previous=has_previous,
        has_next=has_next,
        notice=notice,
    )


# ---- Cache status ----


@dataclass(frozen=True)
class CacheStatus:
    """What the status bar shows: the latest sync, the latest good one, and the cache's size."""

    last_run: SyncRun | None
    last_success: SyncRun | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def by_status(self) -> list[tuple[str, str, int]]:
        """(value, label, count) for every status, in the order Twilio lists them."""
        return [(v, label, self.counts.get(v, 0)) for v, label in TranscriptionStatus.choices]

    @property
    def never_synced(self) -> bool:
        return self.last_run is None


def cache_status() -> CacheStatus:
    """The latest sync run (any kind), the latest one that succeeded, and rows per status
    (kept by the database, exact, without counting the table)."""
    last_run = SyncRun.objects.order_by("-started_at", "-id").first()
    last_success = last_run
    if last_run is not None and last_run.state != SyncRun.State.SUCCEEDED:
        last_success = (
            SyncRun.objects.filter(state=SyncRun.State.SUCCEEDED)
            .order_by("-started_at", "-id")
            .first()
        )
    return CacheStatus(last_run=last_run, last_success=last_success, counts=status_totals())


# ---- Snippets ----


def _match_regex(terms: SearchTerms) -> re.Pattern[str] | None:
    """The Python twin of the word index, for highlighting exactly what matched: a word
    starts and ends where a run of letters and digits does."""
    if not terms:
        return None
    last = len(terms.words) - 1
    parts = []
    for i, word in enumerate(terms.words):
        end = "" if i == last else r"(?![^\W_])"
        parts.append(rf"(?<![^\W_]){re.escape(word)}{end}")
    # Longest first, so "refund" wins over a shorter word it starts with.
    parts.sort(key=len, reverse=True)
    return re.compile("|".join(parts), re.IGNORECASE)


@functools.lru_cache(maxsize=64)
def _snippet_pattern(search: str) -> re.Pattern[str] | None:
    """`_match_regex` of a search box's text, made once for the fifty rows of a page."""
    return _match_regex(parse_search(search))


def text_snippet(text: str | None, search: str = "", *, width: int = 140) -> SafeString:
    """One line of `text` as HTML: escaped, with matches of `search` wrapped in <mark>, and
    cut around the first match so it is visible. Raw text is always escaped before marking."""
    line = " ".join((text or "").split())
    pattern = _snippet_pattern(search)
    matches = list(pattern.finditer(line)) if pattern else []
    start = 0
    lead = 24  # characters of context kept before the first match
    if matches and matches[0].start() > lead + 8:
        start = matches[0].start() - lead
        # Start on a word, not in the middle of one.
        space = line.find(" ", start)
        if 0 <= space < matches[0].start():
            start = space + 1
    end = min(len(line), start + width)
    pieces: list[str] = ["…" if start > 0 else ""]
    pos = start
    for m in matches:
        if m.end() <= start or m.start() >= end:
            continue
        m_start, m_end = max(m.start(), start), min(m.end(), end)
        pieces.append(escape(line[pos:m_start]))
        pieces.append(f"<mark>{escape(line[m_start:m_end])}</mark>")
        pos = m_end
    pieces.append(escape(line[pos:end]))
    if end < len(line):
        pieces.append("…")
    return mark_safe("".join(pieces))  # noqa: S308 - every piece of text above is escaped
