"""Sandbox at scale: memory and seeding time for 1,000,000 transcriptions, and the time to serve
a 1,000-item page (first, middle via token, last via token) over real HTTP at that size.

Baseline in the same run: the same pages from a 1,000-item store, so the ratio shows how page
time grows with the store. Targets: under 2 GB, under 100 ms per page.

    .venv/bin/python bench/sandbox_scale.py [--count 1000000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.server import SandboxServer  # noqa: E402
from sandbox.store import TranscriptionStore  # noqa: E402

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "bench-token"
PAGE_SIZE = 1000


def rss_bytes(field: str = "VmRSS") -> int:
    """Resident set size (or its peak, VmHWM) of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def seeded_store(count: int) -> tuple[TranscriptionStore, float, int]:
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    store = TranscriptionStore(account_sid=ACCOUNT_SID)
    store.seed(count=count, seed=0)
    seconds = time.perf_counter() - started
    gc.collect()
    return store, seconds, rss_bytes() - before


def page_paths(store: TranscriptionStore) -> dict[str, str]:
    order = store.all()
    base = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions.json?PageSize={PAGE_SIZE}"
    middle = len(order) // 2
    last_start = max(0, len(order) - PAGE_SIZE)
    paths = {"first": f"{base}&Page=0"}
    if middle > 0:
        page = middle // PAGE_SIZE
        paths["middle"] = f"{base}&Page={page}&PageToken=PA{order[middle - 1].sid}"
    if last_start > 0:
        page = last_start // PAGE_SIZE
        paths["last"] = f"{base}&Page={page}&PageToken=PA{order[last_start - 1].sid}"
    return paths


def time_pages(store: TranscriptionStore, repeat: int) -> dict[str, tuple[float, float, int]]:
    """p50 and p95 milliseconds per page kind, and the items served."""
    results = {}
    with SandboxServer(store=store, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server:
        with requests.Session() as session:
            session.auth = (ACCOUNT_SID, AUTH_TOKEN)
            for kind, path in page_paths(store).items():
                timings = []
                items = 0
                for attempt in range(repeat + 3):
                    started = time.perf_counter()
                    response = session.get(server.url + path, timeout=30)
                    body = response.content
                    elapsed = time.perf_counter() - started
                    response.raise_for_status()
                    if attempt >= 3:  # the first few warm the connection and caches
                        timings.append(elapsed * 1000)
                items = response.json()["end"] - response.json()["start"] + 1
                assert len(body) > 0
                timings.sort()
                p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
                results[kind] = (statistics.median(timings), p95, items)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, pid {os.getpid()}")
    baseline_store, baseline_seconds, _ = seeded_store(1000)
    baseline = time_pages(baseline_store, args.repeat)
    del baseline_store

    store, seconds, rss = seeded_store(args.count)
    print(f"seeded {len(store):,} transcriptions in {seconds:.1f} s")
    print(
        f"memory: {rss / 2**20:,.0f} MiB RSS growth ({rss / len(store):,.0f} bytes per item); "
        f"target < 2048 MiB: {'ok' if rss < 2 * 2**30 else 'OVER'}"
    )
    print(f"peak RSS of the whole process: {rss_bytes('VmHWM') / 2**20:,.0f} MiB")
    print(f"baseline: 1,000 items seeded in {baseline_seconds * 1000:.0f} ms")
    results = time_pages(store, args.repeat)
    print(f"{PAGE_SIZE}-item page over HTTP, {args.repeat} requests each (keep-alive):")
    print(f"  {'page':<7}{'items':>6}{'p50 ms':>9}{'p95 ms':>9}  {'p50 vs 1,000-item store':>24}")
    worst = 0.0
    for kind, (p50, p95, items) in results.items():
        base_p50 = baseline["first"][0]
        worst = max(worst, p95)
        print(f"  {kind:<7}{items:>6}{p50:>9.1f}{p95:>9.1f}  {p50 / base_p50:>23.2f}x")
    print(f"target p95 < 100 ms: {'ok' if worst < 100 else 'OVER'}")


if __name__ == "__main__":
    main()
