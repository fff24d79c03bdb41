"""Background tasks, run by `python manage.py db_worker` processes (django-tasks with the
database backend). Each task is a thin wrapper: the work itself lives in the module that owns
it, so a command or a test can run it directly too."""

from __future__ import annotations

from django_tasks import task

from . import deletion, sync
from .twilio_client import get_client


@task()
def run_bulk_deletion(bulk_deletion_id: int) -> dict[str, object] | None:
    """Run (or resume) one bulk deletion in this worker; returns its state and counters."""
    bulk = deletion.bulk_deletion_run(bulk_deletion_id=bulk_deletion_id)
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
        run = sync.transcriptions_sync(client=get_client(), started_by=started_by)
    except sync.SyncAlreadyRunning as exc:
        return {"state": "refused", "running_run": exc.running.pk}
    return {
        "state": run.state,
        "run": run.pk,
        "pages": run.pages,
        "rows": run.rows_seen,
        "removed": run.removed,
    }
