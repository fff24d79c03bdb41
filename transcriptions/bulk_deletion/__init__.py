"""Bulk deletion: many transcriptions deleted at Twilio by background workers, each item's
outcome kept. `records` holds what a bulk deletion is and where it stands; `worker` does the
deleting. Queueing the work is `tasks`' job."""

from __future__ import annotations

from .erasure import bulk_deletion_proof, erasure_csv_stream, erasure_items, filter_text
from .records import (
    SAMPLE_SIZE,
    TYPED_CONFIRM_ABOVE,
    BulkDeletionRefused,
    BulkProgress,
    BulkTarget,
    bulk_deletion_cancel,
    bulk_deletion_continue_cancelled,
    bulk_deletion_failed_count,
    bulk_deletion_failed_items,
    bulk_deletion_failure_groups,
    bulk_deletion_get,
    bulk_deletion_list,
    bulk_deletion_looks_stale,
    bulk_deletion_progress,
    bulk_deletion_retry_failed,
    bulk_deletion_start,
    bulk_deletion_table_url,
    bulk_deletion_take_over,
    bulk_deletion_task_recorded,
    bulk_deletions_finished_since,
    bulk_deletions_running,
    bulk_deletions_unfinished,
    bulk_target_of_filter,
    bulk_target_of_selection,
)
from .worker import bulk_deletion_run

__all__ = [
    "SAMPLE_SIZE",
    "TYPED_CONFIRM_ABOVE",
    "BulkDeletionRefused",
    "BulkProgress",
    "BulkTarget",
    "bulk_deletion_cancel",
    "bulk_deletion_continue_cancelled",
    "bulk_deletion_failed_count",
    "bulk_deletion_failure_groups",
    "bulk_deletion_failed_items",
    "bulk_deletion_get",
    "bulk_deletion_list",
    "bulk_deletion_looks_stale",
    "bulk_deletions_finished_since",
    "bulk_deletions_running",
    "bulk_deletion_proof",
    "erasure_csv_stream",
    "erasure_items",
    "filter_text",
    "bulk_deletion_progress",
    "bulk_deletion_retry_failed",
    "bulk_deletion_table_url",
    "bulk_deletion_run",
    "bulk_deletion_start",
    "bulk_deletion_take_over",
    "bulk_deletion_task_recorded",
    "bulk_deletions_unfinished",
    "bulk_target_of_filter",
    "bulk_target_of_selection",
]
