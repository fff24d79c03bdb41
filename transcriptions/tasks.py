"""Background tasks, run by `python manage.py db_worker` processes (django-tasks with the
database backend). Each task is a thin wrapper: the work itself lives in the module that owns
it, so a command or a test can run it directly too."""

from __future__ import annotations

from django_tasks import task

from . import deletion


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
