"""`manage.py scan_personal_data`: run the personal-data detector over the cached text."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from transcriptions.personal_data.scan import (
    ScanAlreadyRunning,
    personal_data_scan_run,
    personal_data_scan_start,
)
from transcriptions.words import plural


class Command(BaseCommand):
    help = (
        "Look for personal data in the cached transcripts that the current detector has not "
        "scanned (rows cached before it, or by an older version), or in every row with --all "
        "(after PERSONAL_DATA_HASH_KEY changed). Runs here, in chunks, and resumes where an "
        "interrupted scan stopped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--all", action="store_true", dest="every_row", help="Scan every cached row again."
        )

    def handle(self, *args, every_row: bool, **options) -> None:
        try:
            scan = personal_data_scan_start(every_row=every_row)
        except ScanAlreadyRunning as exc:
            scan = exc.scan
            if not every_row or scan.every_row:
                self.stdout.write(f"Resuming scan #{scan.pk} after row id {scan.last_id}.")
            else:
                raise CommandError(f"{exc} Let it finish, then run this again.") from None
        verbosity = options.get("verbosity", 1)

        def progress(s) -> None:
            if verbosity > 1:
                self.stdout.write(f"  {s.scanned} of {s.total} scanned")

        done = personal_data_scan_run(scan_id=scan.pk, progress=progress)
        assert done is not None
        self.stdout.write(
            self.style.SUCCESS(
                f"Scanned {plural(done.scanned, 'transcription')}: "
                f"{plural(done.found, 'transcription')} with personal data."
            )
        )
