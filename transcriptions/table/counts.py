"""The table's counts: matches and facets capped at `COUNT_CAP` (shown as "1,000+"), the
per-status totals the database keeps, and the status bar's view of the cache."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.contrib.humanize.templatetags.humanize import intcomma
from django.db import models
from django.db.models import QuerySet

from ..models import (
    FTS_TABLE,
    PersonalDataMention,
    SyncRun,
    TranscriptionCount,
    TranscriptionStatus,
)
from ..personal_data import Kind
from .filters import TableFilters
from .search import Query, connection, filtered, fts_expression

# Counts above this are shown as "1,000+": counting every match of a frequent word costs
# hundreds of milliseconds on either database, the first 1,001 a few.
COUNT_CAP = 1000


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


def _counts_run(parts: dict[str, tuple[str, list]]) -> dict[str, int]:
    """Several counts in one statement."""
    if not parts:
        return {}
    names = list(parts)
    sql = "SELECT " + ", ".join(f"({parts[n][0]})" for n in names)
    params = [p for n in names for p in parts[n][1]]
    with connection().cursor() as cursor:
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


def facet_counts(
    query: Query, *, probe: bool = False, totals: dict[str, int] | None = None
) -> dict[str, Count]:
    """Facet counts: rows per status under every filter but the status filter, capped."""
    query = query.without_statuses()
    statuses = list(TranscriptionStatus.values)
    if not query.terms and query.filters.only_search_and_status:
        totals = totals if totals is not None else status_totals()
        return {s: Count(totals.get(s, 0)) for s in statuses}
    parts: dict[str, tuple[str, list]] = {}
    words = query.terms.text_words()
    if (
        query.vendor == "sqlite"
        and words
        and not query.terms.sid_words()
        and query.filters.only_search_and_status
    ):
        # Counted in the word index alone, which holds the status too.
        for s in statuses:
            parts[s] = _fts_capped_sql(fts_expression(words, [s]), COUNT_CAP)
    else:
        for s in statuses:
            parts[s] = _capped_sql(filtered(query.with_status(s), probe=probe), COUNT_CAP)
    return {s: Count.of(n) for s, n in _counts_run(parts).items()}


def personal_data_counts(*, filters: TableFilters) -> dict[str, Count]:
    """Rows per kind of personal data under every other filter (the personal-data filter
    itself left out), capped, in one statement; asked for by the page after its rows."""
    base = replace(filters, personal_data=())
    if not base.is_filtered:
        # Nothing else filters: counted in the table of keyed hashes, by its kind index.
        parts = {kind: _mention_capped_sql(kind, COUNT_CAP) for kind in Kind.values}
    else:
        parts = {
            kind: _capped_sql(filtered(Query.of(replace(base, personal_data=(kind,)))), COUNT_CAP)
            for kind in Kind.values
        }
    return {kind: Count.of(n) for kind, n in _counts_run(parts).items()}


def _mention_capped_sql(kind: str, cap: int) -> tuple[str, list]:
    table = PersonalDataMention._meta.db_table
    return (
        f'SELECT COUNT(*) FROM (SELECT DISTINCT "transcription_id" FROM "{table}" '
        f'WHERE "kind" = %s LIMIT {cap + 1}) AS capped',
        [kind],
    )


def personal_data_totals() -> dict[str, int]:
    """Cached transcriptions holding each kind of personal data, exact (every kind present),
    from the table of keyed hashes."""
    totals = dict.fromkeys(Kind.values, 0)
    rows = (
        PersonalDataMention.objects.filter(kind__in=Kind.values)
        .values("kind")
        .annotate(n=models.Count("transcription_id", distinct=True))
        .order_by()
    )
    for row in rows:
        totals[row["kind"]] = row["n"]
    return totals


def status_counts(*, filters: TableFilters) -> dict[str, int]:
    """How many rows each status has under the search and the other filters (the status
    filter's facet counts; the status filter itself is left out), in one query. Every status
    is present, zero when none; counts above `COUNT_CAP` are `COUNT_CAP + 1` (see `Count`)."""
    counts = facet_counts(Query.of(filters))
    return {s: c.value + (1 if c.capped else 0) for s, c in counts.items()}


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
