"""The product keeps the databases' planner statistics current by itself: after a sync that
changed a large share of the table, not after a small one; and the facet counts beside a
recording filter are planned through the recording's index with or without statistics."""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from transcriptions.planner_stats import (
    STALE_MIN_ROWS,
    PlannerStatsState,
    planner_stats_refresh,
    planner_stats_state,
)
from transcriptions.sync import transcriptions_sync

TAKEN = "planner statistics taken"


def _taken(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(TAKEN)]


def _analysed_rows() -> int | None:
    """The rows the database's statistics were taken on, read from the database itself."""
    return planner_stats_state().rows_at_stats


# transactional_db: on PostgreSQL the step VACUUMs, which cannot run inside a transaction.
@pytest.mark.django_db(transaction=True)
def test_a_large_sync_takes_statistics_and_a_small_one_does_not(twilio, sandbox_store, caplog):
    from transcriptions.models import Transcription
    from transcriptions.sync import recording_transcriptions_sync

    caplog.set_level(logging.INFO, logger="transcriptions.planner_stats")
    assert _analysed_rows() != 3000

    sandbox_store.seed(count=3000, seed=5)
    transcriptions_sync()
    assert len(_taken(caplog)) == 1
    assert _analysed_rows() == 3000
    assert not planner_stats_state().stale()

    # A small write: one recording's transcriptions refreshed, a new one among them.
    caplog.clear()
    recording = Transcription.objects.order_by("id").first().recording_sid
    sandbox_store.add(recording_sid=recording)
    run = recording_transcriptions_sync(recording_sid=recording)
    assert run.created == 1
    assert _taken(caplog) == []
    assert _analysed_rows() == 3000

    # A full pass that finds 20 new transcriptions: a small change to SQLite's statistics;
    # on PostgreSQL it rewrote every row (to stamp it as seen), which calls for a VACUUM.
    sandbox_store.seed(count=3020, seed=5)
    run = transcriptions_sync()
    assert run.created == 20
    if connection.vendor == "sqlite":
        assert _taken(caplog) == []
        assert _analysed_rows() == 3000
    else:
        assert len(_taken(caplog)) == 1
        assert _analysed_rows() == Transcription.objects.count()

    # The account doubles: taken again, on the new size.
    caplog.clear()
    sandbox_store.seed(count=6000, seed=5)
    transcriptions_sync()
    assert len(_taken(caplog)) == 1
    assert _analysed_rows() == Transcription.objects.count()


@pytest.mark.django_db(transaction=True)
def test_a_bulk_deletion_of_most_rows_takes_statistics(twilio, sandbox_store, caplog, deleter):
    from transcriptions.bulk_deletion import bulk_deletion_run, bulk_deletion_start
    from transcriptions.models import Transcription

    sandbox_store.seed(count=1200, seed=9)
    transcriptions_sync()
    caplog.set_level(logging.INFO, logger="transcriptions.planner_stats")
    caplog.clear()
    sids = list(Transcription.objects.values_list("sid", flat=True)[:1000])
    bulk = bulk_deletion_start(actor=deleter, sids=sids, reason="clean up")
    bulk_deletion_run(bulk_deletion_id=bulk.pk, concurrency=8)
    assert len(_taken(caplog)) == 1
    assert _analysed_rows() == 200


def test_the_stale_rule():
    assert PlannerStatsState("sqlite", rows_at_stats=None, rows_now=10).stale()
    assert not PlannerStatsState("sqlite", rows_at_stats=None, rows_now=0).stale()
    big = PlannerStatsState("sqlite", rows_at_stats=1_000_000, rows_now=1_050_000)
    assert not big.stale()
    assert big.stale(changed=110_000)
    # Rows rewritten in place: dead rows and a cleared visibility map on PostgreSQL only.
    assert not big.stale(rewritten=1_000_000)
    pg = PlannerStatsState("postgresql", rows_at_stats=1_000_000, rows_now=1_000_000)
    assert pg.stale(rewritten=1_000_000)
    assert not pg.stale(rewritten=1_000)
    # On a small table, a handful of rows is never a reason.
    assert not PlannerStatsState("sqlite", 100, 150).stale()
    assert PlannerStatsState("sqlite", 100, 100 + STALE_MIN_ROWS).stale()


@pytest.mark.django_db
def test_a_database_error_is_logged_without_raising(monkeypatch, caplog, make_transcription):
    from transcriptions import planner_stats

    make_transcription()

    def broken() -> str:
        raise RuntimeError("boom: secret row contents")

    monkeypatch.setattr(planner_stats, "planner_stats_take", broken)
    assert planner_stats_refresh(changed=10_000, reason="test") is False
    assert "RuntimeError" in caplog.text
    assert "secret row contents" not in caplog.text


def _plan(sql: str, params: list) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        # The table is tiny: without this, PostgreSQL reads it whole, whatever the indexes.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_facet_counts_beside_a_recording_use_its_index_without_statistics(make_transcription):
    """The query the facets run beside a recording filter: planned through the recording's
    index even on a table the database has no statistics for."""
    from transcriptions.table.counts import _capped_sql
    from transcriptions.table.filters import TableFilters
    from transcriptions.table.search import Query, filtered

    recording = "RE" + "a" * 32
    for _ in range(3):
        make_transcription(recording_sid=recording)
    for _ in range(50):
        make_transcription()
    query = Query.of(TableFilters(recording_sid=recording)).with_status("completed")
    sql, params = _capped_sql(filtered(query), 1000)
    plan = _plan(sql, params)
    assert "tr_recording_idx" in plan, plan
    assert "tr_status_newest_idx" not in plan, plan
