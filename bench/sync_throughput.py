"""How fast `manage.py sync_transcriptions` fills an empty cache, against a per-row baseline.

Starts the Twilio sandbox in its own process with --rows transcriptions, runs the sync command
as a subprocess into an empty database (a throwaway SQLite file, or --database-url), and prints
rows per second of the command's wall time (start-up included) and its peak memory. In the same
run it measures the naive way, one `update_or_create` per item, on a --baseline-rows account,
and prints the ratio. Targets: >= 10,000 rows/s, >= 10x the baseline, peak memory < 200 MB.

    python bench/sync_throughput.py [--rows 100000] [--baseline-rows 10000]
        [--database-url postgres://postgres@127.0.0.1:5432/bench]

With --latency-ms (Twilio's pace: each page answered after that delay), it measures instead
how well writing overlaps fetching: the wall time of `sync_transcriptions` over --rows against
the bare time to fetch the same pages one after another and do nothing with them (the floor,
Twilio's paging being sequential), both as commands in their own processes, in the same run.
Target: within 1.15x of the floor.

Personal-data detection runs in every sync. In the same run the bench measures the sync of
--rows with detection left out (the same command in a process where the detector finds
nothing; the difference is what detection costs), and then the rescan (`scan_personal_data`)
of the rows the sync wrote, every row counted as scanned by an older detector. Targets: the
sync with detection >= 10,000 rows/s; the rescan >= 5,000 rows/s.

    python bench/sync_throughput.py --rows 1000000 --latency-ms 300

--database-url is emptied of transcriptions and sync runs: never point it at a real cache.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token-not-a-secret"
SANDBOX_LINE = re.compile(r"Twilio sandbox on (http://\S+) ")
TARGET_ROWS_PER_SECOND = 10_000
TARGET_RATIO = 10.0
TARGET_PEAK_MB = 200.0
TARGET_OVER_FETCH = 1.15
TARGET_SCAN_ROWS_PER_SECOND = 5_000


@dataclass
class Measured:
    seconds: float
    peak_mb: float
    rows: int

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sandbox:
    """`manage.py twilio_sandbox` in its own process, until the `with` block ends."""

    def __init__(self, *, rows: int, workdir: Path, latency_ms: int = 0) -> None:
        self.rows = rows
        self.latency_ms = latency_ms
        self.log = workdir / f"sandbox-{rows}.log"
        self.url = ""
        self.started_in = 0.0

    def __enter__(self) -> Sandbox:
        start = time.perf_counter()
        command = [
            *MANAGE,
            "twilio_sandbox",
            "--port",
            str(free_port()),
            "--seed-count",
            str(self.rows),
            "--account-sid",
            ACCOUNT_SID,
            "--auth-token",
            AUTH_TOKEN,
            "--latency-ms",
            str(self.latency_ms),
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                cwd=ROOT,
            )
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            match = SANDBOX_LINE.search(self.log.read_text())
            if match:
                self.url = match.group(1)
                self.started_in = time.perf_counter() - start
                return self
            if self.process.poll() is not None:
                raise SystemExit(f"The sandbox exited:\n{self.log.read_text()}")
            time.sleep(0.1)
        self.process.kill()
        raise SystemExit("The sandbox did not start within 15 minutes")

    def __exit__(self, *exc_info: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_measured(command: list[str], *, env: dict[str, str], output: Path) -> tuple[float, float]:
    """Run a command to completion; its wall time in seconds and its peak RSS in MB. The
    rusage comes from wait4 on that one process, so nothing else counts towards it."""
    start = time.perf_counter()
    with output.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[1:3])} failed:\n{output.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def django_env(database_url: str, sandbox_url: str = "") -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TWILIO_")}
    env.update(DATABASE_URL=database_url, DEBUG="", PYTHONUNBUFFERED="1")
    if sandbox_url:
        env.update(
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_API_BASE_URL=sandbox_url,
        )
    return env


def manage(*args: str, database_url: str) -> str:
    result = subprocess.run(
        [*MANAGE, *args],
        env=django_env(database_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


# An empty cache as a new deployment has it: on PostgreSQL, TRUNCATE leaves no dead rows for
# vacuum to chase during the next measurement, as a DELETE of 100,000 rows would.
EMPTY_CACHE = """
from django.db import connection
from transcriptions.models import SyncRun, Transcription
if connection.vendor == "postgresql":
    tables = ", ".join(model._meta.db_table for model in (Transcription, SyncRun))
    connection.cursor().execute(f"TRUNCATE {tables}")
else:
    Transcription.objects.all().delete()
    SyncRun.objects.all().delete()
    connection.cursor().execute("VACUUM")
"""


def cache_empty(database_url: str) -> None:
    manage("shell", "-c", EMPTY_CACHE, database_url=database_url)


def cache_count(database_url: str) -> int:
    out = manage(
        "shell",
        "-c",
        "from transcriptions.models import Transcription; print(Transcription.objects.count())",
        database_url=database_url,
    )
    return int(out.strip().splitlines()[-1])


def measure_sync(*, sandbox: Sandbox, database_url: str, workdir: Path) -> Measured:
    cache_empty(database_url)
    output = workdir / f"sync-{sandbox.rows}.log"
    seconds, peak_mb = run_measured(
        [*MANAGE, "sync_transcriptions"],
        env=django_env(database_url, sandbox.url),
        output=output,
    )
    count = cache_count(database_url)
    if count != sandbox.rows:
        raise SystemExit(f"The sync left {count} rows, not {sandbox.rows}:\n{output.read_text()}")
    return Measured(seconds=seconds, peak_mb=peak_mb, rows=sandbox.rows)


def measure_sync_without_detection(
    *, sandbox: Sandbox, database_url: str, workdir: Path
) -> Measured:
    cache_empty(database_url)
    output = workdir / f"sync-nodetect-{sandbox.rows}.log"
    seconds, peak_mb = run_measured(
        [sys.executable, __file__, "--sync-without-detection"],
        env=django_env(database_url, sandbox.url),
        output=output,
    )
    count = cache_count(database_url)
    if count != sandbox.rows:
        raise SystemExit(f"The sync left {count} rows, not {sandbox.rows}:\n{output.read_text()}")
    return Measured(seconds=seconds, peak_mb=peak_mb, rows=sandbox.rows)


# Every cached row as an older detector left it: what a detector upgrade makes the rescan do.
ROWS_FROM_AN_OLDER_DETECTOR = """
from transcriptions.models import Transcription
print(Transcription.objects.update(personal_data_version=0))
"""


def measure_rescan(*, database_url: str, workdir: Path) -> Measured:
    rows = int(
        manage("shell", "-c", ROWS_FROM_AN_OLDER_DETECTOR, database_url=database_url)
        .strip()
        .splitlines()[-1]
    )
    seconds, peak_mb = run_measured(
        [*MANAGE, "scan_personal_data"],
        env=django_env(database_url),
        output=workdir / "scan.log",
    )
    return Measured(seconds=seconds, peak_mb=peak_mb, rows=rows)


def sync_without_detection_worker() -> None:
    """`sync_transcriptions` in a process whose detector finds nothing: the same sync
    without the cost of detection."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from transcriptions.personal_data.pool import Detection

    empty = {"personal_data": 0, "personal_data_found": None, "personal_data_version": 0}
    Detection.submit = lambda self, texts: None  # type: ignore[method-assign]
    Detection.result = lambda self, future, texts: [empty] * len(texts)  # type: ignore[method-assign]
    call_command("sync_transcriptions")


def measure_baseline(*, sandbox: Sandbox, database_url: str, workdir: Path) -> Measured:
    cache_empty(database_url)
    seconds, peak_mb = run_measured(
        [sys.executable, __file__, "--baseline-worker"],
        env=django_env(database_url, sandbox.url),
        output=workdir / f"baseline-{sandbox.rows}.log",
    )
    count = cache_count(database_url)
    if count != sandbox.rows:
        raise SystemExit(f"The baseline left {count} rows, not {sandbox.rows}")
    return Measured(seconds=seconds, peak_mb=peak_mb, rows=sandbox.rows)


def baseline_worker() -> None:
    """The naive sync the real one is measured against: one update_or_create per item."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from django.utils import timezone

    from transcriptions.models import Transcription
    from transcriptions.retention import retention_cutoff
    from transcriptions.sync import transcription_fields
    from transcriptions.twilio_client import get_client

    with get_client() as client:
        for item in client.iter_transcriptions(page_size=1000):
            now = timezone.now()
            Transcription.objects.update_or_create(
                sid=item.sid,
                defaults=transcription_fields(
                    item,
                    account_sid=client.account_sid,
                    synced_at=now,
                    text_cutoff=retention_cutoff(now=now),
                ),
            )


def fetch_worker() -> None:
    """The floor: every page of the account fetched one after another, as the sync fetches
    them (same client, same page size), and nothing done with them."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from transcriptions.sync import PAGE_SIZE
    from transcriptions.twilio_client import get_client

    items = 0
    with get_client() as client:
        for page in client.iter_transcription_pages(page_size=PAGE_SIZE):
            items += len(page)
    print(items)


def overlap_main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        workdir = Path(tmp)
        database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
        engine = database_url.split(":", 1)[0]
        manage("migrate", "--no-input", database_url=database_url)
        with Sandbox(rows=args.rows, workdir=workdir, latency_ms=args.latency_ms) as sandbox:
            print(
                f"sandbox: {args.rows:,} transcriptions, {args.latency_ms} ms a page, "
                f"started in {sandbox.started_in:.1f} s",
                flush=True,
            )
            fetch_seconds, _ = run_measured(
                [sys.executable, __file__, "--fetch-worker"],
                env=django_env(database_url, sandbox.url),
                output=workdir / "fetch.log",
            )
            print(f"bare fetch of every page: {fetch_seconds:.1f} s", flush=True)
            synced = measure_sync(sandbox=sandbox, database_url=database_url, workdir=workdir)
        cache_empty(database_url)
    ratio = synced.seconds / fetch_seconds
    pages = -(-args.rows // 1000)
    print(f"database: {engine}")
    print(
        f"sync_transcriptions, {synced.rows:,} rows ({pages:,} pages at {args.latency_ms} ms): "
        f"{synced.seconds:.1f} s wall, against {fetch_seconds:.1f} s to fetch the same pages "
        f"one after another: {ratio:.3f}x the floor (target <= {TARGET_OVER_FETCH}x: "
        f"{verdict(ratio <= TARGET_OVER_FETCH)}); peak memory {synced.peak_mb:.0f} MB"
    )


def verdict(ok: bool) -> str:
    return "yes" if ok else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=10_000)
    parser.add_argument(
        "--database-url",
        default="",
        help="a database to empty and fill (default: a throwaway SQLite file)",
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="measure the overlap of writing and fetching at this delay per page instead",
    )
    parser.add_argument("--baseline-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fetch-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sync-without-detection", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sync_without_detection:
        sync_without_detection_worker()
        return
    if args.baseline_worker:
        baseline_worker()
        return
    if args.fetch_worker:
        fetch_worker()
        return
    if args.latency_ms:
        overlap_main(args)
        return

    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        workdir = Path(tmp)
        database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
        engine = database_url.split(":", 1)[0]
        manage("migrate", "--no-input", database_url=database_url)

        with Sandbox(rows=args.rows, workdir=workdir) as sandbox:
            print(
                f"sandbox: {args.rows:,} transcriptions, started in {sandbox.started_in:.1f} s",
                flush=True,
            )
            synced = measure_sync(sandbox=sandbox, database_url=database_url, workdir=workdir)
            rescan = measure_rescan(database_url=database_url, workdir=workdir)
            undetected = measure_sync_without_detection(
                sandbox=sandbox, database_url=database_url, workdir=workdir
            )
        with Sandbox(rows=args.baseline_rows, workdir=workdir) as small:
            baseline = measure_baseline(sandbox=small, database_url=database_url, workdir=workdir)
            synced_small = measure_sync(sandbox=small, database_url=database_url, workdir=workdir)
        cache_empty(database_url)

    ratio = synced.rate / baseline.rate
    ratio_same = synced_small.rate / baseline.rate
    print(f"database: {engine}")
    print(
        f"sync_transcriptions, {synced.rows:,} rows: {synced.seconds:.2f} s wall (start-up "
        f"included) = {synced.rate:,.0f} rows/s; peak memory {synced.peak_mb:.0f} MB"
    )
    print(
        f"the same sync without personal-data detection: {undetected.seconds:.2f} s "
        f"= {undetected.rate:,.0f} rows/s "
        f"(with detection it takes {synced.seconds / undetected.seconds:.2f}x as long)"
    )
    print(
        f"rescan (scan_personal_data) of {rescan.rows:,} rows: {rescan.seconds:.2f} s wall "
        f"= {rescan.rate:,.0f} rows/s; peak memory {rescan.peak_mb:.0f} MB"
    )
    print(
        f"per-row baseline (update_or_create), {baseline.rows:,} rows: {baseline.seconds:.2f} s "
        f"= {baseline.rate:,.0f} rows/s; peak memory {baseline.peak_mb:.0f} MB"
    )
    print(
        f"sync_transcriptions, the same {synced_small.rows:,} rows: {synced_small.seconds:.2f} s "
        f"= {synced_small.rate:,.0f} rows/s; peak memory {synced_small.peak_mb:.0f} MB"
    )
    print(
        f"ratio: {ratio:.1f}x ({synced.rows:,}-row sync against the baseline), "
        f"{ratio_same:.1f}x on the same {baseline.rows:,} rows"
    )
    print(
        f"targets: >= {TARGET_ROWS_PER_SECOND:,} rows/s: "
        f"{verdict(synced.rate >= TARGET_ROWS_PER_SECOND)}; "
        f">= {TARGET_RATIO:.0f}x baseline: {verdict(ratio >= TARGET_RATIO)}; "
        f"peak memory < {TARGET_PEAK_MB:.0f} MB: {verdict(synced.peak_mb < TARGET_PEAK_MB)}; "
        f"rescan >= {TARGET_SCAN_ROWS_PER_SECOND:,} rows/s: "
        f"{verdict(rescan.rate >= TARGET_SCAN_ROWS_PER_SECOND)}"
    )


if __name__ == "__main__":
    main()
