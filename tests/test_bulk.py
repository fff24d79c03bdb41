"""Bulk deletion: the confirmation, the record, the background job run by the real db_worker
against the sandbox (faults included), cancel, retry, resume after a worker died, roles."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from tests.conftest import ACCOUNT_SID, HTMX
from transcriptions import bulk_deletion, tasks
from transcriptions.models import AuditEvent, BulkDeletion, BulkDeletionItem, Transcription
from transcriptions.twilio_client import TwilioClient, get_client

pytestmark = pytest.mark.django_db

CONFIRM_URL = reverse("transcriptions:bulk-confirm")
DELETE_PATH_RE = re.compile(r"/Transcriptions/(TR[0-9a-f]{32})\.json$")


def record_and_queue(**kwargs) -> BulkDeletion:
    """A bulk deletion recorded and queued, as the confirmation page and the retention command
    do it."""
    bulk = bulk_deletion.bulk_deletion_start(**kwargs)
    tasks.bulk_deletion_enqueue(bulk)
    return bulk


@pytest.fixture
def cached_rows(twilio, make_transcription):
    """`cached_rows(n, **fields)`: n items at Twilio, each with its matching cached row."""

    def make(n: int, **fields) -> list[Transcription]:
        rows = []
        for _ in range(n):
            item = twilio.store.add(**fields)
            rows.append(
                make_transcription(
                    sid=item.sid,
                    recording_sid=item.recording_sid,
                    status=item.status,
                    transcription_text=item.transcription_text,
                )
            )
        return rows

    return make


def run_worker(*, keep_test_connection: bool = True) -> None:
    """The real worker: run what is queued, then exit.

    Between tasks the worker drops database connections left in a transaction, which is
    where every test but a transactional one runs; `keep_test_connection` lets this test's
    connection through. The worker's own code is unchanged."""
    args = ("db_worker", "--batch", "--no-startup-delay")
    if not keep_test_connection:
        call_command(*args, verbosity=0, stdout=StringIO())
        return
    with mock.patch.object(db_worker, "close_old_connections", lambda: None):
        call_command(*args, verbosity=0, stdout=StringIO())


def deletes_sent(server, since: int = 0) -> Counter:
    """How many DELETEs the sandbox received per SID (whatever it answered)."""
    return Counter(
        match.group(1)
        for method, path in server.request_log[since:]
        if method == "DELETE" and (match := DELETE_PATH_RE.search(path))
    )


def start(client, *, sids=(), reason="Customer asked for erasure", **extra) -> BulkDeletion:
    response = client.post(CONFIRM_URL, {"sid": list(sids), "reason": reason, **extra})
    assert response.status_code == 302, response.content.decode()[:2000]
    bulk = BulkDeletion.objects.get()
    assert response["Location"] == bulk.get_absolute_url()
    return bulk


@pytest.fixture
def role_groups(transactional_db):
    """A transactional test's flush removes the role groups the migration made; put them
    back so the user fixtures find them."""
    from django.contrib.auth.models import Group, Permission

    from transcriptions.roles import sync_role_groups

    sync_role_groups(Group, Permission)


# The confirmation


def test_confirmation_shows_count_sample_and_account_and_deletes_nothing(
    client, deleter, cached_rows, twilio
):
    rows = cached_rows(3)
    client.force_login(deleter)

    response = client.get(CONFIRM_URL, {"sid": [r.sid for r in rows]}, **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "Delete 3 transcriptions?" in body
    assert ACCOUNT_SID in body
    for row in rows:
        assert f'data-sample-sid="{row.sid}"' in body
    assert 'name="reason"' in body
    assert 'name="confirm_count"' not in body
    assert not BulkDeletion.objects.exists()
    assert len(twilio.store) == 3
    assert not deletes_sent(twilio)


def test_confirmation_without_javascript_is_a_full_page(client, deleter, cached_rows):
    rows = cached_rows(2)
    client.force_login(deleter)

    response = client.get(CONFIRM_URL, {"sid": [r.sid for r in rows]})

    assert response.status_code == 200
    assert "<html" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_malformed_and_unknown_sids_are_left_out_not_an_error(client, deleter, cached_rows):
    rows = cached_rows(1)
    client.force_login(deleter)

    response = client.get(
        CONFIRM_URL, {"sid": [rows[0].sid, "TR" + "0" * 32, "not-a-sid", "<script>"]}
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "Delete 1 transcription?" in body
    assert "3 selected rows are no longer in the list" in body
    assert "<script>" not in body


def test_a_reason_is_required(client, deleter, cached_rows, twilio):
    rows = cached_rows(2)
    client.force_login(deleter)

    response = client.post(CONFIRM_URL, {"sid": [r.sid for r in rows], "reason": "   "})

    assert response.status_code == 400
    assert "Give a reason" in response.content.decode()
    assert not BulkDeletion.objects.exists()


def test_without_twilio_settings_nothing_is_recorded_and_every_problem_is_listed(
    client, deleter, make_transcription
):
    rows = [make_transcription(), make_transcription()]
    client.force_login(deleter)

    response = client.post(CONFIRM_URL, {"sid": [r.sid for r in rows], "reason": ""})

    body = response.content.decode()
    assert response.status_code == 400
    assert "Twilio is not configured: TWILIO_ACCOUNT_SID is not set. Nothing deleted." in body
    assert "Give a reason" in body
    assert not BulkDeletion.objects.exists()


def test_an_error_over_htmx_is_answered_200_into_the_dialog(client, deleter, cached_rows):
    rows = cached_rows(2)
    client.force_login(deleter)

    response = client.post(CONFIRM_URL, {"sid": [r.sid for r in rows], "reason": ""}, **HTMX)

    assert response.status_code == 200
    assert "data-bulk-errors" in response.content.decode()
    assert not BulkDeletion.objects.exists()


def test_more_than_100_items_need_the_typed_count(client, deleter, cached_rows, twilio):
    cached_rows(101, status="failed")
    cached_rows(2, status="completed")
    client.force_login(deleter)
    target = {"all": "1", "status": "failed", "reason": "Purge failed transcriptions"}

    page = client.get(CONFIRM_URL, {"all": "1", "status": "failed"})
    assert 'name="confirm_count"' in page.content.decode()
    assert "Type <strong>101</strong>" in page.content.decode()

    missing = client.post(CONFIRM_URL, target)
    wrong = client.post(CONFIRM_URL, {**target, "confirm_count": "100"})

    assert missing.status_code == wrong.status_code == 400
    assert "Type the number of transcriptions to delete (101)" in wrong.content.decode()
    assert not BulkDeletion.objects.exists()

    bulk = start(client, **target, confirm_count="101")
    assert bulk.total_count == 101


def test_100_items_need_no_typed_count(client, deleter, cached_rows, twilio):
    rows = cached_rows(100)
    client.force_login(deleter)

    bulk = start(client, sids=[r.sid for r in rows])

    assert bulk.items.count() == 100


def test_nothing_is_started_when_twilio_is_not_configured(client, deleter, make_transcription):
    row = make_transcription()
    client.force_login(deleter)

    response = client.post(CONFIRM_URL, {"sid": [row.sid], "reason": "x"})

    assert response.status_code == 400
    assert "TWILIO_ACCOUNT_SID is not set" in response.content.decode()
    assert not BulkDeletion.objects.exists()


# Running it


def test_bulk_delete_of_a_selection_deletes_exactly_those(client, deleter, cached_rows, twilio):
    rows = cached_rows(12)
    chosen, kept = rows[:7], rows[7:]
    client.force_login(deleter)

    bulk = start(client, sids=[r.sid for r in chosen], reason="Customer asked for erasure")
    assert bulk.state == BulkDeletion.State.QUEUED
    assert bulk.created_by == deleter
    assert bulk.account_sid == ACCOUNT_SID
    assert sorted(bulk.items.values_list("sid", flat=True)) == sorted(r.sid for r in chosen)
    assert not deletes_sent(twilio)  # nothing happens in the request

    run_worker()

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED
    assert (bulk.total_count, bulk.deleted_count, bulk.failed_count) == (7, 7, 0)
    assert bulk.finished_at is not None
    assert {item.sid for item in twilio.store.all()} == {r.sid for r in kept}
    assert set(Transcription.objects.values_list("sid", flat=True)) == {r.sid for r in kept}
    assert deletes_sent(twilio) == Counter({r.sid: 1 for r in chosen})
    events = AuditEvent.objects.filter(action=AuditEvent.Action.DELETED)
    assert {e.transcription_sid for e in events} == {r.sid for r in chosen}
    for event in events:
        assert event.user == deleter
        assert f"bulk deletion #{bulk.pk}" in event.outcome
        assert "Customer asked for erasure" in event.outcome
    assert set(bulk.items.values_list("state", flat=True)) == {BulkDeletionItem.State.DELETED}


def test_bulk_delete_of_all_matching_freezes_the_sids_when_created(
    client, deleter, cached_rows, twilio
):
    failed = cached_rows(5, status="failed", transcription_text="refund please")
    cached_rows(2, status="failed", transcription_text="something else")
    others = cached_rows(4, status="completed", transcription_text="refund please")
    client.force_login(deleter)

    bulk = start(client, all="1", status="failed", q="refund", reason="Old failures")
    # A row that matches the filter after the bulk deletion was created is not part of it.
    late = cached_rows(1, status="failed", transcription_text="refund please")[0]

    assert bulk.filter_params == {"q": ["refund"], "status": ["failed"]}
    assert set(bulk.items.values_list("sid", flat=True)) == {r.sid for r in failed}
    run_worker()

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED
    remaining = {item.sid for item in twilio.store.all()}
    assert remaining.isdisjoint({r.sid for r in failed})
    assert {r.sid for r in others} | {late.sid} <= remaining
    assert len(remaining) == 2 + 4 + 1
    assert set(Transcription.objects.values_list("sid", flat=True)) == remaining


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_bulk_deletion_committed_by_the_web_request(
    role_groups, client, deleter, cached_rows, twilio
):
    rows = cached_rows(5)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows[:3]])

    run_worker(keep_test_connection=False)

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED
    assert {item.sid for item in twilio.store.all()} == {r.sid for r in rows[3:]}
    assert set(Transcription.objects.values_list("sid", flat=True)) == {r.sid for r in rows[3:]}


def test_bulk_delete_start_over_htmx_redirects_the_page_to_the_progress(
    client, deleter, cached_rows
):
    rows = cached_rows(2)
    client.force_login(deleter)

    response = client.post(CONFIRM_URL, {"sid": [r.sid for r in rows], "reason": "x"}, **HTMX)

    bulk = BulkDeletion.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == bulk.get_absolute_url()


def test_already_gone_at_twilio_counts_as_done(client, deleter, cached_rows, twilio):
    rows = cached_rows(3)
    twilio.store.delete(rows[0].sid)
    client.force_login(deleter)

    bulk = start(client, sids=[r.sid for r in rows])
    run_worker()

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED
    assert (bulk.deleted_count, bulk.already_gone_count) == (2, 1)
    assert not Transcription.objects.exists()
    assert bulk.items.get(sid=rows[0].sid).state == BulkDeletionItem.State.ALREADY_GONE


def test_progress_partial_polls_while_running_and_stops_when_finished(client, deleter, cached_rows):
    rows = cached_rows(3)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    url = bulk.get_absolute_url()

    waiting = client.get(url, **HTMX)
    body = waiting.content.decode()
    assert body.lstrip().startswith('<section id="bulk-progress"')
    assert 'hx-trigger="every 1s"' in body
    assert "Waiting for a worker" in body

    run_worker()
    done = client.get(url, **HTMX)
    body = done.content.decode()
    assert 'hx-trigger="every 1s"' not in body
    assert 'data-bulk-state="completed"' in body
    assert 'max="3" value="3"' in body
    assert "transcriptions-changed" in done["HX-Trigger"]

    page = client.get(url)
    assert "<html" in page.content.decode()
    assert "Customer asked for erasure" in page.content.decode()


def test_list_page_shows_bulk_deletions_with_their_state(client, deleter, cached_rows):
    rows = cached_rows(2)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows], reason="Tidy <up>")
    run_worker()

    response = client.get(reverse("transcriptions:bulk-list"))

    body = response.content.decode()
    assert response.status_code == 200
    assert f'data-bulk-id="{bulk.pk}"' in body
    assert "Completed" in body
    assert "Tidy &lt;up&gt;" in body


def test_table_offers_selection_to_deleters_only(client, deleter, viewer, cached_rows):
    row = cached_rows(1)[0]

    client.force_login(deleter)
    body = client.get(reverse("transcriptions:list")).content.decode()
    assert f'name="sid" value="{row.sid}" form="bulk-form"' in body
    assert 'data-action="bulk-delete-all"' in body

    client.force_login(viewer)
    body = client.get(reverse("transcriptions:list")).content.decode()
    assert "data-bulk-select" not in body
    assert "bulk-form" not in body


# Faults at Twilio


def test_a_429_storm_slows_the_job_but_everything_ends_deleted_once(
    client, deleter, cached_rows, twilio, settings
):
    # Honour the sandbox's Retry-After: 1, as the default backoff cap does.
    settings.TWILIO_BACKOFF_CAP_SECONDS = 1.0
    settings.TWILIO_MAX_ATTEMPTS = 5
    rows = cached_rows(30)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    twilio.faults.rate_limit = 10

    run_worker()

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED
    assert bulk.deleted_count == 30
    assert len(twilio.store) == 0
    assert not Transcription.objects.exists()
    # Every SID was answered 204 once: a retried DELETE after a 429 never found it gone.
    assert bulk.already_gone_count == 0


def test_a_500_storm_is_retried_until_everything_is_deleted(
    client, deleter, cached_rows, twilio, settings
):
    # 4 tries a round, 3 rounds: an item fails only after 12 answers of 500 in a row (at 30 %,
    # once in two million items; with the fixture's 2 tries, once in 1,400).
    settings.TWILIO_MAX_ATTEMPTS = 4
    rows = cached_rows(40)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    twilio.faults.error_rate = 0.3

    run_worker()

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED
    assert (bulk.deleted_count, bulk.failed_count) == (40, 0)
    assert len(twilio.store) == 0
    assert not Transcription.objects.exists()
    assert max(deletes_sent(twilio).values()) > 1  # the storm did hit


def test_when_twilio_keeps_failing_items_end_failed_and_rows_are_kept(
    client, deleter, cached_rows, twilio, settings
):
    settings.TWILIO_MAX_ATTEMPTS = 2
    rows = cached_rows(5)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    twilio.faults.error_rate = 1.0

    run_worker()

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED_WITH_FAILURES
    assert (bulk.deleted_count, bulk.failed_count) == (0, 5)
    assert len(twilio.store) == 5
    assert Transcription.objects.count() == 5
    item = bulk.items.first()
    assert item.state == BulkDeletionItem.State.FAILED
    assert "status 500" in item.error
    failures = AuditEvent.objects.filter(action=AuditEvent.Action.DELETE_FAILED)
    assert failures.count() == 5
    assert all(f"bulk deletion #{bulk.pk}" in e.outcome for e in failures)
    page = client.get(bulk.get_absolute_url()).content.decode()
    assert 'data-action="bulk-retry"' in page
    assert "status 500" in page


def test_retry_runs_again_over_just_the_failed_items(
    client, deleter, cached_rows, twilio, settings
):
    settings.TWILIO_MAX_ATTEMPTS = 1
    rows = cached_rows(6)
    client.force_login(deleter)
    first = start(client, sids=[r.sid for r in rows])
    calls = []

    def client_failing_after_three() -> TwilioClient:
        twilio_client = get_client()
        send = twilio_client.delete_transcription

        def delete(sid: str) -> None:
            calls.append(sid)
            if len(calls) == 4:  # Twilio starts failing after three deletes
                twilio.faults.error_rate = 1.0
            send(sid)

        twilio_client.delete_transcription = delete
        return twilio_client

    bulk_deletion.bulk_deletion_run(
        bulk_deletion_id=first.pk, client_factory=client_failing_after_three, concurrency=1
    )
    first.refresh_from_db()
    assert first.state == BulkDeletion.State.COMPLETED_WITH_FAILURES
    assert (first.deleted_count, first.failed_count) == (3, 3)
    twilio.faults.error_rate = 0.0
    log_start = len(twilio.request_log)

    response = client.post(reverse("transcriptions:bulk-retry", args=[first.pk]))

    retry = BulkDeletion.objects.exclude(pk=first.pk).get()
    assert response.status_code == 302
    assert response["Location"] == retry.get_absolute_url()
    assert retry.retry_of == first
    assert retry.reason.startswith(f"Retry of #{first.pk}: ")
    assert sorted(retry.items.values_list("sid", flat=True)) == sorted(r.sid for r in rows[3:])
    run_worker()
    retry.refresh_from_db()
    assert retry.state == BulkDeletion.State.COMPLETED
    assert deletes_sent(twilio, since=log_start) == Counter({r.sid: 1 for r in rows[3:]})
    assert len(twilio.store) == 0


def test_retry_of_a_deletion_without_failures_is_refused(client, deleter, cached_rows):
    rows = cached_rows(2)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    run_worker()

    response = client.post(reverse("transcriptions:bulk-retry", args=[bulk.pk]), **HTMX)

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#messages"
    assert BulkDeletion.objects.count() == 1


# Cancel


def test_cancelling_a_queued_deletion_deletes_nothing(client, deleter, cached_rows, twilio):
    rows = cached_rows(4)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])

    response = client.post(reverse("transcriptions:bulk-cancel", args=[bulk.pk]))
    run_worker()

    assert response.status_code == 302
    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.CANCELLED
    assert len(twilio.store) == 4
    assert Transcription.objects.count() == 4
    assert not deletes_sent(twilio)


def test_cancelling_a_running_deletion_asks_its_worker_to_stop(client, deleter, cached_rows):
    rows = cached_rows(2)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    BulkDeletion.objects.filter(pk=bulk.pk).update(state="running", heartbeat_at=timezone.now())

    response = client.post(reverse("transcriptions:bulk-cancel", args=[bulk.pk]), **HTMX)

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.CANCELLING
    assert 'data-bulk-state="cancelling"' in response.content.decode()
    assert 'hx-trigger="every 1s"' in response.content.decode()


def test_cancelling_a_deletion_whose_worker_died_cancels_it_at_once(client, deleter, cached_rows):
    rows = cached_rows(2)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    BulkDeletion.objects.filter(pk=bulk.pk).update(
        state="running", heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    bulk_deletion.bulk_deletion_cancel(bulk_deletion=bulk)

    assert bulk.state == BulkDeletion.State.CANCELLED
    assert Transcription.objects.count() == 2


def _in_thread_on_this_connection(function) -> threading.Thread:
    """Run `function` in a thread that shares this test's database connection (and so its
    transaction), as Django's live server does for an in-memory database."""
    connection = connections["default"]
    connection.inc_thread_sharing()

    def target() -> None:
        connections["default"] = connection
        function()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_cancel_while_running_lets_in_flight_deletes_finish_and_keeps_the_rest(
    client, deleter, cached_rows, twilio
):
    rows = cached_rows(30)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    twilio.faults.latency_ms = 100

    def cancel_after_a_few() -> None:
        deadline = time.monotonic() + 20
        while sum(deletes_sent(twilio).values()) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        # What bulk_deletion_cancel does to a running job, as one statement: on a connection
        # shared with the job's thread, a transaction of its own would interleave with theirs.
        BulkDeletion.objects.filter(pk=bulk.pk, state="running").update(state="cancelling")

    canceller = _in_thread_on_this_connection(cancel_after_a_few)
    try:
        bulk_deletion.bulk_deletion_run(bulk_deletion_id=bulk.pk, concurrency=2)
    finally:
        canceller.join(timeout=30)
        connections["default"].dec_thread_sharing()

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.CANCELLED
    sent = deletes_sent(twilio)
    done = bulk.items.filter(state=BulkDeletionItem.State.DELETED)
    pending = bulk.items.filter(state=BulkDeletionItem.State.PENDING)
    # What was sent finished and was recorded; nothing else was sent.
    assert set(done.values_list("sid", flat=True)) == set(sent)
    assert 4 <= done.count() < 30
    assert done.count() + pending.count() == 30
    assert {item.sid for item in twilio.store.all()} == set(pending.values_list("sid", flat=True))
    assert set(Transcription.objects.values_list("sid", flat=True)) == set(
        pending.values_list("sid", flat=True)
    )


# Workers that die, several workers


def test_a_job_whose_worker_died_is_resumed_without_deleting_anything_twice(
    client, deleter, cached_rows, twilio
):
    rows = cached_rows(12)
    sids = [r.sid for r in rows]
    client.force_login(deleter)
    bulk = start(client, sids=sids)
    long_ago = timezone.now() - timedelta(hours=1)
    # The dead worker took the task, recorded 4 deletions, deleted 2 more at Twilio without
    # recording them, and had claimed 2 more that it never sent.
    DBTaskResult.objects.filter(id=bulk.task_id).update(status="RUNNING", started_at=long_ago)
    recorded, unrecorded, unsent = sids[:4], sids[4:6], sids[6:8]
    for sid in recorded + unrecorded:
        twilio.store.delete(sid)
    bulk.items.filter(sid__in=recorded).update(state="deleted", finished_at=long_ago)
    Transcription.objects.filter(sid__in=recorded).delete()
    bulk.items.filter(sid__in=unrecorded + unsent).update(
        state="claimed", claimed_by="dead-worker", claimed_at=long_ago, attempts=1
    )
    BulkDeletion.objects.filter(pk=bulk.pk).update(
        state="running", started_at=long_ago, heartbeat_at=long_ago
    )
    log_start = len(twilio.request_log)

    # Anyone opening the page notices the silent worker and queues the job again, once.
    page = client.get(bulk.get_absolute_url(), **HTMX)
    assert "No worker had reported" in page.content.decode()
    client.get(bulk.get_absolute_url(), **HTMX)
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    run_worker()

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED
    sent = deletes_sent(twilio, since=log_start)
    assert sent == Counter({sid: 1 for sid in sids[4:]})
    # The dead worker's unrecorded DELETEs are the job's deletions, not "already gone".
    assert (bulk.deleted_count, bulk.already_gone_count, bulk.failed_count) == (12, 0, 0)
    assert set(bulk.items.filter(sid__in=unrecorded).values_list("state", flat=True)) == {"deleted"}
    assert len(twilio.store) == 0
    assert not Transcription.objects.exists()


def test_a_queued_deletion_waiting_for_a_worker_is_not_queued_twice(client, deleter, cached_rows):
    rows = cached_rows(2)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    BulkDeletion.objects.filter(pk=bulk.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    assert tasks.resume_bulk_deletions() == []
    assert DBTaskResult.objects.count() == 1


def test_resume_command_queues_deletions_whose_worker_died(client, deleter, cached_rows, twilio):
    rows = cached_rows(3)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    DBTaskResult.objects.filter(id=bulk.task_id).update(status="RUNNING")
    BulkDeletion.objects.filter(pk=bulk.pk).update(
        state="running", heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    out = StringIO()

    call_command("resume_bulk_deletions", stdout=out)
    run_worker()

    assert f"#{bulk.pk}" in out.getvalue()
    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED
    assert len(twilio.store) == 0


def test_items_claimed_by_another_live_worker_are_left_to_it(client, deleter, cached_rows, twilio):
    rows = cached_rows(6)
    sids = [r.sid for r in rows]
    client.force_login(deleter)
    bulk = start(client, sids=sids)
    # Another worker, alive (fresh claim), is deleting the first two right now.
    bulk.items.filter(sid__in=sids[:2]).update(
        state="claimed", claimed_by="other-worker", claimed_at=timezone.now()
    )
    BulkDeletion.objects.filter(pk=bulk.pk).update(state="running", heartbeat_at=timezone.now())

    bulk_deletion.bulk_deletion_run(bulk_deletion_id=bulk.pk, worker_id="this-worker")

    bulk.refresh_from_db()
    assert deletes_sent(twilio) == Counter({sid: 1 for sid in sids[2:]})
    # The other worker still holds two items: it, not this one, finishes the job.
    assert bulk.state == BulkDeletion.State.RUNNING
    assert bulk.items.filter(state="claimed", claimed_by="other-worker").count() == 2


def test_bulk_deletion_start_checks_its_input(deleter, twilio):
    with pytest.raises(ValueError, match="reason"):
        bulk_deletion.bulk_deletion_start(actor=deleter, sids=["TR" + "a" * 32], reason=" ")
    with pytest.raises(ValueError, match="at least one"):
        bulk_deletion.bulk_deletion_start(actor=deleter, sids=[], reason="x")
    with pytest.raises(ValueError, match="Not a transcription SID"):
        bulk_deletion.bulk_deletion_start(actor=deleter, sids=["RE" + "a" * 32], reason="x")
    assert not BulkDeletion.objects.exists()


def test_a_command_can_start_one_without_a_user(cached_rows, twilio):
    rows = cached_rows(2)

    bulk = record_and_queue(actor=None, sids=[r.sid for r in rows], reason="retention policy")
    run_worker()

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED
    assert bulk.created_by_username == ""
    assert len(twilio.store) == 0


def test_a_worker_without_twilio_settings_marks_the_job_failed(cached_rows, settings):
    rows = cached_rows(2)
    bulk = record_and_queue(actor=None, sids=[r.sid for r in rows], reason="x")
    settings.TWILIO_ACCOUNT_SID = ""

    run_worker()

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.FAILED
    assert "TWILIO_ACCOUNT_SID" in bulk.error_message
    assert Transcription.objects.count() == 2


# Roles and CSRF


@pytest.mark.parametrize("role", ["nobody", "viewer", "reviewer"])
def test_only_deleters_and_above_may_use_bulk_deletion(request, client, role, cached_rows):
    rows = cached_rows(2)
    bulk = record_and_queue(actor=None, sids=[r.sid for r in rows], reason="x")
    client.force_login(request.getfixturevalue(role))

    answers = [
        client.get(reverse("transcriptions:bulk-list")),
        client.get(CONFIRM_URL, {"sid": rows[0].sid}),
        client.post(CONFIRM_URL, {"sid": rows[0].sid, "reason": "x"}),
        client.get(bulk.get_absolute_url()),
        client.post(reverse("transcriptions:bulk-cancel", args=[bulk.pk])),
        client.post(reverse("transcriptions:bulk-retry", args=[bulk.pk])),
    ]

    assert [a.status_code for a in answers] == [403] * 6
    assert BulkDeletion.objects.count() == 1
    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.QUEUED


@pytest.mark.parametrize("role", ["deleter", "privacy_officer"])
def test_deleters_and_privacy_officers_may_use_bulk_deletion(request, client, role, cached_rows):
    rows = cached_rows(1)
    client.force_login(request.getfixturevalue(role))

    assert client.get(reverse("transcriptions:bulk-list")).status_code == 200
    assert client.get(CONFIRM_URL, {"sid": rows[0].sid}).status_code == 200
    start(client, sids=[rows[0].sid])


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(reverse("transcriptions:bulk-list"))

    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_starting_a_bulk_deletion_needs_the_csrf_token(deleter, cached_rows):
    rows = cached_rows(1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(deleter)

    response = client.post(CONFIRM_URL, {"sid": rows[0].sid, "reason": "x"})

    assert response.status_code == 403
    assert not BulkDeletion.objects.exists()


def test_unknown_bulk_deletion_is_404(client, deleter):
    client.force_login(deleter)

    assert client.get(reverse("transcriptions:bulk-detail", args=[999999])).status_code == 404


def test_a_bulk_deletion_of_everything_says_so_first(client, deleter, cached_rows):
    cached_rows(3)
    client.force_login(deleter)
    page = client.get(CONFIRM_URL, {"all": "1"}).content.decode()
    assert "data-bulk-everything" in page and "No filter is set" in page
    filtered = client.get(CONFIRM_URL, {"all": "1", "status": "completed"}).content.decode()
    assert "data-bulk-everything" not in filtered


def test_failures_are_grouped_by_twilios_answer_and_the_table_keeps_the_filter(
    client, deleter, cached_rows, twilio, settings
):
    settings.TWILIO_MAX_ATTEMPTS = 1
    rows = cached_rows(4, status="failed")
    client.force_login(deleter)
    bulk = start(client, all="1", status="failed", reason="Old failures")
    twilio.faults.error_rate = 1.0
    from transcriptions.bulk_deletion import worker

    with mock.patch.object(worker, "ITEM_ROUNDS", 1):
        bulk_deletion.bulk_deletion_run(bulk_deletion_id=bulk.pk)
    page = client.get(bulk.get_absolute_url()).content.decode()
    groups = re.findall(r"<li><strong>(\d+)</strong> × ([^<]+)</li>", page)
    assert groups == [("4", "status 500, code 20500: Internal Server Error")]
    assert len(rows) == 4
    assert 'href="/?status=failed" data-action="back-to-table"' in page


def test_after_a_cancel_the_rest_can_be_deleted(client, deleter, cached_rows, twilio):
    rows = cached_rows(4)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    client.post(reverse("transcriptions:bulk-cancel", args=[bulk.pk]))
    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.CANCELLED
    page = client.get(bulk.get_absolute_url()).content.decode()
    assert "Delete the remaining 4" in page

    response = client.post(reverse("transcriptions:bulk-continue", args=[bulk.pk]))

    rest = BulkDeletion.objects.exclude(pk=bulk.pk).get()
    assert response.status_code == 302 and response["Location"] == rest.get_absolute_url()
    assert rest.retry_of == bulk and rest.reason.startswith(f"Rest of #{bulk.pk}: ")
    assert set(rest.items.values_list("sid", flat=True)) == {r.sid for r in rows}
    bulk_deletion.bulk_deletion_run(bulk_deletion_id=rest.pk)
    assert len(twilio.store) == 0 and not Transcription.objects.exists()
    again = client.post(reverse("transcriptions:bulk-continue", args=[rest.pk]), follow=True)
    assert "Only a cancelled bulk deletion has a rest to delete." in again.content.decode()


def test_while_twilio_is_down_a_job_waits_between_tries_instead_of_failing_every_item(
    client, deleter, cached_rows, twilio, settings, caplog
):
    settings.BULK_OUTAGE_PAUSE_MAX_SECONDS = 0.2
    rows = cached_rows(40)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    twilio.faults.drop_rate = 1.0

    def twilio_back_after_the_job_noticed() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            "is not answering" in r.getMessage() for r in list(caplog.records)
        ):
            time.sleep(0.01)
        # Tries one at a time while it is down (an item is 2 requests a round, 3 rounds: 18
        # requests hold at least one whole try), then Twilio answers again.
        noticed_at = len(twilio.request_log)
        while time.monotonic() < deadline and len(twilio.request_log) < noticed_at + 18:
            time.sleep(0.01)
        twilio.faults.drop_rate = 0.0

    thread = threading.Thread(target=twilio_back_after_the_job_noticed, daemon=True)
    thread.start()
    with caplog.at_level("INFO", logger="transcriptions.bulk_deletion.worker"):
        bulk_deletion.bulk_deletion_run(bulk_deletion_id=bulk.pk, concurrency=2)
    thread.join(timeout=30)

    bulk.refresh_from_db()
    failed = bulk.items.filter(state=BulkDeletionItem.State.FAILED).count()
    deleted = bulk.items.filter(state=BulkDeletionItem.State.DELETED).count()
    # The items that failed before the job took Twilio for down (5 in a row, and those then
    # in flight); every other one waited and was deleted once Twilio answered.
    assert 5 <= failed <= 5 + 2 * 2
    assert failed + deleted == 40
    assert len(twilio.store.all()) == failed
    assert bulk.twilio_down_since is None
    messages = [r.getMessage() for r in caplog.records]
    assert any("Twilio answers again" in m for m in messages)
    # Tries made while Twilio was down went back to the queue with their try counted.
    assert bulk.items.filter(state=BulkDeletionItem.State.DELETED, attempts__gt=1).exists()


def test_the_page_says_twilio_is_down_and_the_bar_shows_failures_apart(
    client, deleter, cached_rows
):
    rows = cached_rows(4)
    client.force_login(deleter)
    bulk = start(client, sids=[r.sid for r in rows])
    BulkDeletion.objects.filter(pk=bulk.pk).update(
        state="running", started_at=timezone.now(), twilio_down_since=timezone.now()
    )
    items = list(bulk.items.order_by("pk"))
    BulkDeletionItem.objects.filter(pk__in=[i.pk for i in items[:3]]).update(
        state=BulkDeletionItem.State.FAILED, error="no answer: Twilio could not be reached"
    )
    BulkDeletionItem.objects.filter(pk=items[3].pk).update(state=BulkDeletionItem.State.DELETED)

    body = client.get(bulk.get_absolute_url()).content.decode()
    assert "data-bulk-twilio-down" in body and "Twilio is not answering (since" in body
    assert "nothing more is marked failed meanwhile" in body
    # Three of four failed: a quarter of the bar deleted, three quarters failed.
    assert re.search(r'class="bulk-bar-done"[^>]*width="250"', body)
    assert re.search(r'class="bulk-bar-failed" x="250"[^>]*width="750"', body)

    BulkDeletion.objects.filter(pk=bulk.pk).update(twilio_down_since=None)
    assert "data-bulk-twilio-down" not in client.get(bulk.get_absolute_url()).content.decode()
