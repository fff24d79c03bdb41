"""The word index and the per-status counts stay in step with the cache whatever writes it:
sync's upsert and removals, deletes one by one and in bulk, the text purge.

The database keeps them (triggers), so these tests write the way the
application does and then search: a deleted or purged transcription is never found again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count

from transcriptions import retention, sync, table
from transcriptions.models import Transcription, TranscriptionCount
from transcriptions.sync import transcriptions_sync
from transcriptions.table import TableFilters, planner
from transcriptions.twilio_client import get_client

pytestmark = pytest.mark.django_db


def found(search: str, **filters) -> set[str]:
    return set(
        table.transcription_list(filters=TableFilters(search=search, **filters)).values_list(
            "sid", flat=True
        )
    )


def paged(search: str, **filters) -> set[str]:
    page = table.transcription_page(filters=TableFilters(search=search, per_page=100, **filters))
    return {t.sid for t in page.rows}


def assert_counts_exact() -> None:
    real = dict(Transcription.objects.order_by().values_list("status").annotate(n=Count("id")))
    kept = {s: n for s, n in TranscriptionCount.objects.values_list("status", "count") if n}
    assert kept == real
    assert table.cache_status().total == Transcription.objects.count()


def test_sync_fills_the_index_and_a_resync_follows_changes_and_removals(sandbox, sandbox_store):
    sandbox_store.seed(count=40, seed=11)
    lighthouse = sandbox_store.add(transcription_text="The lighthouse keeper called")
    moving = sandbox_store.add(status="in-progress", transcription_text=None)
    doomed = sandbox_store.add(transcription_text="Please remove the zeppelin booking")
    with get_client() as client:
        transcriptions_sync(client=client)
    assert found("lighthouse") == {lighthouse.sid}
    assert found("zeppelin") == {doomed.sid}
    assert moving.sid in found("", statuses=["in-progress"])
    assert_counts_exact()

    sandbox_store.update(lighthouse.sid, transcription_text="The harbour master called")
    sandbox_store.update(
        moving.sid, status="completed", transcription_text="Now finished: a marmalade order"
    )
    sandbox_store.delete(doomed.sid)
    with get_client() as client:
        transcriptions_sync(client=client)

    assert found("lighthouse") == set()
    assert found("harbour master") == {lighthouse.sid}
    assert found("marmalade") == {moving.sid}
    assert found("marmalade", statuses=["completed"]) == {moving.sid}
    assert found("marmalade", statuses=["in-progress"]) == set()
    assert found("zeppelin") == set()
    assert paged("zeppelin") == set()
    assert_counts_exact()


def test_deleted_rows_are_never_found_again(make_transcription, monkeypatch):
    one = make_transcription(transcription_text="quokka sighting", status="failed")
    many = [make_transcription(transcription_text=f"quokka herd {i}") for i in range(30)]
    keep = make_transcription(transcription_text="quokka keeper")

    one.delete()
    assert one.sid not in found("quokka")
    Transcription.objects.filter(sid__in=[t.sid for t in many]).delete()  # a bulk delete
    assert found("quokka") == {keep.sid}
    assert paged("quokka") == {keep.sid}
    assert found("herd") == set()
    # The same through the index walks that large result sets take on SQLite.
    monkeypatch.setattr(planner, "FEW_MATCHES", 0)
    assert paged("quokka") == {keep.sid}
    monkeypatch.setattr(planner, "_probe_chosen", lambda query: True)
    assert paged("quokka") == {keep.sid}
    assert table.status_counts(filters=TableFilters(search="quokka")) == {
        "in-progress": 0,
        "completed": 1,
        "failed": 0,
    }
    assert_counts_exact()


def test_purged_text_is_never_found_again(make_transcription, settings):
    old = make_transcription(
        transcription_text="secret pineapple recipe",
        date_created=datetime.now(UTC) - timedelta(days=400),
    )
    recent = make_transcription(transcription_text="public pineapple recipe")
    settings.TRANSCRIPT_TEXT_RETENTION_DAYS = 30
    assert retention.purge_transcript_text() == 1

    assert found("pineapple") == {recent.sid}
    assert found("secret") == set()
    assert paged("secret") == set()
    # Text cleared by a plain UPDATE to NULL is gone from the index too.
    Transcription.objects.filter(pk=recent.pk).update(transcription_text=None)
    assert found("pineapple") == set()
    assert table.status_counts(filters=TableFilters(search="pineapple"))["completed"] == 0
    old.refresh_from_db()
    assert old.transcription_text is None
    assert_counts_exact()


def test_status_changes_move_rows_between_counts_and_index(make_transcription):
    row = make_transcription(status="in-progress", transcription_text="kettle")
    Transcription.objects.filter(pk=row.pk).update(status="failed")
    assert found("kettle", statuses=["failed"]) == {row.sid}
    assert found("kettle", statuses=["in-progress"]) == set()
    assert table.status_totals()["in-progress"] == 0
    assert table.status_totals()["failed"] == 1
    assert_counts_exact()


VECTOR_TEXTS = [
    None,
    "",
    "!!! ... ???",
    "Hello, World! hello AGAIN",
    "Call +1 (415) 555-0100 re: ticket CS-004211; card 4111 1111 1111 1111, exp 09/28.",
    "e-mail jane.o'neil@example.co.uk -- it's 50% off_now \\ back\\slash \"quoted\"",
    "tabs\tand\nnewlines\r\nand under_scores",
    "x" * 2047 + " kept " + "y" * 2048 + " dropped-neighbour",
    "word " * 3000,
    "Café crème, naïve façade",  # not ASCII: the database builds it
    "Straße İstanbul ΣΊΣΥΦΟΣ",
]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL's word vector; SQLite's FTS5 table is built by triggers only",
)
def test_sync_builds_the_same_word_vector_as_the_database():
    """PostgreSQL: the vector a sync hands in equals the one the database builds from the
    same text and status (the triggers' function), or is left to the database."""
    with connection.cursor() as cursor:
        for status in ("completed", "in-progress", "failed", "", "it's\\odd"):
            for text in VECTOR_TEXTS:
                source = sync.search_vector_source(text, status)
                if text is not None and not text.isascii():
                    assert source is None
                    continue
                cursor.execute(
                    "SELECT %s::tsvector = transcriptions_search_vector(%s, %s), "
                    "transcriptions_search_vector(%s, %s)::text",
                    [source, text, status, text, status],
                )
                same, built = cursor.fetchone()
                assert same, (status, text, source, built)


def test_sync_indexes_text_in_any_script_and_follows_its_changes(sandbox, sandbox_store):
    cafe = sandbox_store.add(transcription_text="Café crème for Zoë, naïve order")
    plain = sandbox_store.add(transcription_text="A plain order for Bob")
    with get_client() as client:
        transcriptions_sync(client=client)
    assert found("crème") == {cafe.sid}
    assert found("zoë") == {cafe.sid}
    assert found("zoe naive") == {cafe.sid}
    assert found("order") == {cafe.sid, plain.sid}

    # ASCII to other scripts and back: each row's vector follows its text.
    sandbox_store.update(cafe.sid, transcription_text="Now plain: tea for Zoe")
    sandbox_store.update(plain.sid, transcription_text="Smörgåsbord for Björn")
    with get_client() as client:
        transcriptions_sync(client=client)
    assert found("crème") == set()
    assert found("zoe tea") == {cafe.sid}
    assert found("björn") == {plain.sid}
    assert found("bjorn smorgasbord") == {plain.sid}
    assert found("zoë") == {cafe.sid}
    assert found("order") == set()
    assert found("bob") == set()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite compares text as bytes (BINARY) by default"
)
def test_postgresql_sid_columns_compare_bytes_and_carry_no_like_index():
    """Migration 0010, which Django's model state does not know of: an AlterField of these
    columns that dropped COLLATE "C" would break SID prefixes under a linguistic collation."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, collation_name FROM information_schema.columns "
            "WHERE table_name = %s AND column_name IN ('sid', 'recording_sid')",
            [Transcription._meta.db_table],
        )
        assert dict(cursor.fetchall()) == {"sid": "C", "recording_sid": "C"}
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s",
            [Transcription._meta.db_table],
        )
        assert not [d for (d,) in cursor.fetchall() if "pattern_ops" in d]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's table of words")
@pytest.mark.django_db
def test_postgresql_keeps_every_written_word_for_prefixes(
    twilio, sandbox_store, make_transcription
):
    """Words reach the table of words from every write: a sync's upsert, a single insert,
    an update of the text; a prefix is then searched as those whole words."""
    from transcriptions.models import SEARCH_WORDS_TABLE, Transcription
    from transcriptions.sync import transcriptions_sync
    from transcriptions.table import TableFilters, planner
    from transcriptions.table.search import Query

    sandbox_store.add(transcription_text="the parcel was refunded")
    transcriptions_sync()
    row = make_transcription(transcription_text="a refundable fare")
    other = make_transcription(transcription_text="nothing yet")
    Transcription.objects.filter(pk=other.pk).update(transcription_text="refunding now, café")

    def words(prefix: str) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT word FROM "{SEARCH_WORDS_TABLE}" WHERE starts_with(word, %s) '
                "ORDER BY word",
                [prefix],
            )
            return [word for (word,) in cursor.fetchall()]

    assert words("refund") == ["refundable", "refunded", "refunding"]
    # Kept without its accent, as the vectors hold it (migration 0024).
    assert "cafe" in words("caf")
    query = Query.of(TableFilters(search="parcel refund"), expand_prefix=True)
    assert query.terms.text_words()[-1] == ("refund", ("refundable", "refunded", "refunding"))
    page = planner.transcription_page(filters=TableFilters(search="refund"))
    assert {r.pk for r in page.rows} >= {row.pk, other.pk}
    assert len(page.rows) == 3
