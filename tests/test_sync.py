"""Sync from the Twilio sandbox (over real HTTP) into the cache: full passes, failures, the
one-at-a-time lock, recording refresh, text fetch and retention."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from transcriptions.models import SyncRun, Transcription
from transcriptions.retention import purge_transcript_text, text_is_past_retention
from transcriptions.sids import InvalidRecordingSid
from transcriptions.sync import (
    SyncAlreadyRunning,
    SyncTakenOver,
    pages,
    recording_transcriptions_sync,
    transcription_refresh,
    transcription_text_fetch,
    transcriptions_sync,
    writing,
)
from transcriptions.twilio_client import TwilioError, TwilioNotFound, get_client

OTHER_ACCOUNT_SID = "AC" + "9" * 32


def assert_cache_equals(store) -> None:
    """The cache holds exactly the store's items, every field equal (types converted)."""
    rows = {row.sid: row for row in Transcription.objects.filter(account_sid=ACCOUNT_SID)}
    items = store.all()
    assert set(rows) == {item.sid for item in items}
    for item in items:
        row = rows[item.sid]
        assert row.account_sid == item.account_sid
        assert row.recording_sid == item.recording_sid
        assert row.status == item.status
        assert row.transcription_text == item.transcription_text
        assert row.duration == item.duration
        assert isinstance(row.duration, int)
        assert row.price == (None if item.price is None else Decimal(item.price))
        assert row.price_unit == item.price_unit
        assert row.type == item.type
        assert row.api_version == item.api_version
        assert row.date_created == item.date_created
        assert row.date_updated == item.date_updated
        assert row.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/{item.sid}.json"


def running_run(*, heartbeat_age: timedelta = timedelta(0), started_by: str = "") -> SyncRun:
    now = timezone.now()
    return SyncRun.objects.create(
        account_sid=ACCOUNT_SID,
        state=SyncRun.State.RUNNING,
        started_by=started_by,
        started_at=now - heartbeat_age,
        heartbeat_at=now - heartbeat_age,
    )


# A complete pass


@pytest.mark.django_db
def test_sync_copies_every_item_with_its_fields(sandbox, sandbox_store, twilio_client, small_pages):
    sandbox_store.seed(count=95, seed=3)
    sandbox_store.add(status="in-progress", transcription_text=None, duration=0)
    seen: list[tuple[int, int]] = []

    run = transcriptions_sync(
        client=twilio_client, progress=lambda r: seen.append((r.pages, r.rows_seen))
    )

    assert_cache_equals(sandbox_store)
    assert Transcription.objects.count() == 96
    assert Transcription.objects.filter(price__isnull=True).exists()  # the in-progress one
    run.refresh_from_db()
    assert run.state == SyncRun.State.SUCCEEDED
    assert run.kind == SyncRun.Kind.FULL
    assert (run.pages, run.rows_seen, run.created, run.updated, run.removed) == (10, 96, 96, 0, 0)
    assert run.finished_at is not None and run.error_message == ""
    assert seen == [(n, min(n * 10, 96)) for n in range(1, 11)]
    synced = Transcription.objects.values_list("synced_at", flat=True)
    assert all(run.started_at <= at <= run.finished_at for at in synced)


ODD_TEXTS = [
    "tab\there, newline\nthere, CR\r\nend",
    "back\\slash, \\N, \\., \\t literally",
    "\\.",
    "quotes ' and \" and `",
    "",
    "   ",
    "naïve café — “quoted” 😀 ΣΊΣΥΦΟΣ",
    "x" * 5000,
]


@pytest.mark.django_db
def test_texts_with_escapes_and_other_scripts_arrive_unchanged(
    sandbox, sandbox_store, twilio_client
):
    """The page's way into the database (COPY text on PostgreSQL, parameters on SQLite) keeps
    every character, and the search finds the words of each."""
    from transcriptions import table
    from transcriptions.table import TableFilters

    items = [sandbox_store.add(transcription_text=text) for text in ODD_TEXTS]
    transcriptions_sync(client=twilio_client)
    assert_cache_equals(sandbox_store)
    texts = dict(Transcription.objects.values_list("sid", "transcription_text"))
    assert [texts[item.sid] for item in items] == ODD_TEXTS

    def found(search: str) -> set[str]:
        return set(
            table.transcription_list(filters=TableFilters(search=search)).values_list(
                "sid", flat=True
            )
        )

    assert found("newline there") == {items[0].sid}
    assert found("slash literally") == {items[1].sid}
    assert found("café quoted") == {items[6].sid}


@pytest.fixture
def sqlite_upserts(monkeypatch) -> list[str]:
    """The page upserts run on SQLite: they run on the driver's cursor, out of Django's
    sight, each taking its statement from `_sqlite_upsert_sql`."""
    statements: list[str] = []
    upsert_sql = pages._sqlite_upsert_sql

    def counted(rows: int) -> str:
        statements.append(upsert_sql(rows))
        return statements[-1]

    monkeypatch.setattr(pages, "_sqlite_upsert_sql", counted)
    return statements


@pytest.mark.django_db
def test_each_page_is_one_upsert_statement(sandbox, sandbox_store, twilio_client, sqlite_upserts):
    """At the real page size (1,000), also on SQLite whose variable limit Django 5.2
    underestimates: the queries per page stay constant, one INSERT each."""
    sandbox_store.seed(count=2500, seed=1)

    with CaptureQueriesContext(connection) as queries:
        run = transcriptions_sync(client=twilio_client)

    assert run.pages == 3
    upsert = 'INSERT INTO "transcriptions_transcription"'
    inserts = [q["sql"] for q in queries if q["sql"].startswith(upsert)]
    inserts += sqlite_upserts
    assert len(inserts) == 3
    assert all("ON CONFLICT" in sql for sql in inserts)
    # Start (and SQLite's settings), then per page: count, upsert (on PostgreSQL with its
    # page table made if missing and emptied after) in a savepoint of its own, heartbeat
    # (plus savepoints), then the prune and the planner statistics.
    assert len(queries) <= 16 + 9 * run.pages
    assert Transcription.objects.count() == 2500


@pytest.mark.skipif(connection.vendor != "sqlite", reason="a limit of SQLite builds before 3.32")
@pytest.mark.django_db
def test_upsert_fits_an_old_sqlite_variable_limit(
    sandbox, sandbox_store, twilio_client, sqlite_upserts
):
    sandbox_store.seed(count=150, seed=2)
    connection.ensure_connection()
    raw = connection.connection
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    try:
        run = transcriptions_sync(client=twilio_client)
    finally:
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)

    # As many rows a statement as fit under 999 variables (one is the deleted action).
    per_statement = 998 // len(pages.UPSERT_COLUMNS)
    rows = [sql.count("(?, ") for sql in sqlite_upserts]
    assert rows == [per_statement, per_statement, 150 - 2 * per_statement]
    assert (run.pages, run.created) == (1, 150)
    assert_cache_equals(sandbox_store)


@pytest.mark.django_db
def test_resync_applies_exactly_what_changed(
    sandbox, sandbox_store, twilio_client, small_pages, make_transcription
):
    sandbox_store.seed(count=60, seed=5)
    other_account_row = make_transcription(account_sid=OTHER_ACCOUNT_SID)
    transcriptions_sync(client=twilio_client)
    items = sandbox_store.all()
    changed = items[3]
    sandbox_store.update(
        changed.sid, status="failed", transcription_text="Changed text.", price="0.00000"
    )
    sandbox_store.update(items[40].sid, transcription_text=None, duration=77)
    deleted = [items[0].sid, items[10].sid, items[25].sid, items[59].sid]
    for sid in deleted:
        sandbox_store.delete(sid)
    added = [
        sandbox_store.add(transcription_text="A new call.", duration=5),
        sandbox_store.add(
            status="in-progress", date_created=datetime.now(UTC) - timedelta(days=400)
        ),
    ]
    untouched_before = {
        row.sid: row.synced_at for row in Transcription.objects.filter(sid__in=[items[1].sid])
    }

    run = transcriptions_sync(client=twilio_client)

    assert (run.rows_seen, run.created, run.updated, run.removed) == (58, 2, 56, 4)
    assert_cache_equals(sandbox_store)
    assert not Transcription.objects.filter(sid__in=deleted).exists()
    assert Transcription.objects.filter(sid__in=[item.sid for item in added]).count() == 2
    row = Transcription.objects.get(sid=changed.sid)
    assert (row.status, row.transcription_text, row.price) == (
        "failed",
        "Changed text.",
        Decimal("0"),
    )
    # Another account's rows are not this sync's to remove.
    assert Transcription.objects.filter(pk=other_account_row.pk).exists()
    assert Transcription.objects.get(sid=items[1].sid).synced_at > untouched_before[items[1].sid]


# Broken passes keep every row


@pytest.mark.django_db
def test_sync_broken_half_way_removes_nothing_and_can_run_again(
    sandbox, sandbox_store, twilio_client, small_pages
):
    sandbox_store.seed(count=80, seed=7)
    transcriptions_sync(client=twilio_client)
    gone = [item.sid for item in sandbox_store.all()[:5]]
    for sid in gone:
        sandbox_store.delete(sid)
    sandbox_store.add(transcription_text="Arrived after the first sync.")

    def cut_the_line(run: SyncRun) -> None:
        if run.pages == 2:
            sandbox.faults.drop_rate = 1.0

    with pytest.raises(TwilioError) as raised:
        transcriptions_sync(client=twilio_client, progress=cut_the_line)

    failed = SyncRun.objects.latest()
    assert failed.state == SyncRun.State.FAILED
    # Pages fetched ahead before the line was cut are still written; then the pass stops.
    # (at most three ahead: one waiting to be written, one detected, one being read).
    assert 2 <= failed.pages <= 5 and failed.removed == 0
    # The record (shown on the table's status bar) in plain words; the host and the tries in
    # the exception, for the command and the log.
    assert failed.error_message.startswith("Twilio could not be reached just now. Try again")
    assert "127.0.0.1" not in failed.error_message and "tries" not in failed.error_message
    assert "127.0.0.1" in str(raised.value) and "gave up after" in str(raised.value)
    assert AUTH_TOKEN not in failed.error_message
    # Every cached row is still there, the ones Twilio deleted included.
    assert Transcription.objects.count() == 81
    assert Transcription.objects.filter(sid__in=gone).count() == 5
    assert not SyncRun.objects.filter(state=SyncRun.State.RUNNING).exists()

    sandbox.faults.drop_rate = 0.0
    run = transcriptions_sync(client=twilio_client)

    assert run.state == SyncRun.State.SUCCEEDED
    assert run.removed == 5
    assert_cache_equals(sandbox_store)


@pytest.mark.django_db
def test_pages_committed_together_are_kept_when_fetching_the_next_fails(
    sandbox, sandbox_store, twilio_client, small_pages, monkeypatch
):
    """Pages ready one after another are written in one transaction; when fetching the next
    fails, the pages of that transaction are committed all the same, and the error raised."""
    monkeypatch.setattr(writing, "COMMIT_EVERY_SECONDS", 60)
    monkeypatch.setattr(writing.ReadAhead, "ready", lambda self: True)
    sandbox_store.seed(count=50, seed=9)
    read_pages = twilio_client.iter_transcription_pages

    def three_pages_then_the_line_is_cut(page_size: int):
        for number, page in enumerate(read_pages(page_size=page_size), start=1):
            yield page
            if number == 3:
                sandbox.faults.drop_rate = 1.0

    commits: list[int] = []

    with monkeypatch.context() as patched, pytest.raises(TwilioError):
        patched.setattr(twilio_client, "iter_transcription_pages", three_pages_then_the_line_is_cut)
        transcriptions_sync(client=twilio_client, progress=lambda run: commits.append(run.pages))

    assert commits == []  # the three pages were one transaction, never committed before
    run = SyncRun.objects.get()
    assert (run.state, run.pages, run.created) == (SyncRun.State.FAILED, 3, 30)
    assert Transcription.objects.count() == 30
    sandbox.faults.drop_rate = 0.0
    transcriptions_sync(client=twilio_client)
    assert_cache_equals(sandbox_store)


@pytest.mark.django_db
def test_sync_against_an_always_failing_twilio_records_the_reason(
    sandbox, sandbox_store, twilio_client, make_transcription
):
    cached = make_transcription()
    sandbox_store.seed(count=5, seed=1)
    sandbox.faults.error_rate = 1.0

    with pytest.raises(TwilioError):
        transcriptions_sync(client=twilio_client)

    run = SyncRun.objects.get()
    assert run.state == SyncRun.State.FAILED
    assert "500" in run.error_message and "after 0 pages" in run.error_message
    assert list(Transcription.objects.all()) == [cached]


@pytest.mark.django_db
def test_stopped_sync_keeps_every_row(
    sandbox, sandbox_store, twilio_client, small_pages, make_transcription
):
    stale = make_transcription()  # not at Twilio: a complete pass would remove it
    sandbox_store.seed(count=30, seed=2)

    def stop(run: SyncRun) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        transcriptions_sync(client=twilio_client, progress=stop)

    run = SyncRun.objects.get()
    assert run.state == SyncRun.State.FAILED
    assert run.error_message == "Stopped before the pass was complete (after 1 page)."
    assert Transcription.objects.filter(pk=stale.pk).exists()
    assert Transcription.objects.count() == 11

    assert transcriptions_sync(client=twilio_client).removed == 1
    assert_cache_equals(sandbox_store)


# One sync at a time


@pytest.mark.django_db
def test_sync_is_refused_while_another_runs(sandbox, sandbox_store, twilio_client):
    sandbox_store.seed(count=5, seed=1)
    other = running_run(started_by="web, pid 4242")

    with pytest.raises(SyncAlreadyRunning) as raised:
        transcriptions_sync(client=twilio_client)

    since = timezone.localtime(other.started_at).strftime("%H:%M")
    assert str(raised.value) == (
        f"A sync is already running since {since} (started by web, pid 4242); "
        "wait for it to finish, then run this one again."
    )
    assert not Transcription.objects.exists()
    assert list(SyncRun.objects.all()) == [other]
    assert not [p for _, p in sandbox.request_log if "Transcriptions" in p]


@pytest.mark.django_db
def test_second_sync_started_during_a_sync_is_refused(
    sandbox, sandbox_store, twilio_client, small_pages
):
    sandbox_store.seed(count=35, seed=4)
    refusals: list[SyncAlreadyRunning] = []

    def start_another(run: SyncRun) -> None:
        if run.pages == 2:
            with pytest.raises(SyncAlreadyRunning) as raised:
                transcriptions_sync(client=twilio_client)
            refusals.append(raised.value)
            with pytest.raises(SyncAlreadyRunning):
                recording_transcriptions_sync(
                    client=twilio_client, recording_sid=sandbox_store.all()[0].recording_sid
                )

    run = transcriptions_sync(client=twilio_client, progress=start_another)

    assert len(refusals) == 1
    assert run.state == SyncRun.State.SUCCEEDED
    assert SyncRun.objects.count() == 1
    assert_cache_equals(sandbox_store)


@pytest.mark.django_db(transaction=True)
def test_second_sync_on_another_connection_is_refused(sandbox, sandbox_store, small_pages):
    """The lock is the database's: a sync on another connection (another thread here, another
    process or machine in production) sees the running row and is refused."""
    sandbox_store.seed(count=35, seed=4)
    outcome: list[BaseException | SyncRun] = []

    def sync_elsewhere() -> None:
        try:
            with get_client() as client:
                outcome.append(transcriptions_sync(client=client))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)
        finally:
            connection.close()

    def start_another(run: SyncRun) -> None:
        if run.pages == 1:
            thread = threading.Thread(target=sync_elsewhere)
            thread.start()
            thread.join(timeout=60)

    with get_client() as client:
        run = transcriptions_sync(client=client, progress=start_another)

    assert len(outcome) == 1 and isinstance(outcome[0], SyncAlreadyRunning), outcome
    assert run.state == SyncRun.State.SUCCEEDED
    assert SyncRun.objects.count() == 1
    assert_cache_equals(sandbox_store)


@pytest.mark.django_db
def test_stale_running_sync_does_not_block(sandbox, sandbox_store, twilio_client, settings):
    settings.SYNC_STALE_AFTER_SECONDS = 120
    sandbox_store.seed(count=5, seed=1)
    dead = running_run(heartbeat_age=timedelta(minutes=3))

    run = transcriptions_sync(client=twilio_client)

    assert run.state == SyncRun.State.SUCCEEDED
    dead.refresh_from_db()
    assert dead.state == SyncRun.State.FAILED
    assert dead.error_message.startswith("The process running it stopped")
    assert dead.finished_at is not None
    assert Transcription.objects.count() == 5


@pytest.mark.django_db
def test_recent_heartbeat_still_blocks(sandbox, twilio_client, settings):
    settings.SYNC_STALE_AFTER_SECONDS = 120
    running_run(heartbeat_age=timedelta(seconds=100))

    with pytest.raises(SyncAlreadyRunning):
        transcriptions_sync(client=twilio_client)


@pytest.mark.django_db
def test_run_taken_over_stops_writing(
    sandbox, sandbox_store, twilio_client, small_pages, make_transcription
):
    """A run that another process took over (it looked dead) writes no further page and
    removes nothing, and keeps the reason its taker recorded."""
    stale = make_transcription()
    sandbox_store.seed(count=30, seed=8)

    def taken_over(run: SyncRun) -> None:
        SyncRun.objects.filter(pk=run.pk).update(
            state=SyncRun.State.FAILED, error_message="taken over"
        )

    with pytest.raises(SyncTakenOver):
        transcriptions_sync(client=twilio_client, progress=taken_over)

    assert Transcription.objects.count() == 11  # the stale row and the first page only
    assert Transcription.objects.filter(pk=stale.pk).exists()
    assert SyncRun.objects.get().error_message == "taken over"


# One recording


@pytest.mark.django_db
def test_recording_refresh(sandbox, sandbox_store, twilio_client, make_transcription):
    recording = "RE" + "a" * 32
    other_recording = "RE" + "b" * 32
    on_recording = [
        sandbox_store.add(recording_sid=recording, transcription_text=f"Part {n}.")
        for n in range(3)
    ]
    elsewhere = sandbox_store.add(recording_sid=other_recording, transcription_text="Other.")
    transcriptions_sync(client=twilio_client)
    sandbox_store.delete(on_recording[0].sid)
    sandbox_store.update(on_recording[1].sid, transcription_text="Corrected.")
    sandbox_store.add(recording_sid=recording, transcription_text="Part 3.")
    sandbox_store.delete(elsewhere.sid)

    run = recording_transcriptions_sync(client=twilio_client, recording_sid=recording)

    assert run.state == SyncRun.State.SUCCEEDED
    assert (run.kind, run.recording_sid) == (SyncRun.Kind.RECORDING, recording)
    assert (run.rows_seen, run.created, run.updated, run.removed) == (3, 1, 2, 1)
    cached = Transcription.objects.filter(recording_sid=recording)
    assert {row.sid for row in cached} == {
        item.sid for item in sandbox_store.for_recording(recording)
    }
    assert cached.get(sid=on_recording[1].sid).transcription_text == "Corrected."
    # Only that recording is refreshed: the other recording's row waits for a full sync.
    assert Transcription.objects.filter(sid=elsewhere.sid).exists()
    assert sandbox.request_log[-1][1].startswith(
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording}/Transcriptions.json"
    )


@pytest.mark.django_db
def test_recording_twilio_does_not_know_loses_its_rows(sandbox, twilio_client, make_transcription):
    recording = "RE" + "c" * 32
    make_transcription(recording_sid=recording)
    make_transcription(recording_sid=recording)
    kept = make_transcription()

    run = recording_transcriptions_sync(client=twilio_client, recording_sid=recording)

    assert (run.pages, run.rows_seen, run.removed) == (1, 0, 2)
    assert list(Transcription.objects.all()) == [kept]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad", ["", "RE123", "TR" + "a" * 32, "RE" + "g" * 32, "RE" + "a" * 32 + "/x"]
)
def test_recording_refresh_rejects_a_malformed_sid(bad, sandbox, twilio_client):
    with pytest.raises(InvalidRecordingSid, match="is not a recording SID: expected RE followed"):
        recording_transcriptions_sync(client=twilio_client, recording_sid=bad)
    assert not SyncRun.objects.exists()
    assert sandbox.request_log == []


# One transcription: refresh and text


@pytest.mark.django_db
def test_refresh_updates_the_row_from_twilio(sandbox, sandbox_store, twilio_client):
    item = sandbox_store.add(status="in-progress", transcription_text=None, duration=0)
    transcriptions_sync(client=twilio_client)
    sandbox_store.update(
        item.sid, status="completed", transcription_text="Done.", duration=42, price="-0.05000"
    )
    row = Transcription.objects.get(sid=item.sid)

    refreshed = transcription_refresh(transcription=row, client=twilio_client)

    assert refreshed is row
    assert (row.status, row.transcription_text, row.duration) == ("completed", "Done.", 42)
    assert_cache_equals(sandbox_store)


@pytest.mark.django_db
def test_refresh_of_a_transcription_twilio_deleted_raises_and_keeps_the_row(
    sandbox, sandbox_store, twilio_client
):
    item = sandbox_store.add(transcription_text="Soon gone.")
    transcriptions_sync(client=twilio_client)
    sandbox_store.delete(item.sid)
    row = Transcription.objects.get(sid=item.sid)

    with pytest.raises(TwilioNotFound):
        transcription_refresh(transcription=row, client=twilio_client)
    assert Transcription.objects.get(sid=item.sid).transcription_text == "Soon gone."


@pytest.mark.django_db
def test_text_fetch_fills_missing_text_once(sandbox, sandbox_store, twilio_client):
    item = sandbox_store.add(transcription_text="Hello <b>there</b>.")
    transcriptions_sync(client=twilio_client)
    Transcription.objects.filter(sid=item.sid).update(transcription_text=None)
    row = Transcription.objects.get(sid=item.sid)
    requests_before = len(sandbox.request_log)

    assert (
        transcription_text_fetch(transcription=row, client=twilio_client) == "Hello <b>there</b>."
    )
    assert Transcription.objects.get(sid=item.sid).transcription_text == "Hello <b>there</b>."
    assert len(sandbox.request_log) == requests_before + 1
    # Cached now: no second request.
    assert (
        transcription_text_fetch(transcription=row, client=twilio_client) == "Hello <b>there</b>."
    )
    assert len(sandbox.request_log) == requests_before + 1


@pytest.mark.django_db
def test_text_fetch_when_twilio_has_no_text(sandbox, sandbox_store, twilio_client):
    item = sandbox_store.add(status="in-progress", transcription_text=None)
    transcriptions_sync(client=twilio_client)
    row = Transcription.objects.get(sid=item.sid)

    assert transcription_text_fetch(transcription=row, client=twilio_client) is None


# Retention


@pytest.mark.django_db
def test_sync_keeps_no_text_past_retention(sandbox, sandbox_store, twilio_client, settings):
    settings.TRANSCRIPT_TEXT_RETENTION_DAYS = 30
    now = datetime.now(UTC)
    recent = sandbox_store.add(
        transcription_text="Recent call.", date_created=now - timedelta(days=29)
    )
    old = sandbox_store.add(transcription_text="Old call.", date_created=now - timedelta(days=31))

    transcriptions_sync(client=twilio_client)

    assert Transcription.objects.get(sid=recent.sid).transcription_text == "Recent call."
    old_row = Transcription.objects.get(sid=old.sid)
    assert old_row.transcription_text is None
    assert old_row.status == old.status and old_row.date_created == old.date_created
    assert text_is_past_retention(old_row)
    assert not text_is_past_retention(Transcription.objects.get(sid=recent.sid))
    settings.TRANSCRIPT_TEXT_RETENTION_DAYS = None
    assert not text_is_past_retention(old_row)


@pytest.mark.django_db
def test_text_fetch_past_retention_fetches_nothing_and_clears(
    sandbox, twilio_client, settings, make_transcription
):
    settings.TRANSCRIPT_TEXT_RETENTION_DAYS = 30
    old = make_transcription(date_created=timezone.now() - timedelta(days=40))
    missing = make_transcription(
        date_created=timezone.now() - timedelta(days=40), transcription_text=None
    )

    assert transcription_text_fetch(transcription=old, client=twilio_client) is None
    assert transcription_text_fetch(transcription=missing, client=twilio_client) is None

    assert Transcription.objects.get(pk=old.pk).transcription_text is None
    assert sandbox.request_log == []


@pytest.mark.django_db
def test_purge_clears_only_text_past_retention(settings, make_transcription):
    now = timezone.now()
    old = make_transcription(date_created=now - timedelta(days=31))
    recent = make_transcription(date_created=now - timedelta(days=29))
    settings.TRANSCRIPT_TEXT_RETENTION_DAYS = None
    assert purge_transcript_text() == 0
    assert Transcription.objects.filter(transcription_text__isnull=False).count() == 2

    settings.TRANSCRIPT_TEXT_RETENTION_DAYS = 30
    assert purge_transcript_text(now=now) == 1
    assert purge_transcript_text(now=now) == 0

    assert Transcription.objects.get(pk=old.pk).transcription_text is None
    assert Transcription.objects.get(pk=recent.pk).transcription_text == recent.transcription_text
    assert purge_transcript_text(now=now + timedelta(days=2)) == 1


def test_a_page_read_before_a_delete_does_not_bring_the_row_back(
    twilio_client, sandbox_store, deleter
):
    from transcriptions.deletion import transcription_delete

    sandbox_store.seed(count=25, seed=11)
    transcriptions_sync(client=twilio_client)
    victim = sandbox_store.all()[14]
    transcription_delete(
        transcription=Transcription.objects.get(sid=victim.sid), client=twilio_client, actor=deleter
    )
    assert sandbox_store.get(victim.sid) is None

    # A listing read just before the delete still holds the row: put it back upstream, as
    # such a page would show it, and sync. The cache must not take it back.
    sandbox_store.add(
        sid=victim.sid,
        recording_sid=victim.recording_sid,
        transcription_text=victim.transcription_text,
        date_created=victim.date_created,
    )
    run = transcriptions_sync(client=twilio_client)
    assert not Transcription.objects.filter(sid=victim.sid).exists()
    assert Transcription.objects.count() == 24
    assert run.rows_seen == 24
