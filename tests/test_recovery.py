"""A sync or a bulk deletion whose process is gone is taken over at once, not after its
heartbeat goes stale; and a worker that starts resumes what a dead one left, unasked."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.conftest import ACCOUNT_SID
from transcriptions import bulk_deletion
from transcriptions.models import BulkDeletion, SyncRun, Transcription
from transcriptions.processes import process_gone, process_tag
from transcriptions.sync import running_run, transcriptions_sync


def _dead_process_tag() -> str:
    """The tag a process of this machine had, which has since exited (a real process)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()[:60]}:{child.pid}:123456"


def test_process_tags():
    assert not process_gone(process_tag())
    assert process_gone(_dead_process_tag())
    host, pid, start = process_tag().rsplit(":", 2)
    # The same id, started at another time: the id was reused by another process.
    assert process_gone(f"{host}:{pid}:{int(start) + 1}")
    # Another machine's process, or a tag of another form: not known to be gone.
    assert not process_gone(f"elsewhere.example:{os.getpid()}:1")
    assert not process_gone("sync_transcriptions command")
    assert not process_gone("")


@pytest.mark.django_db
def test_a_sync_whose_process_is_gone_is_taken_over_at_once(twilio, sandbox_store):
    sandbox_store.seed(count=30, seed=1)
    now = timezone.now()
    # A run that beat a second ago, in a process that has ended (a kill -9).
    dead = SyncRun.objects.create(
        account_sid=ACCOUNT_SID, started_at=now, heartbeat_at=now, process=_dead_process_tag()
    )
    assert running_run(ACCOUNT_SID) is None

    run = transcriptions_sync()

    assert run.state == SyncRun.State.SUCCEEDED
    dead.refresh_from_db()
    assert dead.state == SyncRun.State.FAILED
    assert "process running it is gone" in dead.error_message
    assert Transcription.objects.count() == 30


@pytest.mark.django_db
def test_a_live_sync_is_still_refused(twilio, sandbox_store):
    from transcriptions.sync import SyncAlreadyRunning

    now = timezone.now()
    SyncRun.objects.create(
        account_sid=ACCOUNT_SID, started_at=now, heartbeat_at=now, process=process_tag()
    )
    with pytest.raises(SyncAlreadyRunning):
        transcriptions_sync()


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_starts_resumes_a_job_whose_worker_is_gone(
    twilio, deleter, make_transcription
):
    rows = []
    for _ in range(6):
        item = twilio.store.add()
        rows.append(make_transcription(sid=item.sid, recording_sid=item.recording_sid))
    bulk = bulk_deletion.bulk_deletion_start(
        actor=deleter, sids=[r.sid for r in rows], reason="erasure request"
    )
    # Its worker beat a moment ago and held two items when it was killed.
    dead = f"abcd1234@{_dead_process_tag()}"
    now = timezone.now()
    BulkDeletion.objects.filter(pk=bulk.pk).update(
        state="running", started_at=now, heartbeat_at=now, worker=dead
    )
    bulk.items.filter(sid__in=[rows[0].sid, rows[1].sid]).update(
        state="claimed", claimed_by=dead, claimed_at=now, attempts=1
    )
    twilio.store.delete(rows[0].sid)  # it had sent this one; its answer was never recorded

    # Nothing queued, nobody opens a page: a worker starts.
    assert not DBTaskResult.objects.exists()
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0, stdout=StringIO())

    bulk.refresh_from_db()
    assert bulk.state == BulkDeletion.State.COMPLETED
    assert (bulk.deleted_count, bulk.already_gone_count, bulk.failed_count) == (6, 0, 0)
    assert len(twilio.store) == 0
    assert not Transcription.objects.exists()
