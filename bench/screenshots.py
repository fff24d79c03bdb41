"""Screenshots of the running demo for the README: the table, a preview, a delete confirmation.

Start the demo (`make demo`), then, with a login that may delete (the demo prints them):

    python bench/screenshots.py --url http://127.0.0.1:8000 --username deleter --password ...

The password can come from SCREENSHOT_PASSWORD instead of the command line. Drives Debian's
Chromium (/usr/bin/chromium) with Playwright and writes PNGs to docs/screenshots/. It only
opens the delete confirmation and cancels it: nothing is deleted. It refuses any server that
is not on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
VIEWPORT = {"width": 1280, "height": 800}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running demo")
    parser.add_argument("--username", required=True, help="a user who may read and delete")
    parser.add_argument("--password", default=os.environ.get("SCREENSHOT_PASSWORD", ""))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the PNGs go")
    parser.add_argument("--width", type=int, default=VIEWPORT["width"])
    parser.add_argument("--height", type=int, default=VIEWPORT["height"])
    args = parser.parse_args(argv)
    host = urlsplit(args.url).hostname
    if host not in LOCAL_HOSTS:
        parser.error(f"--url must be a server on this machine ({', '.join(sorted(LOCAL_HOSTS))})")
    if not args.password:
        parser.error("give --password or set SCREENSHOT_PASSWORD")
    return args


def take_screenshots(args: argparse.Namespace) -> list[Path]:
    """Log in, then photograph the table, a preview and a delete confirmation (cancelled)."""
    from playwright.sync_api import expect, sync_playwright

    base = args.url.rstrip("/")
    args.out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(f"{base}/accounts/login/")
            page.get_by_label("Username").fill(args.username)
            page.get_by_label("Password").fill(args.password)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(lambda url: "/accounts/login/" not in url)

            page.goto(f"{base}/")
            rows = page.locator("#results tbody tr[data-sid]")
            expect(rows.first).to_be_visible()

            def shot(name: str) -> None:
                path = args.out / f"{name}.png"
                page.screenshot(path=str(path))
                written.append(path)
                print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

            shot("table")

            # A completed transcription reads best; fall back to the first row.
            completed = page.locator("#results tbody tr[data-sid]:has(.badge-completed)")
            row = completed.first if completed.count() else rows.first
            preview_button = row.locator('[data-action="preview"]')
            if preview_button.count():
                preview_button.click()
                expect(
                    page.locator("#preview [data-preview-text], #preview .notice").first
                ).to_be_visible()
                shot("preview")
                # On narrow screens the preview covers the table; close it again.
                page.locator("#preview [data-preview-close]").click()
            else:
                print(f"{args.username} may not read text: no preview shot", file=sys.stderr)

            delete_button = row.locator('[data-action="delete"]')
            if delete_button.count():
                delete_button.click()
                dialog = page.get_by_role("alertdialog")
                expect(dialog).to_be_visible()
                shot("delete-confirmation")
                # Leave everything as it was.
                dialog.get_by_role("link", name="Cancel").click()
                expect(dialog).to_have_count(0)
            else:
                print(
                    f"{args.username} may not delete: no confirmation screenshot", file=sys.stderr
                )
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    written = take_screenshots(args)
    print(f"{len(written)} screenshot{'s' if len(written) != 1 else ''} in {args.out}")
    return 0 if len(written) == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
