"""What a bulk deletion can prove afterwards, for a privacy officer: who asked, why, with which
filter, and for each SID when it was deleted, what happened to its recording, and when Twilio
was seen not to have it any more. It holds no text."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Count, QuerySet
from django.utils import timezone

from ..csv_lines import CsvLine, csv_safe
from ..models import BulkDeletion, BulkDeletionItem
from .verification import verification_counts

ERASURE_CSV_FIELDS = [
    "bulk_deletion",
    "asked_by",
    "reason",
    "filter",
    "transcription_sid",
    "outcome",
    "deleted_at",
    "recording_sid",
    "recording_outcome",
    "recording_deleted_at",
    "verified",
    "recording_verified",
    "verified_at",
]


@dataclass(frozen=True)
class Proof:
    """The verification's figures and the items that came back; the recordings' outcomes."""

    to_verify: int = 0
    gone: int = 0
    unknown: int = 0
    came_back: list[BulkDeletionItem] = field(default_factory=list)
    recordings: dict[str, int] = field(default_factory=dict)


def bulk_deletion_proof(*, bulk_deletion: BulkDeletion, limit: int = 100) -> Proof:
    items = BulkDeletionItem.objects.filter(bulk_deletion_id=bulk_deletion.pk)
    counts = verification_counts(items)
    verified = BulkDeletionItem.Verified
    came_back = items.filter(verified=verified.STILL_THERE) | items.filter(
        recording_verified=verified.STILL_THERE
    )
    recordings: dict[str, int] = {}
    if bulk_deletion.with_recordings:
        rows = items.exclude(recording_state="").values("recording_state").annotate(n=Count("id"))
        labels = dict(BulkDeletionItem.RecordingState.choices)
        recordings = {labels[row["recording_state"]]: row["n"] for row in rows.order_by()}
    return Proof(
        to_verify=counts["to_verify"],
        gone=counts[verified.GONE],
        unknown=counts[verified.UNKNOWN],
        came_back=list(came_back.order_by("id")[:limit]),
        recordings=recordings,
    )


def erasure_items(bulk_deletion: BulkDeletion) -> QuerySet[BulkDeletionItem]:
    return BulkDeletionItem.objects.filter(bulk_deletion_id=bulk_deletion.pk).order_by("id")


def _when(value) -> str:
    return timezone.localtime(value).isoformat() if value is not None else ""


def filter_text(bulk_deletion: BulkDeletion) -> str:
    params = bulk_deletion.filter_params or {}
    if not params:
        return "selection"
    return "; ".join(
        f"{name}={', '.join(map(str, v)) if isinstance(v, list) else v}"
        for name, v in params.items()
    )


def erasure_csv_stream(bulk_deletion: BulkDeletion) -> Iterator[str]:
    """The erasure record as CSV lines, read in chunks (memory stays flat)."""
    writer = csv.writer(CsvLine())
    yield writer.writerow(ERASURE_CSV_FIELDS)
    head = [
        f"#{bulk_deletion.pk}",
        csv_safe(bulk_deletion.created_by_username or "(a command)"),
        csv_safe(bulk_deletion.reason),
        csv_safe(filter_text(bulk_deletion)),
    ]
    states = dict(BulkDeletionItem.State.choices)
    recording_states = dict(BulkDeletionItem.RecordingState.choices)
    verified = dict(BulkDeletionItem.Verified.choices)
    for item in erasure_items(bulk_deletion).iterator(chunk_size=2000):
        yield writer.writerow(
            [
                *head,
                item.sid,
                states.get(item.state, item.state),
                _when(item.finished_at),
                item.recording_sid,
                recording_states.get(item.recording_state, "") if item.recording_state else "",
                _when(item.recording_finished_at),
                verified.get(item.verified, "") if item.verified else "",
                verified.get(item.recording_verified, "") if item.recording_verified else "",
                _when(item.verified_at),
            ]
        )
