"""Lighthouse on the table page as a logged-in user meets it: a cache filled by a real sync from
the sandbox, served by gunicorn, audited by Lighthouse (from package-lock.json) driving Debian's
Chromium, with its mobile and desktop settings. Prints the scores for performance,
accessibility and best practices; target: 95 or more for each.

    python bench/lighthouse.py [--rows 10000] [--runs 3]

Each score is the median of --runs audits (Lighthouse's performance score moves a few points
from run to run on a busy machine)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from playwright.sync_api import Error as PlaywrightError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from sync_throughput import free_port  # noqa: E402 - the sibling benches' helpers
from table_live import PASSWORD, bench_user, cache_synced, served  # noqa: E402

LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CATEGORIES = ["performance", "accessibility", "best-practices"]
TARGET = 95
# What the performance score is made of, printed for each run.
METRICS = [
    "first-contentful-paint",
    "largest-contentful-paint",
    "total-blocking-time",
    "cumulative-layout-shift",
    "speed-index",
]


@contextmanager
def logged_in_chromium(base: str, workdir: Path) -> Iterator[int]:
    """Debian's Chromium with a debugging port, logged in through the login page (so the
    session cookie is the browser's own, sent with the page's htmx requests too); yields the
    port for Lighthouse to drive it."""
    port = free_port()
    browser = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={workdir / 'chromium'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with sync_playwright() as playwright:
            for _ in range(50):
                try:
                    cdp = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
                    break
                except PlaywrightError:
                    time.sleep(0.2)
            else:
                raise SystemExit("Chromium did not open its debugging port")
            page = cdp.contexts[0].new_page()
            page.goto(f"{base}/accounts/login/")
            page.fill("#id_username", "bench-live")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            page.close()
        yield port
    finally:
        browser.terminate()
        browser.wait(timeout=30)


def audit(url: str, port: int, *, desktop: bool) -> dict[str, int]:
    """One Lighthouse run on `url` in the logged-in Chromium: its category scores (0-100)."""
    command = [
        str(LIGHTHOUSE),
        url,
        f"--port={port}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--output=json",
        "--output-path=stdout",
        "--quiet",
        # Keep the browser's session: a cleared origin would be a logged-out one.
        "--disable-storage-reset",
    ]
    if desktop:
        command.append("--preset=desktop")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"lighthouse failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout)
    final = report.get("finalDisplayedUrl") or report.get("finalUrl") or ""
    if "/accounts/login/" in final:
        raise SystemExit(f"lighthouse ended on the login page ({final})")
    scores = {name: round(100 * report["categories"][name]["score"]) for name in CATEGORIES}
    audits = report["audits"]
    metrics = {key: audits[key]["displayValue"] for key in METRICS if key in audits}
    print("   " + ", ".join(f"{key} {value}" for key, value in metrics.items()), flush=True)
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        raise SystemExit(f"{LIGHTHOUSE} is missing: run `npm ci` (make test does)")

    with tempfile.TemporaryDirectory(prefix="lighthouse-") as tmp:
        workdir = Path(tmp)
        database_url = f"sqlite:///{workdir / 'lighthouse.sqlite3'}"
        cache_synced(database_url, workdir, rows=args.rows)
        os.environ["DATABASE_URL"] = database_url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
        import django

        django.setup()
        bench_user()
        with served(database_url, workdir) as base, logged_in_chromium(base, workdir) as port:
            print(
                f"\n{'table page (/)':<16} {'performance':>12} {'accessibility':>14} "
                f"{'best practices':>15}"
            )
            missed = []
            for name, desktop in (("mobile", False), ("desktop", True)):
                runs = [audit(f"{base}/", port, desktop=desktop) for _ in range(args.runs)]
                scores = {c: int(statistics.median(r[c] for r in runs)) for c in CATEGORIES}
                print(
                    f"{name:<16} {scores['performance']:>12} {scores['accessibility']:>14} "
                    f"{scores['best-practices']:>15}   (runs: "
                    + ", ".join("/".join(str(r[c]) for c in CATEGORIES) for r in runs)
                    + ")",
                    flush=True,
                )
                missed += [f"{name} {c}: {s}" for c, s in scores.items() if s < TARGET]
        print(f"\n{args.rows:,} cached rows; gunicorn, two workers; target >= {TARGET} each")
        for line in missed:
            print(f"MISSED {line}")
        return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
