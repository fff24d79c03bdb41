"""The head sync over real HTTP against the sandbox: it reads the newest pages only, until the
cache holds the rest unchanged and it has passed the oldest row held in progress; it catches
what callbacks did not bring, and never removes a row."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from transcriptions.models import SyncRun, Transcription
from transcriptions.sync import transcriptions_head_sync, transcriptions_sync

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def account(twilio, db, small_pages):
    """55 transcriptions a minute apart, newest first in pages of 10, synced once in full."""
    store = twilio.store
    items = [
        store.add(transcription_text=f"call number {n}", date_created=NOW - timedelta(minutes=n))
        for n in range(1, 56)
    ]
    transcriptions_sync()
    return store, items


def pages_read(twilio, since: int) -> int:
    return sum(
        1
        for method, path in twilio.request_log[since:]
        if method == "GET" and "/Transcriptions.json" in path
    )


def test_an_unchanged_account_is_read_one_page_deep(twilio, account):
    since = len(twilio.request_log)
    run = transcriptions_head_sync()
    assert (run.kind, run.state, run.pages, run.created, run.updated) == (
        "head",
        "succeeded",
        1,
        0,
        0,
    )
    assert pages_read(twilio, since) == 1


def test_new_and_changed_rows_are_read_and_the_rest_is_left(twilio, account):
    store, items = account
    fresh = [store.add(transcription_text=f"new {n}", date_created=NOW) for n in range(12)]
    # A callback that never arrived: a transcription on the second page changed at Twilio.
    store.update(items[14].sid, transcription_text="corrected text")
    since = len(twilio.request_log)
    run = transcriptions_head_sync()
    # New rows fill page 1 and part of 2; page 3 holds nothing new (and the change).
    assert run.created == 12 and run.updated == 1
    assert pages_read(twilio, since) == run.pages == 3
    assert Transcription.objects.get(sid=items[14].sid).transcription_text == "corrected text"
    assert Transcription.objects.filter(sid__in=[f.sid for f in fresh]).count() == 12


def test_it_reads_on_until_past_the_oldest_row_held_in_progress(twilio, account):
    store, items = account
    old = items[44]  # on the fifth page
    Transcription.objects.filter(sid=old.sid).update(status="in-progress")
    since = len(twilio.request_log)
    run = transcriptions_head_sync()
    assert Transcription.objects.get(sid=old.sid).status == "completed"
    assert run.updated == 1
    assert pages_read(twilio, since) == run.pages == 5


def test_it_never_removes_what_only_a_complete_pass_can_tell_is_gone(twilio, account):
    store, items = account
    store.delete(items[0].sid)
    run = transcriptions_head_sync()
    assert run.removed == 0 and Transcription.objects.filter(sid=items[0].sid).exists()
    assert transcriptions_sync().removed == 1


def test_the_command_runs_head_syncs_with_every_and_a_full_pass_when_asked(twilio, account):
    out = io.StringIO()
    call_command("sync_transcriptions", "--every", "0.01", "--runs", "1", stdout=out)
    assert "newest transcriptions: 1 page read, 0 new, 0 changed" in out.getvalue()
    out = io.StringIO()
    call_command("sync_transcriptions", "--every", "0.01", "--runs", "1", "--full", stdout=out)
    assert "in 6 pages" in out.getvalue()
    assert SyncRun.objects.filter(kind="head").count() == 1


def test_a_row_in_progress_for_days_is_left_to_complete_passes(twilio, account):
    store, items = account
    stale = store.add(
        status="in-progress", transcription_text=None, date_created=NOW - timedelta(days=3)
    )
    transcriptions_sync()
    store.update(stale.sid, status="completed", transcription_text="finished late")
    since = len(twilio.request_log)
    run = transcriptions_head_sync()
    assert pages_read(twilio, since) == run.pages == 1
    assert Transcription.objects.get(sid=stale.sid).status == "in-progress"
    transcriptions_sync()
    assert Transcription.objects.get(sid=stale.sid).status == "completed"
