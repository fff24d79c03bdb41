"""The review table as a new user meets it: a fresh cache filled by a real sync from the
sandbox, served by gunicorn, timed over HTTP. No step in between that the product does not
do itself (no ANALYZE, no VACUUM, no warm-up of the database).

Migrates an empty database (a throwaway SQLite file, or --database-url, which is emptied),
starts the Twilio sandbox with --rows transcriptions, runs `manage.py sync_transcriptions`
against it, starts gunicorn (gunicorn.conf.py, two workers), logs in through the login page,
and times each case of the table as the page's htmx requests ask for it (HX-Request), 50
rows, printing p50 and p95 per case. Target: p95 <= 50 ms for every case.

    python bench/table_live.py [--rows 1000000] [--runs 20]
    python bench/table_live.py --database-url postgres://postgres@127.0.0.1:5432/bench_live
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sync_throughput import (  # noqa: E402 - the sibling bench's sandbox and helpers
    ACCOUNT_SID,
    MANAGE,
    Sandbox,
    cache_empty,
    django_env,
    free_port,
    manage,
)

TARGET_P95_MS = 50.0
PER_PAGE = 50
PASSWORD = "bench-" + secrets.token_urlsafe(12)


def cache_synced(database_url: str, workdir: Path, *, rows: int) -> None:
    """An empty, migrated cache filled by `manage.py sync_transcriptions` from a sandbox of
    `rows` transcriptions, as a new desk fills it."""
    manage("migrate", "--no-input", database_url=database_url)
    cache_empty(database_url)
    with Sandbox(rows=rows, workdir=workdir) as sandbox:
        print(f"sandbox: {rows:,} transcriptions", flush=True)
        started = time.perf_counter()
        sync = subprocess.run(
            [*MANAGE, "sync_transcriptions", "-v", "1"],
            env=django_env(database_url, sandbox.url),
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if sync.returncode != 0:
            raise SystemExit(f"sync failed:\n{sync.stdout[-2000:]}{sync.stderr[-2000:]}")
        print(
            f"sync_transcriptions: {time.perf_counter() - started:.0f} s; "
            + sync.stdout.strip().splitlines()[-1],
            flush=True,
        )


def bench_user() -> None:
    """The administrator the benches log in as (`log_in`'s default)."""
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench-live")
    user.is_superuser = user.is_staff = True
    user.set_password(PASSWORD)
    user.save()


@contextmanager
def served(
    database_url: str,
    workdir: Path,
    *,
    sandbox_url: str = "",
    extra_env: dict[str, str] | None = None,
    workers: int | None = 2,
) -> Iterator[str]:
    """gunicorn (gunicorn.conf.py; `workers` if given) on a free port, as production runs the
    desk, with the sandbox at `sandbox_url` as Twilio when given; yields its base URL once it
    answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **django_env(database_url, sandbox_url),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "PUBLIC_BASE_URL": base,
        **({} if sandbox_url else {"TWILIO_ACCOUNT_SID": ACCOUNT_SID}),
        **(extra_env or {}),
    }
    command = [str(Path(sys.executable).parent / "gunicorn"), "dashboard.wsgi"]
    command += ["--bind", f"127.0.0.1:{port}"]
    if workers:
        command += ["--workers", str(workers)]
    server = subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "gunicorn.log").open("w"),
    )
    try:
        for _ in range(150):
            try:
                requests.get(f"{base}/accounts/login/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def cases(database_url: str) -> list[tuple[str, dict[str, str]]]:
    """Every filter and sort of the table, on rows of the synced account."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()

    from transcriptions.models import Transcription
    from transcriptions.table.paging import Cursor

    bench_user()
    total = Transcription.objects.count()
    newest = Transcription.objects.order_by("-date_created", "-id")
    sample = newest[min(12345, total // 3)]
    deep = newest[min(499 * PER_PAGE, total // 2) - 1]
    day = sample.date_created.date()
    month = {"date_from": day.replace(day=1).isoformat(), "date_to": day.isoformat()}
    return [
        ("no filter", {}),
        ("status=failed", {"status": "failed"}),
        ("q=refund", {"q": "refund"}),
        ("q=garcia", {"q": "garcia"}),
        ("q=garcia refund", {"q": "garcia refund"}),
        ('q="thank you for holding"', {"q": '"thank you for holding"'}),
        ('q="direct debit"', {"q": '"direct debit"'}),
        ('q="direct debit" + failed', {"q": '"direct debit"', "status": "failed"}),
        ("q=refund + failed", {"q": "refund", "status": "failed"}),
        ("q=<recording SID>", {"q": sample.recording_sid}),
        ("recording filter", {"recording": sample.recording_sid}),
        ("recording + completed", {"recording": sample.recording_sid, "status": "completed"}),
        ("q=<SID prefix, 8>", {"q": sample.sid[:8]}),
        ("date range (month)", month),
        ("date range + failed", {**month, "status": "failed"}),
        ("sort=created (oldest)", {"sort": "created"}),
        ("sort=duration", {"sort": "duration"}),
        ("sort=-duration", {"sort": "-duration"}),
        ("sort=status", {"sort": "status"}),
        ("sort=-status", {"sort": "-status"}),
        ("page 500", {"after": Cursor.of(deep, sort="-created").encode()}),
        ("last page", {"last": "1"}),
    ]


def log_in(base: str, username: str = "bench-live", password: str = PASSWORD) -> requests.Session:
    """A session logged in through the login page, as a browser does (CSRF token and all)."""
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    answer = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=30,
        allow_redirects=False,
    )
    assert answer.status_code == 302, f"login failed: {answer.status_code}"
    return session


def timed(session: requests.Session, url: str, params: dict, runs: int) -> list[float]:
    headers = {"HX-Request": "true", "HX-Current-URL": url}
    samples = []
    for index in range(runs + 1):
        started = time.perf_counter()
        response = session.get(url, params={**params, "per_page": PER_PAGE}, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (params, response.status_code)
        if index:  # the first is the same request a user makes first, shown apart
            samples.append(elapsed)
        else:
            first = elapsed
    samples.insert(0, first)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="table-live-") as tmp:
        workdir = Path(tmp)
        database_url = args.database_url or f"sqlite:///{workdir / 'live.sqlite3'}"
        cache_synced(database_url, workdir, rows=args.rows)
        table_cases = cases(database_url)
        with served(database_url, workdir) as base:
            session = log_in(base)
            print(f"\n{'case (htmx, 50 rows)':<26} {'first':>8} {'p50':>8} {'p95':>8}")
            missed = []
            for name, params in table_cases:
                samples = timed(session, f"{base}/", params, args.runs)
                first, rest = samples[0], samples[1:]
                p50 = statistics.median(rest)
                p95 = statistics.quantiles(rest, n=20, method="inclusive")[18]
                print(f"{name:<26} {first:8.1f} {p50:8.1f} {p95:8.1f}", flush=True)
                if p95 > TARGET_P95_MS:
                    missed.append(f"{name}: p95 {p95:.1f} ms")
        engine = database_url.split(":", 1)[0]
        print(f"\ndatabase: {engine}; times in ms over HTTP through gunicorn; target p95 <= 50 ms")
        for line in missed:
            print(f"MISSED {line}")
        if args.database_url:
            cache_empty(database_url)
        return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
