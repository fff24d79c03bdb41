"""The rescan: the detector run again over the cached text, for rows an older detector (or
none) scanned, or for every row after the hash key changed. A scan is recorded, runs in id
order in chunks, and remembers where it got to, so a worker that dies leaves it to be resumed
from there (`tasks.resume_personal_data_scans`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..audit import Actor, audit_record
from ..models import AuditEvent, PersonalDataScan, Transcription
from . import DETECTOR_VERSION, personal_data_columns

CHUNK = 2000

ScanProgress = Callable[[PersonalDataScan], None]


class ScanAlreadyRunning(Exception):
    def __init__(self, scan: PersonalDataScan) -> None:
        super().__init__(f"Personal-data scan #{scan.pk} is already running.")
        self.scan = scan


def _to_scan(scan: PersonalDataScan):
    rows = Transcription.objects.filter(id__gt=scan.last_id)
    if not scan.every_row:
        rows = rows.filter(personal_data_version__lt=scan.detector_version)
    return rows


def rows_to_scan_count() -> int:
    """Cached rows that the current detector has not scanned."""
    return Transcription.objects.filter(personal_data_version__lt=DETECTOR_VERSION).count()


def personal_data_scan_start(*, actor: Actor = None, every_row: bool = False) -> PersonalDataScan:
    """Record a scan (the caller queues it, or runs it). One at a time: an active scan is
    returned rather than a second one made."""
    with transaction.atomic():
        active = PersonalDataScan.objects.filter(state__in=PersonalDataScan.ACTIVE_STATES).first()
        if active is not None:
            raise ScanAlreadyRunning(active)
        scan = PersonalDataScan.objects.create(
            started_by=actor.get_username() if actor is not None and actor.is_authenticated else "",
            every_row=every_row,
            detector_version=DETECTOR_VERSION,
            heartbeat_at=timezone.now(),
        )
        scan.total = _to_scan(scan).count()
        scan.save(update_fields=["total"])
    return scan


def _update_sql() -> str:
    table = connection.ops.quote_name(Transcription._meta.db_table)
    # Only if no sync or fetch rewrote the row since it was read (they stamp synced_at and
    # detect with the text they write).
    return (
        f"UPDATE {table} SET personal_data = %s, personal_data_found = %s, "
        "personal_data_version = %s WHERE id = %s AND synced_at = %s"
    )


def _chunk_scan(scan: PersonalDataScan) -> tuple[int, int, int] | None:
    """Scan the next chunk: (rows scanned, rows with personal data, last id); None when done."""
    rows = list(
        _to_scan(scan).order_by("id").values_list("id", "transcription_text", "synced_at")[:CHUNK]
    )
    if not rows:
        return None
    updates, no_text, found = [], [], 0
    adapt = connection.ops.adapt_datetimefield_value
    for pk, text, synced_at in rows:
        if text is None:
            # No cached text: what the sync found in Twilio's text stays.
            no_text.append(pk)
            continue
        columns = personal_data_columns(text)
        found += bool(columns["personal_data"])
        updates.append(
            (
                columns["personal_data"],
                columns["personal_data_found"],
                columns["personal_data_version"],
                pk,
                adapt(synced_at),
            )
        )
    with transaction.atomic(), connection.cursor() as cursor:
        if updates:
            cursor.executemany(_update_sql(), updates)
        if no_text:
            Transcription.objects.filter(id__in=no_text, transcription_text__isnull=True).update(
                personal_data_version=scan.detector_version
            )
    return len(rows), found, rows[-1][0]


def personal_data_scan_run(
    *, scan_id: int, actor: Actor = None, progress: ScanProgress | None = None
) -> PersonalDataScan | None:
    """Run (or resume, after `last_id`) a recorded scan to its end."""
    scan = PersonalDataScan.objects.filter(pk=scan_id).first()
    if scan is None or not scan.is_active:
        return scan
    PersonalDataScan.objects.filter(pk=scan.pk).update(
        state=PersonalDataScan.State.RUNNING, heartbeat_at=timezone.now()
    )
    scan.state = PersonalDataScan.State.RUNNING
    try:
        while True:
            done = _chunk_scan(scan)
            if done is None:
                break
            scanned, found, last_id = done
            scan.scanned += scanned
            scan.found += found
            scan.last_id = last_id
            scan.heartbeat_at = timezone.now()
            PersonalDataScan.objects.filter(pk=scan.pk).update(
                scanned=scan.scanned,
                found=scan.found,
                last_id=scan.last_id,
                heartbeat_at=scan.heartbeat_at,
            )
            if progress is not None:
                progress(scan)
    except Exception as exc:
        PersonalDataScan.objects.filter(pk=scan.pk).update(
            state=PersonalDataScan.State.FAILED,
            finished_at=timezone.now(),
            error_message=f"Stopped by an error ({type(exc).__name__}).",
        )
        raise
    scan.state = PersonalDataScan.State.COMPLETED
    scan.finished_at = timezone.now()
    PersonalDataScan.objects.filter(pk=scan.pk).update(
        state=scan.state, finished_at=scan.finished_at, scanned=scan.scanned, found=scan.found
    )
    audit_record(
        user=actor,
        action=AuditEvent.Action.PERSONAL_DATA_SCAN,
        outcome=(
            f"scan #{scan.pk} (detector {scan.detector_version}"
            f"{', every row' if scan.every_row else ''}): {scan.scanned} rows scanned, "
            f"{scan.found} with personal data"
        ),
    )
    return scan


def latest_scan() -> PersonalDataScan | None:
    return PersonalDataScan.objects.order_by("-created_at", "-id").first()


def scans_to_resume() -> list[PersonalDataScan]:
    """Active scans whose worker has gone silent (no heartbeat for the stale time)."""
    stale = timezone.now() - timedelta(seconds=settings.BULK_DELETE_STALE_SECONDS)
    return list(
        PersonalDataScan.objects.filter(
            state__in=PersonalDataScan.ACTIVE_STATES, heartbeat_at__lt=stale
        )
    )


def scan_taken_over(scan: PersonalDataScan) -> bool:
    """Claim a stale scan for a new task (one caller wins)."""
    return bool(
        PersonalDataScan.objects.filter(pk=scan.pk, heartbeat_at=scan.heartbeat_at).update(
            heartbeat_at=timezone.now()
        )
    )


def scan_task_recorded(scan: PersonalDataScan, task_id: str) -> None:
    PersonalDataScan.objects.filter(pk=scan.pk).update(task_id=task_id)
    scan.task_id = task_id
