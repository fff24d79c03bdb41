"""The table's planner: which way to read one page of matches, on each database.

* On SQLite the planner cannot tell a rare word from a frequent one, so this module chooses:
  few matches are read from the word index and ordered here; many are found by walking the
  sort's index and checking each row against the word index (gathered once, or looked up per
  row when most rows match). The last word's prefix is spelled out as the few whole words it
  starts, when they are few: FTS5 merges a prefix's lists in full on every query.
* On PostgreSQL the last word's prefix is spelled out the same way (from its table of words,
  migration 0016). Few matches are read from the GIN index and ordered here, as on SQLite,
  unless the statistics expect many; more are found by a bounded walk of the sort's index
  that checks each row's stored tsvector, and then from the GIN index if the walk did not
  fill the page (`paging._words_walk`). Their counts (tens to hundreds of milliseconds there,
  however capped) are left to a second request (`defer_counts`).
* A recording's rows are read from its index and ordered here on both databases, whatever
  the statistics say.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from ..models import (
    FTS_TABLE,
    SEARCH_VECTOR,
    PersonalDataMention,
    Transcription,
    TranscriptionStatus,
)
from ..personal_data import ANY
from .counts import Count, facet_counts, status_totals
from .filters import TableFilters
from .paging import (
    KEY_FIELDS,
    SORTS,
    Cursor,
    Key,
    cursor_parse,
    page_from_keys,
    rows_walk,
)
from .search import (
    TABLE,
    Query,
    column,
    connection,
    filtered,
    fts_expression,
    fts_row_match_sql,
    pg_word_conditions,
    sid_word_sql,
    text_match_sql,
    word_check,
)

# SQLite: up to this many matches are read from the word index and ordered here.
FEW_MATCHES = 2000
# SQLite: the share of rows matching above which probing each walked row beats gathering
# every match first (a probe costs ~75 us, gathering ~0.2 us per match: equal near 14 %).
DENSE_SHARE = 0.14
# ... estimated on the newest rows by id, this many of them.
DENSITY_SAMPLE = 10_000
# PostgreSQL: a search the planner expects to match at least this many rows, and this share
# of the table, is read by walking the sort's index and checking each row's tsvector (50 rows
# of a word in 1 % of the rows: ~5,000 rows checked, a few milliseconds), and its counts are
# deferred. The share matters on a large table: for a word its statistics do not list,
# PostgreSQL estimates about 0.2 % of the rows (22,000 at ten million) whatever its real count.
MANY_MATCHES = 10_000
MANY_SHARE = 0.01


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


def _few_matches(query: Query) -> list[Key] | None:
    """The keys of every row the search matches under the filters but the status filter
    (the facets count them by status), when the word index has at most `FEW_MATCHES` of
    them; None when there are more (or, on PostgreSQL, when its statistics expect many).

    The ids come from the word index (and, on SQLite, the SID indexes), never from a walk of
    the table: either database would otherwise often choose to walk a sort index and test
    each row, which costs a second for a rare word at a million rows (PostgreSQL's estimate
    for a word its statistics do not list is thousands of rows, whatever its real count)."""
    if query.filters.hash_lookups:
        return _mentioned(query)
    terms = query.terms
    words = terms.text_words()
    sid_words = terms.sid_words()
    recording_sid = query.filters.recording_sid
    inner_parts, params = [], []
    if recording_sid and not terms:
        # A recording has a handful of transcriptions: found on its index, whatever the
        # statistics say (without them, PostgreSQL walked the date index: 0.45 s).
        source = (
            f'SELECT {column("id")} FROM "{TABLE}" WHERE {column("recording_sid")} = %s '
            f"LIMIT {FEW_MATCHES + 1}"
        )
        params.append(recording_sid)
    elif not terms:
        return None
    elif query.vendor == "postgresql":
        if sid_words or not words or _many_expected(query):
            return None
        # No order and no other condition: the GIN index is the only way worth taking.
        parts = pg_word_conditions(words)
        sql = " AND ".join(part for part, _ in parts)
        params = [p for _, part_params in parts for p in part_params]
        source = f'SELECT {column("id")} FROM "{TABLE}" WHERE {sql} LIMIT {FEW_MATCHES + 1}'
    elif sid_words:
        for word, prefix, text_prefix in sid_words:
            sql, p = sid_word_sql(word, prefix, text_prefix, vendor=query.vendor)
            inner_parts.append(sql)
            params += p
        if words:
            inner_parts.append(fts_row_match_sql())
            params.append(fts_expression(words))
        where = " AND ".join(inner_parts)
        source = f'SELECT {column("id")} FROM "{TABLE}" WHERE {where} LIMIT {FEW_MATCHES + 1}'
    else:
        source = (
            f'SELECT rowid FROM "{FTS_TABLE}" WHERE "{FTS_TABLE}" MATCH %s LIMIT {FEW_MATCHES + 1}'
        )
        params.append(fts_expression(words))
    columns = ", ".join(column(name) for name in KEY_FIELDS)
    db = connection()
    date_field = Transcription._meta.get_field("date_created")
    # Raw rows, so the dates come as the database spells them: Django's own converters read them.
    converters = date_field.get_db_converters(db)  # type: ignore[attr-defined]
    word_index_only = query.vendor == "postgresql" and bool(words) and not recording_sid
    # (SET LOCAL lasts as long as the transaction: one of its own.)
    scope = transaction.atomic(using=db.alias) if word_index_only else nullcontext()
    with db.cursor() as cursor, scope:
        if word_index_only:
            # The word index, never a scan of the table: a scan that expects to meet 2,001
            # matches soon would read every row for a rare word.
            cursor.execute("SET LOCAL enable_seqscan = off")
        # The ids first: reading (and parsing the dates of) 2,001 rows only to find there
        # are too many would cost more than the rest of the page.
        cursor.execute(source, params)
        ids = [pk for (pk,) in cursor.fetchall()]
        if len(ids) > FEW_MATCHES:
            return None
        cursor.execute(
            f'SELECT {columns} FROM "{TABLE}" WHERE {column("id")} IN '
            f"({_id_list_sql(query.vendor)})",
            [json.dumps(ids)],
        )
        rows = cursor.fetchall()
    unfiltered_status = query.filters.without_statuses()
    keys = []
    for pk, created, duration, status, recording, personal_data in rows:
        for converter in converters:
            created = converter(created, date_field, db)
        key = Key(pk, created, duration, status, recording, personal_data)
        if unfiltered_status.keeps(key):
            keys.append(key)
    return keys


def _mentioned(query: Query) -> list[Key] | None:
    """The keys of the rows that mention a value looked up by its keyed hash (a data
    subject's mentions, a search by digits): read from the table of hashes, a handful of
    rows, then checked against every other filter but the status."""
    hashes = query.filters.hash_lookups[0]
    ids = list(
        PersonalDataMention.objects.filter(value_hash__in=hashes)
        .values_list("transcription_id", flat=True)
        .distinct()[: FEW_MATCHES + 1]
    )
    if len(ids) > FEW_MATCHES:
        return None
    rows = (
        filtered(query.without_statuses(), probe=True)
        .filter(id__in=ids)
        .order_by()
        .values_list(*KEY_FIELDS)
    )
    return [Key(*row) for row in rows]


def _id_list_sql(vendor: str) -> str:
    """The ids of one JSON array parameter, as a subquery."""
    if vendor == "postgresql":
        return "SELECT (json_array_elements_text(%s::json))::bigint"
    return "SELECT value FROM json_each(%s)"


def _probe_chosen(query: Query) -> bool:
    """SQLite, many matches: whether to look each walked row up in the word index rather than
    gather the matches once. Only when a recording or a SID leaves a few rows to walk: the
    last word is also a prefix, and FTS5 merges a prefix's lists on every lookup, so a lookup
    per row of a long walk would repeat that merge a thousand times."""
    terms = query.terms
    return bool(terms.text_words() and (terms.sid_words() or query.filters.recording_sid))


def _dense(query: Query) -> bool:
    """SQLite: whether the search matches so many rows that the walk should look each row up
    in the word index rather than gather the matches first. Only for whole words (a prefix
    query would repeat its merge on every lookup); the estimate only picks a strategy, both
    give the same rows."""
    words = query.terms.text_words()
    if not words or query.terms.sid_words():
        return False
    expression = fts_expression(words, query.statuses)
    if "*" in expression:
        return False
    sql = (
        f'SELECT COUNT(*) FROM "{FTS_TABLE}" WHERE "{FTS_TABLE}" MATCH %s '
        f'AND rowid > (SELECT MAX("id") FROM "{TABLE}") - %s'
    )
    with connection().cursor() as cursor:
        cursor.execute(sql, [expression, DENSITY_SAMPLE])
        (found,) = cursor.fetchone()
    return found >= DENSE_SHARE * DENSITY_SAMPLE


def _estimated_matches(query: Query) -> int:
    """PostgreSQL: the planner's estimate of the rows the text words match (from the
    tsvector column's statistics; a fraction of a millisecond)."""
    sql, params = text_match_sql(query.terms.text_words(), vendor="postgresql")
    with connection().cursor() as cursor:
        cursor.execute(f'EXPLAIN (FORMAT JSON) SELECT 1 FROM "{TABLE}" WHERE {sql}', params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _many_expected(query: Query) -> bool:
    """PostgreSQL: whether the statistics expect the words to match many rows (see
    `MANY_MATCHES`); False when there are no statistics to go by (the word index then tells,
    at a bounded cost: see `_few_matches`)."""
    with connection().cursor() as cursor:
        cursor.execute(
            "SELECT c.reltuples, EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = "
            "current_schema() AND tablename = %s AND attname = %s) "
            "FROM pg_class c WHERE c.oid = %s::regclass",
            [TABLE, SEARCH_VECTOR, TABLE],
        )
        rows, has_statistics = cursor.fetchone()
    if not has_statistics:
        return False
    return _estimated_matches(query) >= max(MANY_MATCHES, MANY_SHARE * rows)


def _many_matches(query: Query) -> bool:
    """Whether the words match so many rows that counting them would cost more than the
    page (and, on PostgreSQL, that an index walk finds the page sooner than the word index).
    On SQLite this is asked only once the word index has shown more than `FEW_MATCHES`."""
    terms = query.terms
    if not terms.text_words() or terms.sid_words() or query.filters.recording_sid:
        return False
    return query.vendor == "sqlite" or _many_expected(query)


def _kind_counts_costly(filters: TableFilters) -> bool:
    """Whether the page's counts would read too many rows with personal data: for one kind
    (not any), a status's count reads every row with personal data of that status until it
    has found a thousand of that kind (40 ms for social security numbers at a million rows),
    so it comes in a second request."""
    return bool(filters.personal_data) and ANY not in filters.personal_data


def transcription_list(*, filters: TableFilters) -> QuerySet[Transcription]:
    """Every cached transcription matching the filters, in their sort order. Never calls
    Twilio. The table shows these a page at a time through `transcription_page`.

    Search: every word must be a whole word of the text (case-insensitive), the last one
    also a word's start; a word like `TR1a2b…`/`RE1a2b…` (TR or RE and 4+ hex digits) also
    matches the transcriptions whose SID or recording SID starts with it. Dates are whole
    days in the current time zone, both ends inclusive."""
    return filtered(Query.of(filters)).order_by(*SORTS[filters.sort])


def transcription_page(
    *,
    filters: TableFilters,
    per_page: int | None = None,
    after: str | None = None,
    before: str | None = None,
    last: bool = False,
    totals: dict[str, int] | None = None,
    defer_counts: bool = False,
) -> TablePage:
    """One page of `transcription_list`: the rows after the `after` cursor, before the
    `before` cursor, the last page with `last`, or the first page; the facet counts and the
    number of matches (capped). `per_page` defaults to the filters' page size. `totals`
    (from `status_totals`) saves a query when the caller has them. A cursor that cannot be
    used gives the first page and a `notice`. With `defer_counts`, counts that would cost
    more than the page are left out (`count` and `facets` None): ask for them again without
    it, in a second request.

    Rows deleted or added between two page loads neither hide nor repeat others: a cursor
    is a position in the sort order, not a row number."""
    sort = filters.sort
    per_page = per_page or filters.per_page
    query = Query.of(filters, expand_prefix=True)
    cursor, notice = cursor_parse(after or before, sort)
    backward = bool(before and cursor) or (last and not cursor)
    if totals is None and not (query.terms or not filters.only_search_and_status):
        totals = status_totals()
    status_values = sorted(
        set(TranscriptionStatus.values) | {s for s, n in (totals or {}).items() if n}
    )

    keys = (
        _few_matches(query)
        if query.terms or filters.recording_sid or filters.hash_lookups
        else None
    )
    facets: dict[str, Count] | None
    if keys is not None:
        found = dict.fromkeys(TranscriptionStatus.values, 0)
        for key in keys:
            found[key.status] = found.get(key.status, 0) + 1
        matched = [k for k in keys if not filters.statuses or k.status in filters.statuses]
        page_keys, more = page_from_keys(
            matched, sort=sort, cursor=cursor, backward=backward, per_page=per_page
        )
        by_id = Transcription.objects.in_bulk([k.id for k in page_keys])
        rows = [by_id[k.id] for k in page_keys if k.id in by_id]
        facets = {s: Count.of(n) for s, n in found.items()}
    else:
        # PostgreSQL, words only: more matches than the word index gave at once. Their
        # counts cost more than the page (tens to hundreds of milliseconds), whatever the
        # estimate says, and the page comes from a bounded walk (see `paging._words_walk`).
        words_walked = (
            query.vendor == "postgresql"
            and bool(query.terms.text_words())
            and not query.terms.sid_words()
            and not filters.recording_sid
        )
        many = words_walked or _many_matches(query)
        few_to_walk = query.vendor == "sqlite" and _probe_chosen(query)
        probe = (few_to_walk or _dense(query)) if query.vendor == "sqlite" else many
        facets = None
        if not ((many or _kind_counts_costly(filters)) and defer_counts):
            facets = facet_counts(query, probe=few_to_walk, totals=totals)
        rows, more = rows_walk(
            filtered(query, probe=probe),
            sort=sort,
            cursor=cursor,
            backward=backward,
            per_page=per_page,
            statuses=status_values,
            words=word_check(query) if words_walked else None,
        )

    # The matches: the facets of the statuses shown, so a capped facet caps the total.
    count: Count | None = None
    if facets is not None:
        count = Count(0)
        for status in filters.statuses or tuple(facets):
            count = count + facets.get(status, Count(0))
    if backward and cursor and not more and len(rows) < per_page:
        # Back at the start with rows gone before it: show a full first page instead.
        return transcription_page(
            filters=filters, per_page=per_page, totals=totals, defer_counts=defer_counts
        )
    if backward:
        has_previous, has_next = more, bool(cursor)
    else:
        has_previous, has_next = bool(cursor), more
    return TablePage(
        rows=rows,
        count=count,
        facets=facets,
        first_cursor=Cursor.of(rows[0], sort=sort).encode() if rows else None,
        last_cursor=Cursor.of(rows[-1], sort=sort).encode() if rows else None,
        has_previous=has_previous,
        has_next=has_next,
        notice=notice,
    )
