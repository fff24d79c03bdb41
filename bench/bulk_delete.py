"""How fast a bulk deletion of 1,000 transcriptions runs, against 1,000 DELETEs one after the
other, and whether it stays exact when Twilio rate-limits it.

Each measurement starts a fresh Twilio sandbox in its own process (`--latency-ms 100`, the
same seeded items every time), fills the cache from it, and then:

1. baseline: the same SIDs deleted one at a time with the project's client;
2. bulk: `bulk_deletion_start` over those SIDs, run by a real `manage.py db_worker --batch`
   process; timed from the start to the worker's exit (its start-up included);
3. rate-limited: the sandbox answers 429 above `--rate-limit` requests per second; two
   workers share the job while a sync (of another account) writes to the same database.
   Checks that the job
   completes, every SID got exactly one 204 at Twilio (from the sandbox's request log), its
   row left the cache, and no other transcription was touched; counts "database is locked".

    python bench/bulk_delete.py [--count 1000] [--others 200] [--rate-limit 20]
        [--database-url postgres://postgres@127.0.0.1:5432/bench]

Without --database-url a throwaway SQLite file under var/bench/ is used. With one, the bench
works in an account of its own (a random Account SID), so other rows are not touched.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
AUTH_TOKEN = "bench-auth-token-not-a-secret"
LATENCY_MS = 100
TARGET_RATIO = 5.0
DELETE_LINE = re.compile(r'"DELETE \S*/Transcriptions/(TR[0-9a-f]{32})\.json HTTP/1\.[01]" (\d{3})')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sandbox:
    """`manage.py twilio_sandbox` in its own process, until the `with` block ends."""

    def __init__(
        self,
        *,
        account_sid: str,
        items: int,
        workdir: Path,
        name: str,
        main: bool = True,
        seed: int = 7,
        **faults,
    ):
        self.account_sid = account_sid
        self.main = main
        self.seed = seed
        self.items = items
        self.faults = faults
        self.log_path = workdir / f"sandbox-{name}.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Sandbox:
        command = [
            *MANAGE,
            "twilio_sandbox",
            "--port",
            str(self.port),
            "--seed-count",
            str(self.items),
            "--seed",
            str(self.seed),
            "--account-sid",
            self.account_sid,
            "--auth-token",
            AUTH_TOKEN,
            "--latency-ms",
            str(LATENCY_MS),
            "--verbose-requests",
        ]
        for name, value in self.faults.items():
            command += [f"--{name.replace('_', '-')}", str(value)]
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.process.poll() is not None:
                    raise SystemExit(f"The sandbox exited early; see {self.log_path}") from None
                time.sleep(0.1)
        if self.main:
            from django.conf import settings

            settings.TWILIO_API_BASE_URL = self.url
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()

    def deletes(self) -> Counter:
        """(sid, status) -> how many DELETEs the sandbox answered so, from its request log."""
        text = self.log_path.read_text()
        return Counter((m.group(1), m.group(2)) for m in DELETE_LINE.finditer(text))


def setup_django(database_url: str | None, workdir: Path, account_sid: str) -> str:
    if not database_url:
        db_file = workdir / "bulk-delete.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        database_url = f"sqlite:///{db_file}"
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    os.environ["TWILIO_ACCOUNT_SID"] = account_sid
    os.environ["TWILIO_AUTH_TOKEN"] = AUTH_TOKEN
    os.environ["LOG_LEVEL"] = "ERROR"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return database_url


def fill_cache() -> None:
    from transcriptions.sync import transcriptions_sync

    transcriptions_sync()


def account_sids(account_sid: str) -> list[str]:
    from transcriptions.models import Transcription

    return list(
        Transcription.objects.filter(account_sid=account_sid)
        .order_by("-date_created", "-id")
        .values_list("sid", flat=True)
    )


def worker_env(sandbox: Sandbox) -> dict[str, str]:
    return {
        **os.environ,
        "TWILIO_ACCOUNT_SID": sandbox.account_sid,
        "TWILIO_API_BASE_URL": sandbox.url,
        "PYTHONUNBUFFERED": "1",
    }


def run_workers(sandbox: Sandbox, *, workers: int, workdir: Path, name: str) -> list[Path]:
    """Start `workers` db_worker --batch processes; wait for all; return their log files."""
    logs = [workdir / f"worker-{name}-{n}.log" for n in range(workers)]
    processes = []
    for log in logs:
        with log.open("w") as out:
            processes.append(
                subprocess.Popen(
                    [*MANAGE, "db_worker", "--batch", "--no-startup-delay", "--no-reload"],
                    env=worker_env(sandbox),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    for process in processes:
        if process.wait(timeout=3600) != 0:
            raise SystemExit(f"A worker failed; see {logs}")
    return logs


def measure_baseline(sids: list[str], sandbox: Sandbox) -> float:
    from transcriptions.twilio_client import get_client

    started = time.perf_counter()
    with get_client() as client:
        for sid in sids:
            client.delete_transcription(sid)
    return time.perf_counter() - started


def start_bulk(sids: list[str], reason: str):
    from transcriptions.bulk_deletion import bulk_deletion_start
    from transcriptions.tasks import bulk_deletion_enqueue

    bulk = bulk_deletion_start(actor=None, sids=sids, reason=reason)
    bulk_deletion_enqueue(bulk)
    return bulk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="transcriptions to delete")
    parser.add_argument("--others", type=int, default=200, help="transcriptions to keep")
    parser.add_argument("--rate-limit", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    workdir = ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    account_sid = "AC" + secrets.token_hex(16)
    database_url = setup_django(args.database_url, workdir, account_sid)
    from django.conf import settings

    items = args.count + args.others
    print(f"Database: {database_url.split('@')[-1]}; account {account_sid}")
    print(
        f"Sandbox: {items:,} items, --latency-ms {LATENCY_MS}; "
        f"BULK_DELETE_CONCURRENCY={settings.BULK_DELETE_CONCURRENCY}"
    )

    # 1. Sequential baseline.
    with Sandbox(account_sid=account_sid, items=items, workdir=workdir, name="baseline") as box:
        fill_cache()
        sids = account_sids(account_sid)[: args.count]
        baseline = measure_baseline(sids, box)
    print(
        f"Sequential baseline: {len(sids):,} DELETEs in {baseline:.1f} s "
        f"({len(sids) / baseline:.1f}/s)"
    )

    from transcriptions.models import BulkDeletion, Transcription

    # The next runs start from the same items: the cache again as Twilio has it.
    Transcription.objects.filter(account_sid=account_sid).delete()

    # 2. The bulk deletion, one worker.
    with Sandbox(account_sid=account_sid, items=items, workdir=workdir, name="bulk") as box:
        fill_cache()
        assert account_sids(account_sid)[: args.count] == sids, "seeded items differ"
        started = time.perf_counter()
        bulk = start_bulk(sids, "bench: bulk deletion")
        run_workers(box, workers=1, workdir=workdir, name="bulk")
        wall = time.perf_counter() - started
        bulk.refresh_from_db()
        sent = box.deletes()
    job = (bulk.finished_at - bulk.started_at).total_seconds()
    # The job ends with its proof: Twilio asked again about every item. The deleting itself
    # ends with the last item's outcome.
    last_outcome = max(bulk.items.values_list("finished_at", flat=True))
    deleting = (last_outcome - bulk.started_at).total_seconds()
    verifying = (bulk.finished_at - last_outcome).total_seconds()
    ok = sum(1 for (_, status) in sent.elements() if status == "204")
    print(
        f"Bulk deletion #{bulk.pk}: {bulk.get_state_display()}, {bulk.deleted_count:,} deleted, "
        f"{bulk.failed_count} failed; {wall:.1f} s wall time with worker start-up "
        f"({len(sids) / wall:.1f}/s), job {job:.1f} s: deleting {deleting:.1f} s "
        f"({len(sids) / deleting:.1f}/s), then verifying at Twilio {verifying:.1f} s; "
        f"{ok:,} DELETEs answered 204"
    )
    ratio = baseline / deleting
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(
        f"Ratio: {ratio:.1f}x faster than sequential (deleting), {baseline / job:.1f}x "
        f"(the job with its verification), {baseline / wall:.1f}x (wall time with worker "
        f"start-up); {verdict} the target of {TARGET_RATIO:.0f}x"
    )
    Transcription.objects.filter(account_sid=account_sid).delete()

    # 3. Rate-limited: two workers, and a sync of another account writing to the same database
    # at the same time (a sync of the same account could re-insert, from a page it read just
    # before, a row the job has just deleted; the next sync removes it again).
    other_account = "AC" + secrets.token_hex(16)
    with (
        Sandbox(
            account_sid=other_account, items=5000, workdir=workdir, name="sync", main=False, seed=8
        ) as sync_box,
        Sandbox(
            account_sid=account_sid,
            items=items,
            workdir=workdir,
            name="rate-limited",
            rate_limit=args.rate_limit,
            # Other SIDs than the runs before: a SID whose delete Twilio confirmed is never
            # written back by a sync, as it never comes back at Twilio.
            seed=9,
        ) as box,
    ):
        fill_cache()
        listed = account_sids(account_sid)
        sids, others = listed[: args.count], set(listed[args.count :])
        assert len(sids) == args.count and others, "seeded items differ"
        started = time.perf_counter()
        bulk = start_bulk(sids, "bench: rate-limited bulk deletion")
        workers_done = threading.Event()
        sync_statuses: list[int] = []

        def sync_while_the_job_runs() -> None:
            with (workdir / "sync-during-job.log").open("w") as sync_log:
                while not workers_done.is_set():
                    sync_statuses.append(
                        subprocess.run(
                            [*MANAGE, "sync_transcriptions"],
                            env=worker_env(sync_box),
                            stdout=sync_log,
                            stderr=subprocess.STDOUT,
                        ).returncode
                    )

        syncer = threading.Thread(target=sync_while_the_job_runs)
        syncer.start()
        try:
            logs = run_workers(box, workers=2, workdir=workdir, name="rate-limited")
        finally:
            workers_done.set()
            syncer.join()
        sync_status = max(sync_statuses, default=0)
        wall = time.perf_counter() - started
        bulk.refresh_from_db()
        sent = box.deletes()
        from transcriptions.twilio_client import get_client

        box.process.send_signal(0)  # still serving: list what Twilio holds now
        with get_client() as client:
            at_twilio = {t.sid for t in client.iter_transcriptions()}
    statuses = Counter(status for (_, status) in sent.elements())
    per_sid_204 = Counter(sid for (sid, status) in sent.elements() if status == "204")
    deleted_once = all(per_sid_204[sid] == 1 for sid in sids) and len(per_sid_204) == len(sids)
    touched_others = {sid for (sid, _) in sent} & others
    cached = set(account_sids(account_sid))
    locked = sum(
        log.read_text().lower().count("database is locked")
        for log in [*logs, workdir / "sync-during-job.log"]
    )
    items_by_state = Counter(bulk.items.values_list("state", flat=True))
    print(
        f"Rate-limited to {args.rate_limit}/s, 2 workers + a sync: bulk deletion #{bulk.pk} "
        f"{bulk.get_state_display()} in {wall:.1f} s; items {dict(items_by_state)}"
    )
    print(
        f"  DELETE answers: {dict(statuses)}; every SID answered 204 exactly once: "
        f"{deleted_once}; DELETEs of other SIDs: {len(touched_others)}"
    )
    print(
        f"  Twilio now holds exactly the {len(others)} others: {at_twilio == others}; "
        f"the cache holds exactly them: {cached == others} "
        f"({len(cached - others)} extra, {len(others - cached)} missing); "
        f"{len(sync_statuses)} syncs of another account meanwhile, "
        f"worst exit status {sync_status}; "
        f'"database is locked" in worker/sync logs: {locked}'
    )
    good = (
        bulk.state == BulkDeletion.State.COMPLETED
        and deleted_once
        and not touched_others
        and at_twilio == others
        and cached == others
        and locked == 0
        and sync_status == 0
    )
    print("Rate-limited run: " + ("all checks pass" if good else "CHECKS FAILED"))
    if not good or ratio < TARGET_RATIO:
        sys.exit(1)


if __name__ == "__main__":
    main()
