"""`manage.py apply_retention`: delete the transcriptions older than a number of days."""

from __future__ import annotations

import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from transcriptions.retention import (
    RETENTION_REASON,
    RetentionPolicyError,
    RetentionPreview,
    retention_apply,
    retention_policy_parse,
    retention_preview,
)
from transcriptions.tasks import bulk_deletion_enqueue
from transcriptions.twilio_client import twilio_configuration_problem
from transcriptions.words import plural, typed_count_matches

CONFIRM_PROMPT = "Type the count to confirm ({count}), anything else aborts: "


class Command(BaseCommand):
    help = (
        "Delete, at Twilio and in the cache, the transcriptions created more than DAYS days ago "
        "(only those of --status, or holding --personal-data, when given). Shows the count "
        "and a sample first, then asks "
        "for the count to be typed unless --yes; runs as a bulk deletion with reason "
        f'"{RETENTION_REASON}" that a db_worker carries out.'
    )
    # Tests hand the confirmation in through call_command(..., stdin=StringIO(...)).
    stealth_options = ("stdin",)

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than",
            required=True,
            dest="older_than",
            metavar="DAYS",
            help="Delete transcriptions created more than DAYS days ago (0 or more).",
        )
        parser.add_argument(
            "--status",
            default=None,
            help="Only transcriptions with this status (completed, failed, in-progress).",
        )
        parser.add_argument(
            "--personal-data",
            action="append",
            default=[],
            dest="personal_data",
            metavar="KIND",
            help="Only transcriptions whose text holds this kind of personal data (repeatable; "
            "card_number, card_expiry, card_security_code, iban, ssn, bank_routing, "
            "phone_number, email, date_of_birth, or any).",
        )
        parser.add_argument(
            "--with-recordings",
            action="store_true",
            help="Also delete each transcription's call recording at Twilio.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what the policy would delete, and stop.",
        )
        parser.add_argument(
            "--yes",
            action="store_true",
            help="Do not ask for confirmation.",
        )
        parser.add_argument(
            "--user",
            default=None,
            metavar="USERNAME",
            help='Record this user as the one who applied the policy (default: "command line").',
        )
        parser.add_argument(
            "--sample",
            type=int,
            default=10,
            metavar="N",
            help="How many of the oldest matching transcriptions to list (default 10).",
        )

    def handle(
        self,
        *args,
        older_than: str,
        status: str | None,
        personal_data: list[str],
        dry_run: bool,
        yes: bool,
        user: str | None,
        sample: int,
        **options,
    ) -> None:
        try:
            policy = retention_policy_parse(
                older_than_days=older_than,
                status=status,
                personal_data=personal_data,
                with_recordings=options["with_recordings"],
            )
        except RetentionPolicyError as exc:
            raise CommandError(str(exc)) from None
        actor = self._actor(user)

        preview = retention_preview(policy=policy, sample_size=max(sample, 0))
        self._show_preview(preview)
        if dry_run:
            self.stdout.write("Dry run: nothing deleted.")
            return
        if preview.count == 0:
            self.stdout.write("Nothing to delete.")
            return
        problem = twilio_configuration_problem()
        if problem:
            raise CommandError(f"Twilio is not configured: {problem} Nothing deleted.")
        if not yes:
            self._confirm(preview.count, stdin=options.get("stdin") or sys.stdin)

        started = retention_apply(
            policy=policy,
            cutoff=preview.cutoff,
            actor=actor,
            via="" if actor is not None else "command line",
        )
        bulk = started.bulk_deletion
        bulk_deletion_enqueue(bulk)
        try:
            where = f" Follow it at {reverse('transcriptions:bulk-detail', args=[bulk.pk])}."
        except NoReverseMatch:
            where = ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Started bulk deletion #{bulk.pk} of {plural(started.count, 'transcription')} "
                f'(reason "{RETENTION_REASON}"). A db_worker carries it out.{where}'
            )
        )

    def _actor(self, username: str | None):
        if not username:
            return None
        model = get_user_model()
        try:
            return model._default_manager.get_by_natural_key(username)
        except model.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None

    def _show_preview(self, preview: RetentionPreview) -> None:
        cutoff = timezone.localtime(preview.cutoff)
        self.stdout.write(
            f"Policy: {preview.policy.describe()} (before {cutoff:%Y-%m-%d %H:%M %Z})."
        )
        self.stdout.write(
            f"It would delete {plural(preview.count, 'cached transcription')}, "
            "at Twilio and in the cache."
        )
        if preview.sample:
            shown = len(preview.sample)
            self.stdout.write(
                f"The oldest {shown} of them:" if shown < preview.count else "All of them:"
            )
            for t in preview.sample:
                created = timezone.localtime(t.date_created)
                duration = "—" if t.duration is None else f"{t.duration} s"
                self.stdout.write(
                    f"  {created:%Y-%m-%d %H:%M}  {t.sid}  {t.recording_sid}  "
                    f"{t.status:<11}  {duration}"
                )

    def _confirm(self, count: int, *, stdin) -> None:
        """Ask for the count to be typed; anything else, or no input at all, aborts."""
        self.stdout.write(CONFIRM_PROMPT.format(count=count), ending="")
        self.stdout.flush()
        answer = stdin.readline() if stdin is not None else ""
        if stdin is None or not stdin.isatty():
            self.stdout.write("")  # a terminal echoed the answer and its newline; a pipe did not
        if not answer:
            raise CommandError("No confirmation (end of input). Nothing deleted.")
        if not typed_count_matches(answer, count):
            raise CommandError(
                f"Confirmation did not match: typed {answer.strip()[:40]!r}, the count is "
                f"{count}. Nothing deleted."
            )
