"""`manage.py purge_transcript_text`: apply TRANSCRIPT_TEXT_RETENTION_DAYS to the cache."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from transcriptions.retention import purge_transcript_text, retention_cutoff


class Command(BaseCommand):
    help = (
        "Clear the cached text of every transcription older than "
        "TRANSCRIPT_TEXT_RETENTION_DAYS (counted from its date_created)."
    )

    def handle(self, *args, **options) -> None:
        now = timezone.now()
        try:
            cutoff = retention_cutoff(now=now)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        if cutoff is None:
            self.stdout.write(
                "TRANSCRIPT_TEXT_RETENTION_DAYS is not set: cached text is kept as long as "
                "Twilio keeps it. Nothing cleared."
            )
            return
        cleared = purge_transcript_text(now=now)
        days = settings.TRANSCRIPT_TEXT_RETENTION_DAYS
        noun = "transcription" if cleared == 1 else "transcriptions"
        self.stdout.write(
            self.style.SUCCESS(
                f"Cleared the cached text of {cleared:,} {noun} created before "
                f"{timezone.localtime(cutoff):%Y-%m-%d %H:%M} (retention: {days} days)."
            )
        )
