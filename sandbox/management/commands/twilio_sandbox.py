"""`python manage.py twilio_sandbox`: serve the Twilio-compatible sandbox until stopped."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.arrivals import Arrivals
from sandbox.demo import DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN
from sandbox.server import ACCOUNT_SID_RE, Faults, SandboxServer
from sandbox.store import TranscriptionStore


class Command(BaseCommand):
    help = "Serve a Twilio-compatible Transcriptions API with seeded data until stopped."

    # The sandbox needs no database and no system checks; it must start on a bare clone.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--seed-count", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--seed-file",
            default=None,
            metavar="PATH",
            help="Also load transcriptions from this JSON Lines file: one object per line with "
            "Twilio's wire fields (transcription_text, status, sid, recording_sid, duration, "
            "price, date_created ...); missing fields are filled as the seeder would. Beside "
            "--seed-count (use --seed-count 0 for the file alone).",
        )
        parser.add_argument("--account-sid", default=None)
        parser.add_argument("--auth-token", default=None)
        parser.add_argument("--api-key", default=None)
        parser.add_argument("--api-secret", default=None)
        parser.add_argument("--latency-ms", type=int, default=0)
        parser.add_argument("--error-rate", type=float, default=0.0)
        parser.add_argument("--rate-limit", type=int, default=0)
        parser.add_argument("--drop-rate", type=float, default=0.0)
        parser.add_argument(
            "--arrivals-per-minute",
            type=float,
            default=0.0,
            metavar="N",
            help="New transcriptions appear while it runs, N a minute: first in-progress, then "
            "completed (with text) or failed a few seconds later, newest first in the list.",
        )
        parser.add_argument(
            "--callback-url",
            default="",
            metavar="URL",
            help="POST Twilio's transcription callback, signed with the auth token, to URL "
            "when an arrival completes or fails (the desk's /twilio/transcription-callback/).",
        )
        parser.add_argument(
            "--callback-drop-rate",
            type=float,
            default=0.0,
            metavar="P",
            help="Leave out this share of callbacks (0 to 1), as callbacks that never arrive.",
        )
        parser.add_argument(
            "--verbose-requests", action="store_true", help="log each request to stderr"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account_sid = options["account_sid"]
        auth_token = options["auth_token"]
        demo = account_sid is None and auth_token is None
        if demo:
            account_sid, auth_token = DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN
        elif account_sid is None or auth_token is None:
            raise CommandError("--account-sid and --auth-token go together")
        if not ACCOUNT_SID_RE.match(account_sid):
            raise CommandError("--account-sid must be AC followed by 32 hex digits")
        if (options["api_key"] is None) != (options["api_secret"] is None):
            raise CommandError("--api-key and --api-secret go together")
        if options["seed_count"] < 0:
            raise CommandError("--seed-count must be 0 or more")
        for name in ("error_rate", "drop_rate", "callback_drop_rate"):
            if not 0.0 <= options[name] <= 1.0:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 1")
        if options["latency_ms"] < 0 or options["rate_limit"] < 0:
            raise CommandError("--latency-ms and --rate-limit must be 0 or more")
        if options["arrivals_per_minute"] < 0:
            raise CommandError("--arrivals-per-minute must be 0 or more")
        if options["callback_url"] and not options["callback_url"].startswith(
            ("http://", "https://")
        ):
            raise CommandError("--callback-url must be an http:// or https:// URL")

        store = TranscriptionStore(account_sid=account_sid)
        store.seed(count=options["seed_count"], seed=options["seed"])
        if options["seed_file"]:
            try:
                with open(options["seed_file"], encoding="utf-8") as lines:
                    store.load_jsonl(lines, seed=options["seed"])
            except OSError as exc:
                raise CommandError(f"cannot read --seed-file: {exc.strerror}") from None
            except ValueError as exc:
                raise CommandError(f"--seed-file {options['seed_file']}: {exc}") from None
        faults = Faults(
            latency_ms=options["latency_ms"],
            error_rate=options["error_rate"],
            rate_limit=options["rate_limit"],
            drop_rate=options["drop_rate"],
        )
        try:
            server = SandboxServer(
                store=store,
                host=options["host"],
                port=options["port"],
                account_sid=account_sid,
                auth_token=auth_token,
                api_key=options["api_key"],
                api_secret=options["api_secret"],
                faults=faults,
                verbose=options["verbose_requests"],
            )
        except OSError as exc:
            address = f"{options['host']}:{options['port']}"
            raise CommandError(f"cannot listen on {address}: {exc}") from exc

        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
        server.start()
        arrivals = None
        if options["arrivals_per_minute"]:
            arrivals = Arrivals(
                store=store,
                per_minute=options["arrivals_per_minute"],
                auth_token=auth_token,
                api_base_url=server.url,
                callback_url=options["callback_url"],
                drop_rate=options["callback_drop_rate"],
                seed=options["seed"],
            )
            arrivals.start()
        self.stdout.write(
            f"Twilio sandbox on {server.url} (account {account_sid}, {len(store)} transcriptions)"
        )
        if demo:
            self.stdout.write(
                f"Demo credentials: TWILIO_ACCOUNT_SID={account_sid} TWILIO_AUTH_TOKEN={auth_token}"
            )
        self.stdout.flush()
        sys.stdout.flush()
        try:
            while not stopped.wait(0.5):
                pass
        finally:
            if arrivals is not None:
                arrivals.stop()
            server.stop()
