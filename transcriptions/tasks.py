"""Everything that touches the queue: the background tasks, run by `python manage.py db_worker`
processes (django-tasks with the database backend), and the calls that queue them. Writes
elsewhere only record work; their callers queue it here on the next line. Each task is a thin
wrapper: the work itself lives in the module that owns it, so a command or a test can run it
directly too."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django_tasks import task
from django_tasks.base import TaskResultStatus
from django_tasks.exceptions import TaskResultDoesNotExist

from . import bulk_deletion, sync
from .models import BulkDeletion, PersonalDataScan
from .personal_data import scan as scan_module
from .twilio_client import twilio_configuration_check

logger = logging.getLogger(__name__)


@task()
def run_bulk_deletion(bulk_deletion_id: int) -> dict[str, object] | None:
    """Run (or resume) one bulk deletion in this worker; returns its state and counters."""
    bulk = bulk_deletion.bulk_deletion_run(bulk_deletion_id=bulk_deletion_id)
    if bulk is None:
        return None
    return {
        "state": bulk.state,
        "total": bulk.total_count,
        "deleted": bulk.deleted_count,
        "already_gone": bulk.already_gone_count,
        "failed": bulk.failed_count,
    }


@task()
def run_sync(started_by: str = "") -> dict[str, object]:
    """Run a full sync of the configured account in this worker; returns the run's counters.

    A sync already running is not an error of this task: it reports "refused" and the page
    follows the run that is going on."""
    try:
        run = sync.transcriptions_head_sync(started_by=started_by)
    except sync.SyncAlreadyRunning as exc:
        return {"state": "refused", "running_run": exc.running.pk}
    return {
        "state": run.state,
        "run": run.pk,
        "pages": run.pages,
        "rows": run.rows_seen,
        "removed": run.removed,
    }


@task()
def run_personal_data_scan(scan_id: int) -> dict[str, object] | None:
    """Run (or resume) one personal-data scan in this worker."""
    scan = scan_module.personal_data_scan_run(scan_id=scan_id)
    if scan is None:
        return None
    return {"state": scan.state, "scanned": scan.scanned, "found": scan.found}


def personal_data_scan_enqueue(scan: PersonalDataScan) -> None:
    """Queue the job that runs a recorded scan, and remember its task id."""
    result = run_personal_data_scan.enqueue(scan_id=scan.pk)
    scan_module.scan_task_recorded(scan, str(result.id))


def resume_personal_data_scans() -> list[int]:
    """Queue again each active scan whose worker went silent and whose task is not simply
    waiting in the queue; returns their ids. Run it when workers start, and now and then."""
    resumed = []
    for scan in scan_module.scans_to_resume():
        if _is_waiting(run_personal_data_scan.get_result, scan.task_id):
            continue
        if scan_module.scan_taken_over(scan):
            logger.warning("Personal-data scan #%s had no live worker; enqueued it again", scan.pk)
            personal_data_scan_enqueue(scan)
            resumed.append(scan.pk)
    return resumed


def _is_waiting(result_of, task_id: str) -> bool | None:
    """Whether the task is still queued, waiting for a worker to take it; None when the queue
    knows no such task."""
    if not task_id:
        return None
    try:
        return result_of(task_id).status == TaskResultStatus.READY
    except (TaskResultDoesNotExist, ValueError, ValidationError):
        return None


# Bulk deletions


def bulk_deletion_enqueue(bulk: BulkDeletion) -> None:
    """Queue the job that runs a recorded bulk deletion, and remember its task id."""
    result = run_bulk_deletion.enqueue(bulk_deletion_id=bulk.pk)
    bulk_deletion.bulk_deletion_task_recorded(bulk, str(result.id))


def bulk_deletion_resume_if_stale(*, bulk: BulkDeletion) -> bool:
    """Queue the job again for an unfinished bulk deletion whose worker has gone silent
    (a stale heartbeat) and whose task is not simply waiting in the queue. Of concurrent
    callers only one queues it. Returns whether it did."""
    if not bulk_deletion.bulk_deletion_looks_stale(bulk):
        return False
    if _is_waiting(run_bulk_deletion.get_result, bulk.task_id):
        return False
    if not bulk_deletion.bulk_deletion_take_over(bulk):
        return False
    logger.warning("Bulk deletion #%s had no live worker; enqueued it again", bulk.pk)
    bulk_deletion_enqueue(bulk)
    return True


def resume_bulk_deletions() -> list[int]:
    """Resume every unfinished bulk deletion whose worker died (see
    `bulk_deletion_resume_if_stale`); returns their ids. Run it when workers start."""
    return [
        bulk.pk
        for bulk in bulk_deletion.bulk_deletions_unfinished()
        if bulk_deletion_resume_if_stale(bulk=bulk)
    ]


# Syncs started from the page


@dataclass(frozen=True)
class SyncRequest:
    """What asking for a sync did: queued one (its task id), or found one running."""

    task_id: str
    message: str


def _sync_task_waiting_or_running() -> str | None:
    """The id of a sync task that is queued or that a worker is running, if any."""
    from django_tasks_db.models import DBTaskResult

    found = (
        DBTaskResult.objects.filter(
            task_path=run_sync.module_path,
            status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
        )
        .order_by("-enqueued_at")
        .values_list("id", flat=True)
        .first()
    )
    return None if found is None else str(found)


def sync_request(*, started_by: str) -> SyncRequest:
    """Queue a full sync for a worker, unless one of the account is already running or
    queued (many clicks, many users: one sync). Raises TwilioNotConfigured without Twilio
    credentials."""
    twilio_configuration_check()
    if sync.running_run(settings.TWILIO_ACCOUNT_SID) is not None:
        return SyncRequest(task_id="", message="A sync is already running; showing its progress.")
    with transaction.atomic():
        # One writer at a time decides (on SQLite the write lock, on PostgreSQL a lock of
        # the sync-run table): two clicks at once queue one task.
        _sync_request_lock()
        waiting = _sync_task_waiting_or_running()
        if waiting is not None:
            return SyncRequest(task_id=waiting, message="A sync is already queued.")
        result = run_sync.enqueue(started_by=started_by)
    return SyncRequest(task_id=str(result.id), message="Sync queued.")


def _sync_request_lock() -> None:
    """Make this transaction the only one deciding whether to queue a sync. SQLite's
    transactions here are IMMEDIATE (settings): the write lock is already held."""
    from django.db import connection

    from .models import SyncRun

    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(SyncRun._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")


def sync_task_waiting(task_id: str) -> bool | None:
    """Whether the queued sync task is still waiting for a worker; None for an unknown task."""
    return _is_waiting(run_sync.get_result, task_id)
