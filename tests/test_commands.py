"""The management commands `sync_transcriptions` and `purge_transcript_text`: output, messages and
exit status, against the sandbox over real HTTP."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from transcriptions import sync
from transcriptions.models import SyncRun, Transcription

MANAGE_PY = Path(django_settings.BASE_DIR) / "manage.py"


class TerminalOutput(io.StringIO):
    """Captured output that says it is a terminal, as a console would."""

    def isatty(self) -> bool:
        return True


def sync_command(*args: str, stdout: io.StringIO | None = None) -> str:
    out = stdout or io.StringIO()
    call_command("sync_transcriptions", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_sync_command_prints_progress_and_a_summary(
    sandbox, sandbox_store, monkeypatch, small_pages
):
    sandbox_store.seed(count=25, seed=1)

    output = sync_command()

    lines = output.splitlines()
    assert lines[0].startswith("1 page, 10 rows (10 new, 0 updated), ")
    assert lines[0].endswith(" rows/s")
    assert "\r" not in output  # not a terminal: plain lines
    assert lines[-1].startswith("Synced the account: 25 transcriptions in 3 pages, ")
    assert lines[-1].endswith(": 25 new, 0 updated, 0 removed.")
    assert Transcription.objects.count() == 25
    assert SyncRun.objects.get().started_by == "sync_transcriptions command"


@pytest.mark.django_db
def test_sync_command_redraws_progress_on_a_terminal(
    sandbox, sandbox_store, monkeypatch, small_pages
):
    monkeypatch.setattr(
        "transcriptions.management.commands.sync_transcriptions.TTY_PROGRESS_INTERVAL", 0
    )
    sandbox_store.seed(count=25, seed=1)

    output = sync_command(stdout=TerminalOutput())

    assert output.startswith("\r1 page, 10 rows")
    assert "\r2 pages, 20 rows" in output and "\r3 pages, 25 rows" in output
    assert "\nSynced the account: 25 transcriptions in 3 pages" in output


@pytest.mark.django_db
def test_second_run_reports_updates_and_removals(sandbox, sandbox_store):
    sandbox_store.seed(count=12, seed=1)
    sync_command()
    sandbox_store.delete(sandbox_store.all()[0].sid)
    sandbox_store.add(transcription_text="New.")

    output = sync_command()

    assert output.splitlines()[-1].endswith(": 1 new, 11 updated, 1 removed.")


@pytest.mark.django_db
def test_sync_command_refreshes_given_recordings(sandbox, sandbox_store, make_transcription):
    first, second = "RE" + "1" * 32, "RE" + "2" * 32
    sandbox_store.add(recording_sid=first, transcription_text="One.")
    sandbox_store.add(recording_sid=first, transcription_text="Two.")
    unrelated = sandbox_store.add(transcription_text="Not asked for.")
    make_transcription(recording_sid=second)

    output = sync_command("--recording", first, "--recording", second)

    assert f"Synced recording {first}: 2 transcriptions in 1 page" in output
    assert f"Synced recording {second}: 0 transcriptions in 1 page" in output
    assert output.splitlines()[-1].endswith(": 0 new, 0 updated, 1 removed.")
    assert set(Transcription.objects.values_list("recording_sid", flat=True)) == {first}
    assert not Transcription.objects.filter(sid=unrelated.sid).exists()


@pytest.mark.django_db
def test_sync_command_rejects_a_malformed_recording_sid(sandbox):
    with pytest.raises(CommandError, match="'RE123' is not a recording SID") as raised:
        sync_command("--recording", "RE" + "a" * 32, "--recording", "RE123")
    assert raised.value.returncode == 1
    assert sandbox.request_log == []
    assert not SyncRun.objects.exists()


@pytest.mark.django_db
def test_sync_command_without_credentials():
    with pytest.raises(CommandError) as raised:
        sync_command()
    assert str(raised.value) == "Twilio is not configured: TWILIO_ACCOUNT_SID is not set."
    assert not SyncRun.objects.exists()


@pytest.mark.django_db
def test_sync_command_with_a_wrong_token(sandbox, sandbox_store, settings):
    sandbox_store.seed(count=3, seed=1)
    settings.TWILIO_AUTH_TOKEN = "not-the-right-token"

    with pytest.raises(CommandError) as raised:
        sync_command()

    message = str(raised.value)
    assert message.startswith("Sync failed: Twilio rejected the credentials (Twilio error 401")
    assert "Check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in message
    assert "not-the-right-token" not in message and "\n" not in message
    run = SyncRun.objects.get()
    assert run.state == SyncRun.State.FAILED and "401" in run.error_message
    assert "not-the-right-token" not in run.error_message
    assert not Transcription.objects.exists()


@pytest.mark.django_db
def test_sync_command_when_twilio_cannot_be_reached(settings, make_transcription):
    kept = make_transcription()
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN  # the base URL stays a closed local port

    with pytest.raises(CommandError) as raised:
        sync_command()

    message = str(raised.value)
    assert message.startswith("Sync failed: Twilio could not be reached at 127.0.0.1:9")
    assert "Check TWILIO_API_BASE_URL (http://127.0.0.1:9) and the network." in message
    assert message.endswith("The cache keeps every row; run the command again to finish.")
    assert list(Transcription.objects.all()) == [kept]
    assert SyncRun.objects.get().state == SyncRun.State.FAILED


@pytest.mark.django_db
def test_sync_command_while_another_sync_runs(sandbox):
    SyncRun.objects.create(
        account_sid=ACCOUNT_SID,
        state=SyncRun.State.RUNNING,
        started_by="web, pid 7",
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    with pytest.raises(
        CommandError, match=r"^A sync is already running since \d\d:\d\d \(started by web, pid 7\)"
    ):
        sync_command()


@pytest.mark.django_db
def test_sync_command_stopped_with_ctrl_c(sandbox, sandbox_store, monkeypatch, small_pages):
    sandbox_store.seed(count=25, seed=1)

    def interrupt(self, run):
        raise KeyboardInterrupt

    monkeypatch.setattr(
        "transcriptions.management.commands.sync_transcriptions.Command._progress", interrupt
    )
    with pytest.raises(CommandError, match="Sync stopped before it was complete") as raised:
        sync_command()
    assert raised.value.returncode == 130
    assert SyncRun.objects.get().state == SyncRun.State.FAILED


def test_exit_status_and_one_line_error_from_the_shell(tmp_path):
    """Run as an operator would: non-zero exit status and a single line on stderr."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TWILIO_") and key != "DATABASE_URL"
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = subprocess.run(
        [sys.executable, str(MANAGE_PY), "sync_transcriptions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        result.stderr == "CommandError: Twilio is not configured: TWILIO_ACCOUNT_SID is not set.\n"
    )


# purge_transcript_text


@pytest.mark.django_db
def test_purge_command_without_retention(make_transcription):
    make_transcription(date_created=timezone.now() - timedelta(days=3650))
    out = io.StringIO()

    call_command("purge_transcript_text", stdout=out)

    assert out.getvalue() == (
        "TRANSCRIPT_TEXT_RETENTION_DAYS is not set: cached text is kept as long as Twilio keeps "
        "it. Nothing cleared.\n"
    )
    assert not Transcription.objects.filter(transcription_text__isnull=True).exists()


@pytest.mark.django_db
def test_purge_command_clears_old_text(settings, make_transcription):
    settings.TRANSCRIPT_TEXT_RETENTION_DAYS = 90
    old = [make_transcription(date_created=timezone.now() - timedelta(days=91)) for _ in range(2)]
    recent = make_transcription(date_created=timezone.now() - timedelta(days=89))
    out = io.StringIO()

    call_command("purge_transcript_text", stdout=out)

    assert out.getvalue().startswith("Cleared the cached text of 2 transcriptions created before ")
    assert out.getvalue().endswith(" (retention: 90 days).\n")
    assert (
        Transcription.objects.filter(pk__in=[t.pk for t in old], transcription_text=None).count()
        == 2
    )
    assert Transcription.objects.get(pk=recent.pk).transcription_text is not None

    out = io.StringIO()
    call_command("purge_transcript_text", stdout=out)
    assert out.getvalue().startswith("Cleared the cached text of 0 transcriptions")


@pytest.mark.django_db
def test_purge_command_rejects_a_negative_retention(settings):
    settings.TRANSCRIPT_TEXT_RETENTION_DAYS = -1
    with pytest.raises(CommandError, match="TRANSCRIPT_TEXT_RETENTION_DAYS must be 0 or more"):
        call_command("purge_transcript_text", stdout=io.StringIO())


@pytest.mark.django_db
def test_sync_every_keeps_syncing_and_picks_up_changes(sandbox, sandbox_store, monkeypatch):
    sandbox_store.seed(count=30, seed=5)
    changes = iter([lambda: sandbox_store.delete(sandbox_store.all()[0].sid)])

    def sync_then_change(*args, **kwargs):
        run = real_sync(*args, **kwargs)
        for change in changes:  # one change after the first sync only
            change()
            break
        return run

    real_sync = sync.transcriptions_sync
    monkeypatch.setattr(
        "transcriptions.management.commands.sync_transcriptions.transcriptions_sync",
        sync_then_change,
    )
    out = sync_command("--every", "0.05", "--runs", "2", "--full")
    assert out.count("Synced the account") == 2
    assert "1 removed" in out
    assert SyncRun.objects.filter(state=SyncRun.State.SUCCEEDED).count() == 2
    assert Transcription.objects.count() == 29


@pytest.mark.django_db
def test_sync_every_reports_a_failed_sync_and_carries_on(sandbox, sandbox_store):
    sandbox_store.seed(count=5, seed=6)
    sandbox.faults.error_rate = 1.0
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_transcriptions", "--every", "0.05", "--runs", "2", stdout=out, stderr=err)
    assert err.getvalue().count("Sync failed") == 2
    assert SyncRun.objects.filter(state=SyncRun.State.FAILED).count() == 2


@pytest.mark.parametrize("args", [["--every", "0"], ["--every", "-5"], ["--runs", "2"]])
@pytest.mark.django_db
def test_sync_every_rejects_bad_values(args):
    with pytest.raises(CommandError):
        sync_command(*args)
