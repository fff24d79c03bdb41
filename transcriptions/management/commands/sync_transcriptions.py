"""`manage.py sync_transcriptions`: copy the Twilio account's transcriptions into the cache."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from transcriptions.models import SyncRun
from transcriptions.sids import InvalidRecordingSid, recording_sid_validate
from transcriptions.sync import (
    SyncAlreadyRunning,
    recording_transcriptions_sync,
    transcriptions_head_sync,
    transcriptions_sync,
)
from transcriptions.twilio_client import TwilioClient, TwilioError, get_client
from transcriptions.words import plural

# Progress is redrawn at most this often (seconds): on a terminal in place, elsewhere as lines.
TTY_PROGRESS_INTERVAL = 0.1
LOG_PROGRESS_INTERVAL = 2.0


def _seconds(run: SyncRun) -> float:
    return ((run.finished_at or timezone.now()) - run.started_at).total_seconds()


def _rate(run: SyncRun) -> str:
    return f"{run.rows_seen / max(_seconds(run), 1e-6):,.0f} rows/s"


def _twilio_problem(exc: TwilioError, client: TwilioClient) -> str:
    """One line saying what went wrong with Twilio and what to check. Never the credentials."""
    if exc.status == 401:
        return (
            f"Twilio rejected the credentials ({exc}). Check TWILIO_ACCOUNT_SID and "
            "TWILIO_AUTH_TOKEN (or TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET)."
        )
    if exc.unreachable:
        return f"{exc.message}. Check TWILIO_API_BASE_URL ({client.base_url}) and the network."
    return str(exc)


class Command(BaseCommand):
    help = (
        "Copy every transcription of the Twilio account into the local cache and remove the "
        "cached ones Twilio no longer has; with --recording, refresh only those recordings; "
        "with --head (and by default with --every), read only what changed since."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--recording",
            action="append",
            default=[],
            dest="recordings",
            metavar="RE…",
            help="Refresh only this recording's transcriptions (repeatable).",
        )
        parser.add_argument(
            "--every",
            type=float,
            metavar="SECONDS",
            help="Keep running: start a sync every SECONDS (counted from the start of the last "
            "one). A failed sync is reported and tried again at the next turn. These are head "
            "syncs (the newest pages, until the cache holds the rest) unless --full.",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="A complete pass (every page; rows Twilio no longer has are removed), also "
            "with --every. Without --every a sync is complete unless --head.",
        )
        parser.add_argument(
            "--head",
            action="store_true",
            help="Read only the newest pages, until the cache already holds the rest.",
        )
        parser.add_argument(
            "--runs",
            type=int,
            metavar="N",
            help="With --every: stop after N syncs (default: run until stopped).",
        )

    def handle(
        self,
        *args,
        recordings: list[str],
        every: float | None = None,
        runs: int | None = None,
        full: bool = False,
        head: bool = False,
        verbosity: int = 1,
        **options,
    ) -> None:
        self._verbosity = verbosity
        if full and head:
            raise CommandError("--full and --head exclude each other.")
        self._head = head or (every is not None and not full)
        if every is not None and every <= 0:
            raise CommandError("--every takes a number of seconds above 0.")
        if runs is not None and (every is None or runs < 1):
            raise CommandError("--runs takes a whole number of at least 1, with --every.")
        try:
            for recording_sid in recordings:
                recording_sid_validate(recording_sid)
        except InvalidRecordingSid as exc:
            raise CommandError(str(exc)) from None
        try:
            client = get_client()
        except TwilioError as exc:
            raise CommandError(str(exc)) from None

        if every is None:
            self._sync_once(client, recordings)
            return
        done = 0
        try:
            while runs is None or done < runs:
                started = time.monotonic()
                try:
                    self._sync_once(client, recordings)
                except CommandError as exc:
                    if exc.returncode == 130:
                        raise
                    self.stderr.write(f"{timezone.localtime():%Y-%m-%d %H:%M:%S} {exc}")
                done += 1
                if runs is None or done < runs:
                    time.sleep(max(0.0, every - (time.monotonic() - started)))
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")

    def _sync_once(self, client: TwilioClient, recordings: list[str]) -> None:
        """One sync of the account, or of each recording given; CommandError when it fails."""
        self._progress_shown_at = 0.0
        self._progress_width = 0
        started_by = "sync_transcriptions command"
        try:
            with client:
                if recordings:
                    for recording_sid in recordings:
                        run = recording_transcriptions_sync(
                            client=client,
                            recording_sid=recording_sid,
                            progress=self._progress,
                            started_by=started_by,
                        )
                        self._summary(run)
                else:
                    sync = transcriptions_head_sync if self._head else transcriptions_sync
                    run = sync(client=client, progress=self._progress, started_by=started_by)
                    self._summary(run)
        except SyncAlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        except TwilioError as exc:
            self._progress_end()
            raise CommandError(
                f"Sync failed: {_twilio_problem(exc, client)} The cache keeps every row; "
                "run the command again to finish."
            ) from None
        except KeyboardInterrupt:
            self._progress_end()
            raise CommandError(
                "Sync stopped before it was complete. The cache keeps every row; "
                "run the command again to finish.",
                returncode=130,
            ) from None

    def _progress(self, run: SyncRun) -> None:
        if self._verbosity < 1:
            return
        tty = self.stdout.isatty()
        now = time.monotonic()
        interval = TTY_PROGRESS_INTERVAL if tty else LOG_PROGRESS_INTERVAL
        if run.pages > 1 and now - self._progress_shown_at < interval:
            return
        self._progress_shown_at = now
        line = (
            f"{plural(run.pages, 'page')}, {plural(run.rows_seen, 'row')} "
            f"({run.created:,} new, {run.updated:,} updated), {_rate(run)}"
        )
        if tty:
            # Redraw in place; pad over the end of a longer previous line.
            self.stdout.write("\r" + line.ljust(self._progress_width), ending="")
            self._progress_width = len(line)
            self.stdout.flush()
        else:
            self.stdout.write(line)

    def _progress_end(self) -> None:
        if self._progress_width:
            self.stdout.write("")
            self._progress_width = 0

    def _summary(self, run: SyncRun) -> None:
        self._progress_end()
        if self._verbosity < 1:
            return
        what = f"recording {run.recording_sid}" if run.recording_sid else "the account"
        if run.kind == SyncRun.Kind.HEAD:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Synced the account's newest transcriptions: {plural(run.pages, 'page')} "
                    f"read, {run.created:,} new, {run.updated:,} changed, "
                    f"{_seconds(run):.1f}s."
                )
            )
            for line in run.problem_lines:
                self.stdout.write(self.style.WARNING(line))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Synced {what}: {plural(run.rows_seen, 'transcription')} in "
                f"{plural(run.pages, 'page')}, {_seconds(run):.1f}s ({_rate(run)}): "
                f"{run.created:,} new, {run.updated:,} updated, {run.removed:,} removed."
            )
        )
        for line in run.problem_lines:
            self.stdout.write(self.style.WARNING(line))
