"""The databases' planner statistics for the cache, kept current by the product itself.

Without statistics (a new cache, or one that grew tenfold since they were taken) both SQLite
and PostgreSQL plan some of the table's queries badly: SQLite counted the facets beside a
recording filter through the status index, 0.7-1.9 s at a million rows instead of 4 ms.
Neither database can be relied on to take them by itself (SQLite never does; PostgreSQL's
autovacuum may be off). So every large write (a sync pass, a bulk deletion, a retention run)
ends with `planner_stats_refresh`, which takes new statistics when the table changed by a
large share since the last ones, and the migration that added this takes them once on an
existing cache. On PostgreSQL it also vacuums, when it can: the visibility map a VACUUM
writes is what lets the table's index-only scans skip the heap.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import connection

from .models import Transcription

logger = logging.getLogger(__name__)

# Statistics are taken again when rows added, removed or rewritten since the last ones reach
# this share of the table...
STALE_SHARE = 0.10
# ... and at least this many (a small table is planned well enough from stale figures).
STALE_MIN_ROWS = 500


@dataclass(frozen=True)
class PlannerStatsState:
    """What the database knows: the rows its statistics were taken on (None: never taken)
    and the rows the table has now."""

    vendor: str
    rows_at_stats: int | None
    rows_now: int

    def stale(self, *, changed: int = 0, rewritten: int = 0) -> bool:
        """Whether new statistics are due after a write that added or removed `changed`
        rows and rewrote `rewritten` in place. On PostgreSQL a rewritten row counts too: it
        leaves a dead row behind and clears its page from the visibility map, which only a
        VACUUM puts right (a full sync rewrites every row, to stamp it as seen)."""
        if self.rows_at_stats is None:
            return self.rows_now > 0
        if self.vendor == "postgresql":
            changed += rewritten
        drift = max(abs(self.rows_now - self.rows_at_stats), changed)
        return drift >= max(STALE_MIN_ROWS, STALE_SHARE * max(self.rows_at_stats, self.rows_now))


def _table() -> str:
    return Transcription._meta.db_table


def planner_stats_state() -> PlannerStatsState:
    """From the statistics themselves, not from the databases' change counters: PostgreSQL's
    reach its statistics views up to a second late, so a write just before could count
    after the statistics it caused."""
    from .table import status_totals  # the counts the triggers keep: no count(*) of the table

    rows_now = sum(status_totals().values())
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                "SELECT c.reltuples, s.last_analyze IS NULL AND s.last_autoanalyze IS NULL "
                "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
                "WHERE c.oid = %s::regclass",
                [_table()],
            )
            reltuples, never = cursor.fetchone()
            # reltuples is -1 until the first VACUUM or ANALYZE (PostgreSQL 14 and later).
            rows_at_stats = None if never or reltuples < 0 else int(reltuples)
            return PlannerStatsState(vendor, rows_at_stats, rows_now)
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        rows_at_stats = None
        if cursor.fetchone():
            # Each row's first figure is the rows of the table (or of one of its indexes).
            cursor.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = %s", [_table()])
            figures = [int(stat.split()[0]) for (stat,) in cursor.fetchall() if stat]
            rows_at_stats = max(figures) if figures else None
    return PlannerStatsState(vendor, rows_at_stats, rows_now)


def _quoted() -> str:
    return connection.ops.quote_name(_table())


def planner_stats_take() -> str:
    """Take new statistics now; what was run. SQLite: ANALYZE of the whole file, as the word
    index's tables are planned too. PostgreSQL: VACUUM (ANALYZE) of the table, or ANALYZE
    alone inside a transaction, where VACUUM cannot run."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            statement = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            cursor.execute(f"{statement} {_quoted()}")
            return statement
        cursor.execute("ANALYZE")
        return "ANALYZE"


def planner_stats_refresh(*, changed: int = 0, rewritten: int = 0, reason: str) -> bool:
    """Take new statistics if the table changed by a large share since the last ones (see
    `PlannerStatsState.stale`); whether it did. `changed`: the rows the caller just added or
    removed; `rewritten`: those it rewrote in place. Never raises for a database error:
    stale statistics make queries slower, not wrong."""
    try:
        state = planner_stats_state()
        if not state.stale(changed=changed, rewritten=rewritten):
            return False
        started = time.monotonic()
        statement = planner_stats_take()
    except Exception as exc:  # noqa: BLE001 - see the docstring; logged with its type only
        logger.warning("planner statistics not taken after %s: %s", reason, type(exc).__name__)
        return False
    logger.info(
        "planner statistics taken after %s (%s, %d rows, %d written) in %.1f s",
        reason,
        statement,
        state.rows_now,
        changed + rewritten,
        time.monotonic() - started,
    )
    return True
