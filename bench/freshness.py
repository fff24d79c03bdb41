"""How fresh the cache is: Twilio's callback to the database and to an open table, the head
sync against a complete pass, and the head sync catching callbacks that were lost.

The Twilio sandbox runs in this process (its store, its server, its arrivals), so the bench can
change the account as Twilio would and read when each callback left; the desk is served by
gunicorn (gunicorn.conf.py's settings, two workers) and every sync is `manage.py
sync_transcriptions` in a process of its own, as deployed. A throwaway SQLite file unless
--database-url (which is emptied: never a real cache).

`callbacks`: a cache synced from --rows transcriptions, the table open in Chromium, then the
sandbox's arrivals with callbacks to the desk until --callbacks were answered. For each: the
time from the callback leaving the sandbox to the row being in the database (a thread reading
the table every 5 ms), and to the open table announcing it (its news notice, read by a
MutationObserver in the page); median and p95. The table asks for news every
TABLE_NEWS_POLL_SECONDS (the product's default unless --poll-seconds), which bounds the second.

`head`: an account of --head-rows (1,000,000) transcriptions, answered at --latency-ms (500)
a page, 20 of its newest in progress. A complete pass, then a head sync of the unchanged
account (target: at most 2 pages), then 100 new and the 20 completed, and a head sync (target:
only the pages that hold them), each timed against the complete pass.

`drops`: arrivals with --drop-rate (0.3) of their callbacks lost, then one head sync (the
scheduled kind): the cache must then equal the sandbox, every row and field.

    python bench/freshness.py [callbacks|head|drops ...] [--database-url postgres://...]
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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sync_throughput import (  # noqa: E402 - the sibling bench's helpers
    ACCOUNT_SID,
    AUTH_TOKEN,
    MANAGE,
    cache_empty,
    django_env,
    manage,
)
from table_live import served  # noqa: E402 - the sibling bench's gunicorn

from sandbox.arrivals import Arrivals  # noqa: E402
from sandbox.server import Faults, SandboxServer  # noqa: E402
from sandbox.store import TranscriptionStore  # noqa: E402

PAGE_SIZE = 1000
PASSWORD = "bench-" + secrets.token_urlsafe(12)
USERNAME = "bench-fresh"
CALLBACK_PATH = "/twilio/transcription-callback/"
CHROMIUM = "/usr/bin/chromium"
TARGET_UNCHANGED_PAGES = 2
PAGES_LINE = re.compile(r"([\d,]+) pages? read")


def percentiles(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), statistics.quantiles(values, n=20, method="inclusive")[18]


@contextmanager
def sandbox(store: TranscriptionStore, *, latency_ms: int = 0) -> Iterator[SandboxServer]:
    server = SandboxServer(
        store=store,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        faults=Faults(latency_ms=latency_ms),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def django_setup(database_url: str) -> None:
    """This process reads the cache through Django, as the desk does."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    # Playwright's sync API runs an event loop in this thread, which Django takes for an async
    # context; the queries here are plain blocking reads.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    import django

    django.setup()


def sync(*args: str, database_url: str, server: SandboxServer) -> tuple[float, str]:
    """`sync_transcriptions` with these arguments; its wall time and its last line."""
    started = time.perf_counter()
    done = subprocess.run(
        [*MANAGE, "sync_transcriptions", *args],
        env=django_env(database_url, server.url),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"sync {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return seconds, done.stdout.strip().splitlines()[-1]


def pages_in(line: str) -> int:
    match = PAGES_LINE.search(line) or re.search(r"in ([\d,]+) pages?", line)
    if not match:
        raise SystemExit(f"no page count in: {line}")
    return int(match.group(1).replace(",", ""))


def desk(database_url: str, server: SandboxServer, workdir: Path, extra_env: dict[str, str]):
    """gunicorn serving the desk, with the sandbox as Twilio; yields its base URL."""
    return served(database_url, workdir, sandbox_url=server.url, extra_env=extra_env, workers=None)


def user_make() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name="Reviewers"))


class CacheWatch:
    """A thread reading the cache every 5 ms for rows it has not seen: when each SID first
    was in the database (Unix time)."""

    def __init__(self) -> None:
        from transcriptions.models import Transcription

        self.first_seen: dict[str, float] = {}
        self._after = (
            Transcription.objects.order_by("-id").values_list("id", flat=True).first() or 0
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from django.db import connection

        from transcriptions.models import Transcription

        try:
            while not self._stop.is_set():
                rows = list(
                    Transcription.objects.filter(id__gt=self._after).values_list("id", "sid")
                )
                now = time.time()
                for row_id, sid in rows:
                    self.first_seen.setdefault(sid, now)
                    self._after = max(self._after, row_id)
                self._stop.wait(0.005)
        finally:
            connection.close()

    def __enter__(self) -> CacheWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


# Every change of the news notice, with the page's clock (Unix ms, the machine's clock).
NEWS_OBSERVER = """
window.benchNews = [];
const news = document.querySelector('#news');
new MutationObserver(() => {
  const strong = news.querySelector('[data-news-notice] strong');
  window.benchNews.push([Date.now(), strong ? strong.textContent : '0']);
}).observe(news, {childList: true, subtree: true, characterData: true});
"""


def count_of(text: str) -> int:
    digits = re.sub(r"[^0-9]", "", text)
    return int(digits) if digits else 0


def bench_callbacks(args: argparse.Namespace, database_url: str, workdir: Path) -> bool:
    from playwright.sync_api import sync_playwright

    store = TranscriptionStore(account_sid=ACCOUNT_SID)
    store.seed(count=args.rows, seed=11)
    cache_empty(database_url)
    poll_env = {"TABLE_NEWS_POLL_SECONDS": str(args.poll_seconds)} if args.poll_seconds else {}
    with sandbox(store) as server:
        seconds, line = sync(database_url=database_url, server=server)
        print(f"[callbacks] a cache of {args.rows:,}: {line}", flush=True)
        user_make()
        from django.conf import settings

        poll = args.poll_seconds or settings.TABLE_NEWS_POLL_SECONDS
        with desk(database_url, server, workdir, poll_env) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(f"{base}/accounts/login/")
            page.get_by_label("Username").fill(USERNAME)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{base}/")
            page.evaluate(NEWS_OBSERVER)
            arrivals = Arrivals(
                store=store,
                per_minute=args.per_minute,
                auth_token=AUTH_TOKEN,
                api_base_url=server.url,
                callback_url=base + CALLBACK_PATH,
                finish_after=1.0,
                seed=11,
            )
            with CacheWatch() as watch:
                arrivals.start()
                deadline = time.monotonic() + 60 + args.callbacks * 60 / args.per_minute * 2
                while len(arrivals.deliveries) < args.callbacks and time.monotonic() < deadline:
                    page.wait_for_timeout(200)
                arrivals.stop()
                deliveries = list(arrivals.deliveries)[: args.callbacks]
                # The table announces them at its next poll or two.
                page.wait_for_timeout((poll * 2 + 2) * 1000)
            news = page.evaluate("window.benchNews")
            browser.close()
    answered = [d for d in deliveries if 200 <= d.answer < 300]
    if len(answered) < args.callbacks:
        print(f"[callbacks] only {len(answered)} of {args.callbacks} callbacks answered 2xx")
        return False
    to_db = [watch.first_seen[d.sid] - d.sent_at for d in answered if d.sid in watch.first_seen]
    to_answer = [d.answered_at - d.sent_at for d in answered]
    # The n-th new row is on the table once its notice counts n (the rows come one by one).
    counts = [(at / 1000, count_of(text)) for at, text in news]
    to_table = []
    for n, delivery in enumerate(answered, start=1):
        shown = next((at for at, count in counts if count >= n), None)
        if shown is not None:
            to_table.append(shown - delivery.sent_at)
    print(f"[callbacks] {len(answered)} callbacks over real HTTP into gunicorn:")
    for name, values in (
        ("callback answered (row committed)", to_answer),
        ("row seen in the database", to_db),
        (f"announced on the open table (poll {poll:g} s)", to_table),
    ):
        p50, p95 = percentiles([v * 1000 for v in values])
        print(f"  {name:<44} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  (n={len(values)})")
    return len(to_db) == len(answered) and len(to_table) == len(answered)


def bench_head(args: argparse.Namespace, database_url: str, workdir: Path) -> bool:
    from transcriptions.models import Transcription

    now = datetime.now(UTC)
    store = TranscriptionStore(account_sid=ACCOUNT_SID)
    # The account's history ends yesterday: what it holds in progress from then on is stuck,
    # older than the head sync's window; today's calls are the 20 being transcribed now.
    store.seed(count=args.head_rows, seed=12, now=now - timedelta(days=1))
    working = [
        store.add(
            status="in-progress",
            transcription_text=None,
            duration=60,
            date_created=now - timedelta(minutes=30 + 20 * n),
        )
        for n in range(20)
    ]
    cache_empty(database_url)
    print(
        f"[head] {len(store):,} transcriptions at {args.latency_ms} ms a page, 20 in progress",
        flush=True,
    )
    with sandbox(store, latency_ms=args.latency_ms) as server:
        full_seconds, full_line = sync(database_url=database_url, server=server)
        full_pages = pages_in(full_line)
        print(f"[head] complete pass: {full_seconds:.1f} s, {full_pages} pages", flush=True)
        quiet_seconds, quiet_line = sync("--head", database_url=database_url, server=server)
        quiet_pages = pages_in(quiet_line)
        print(f"[head] unchanged: {quiet_seconds:.1f} s; {quiet_line}", flush=True)
        arrived = [
            store.add(transcription_text=f"new call {n}", date_created=now + timedelta(seconds=n))
            for n in range(100)
        ]
        for item in working:
            store.update(item.sid, status="completed", transcription_text="done at last")
        changed = {item.sid for item in (*arrived, *working)}
        listed = [item.sid for item in store.all()]
        holding = max(listed.index(sid) for sid in changed) // PAGE_SIZE + 1
        busy_seconds, busy_line = sync("--head", database_url=database_url, server=server)
        busy_pages = pages_in(busy_line)
        print(f"[head] 100 new, 20 completed: {busy_seconds:.1f} s; {busy_line}", flush=True)
    cached = dict(Transcription.objects.filter(sid__in=changed).values_list("sid", "status"))
    caught = len(cached) == 120 and all(cached[item.sid] == "completed" for item in working)
    print(
        f"[head] unchanged: {quiet_pages} page(s) in {quiet_seconds:.1f} s "
        f"(target <= {TARGET_UNCHANGED_PAGES}: {verdict(quiet_pages <= TARGET_UNCHANGED_PAGES)}); "
        f"changed: {busy_pages} page(s) in {busy_seconds:.1f} s, the changes on pages 1-{holding} "
        f"(only those: {verdict(busy_pages <= holding)}; all 120 in the cache: {verdict(caught)}); "
        f"the complete pass: {full_pages} pages in {full_seconds:.1f} s, "
        f"{full_seconds / quiet_seconds:.0f}x and {full_seconds / busy_seconds:.0f}x as long"
    )
    return quiet_pages <= TARGET_UNCHANGED_PAGES and busy_pages <= holding and caught


FIELDS = (
    "sid",
    "recording_sid",
    "status",
    "transcription_text",
    "duration",
    "price_unit",
    "type",
    "date_created",
    "date_updated",
)


def differences(store: TranscriptionStore) -> int:
    """Rows of the cache and the sandbox that differ in any field, or are on one side only."""
    from transcriptions.models import Transcription

    at_twilio = {
        item.sid: tuple(getattr(item, name) for name in FIELDS) + (item.price,)
        for item in store.all()
    }
    cached = {}
    for row in Transcription.objects.values_list(*FIELDS, "price"):
        price = None if row[-1] is None else f"{row[-1]:.5f}"
        cached[row[0]] = (*row[:-1], price)
    return len(set(at_twilio.items()) ^ set(cached.items()))


def bench_drops(args: argparse.Namespace, database_url: str, workdir: Path) -> bool:
    store = TranscriptionStore(account_sid=ACCOUNT_SID)
    store.seed(count=5000, seed=13)
    cache_empty(database_url)
    with sandbox(store) as server:
        sync(database_url=database_url, server=server)
        with desk(database_url, server, workdir, {}) as base:
            arrivals = Arrivals(
                store=store,
                per_minute=args.per_minute * 5,
                auth_token=AUTH_TOKEN,
                api_base_url=server.url,
                callback_url=base + CALLBACK_PATH,
                drop_rate=args.drop_rate,
                finish_after=1.0,
                seed=13,
            )
            arrivals.start()
            deadline = time.monotonic() + 600
            while arrivals.finished < args.callbacks and time.monotonic() < deadline:
                time.sleep(0.2)
            arrivals.stop()
        before = differences(store)
        seconds, line = sync("--head", database_url=database_url, server=server)
        after = differences(store)
    print(
        f"[drops] {arrivals.finished} finished, {arrivals.callbacks_sent} callbacks answered, "
        f"{arrivals.callbacks_dropped} lost ({args.drop_rate:.0%} asked), "
        f"{arrivals.callback_failures} refused; rows differing from the sandbox before the head "
        f"sync: {before}; after one head sync ({seconds:.1f} s; {line}): {after} "
        f"(equal: {verdict(after == 0)})"
    )
    return after == 0


def verdict(ok: bool) -> str:
    return "yes" if ok else "NO"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", default=["callbacks", "head", "drops"])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--rows", type=int, default=100_000, help="the callbacks part's account")
    parser.add_argument("--callbacks", type=int, default=200)
    parser.add_argument("--per-minute", type=float, default=120)
    parser.add_argument("--poll-seconds", type=float, default=0)
    parser.add_argument("--head-rows", type=int, default=1_000_000)
    parser.add_argument("--latency-ms", type=int, default=500)
    parser.add_argument("--drop-rate", type=float, default=0.3)
    args = parser.parse_args()
    unknown = set(args.parts) - {"callbacks", "head", "drops"}
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")

    results = []
    with tempfile.TemporaryDirectory(prefix="freshness-") as tmp:
        workdir = Path(tmp)
        database_url = args.database_url or f"sqlite:///{workdir / 'fresh.sqlite3'}"
        manage("migrate", "--no-input", database_url=database_url)
        django_setup(database_url)
        print(f"database: {database_url.split(':', 1)[0]}", flush=True)
        for part, run in (
            ("callbacks", bench_callbacks),
            ("head", bench_head),
            ("drops", bench_drops),
        ):
            if part in args.parts:
                results.append(run(args, database_url, workdir))
        cache_empty(database_url)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
