"""Sync runs: the record of each pass, and the lock that keeps one sync of an account at a time.

The lock is a row in the database (a SyncRun in state "running", unique per account), so it
holds across processes and machines; a run whose process died is taken over once its heartbeat
is older than `SYNC_STALE_AFTER_SECONDS`."""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..models import SyncRun, Transcription
from ..processes import process_gone, process_tag
from ..twilio_client import TwilioError

logger = logging.getLogger(__name__)

# A run refreshes its heartbeat after every page; one page takes well under a second, or a
# couple of minutes at worst while the client retries. Older than this, its process is gone.
DEFAULT_STALE_AFTER_SECONDS = 300


class SyncAlreadyRunning(Exception):
    """Another sync of the same account is running; this one did not start."""

    def __init__(self, running: SyncRun) -> None:
        self.running = running
        since = timezone.localtime(running.started_at).strftime("%H:%M")
        what = "A sync" if running.kind == SyncRun.Kind.FULL else "A recording sync"
        by = f" (started by {running.started_by})" if running.started_by else ""
        super().__init__(
            f"{what} is already running since {since}{by}; wait for it to finish, "
            "then run this one again."
        )


class SyncDatabaseError(Exception):
    """The database refused a sync's write; raised instead of the database's own error, whose
    message can quote a row."""


class SyncTakenOver(Exception):
    """This run was marked failed by another process (it looked dead); it stops writing."""


def default_started_by() -> str:
    return f"{socket.gethostname()}, pid {os.getpid()}"


def _stale_after() -> timedelta:
    return timedelta(
        seconds=getattr(settings, "SYNC_STALE_AFTER_SECONDS", DEFAULT_STALE_AFTER_SECONDS)
    )


def run_start(*, kind: str, account_sid: str, recording_sid: str = "", started_by: str) -> SyncRun:
    """Insert this run as "running", which the unique constraint allows once per account.
    A running run without a heartbeat for too long is marked failed and replaced."""
    for _attempt in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                return SyncRun.objects.create(
                    kind=kind,
                    account_sid=account_sid,
                    recording_sid=recording_sid,
                    state=SyncRun.State.RUNNING,
                    started_by=started_by[:150],
                    process=process_tag(),
                    started_at=now,
                    heartbeat_at=now,
                )
        except IntegrityError:
            running = SyncRun.objects.filter(
                account_sid=account_sid, state=SyncRun.State.RUNNING
            ).first()
            if running is None:
                continue  # it finished in the meantime
            last_sign = running.heartbeat_at or running.started_at
            gone = process_gone(running.process)
            if not gone and last_sign >= now - _stale_after():
                raise SyncAlreadyRunning(running) from None
            why = (
                "The process running it is gone"
                if gone
                else "The process running it stopped: no sign of life since "
                f"{timezone.localtime(last_sign):%Y-%m-%d %H:%M}"
            )
            # Conditional, so that of two processes taking over, one wins, and a run that
            # just showed a sign of life is left alone.
            SyncRun.objects.filter(
                pk=running.pk, state=SyncRun.State.RUNNING, heartbeat_at=running.heartbeat_at
            ).update(
                state=SyncRun.State.FAILED,
                finished_at=now,
                error_message=f"{why}; a later sync took over.",
            )
            logger.warning("Sync run %s looked dead and was marked failed", running.pk)
    running = SyncRun.objects.filter(account_sid=account_sid, state=SyncRun.State.RUNNING).first()
    if running is not None:
        raise SyncAlreadyRunning(running)
    raise DatabaseError("Could not record the start of a sync run")  # pragma: no cover


def _failure_reason(exc: BaseException, run: SyncRun) -> str:
    """Why the run failed, for the SyncRun record: never credentials, never text."""
    where = f"after {run.pages} page{'s' if run.pages != 1 else ''}"
    if isinstance(exc, TwilioError):
        return f"{exc.in_plain_words()} ({where})"
    if isinstance(exc, SyncTakenOver):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return f"Stopped before the pass was complete ({where})."
    if isinstance(exc, DatabaseError):
        # The type only: the database's message can quote the row (PostgreSQL's "DETAIL:
        # Failing row contains (…)"), transcript text included.
        return f"Database error {where} ({type(exc).__name__}); see the database's own log."
    return f"Unexpected {type(exc).__name__} {where}; see the log."


def run_fail(run: SyncRun, exc: BaseException) -> None:
    run.state = SyncRun.State.FAILED
    run.finished_at = timezone.now()
    run.error_message = _failure_reason(exc, run)
    if isinstance(exc, DatabaseError):
        logger.error("Sync run %s failed: %s", run.pk, run.error_message)
    elif isinstance(exc, TwilioError):
        # The record says it in plain words; the host, the tries and the codes go to the log.
        logger.warning("Sync run %s failed: %s", run.pk, exc)
    elif not isinstance(exc, TwilioError | KeyboardInterrupt | SystemExit | SyncTakenOver):
        logger.exception("Sync run %s failed", run.pk)
    try:
        # Conditional: a run already taken over keeps the reason its taker gave.
        SyncRun.objects.filter(pk=run.pk, state=SyncRun.State.RUNNING).update(
            state=run.state, finished_at=run.finished_at, error_message=run.error_message
        )
    except DatabaseError as db_exc:
        # The original error is what matters; the run then looks dead and is taken over.
        logger.error(
            "Could not record the failure of sync run %s (%s)", run.pk, type(db_exc).__name__
        )


def raise_if_taken_over(updated_rows: int, run: SyncRun) -> None:
    if updated_rows == 0:
        raise SyncTakenOver(
            "Another process took this sync over because it looked dead; it stopped writing."
        )


def run_complete(run: SyncRun, *, unseen: QuerySet[Transcription]) -> None:
    """Remove the rows the complete pass did not see and mark the run succeeded, together."""
    now = timezone.now()
    with transaction.atomic():
        removed, _ = unseen.delete()
        run.removed = removed
        run.state = SyncRun.State.SUCCEEDED
        run.finished_at = now
        run.heartbeat_at = now
        updated = SyncRun.objects.filter(pk=run.pk, state=SyncRun.State.RUNNING).update(
            removed=removed, state=run.state, finished_at=now, heartbeat_at=now
        )
        raise_if_taken_over(updated, run)


def run_looks_alive(run: SyncRun) -> bool:
    """Whether a run marked running has shown a sign of life recently enough to be believed."""
    if process_gone(run.process):
        return False
    last_sign = run.heartbeat_at or run.started_at
    return last_sign >= timezone.now() - _stale_after()


def latest_run() -> SyncRun | None:
    """The newest sync run of any kind, or None before the first sync."""
    return SyncRun.objects.order_by("-started_at", "-id").first()


def running_run(account_sid: str) -> SyncRun | None:
    """The account's sync run marked running that still shows signs of life, if any."""
    run = SyncRun.objects.filter(account_sid=account_sid, state=SyncRun.State.RUNNING).first()
    return run if run is not None and run_looks_alive(run) else None
