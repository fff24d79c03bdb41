"""Start the Twilio sandbox and the dashboard pointed at it, for a local demo."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from sandbox.demo import DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN
from transcriptions import roles

DEMO_USERS = [
    ("viewer", roles.VIEWERS),
    ("reviewer", roles.REVIEWERS),
    ("deleter", roles.DELETERS),
    ("privacy", roles.PRIVACY_OFFICERS),
]
ADMIN_USER = "admin"


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _wait_for_port(host: str, port: int, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(f"The process for port {port} exited early ({process.returncode}).")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise CommandError(f"Nothing answered on {host}:{port} after {seconds:.0f} s.")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = (
        "Run the demo: the Twilio sandbox with seeded transcriptions, a first sync, and the "
        "dashboard on local addresses, with one login per role. Ctrl-C stops everything."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--sandbox-port", type=int, default=8765)
        parser.add_argument("--seed-count", type=int, default=1000)
        parser.add_argument(
            "--arrivals-per-minute",
            type=float,
            default=6.0,
            help="New transcriptions a minute at the sandbox, announced to the dashboard by "
            "Twilio's callback (0: none).",
        )

    def handle(
        self,
        *args,
        host: str,
        port: int,
        sandbox_port: int,
        seed_count: int,
        arrivals_per_minute: float,
        **options,
    ):
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise CommandError("The demo serves local addresses only.")
        for name, wanted in (("dashboard", port), ("sandbox", sandbox_port)):
            if not _port_is_free(host, wanted):
                raise CommandError(f"Port {wanted} for the {name} is taken; is a demo running?")

        logins = self._ensure_demo_users()
        sandbox_url = f"http://{host}:{sandbox_port}"
        env = {
            **os.environ,
            "DEBUG": "1",
            "TWILIO_API_BASE_URL": sandbox_url,
            "TWILIO_ACCOUNT_SID": DEMO_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": DEMO_AUTH_TOKEN,
            # The sandbox's callbacks are signed over the address it posts to.
            "PUBLIC_BASE_URL": f"http://{host}:{port}",
            "PYTHONUNBUFFERED": "1",
        }
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        processes: list[subprocess.Popen] = []

        def stop_all() -> None:
            for process in reversed(processes):
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            for process in reversed(processes):
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

        # SIGTERM (e.g. from a service manager) stops the demo as Ctrl-C does.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            sandbox = subprocess.Popen(
                [
                    *manage,
                    "twilio_sandbox",
                    "--host",
                    host,
                    "--port",
                    str(sandbox_port),
                    "--seed-count",
                    str(seed_count),
                    "--account-sid",
                    DEMO_ACCOUNT_SID,
                    "--auth-token",
                    DEMO_AUTH_TOKEN,
                    "--arrivals-per-minute",
                    str(arrivals_per_minute),
                    "--callback-url",
                    f"http://{host}:{port}/twilio/transcription-callback/",
                ],
                env=env,
                # Own process groups: Ctrl-C reaches only this command, which then stops
                # the children in order (otherwise their exit races the interrupt).
                process_group=0,
            )
            processes.append(sandbox)
            _wait_for_port(host, sandbox_port, sandbox, 60)

            self.stdout.write("First sync from the sandbox into the cache:")
            subprocess.run([*manage, "sync_transcriptions"], env=env, check=True)

            web = subprocess.Popen(
                [*manage, "runserver", "--noreload", f"{host}:{port}"], env=env, process_group=0
            )
            processes.append(web)
            _wait_for_port(host, port, web, 60)

            # Background jobs, one worker beside the web server (it first queues again any
            # bulk deletion a worker of the last demo left unfinished).
            worker = subprocess.Popen(
                [*manage, "db_worker", "--no-reload"], env=env, process_group=0
            )
            processes.append(worker)

            self.stdout.write("")
            self.stdout.write(
                self.style.SUCCESS(f"Transcript Desk is running on http://{host}:{port}/")
            )
            self.stdout.write(f"Twilio sandbox: {sandbox_url} (account {DEMO_ACCOUNT_SID})")
            self.stdout.write("Logins (user / password / role):")
            for username, password, role in logins:
                self.stdout.write(f"  {username:<9} {password}  {role}")
            self.stdout.write("Press Ctrl-C to stop.")
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
            raise CommandError("A demo process stopped on its own; stopping the rest.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the demo.")
        except subprocess.CalledProcessError as exc:
            raise CommandError(f"The first sync failed (exit status {exc.returncode}).") from exc
        finally:
            stop_all()

    def _ensure_demo_users(self) -> list[tuple[str, str, str]]:
        """One user per role plus a superuser; passwords are made once and kept under var/."""
        password_file = Path(settings.BASE_DIR) / "var" / "demo-logins.txt"
        password_file.parent.mkdir(exist_ok=True)
        saved: dict[str, str] = {}
        if password_file.exists():
            for line in password_file.read_text().splitlines():
                name, _, password = line.partition(" ")
                saved[name] = password
        User = get_user_model()
        logins = []
        for username, role in [*DEMO_USERS, (ADMIN_USER, "superuser")]:
            password = saved.get(username) or secrets.token_urlsafe(9)
            user, _ = User.objects.get_or_create(username=username)
            if not user.check_password(password):
                user.set_password(password)
            user.is_superuser = user.is_staff = role == "superuser"
            user.save()
            if role != "superuser":
                user.groups.set([Group.objects.get(name=role)])
            saved[username] = password
            logins.append((username, password, role))
        password_file.write_text("".join(f"{name} {pw}\n" for name, pw in saved.items()))
        password_file.chmod(0o600)
        return logins
