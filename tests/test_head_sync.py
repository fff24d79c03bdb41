"""The head sync over real HTTP against the sandbox: it reads the newest pages only, back to
a little before the start of the last sync that succeeded and past the oldest row held in
progress; it catches what callbacks did not bring, and never removes a row."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from transcriptions.models import SyncRun, Transcription
from transcriptions.sync import transcriptions_head_sync, transcriptions_sync
from transcriptions.sync.callbacks import transcription_callback_store


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)


@pytest.fixture
def account(twilio, db, small_pages):
    """55 transcriptions a minute apart (the newest ten minutes ago), newest first in pages
    of 10, synced once in full."""
    store = twilio.store
    items = [
        store.add(transcription_text=f"call number {n}", date_created=minutes_ago(9 + n))
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


def arrived(store, count: int, *, text: str = "new") -> list:
    """Transcriptions created after the last sync started, the newest first."""
    now = datetime.now(UTC)
    return [
        store.add(transcription_text=f"{text} {n}", date_created=now - timedelta(seconds=n))
        for n in range(count)
    ]


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


def test_new_rows_are_read_down_to_the_last_sync_and_the_rest_is_left(twilio, account):
    store, items = account
    fresh = arrived(store, 12)
    since = len(twilio.request_log)
    run = transcriptions_head_sync()
    # New rows fill page 1 and part of 2, which reaches back before the last sync.
    assert run.created == 12 and run.updated == 0
    assert pages_read(twilio, since) == run.pages == 2
    assert Transcription.objects.filter(sid__in=[f.sid for f in fresh]).count() == 12


def test_a_lost_callback_beyond_a_page_that_callbacks_filled_is_caught(twilio, account):
    """Callbacks brought the twelve newest, not the one before them: the page they fill
    holds nothing new, yet the sync reads on to the last sync's start and finds the lost one."""
    store, items = account
    lost = arrived(store, 1, text="lost")[0]
    newer = [
        store.add(
            transcription_text=f"came {n}", date_created=lost.date_created + timedelta(seconds=n)
        )
        for n in range(1, 13)
    ]
    for item in newer:  # the callbacks that came
        transcription_callback_store(
            {
                "AccountSid": item.account_sid,
                "TranscriptionSid": item.sid,
                "TranscriptionStatus": item.status,
                "TranscriptionText": item.transcription_text,
                "RecordingSid": item.recording_sid,
            }
        )
    assert Transcription.objects.filter(sid__in=[item.sid for item in newer]).count() == 12
    since = len(twilio.request_log)
    run = transcriptions_head_sync()
    assert Transcription.objects.filter(sid=lost.sid).exists()
    assert run.created == 1
    assert pages_read(twilio, since) == run.pages == 2


def test_it_reads_on_until_past_the_oldest_row_held_in_progress(twilio, account):
    store, items = account
    old = items[44]  # on the fifth page
    Transcription.objects.filter(sid=old.sid).update(status="in-progress")
    since = len(twilio.request_log)
    run = transcriptions_head_sync()
    assert Transcription.objects.get(sid=old.sid).status == "completed"
    assert run.updated == 1
    assert pages_read(twilio, since) == run.pages == 5


def test_it_reads_back_to_the_last_sync_that_succeeded(twilio, account):
    """A head sync that failed read nothing for sure: the next one reads back to the last
    one that succeeded, here the complete pass an hour ago."""
    store, items = account
    SyncRun.objects.update(started_at=datetime.now(UTC) - timedelta(hours=1))
    SyncRun.objects.create(
        kind=SyncRun.Kind.HEAD,
        account_sid=store.account_sid,
        state=SyncRun.State.FAILED,
        started_at=datetime.now(UTC) - timedelta(minutes=1),
        started_by="test",
    )
    since = len(twilio.request_log)
    transcriptions_head_sync()
    # The newest is 10 minutes old, the oldest 64: an hour (and the overlap) back is past
    # them all, where one page deep would have done after the complete pass.
    assert pages_read(twilio, since) == 6


def test_without_a_sync_that_succeeded_every_page_is_read(twilio, account):
    store, items = account
    SyncRun.objects.all().delete()
    Transcription.objects.filter(sid=items[-1].sid).delete()
    since = len(twilio.request_log)
    run = transcriptions_head_sync()
    assert pages_read(twilio, since) == run.pages == 6
    assert run.created == 1 and Transcription.objects.count() == 55


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
        status="in-progress", transcription_text=None, date_created=minutes_ago(3 * 24 * 60)
    )
    transcriptions_sync()
    store.update(stale.sid, status="completed", transcription_text="finished late")
    since = len(twilio.request_log)
    run = transcriptions_head_sync()
    assert pages_read(twilio, since) == run.pages == 1
    assert Transcription.objects.get(sid=stale.sid).status == "in-progress"
    transcriptions_sync()
    assert Transcription.objects.get(sid=stale.sid).status == "completed"
