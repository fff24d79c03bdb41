"""'Sync now': the status bar queues a sync for a worker and follows its progress."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.conftest import ACCOUNT_SID, HTMX
from transcriptions.models import SyncRun, Transcription


def _task_id(response) -> str:
    text = response.content.decode()
    marker = "task="
    assert marker in text, text
    return text.split(marker, 1)[1].split('"', 1)[0]


@pytest.mark.django_db(transaction=True)
def test_sync_now_queues_a_sync_that_the_real_worker_runs(client, reviewer, sandbox):
    sandbox.store.seed(count=120, seed=3)
    client.force_login(reviewer)

    response = client.post("/sync/", **HTMX)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Sync queued" in text
    assert 'hx-trigger="every 1s"' in text
    assert DBTaskResult.objects.count() == 1
    task_id = _task_id(response)

    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0, stdout=StringIO())

    progress = client.get(f"/sync/progress/?polling=1&task={task_id}", **HTMX)
    text = " ".join(progress.content.decode().split())
    assert "Sync finished: 120 rows" in text
    assert "hx-trigger" not in text  # polling stops
    assert "transcriptions-changed" in progress["HX-Trigger"]
    assert Transcription.objects.count() == 120
    run = SyncRun.objects.get()
    assert run.state == SyncRun.State.SUCCEEDED
    assert run.started_by == "reviewer"


@pytest.mark.django_db
def test_a_queued_sync_waits_for_a_worker_and_keeps_polling(client, reviewer, sandbox):
    client.force_login(reviewer)
    task_id = _task_id(client.post("/sync/", **HTMX))
    progress = client.get(f"/sync/progress/?polling=1&task={task_id}", **HTMX)
    text = progress.content.decode()
    assert "waiting for a worker" in text
    assert 'hx-trigger="every 1s"' in text
    assert "HX-Trigger" not in progress


@pytest.mark.django_db
def test_sync_now_while_a_sync_runs_follows_it_instead_of_queueing(client, reviewer, sandbox):
    now = timezone.now()
    SyncRun.objects.create(
        account_sid=ACCOUNT_SID, started_at=now, heartbeat_at=now, pages=3, rows_seen=3000
    )
    client.force_login(reviewer)
    response = client.post("/sync/", **HTMX)
    text = " ".join(response.content.decode().split())
    assert "already running" in text
    assert "Syncing: 3 pages, 3,000 rows" in text
    assert 'hx-trigger="every 1s"' in text
    assert DBTaskResult.objects.count() == 0


@pytest.mark.django_db
def test_a_run_whose_process_died_does_not_poll_forever(client, reviewer, sandbox):
    old = timezone.now() - timedelta(hours=2)
    SyncRun.objects.create(account_sid=ACCOUNT_SID, started_at=old, heartbeat_at=old)
    client.force_login(reviewer)
    progress = client.get("/sync/progress/?polling=1", **HTMX)
    assert "hx-trigger" not in progress.content.decode()
    assert 'data-action="sync-now"' in progress.content.decode()
    # And a new sync may be queued over it.
    assert "Sync queued" in client.post("/sync/", **HTMX).content.decode()


@pytest.mark.django_db
def test_sync_now_without_twilio_settings_says_what_is_missing(client, reviewer):
    client.force_login(reviewer)
    response = client.post("/sync/", **HTMX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#messages"
    assert "TWILIO_ACCOUNT_SID" in response.content.decode()
    assert DBTaskResult.objects.count() == 0


@pytest.mark.django_db
def test_sync_now_without_javascript_redirects_with_a_message(client, reviewer, sandbox):
    client.force_login(reviewer)
    response = client.post("/sync/", follow=True)
    assert response.redirect_chain[-1] == ("/", 302)
    assert "Sync queued." in response.content.decode()


@pytest.mark.django_db
def test_sync_now_needs_login_permission_post_and_csrf(client, nobody, viewer, reviewer, sandbox):
    assert client.post("/sync/").status_code == 302  # to the login page
    client.force_login(nobody)
    assert client.post("/sync/").status_code == 403
    # Starting a sync is a right of its own: a Viewer sees the table, not the button.
    client.force_login(viewer)
    assert client.post("/sync/", **HTMX).status_code == 403
    assert 'data-action="sync-now"' not in client.get("/").content.decode()
    client.force_login(reviewer)
    assert client.get("/sync/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(reviewer)
    assert strict.post("/sync/", **HTMX).status_code == 403
    assert DBTaskResult.objects.count() == 0


@pytest.mark.django_db
def test_progress_ignores_a_malformed_task_id(client, viewer):
    client.force_login(viewer)
    response = client.get("/sync/progress/?polling=1&task=<script>", **HTMX)
    assert response.status_code == 200
    assert "<script>" not in response.content.decode()


@pytest.mark.django_db
def test_the_status_bar_offers_sync_now(client, reviewer):
    client.force_login(reviewer)
    assert 'data-action="sync-now"' in client.get("/").content.decode()


@pytest.mark.django_db
def test_many_clicks_queue_one_sync(client, reviewer, deleter, sandbox):
    client.force_login(reviewer)
    first = _task_id(client.post("/sync/", **HTMX))
    for _ in range(49):
        response = client.post("/sync/", **HTMX)
        assert "already queued" in response.content.decode()
        assert _task_id(response) == first  # and the page follows the queued one
    other = Client()
    other.force_login(deleter)
    assert "already queued" in other.post("/sync/", **HTMX).content.decode()
    assert DBTaskResult.objects.count() == 1
