"""The word index and the per-status counts stay in step with the cache whatever writes it:
sync's upsert and removals, deletes one by one and in bulk, the text purge.

The database keeps them (triggers, a generated column), so these tests write the way the
application does and then search: a deleted or purged transcription is never found again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Count

from transcriptions import queries, sync
from transcriptions.models import Transcription, TranscriptionCount
from transcriptions.sync import transcriptions_sync
from transcriptions.twilio_client import get_client

pytestmark = pytest.mark.django_db


def found(search: str, **filters) -> set[str]:
    return set(queries.transcription_list(search=search, **filters).values_list("sid", flat=True))


def paged(search: str, **filters) -> set[str]:
    page = queries.transcription_page(search=search, per_page=100, **filters)
    return {t.sid for t in page.rows}


def assert_counts_exact() -> None:
    real = dict(Transcription.objects.order_by().values_list("status").annotate(n=Count("id")))
    kept = {s: n for s, n in TranscriptionCount.objects.values_list("status", "count") if n}
    assert kept == real
    assert queries.cache_status().total == Transcription.objects.count()


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
    monkeypatch.setattr(queries, "FEW_MATCHES", 0)
    assert paged("quokka") == {keep.sid}
    monkeypatch.setattr(queries, "_probe_chosen", lambda filters: True)
    assert paged("quokka") == {keep.sid}
    assert queries.status_counts(search="quokka") == {
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
    assert sync.purge_transcript_text() == 1

    assert found("pineapple") == {recent.sid}
    assert found("secret") == set()
    assert paged("secret") == set()
    # Text cleared by a plain UPDATE to NULL is gone from the index too.
    Transcription.objects.filter(pk=recent.pk).update(transcription_text=None)
    assert found("pineapple") == set()
    assert queries.status_counts(search="pineapple")["completed"] == 0
    old.refresh_from_db()
    assert old.transcription_text is None
    assert_counts_exact()


def test_status_changes_move_rows_between_counts_and_index(make_transcription):
    row = make_transcription(status="in-progress", transcription_text="kettle")
    Transcription.objects.filter(pk=row.pk).update(status="failed")
    assert found("kettle", statuses=["failed"]) == {row.sid}
    assert found("kettle", statuses=["in-progress"]) == set()
    assert queries.status_totals()["in-progress"] == 0
    assert queries.status_totals()["failed"] == 1
    assert_counts_exact()
