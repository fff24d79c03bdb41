"""django-tasks' database worker, which also resumes the bulk deletions (and personal-data
scans) a dead worker left.

The same command and options as `django_tasks_db`'s `db_worker` (this app is listed before it,
so `manage.py db_worker` is this one). A worker that starts, and every running worker now and
then, queues again each unfinished bulk deletion whose worker is gone (its process known to
have ended on this machine, or its heartbeat stale): nobody has to notice and run a command."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connections
from django_tasks_db.management.commands.db_worker import Command as DBWorkerCommand

from transcriptions.tasks import resume_bulk_deletions, resume_personal_data_scans

logger = logging.getLogger(__name__)


def _resume_once() -> None:
    try:
        resume_bulk_deletions()
        resume_personal_data_scans()
    except Exception as exc:  # noqa: BLE001 - the worker goes on; the next round tries again
        logger.warning("Could not check for work to resume (%s)", type(exc).__name__)


def _resume_every(seconds: float, stop: threading.Event) -> None:
    while not stop.wait(seconds):
        _resume_once()
        # This thread's own connection, not kept open between rounds.
        connections.close_all()


class Command(DBWorkerCommand):
    help = DBWorkerCommand.help + " Resumes bulk deletions whose worker died."

    def handle(self, *args, **options) -> None:
        _resume_once()
        stop = threading.Event()
        every = max(1.0, settings.BULK_DELETE_STALE_SECONDS / 2)
        # A daemon: it holds no work of its own, and must not keep a stopping worker alive.
        watcher = threading.Thread(
            target=_resume_every, args=(every, stop), name="bulk-resume", daemon=True
        )
        if not options.get("batch"):
            watcher.start()
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
