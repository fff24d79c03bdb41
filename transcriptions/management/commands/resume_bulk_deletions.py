"""Queue again the bulk deletions whose worker died, for the next worker to finish."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from transcriptions.tasks import resume_bulk_deletions


class Command(BaseCommand):
    help = (
        "Queue again every unfinished bulk deletion whose worker stopped reporting (a stale "
        "heartbeat). Run it before starting workers; the bulk deletion pages do it too."
    )

    def handle(self, *args, **options) -> None:
        resumed = resume_bulk_deletions()
        if resumed:
            self.stdout.write("Queued again: " + ", ".join(f"#{pk}" for pk in resumed))
        else:
            self.stdout.write("No bulk deletion needed resuming.")
