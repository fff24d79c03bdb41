"""axe-core on every page state of every role, at 375, 1366 and 1920 px wide: any violation
fails, named with its rule and the elements it found. The same walks fail on any console error,
on any request answered 404 or 5xx (no journey logs an error), and on anything wider than the
screen outside the parts that scroll sideways on purpose (wide tables, the chart).

axe-core comes from the npm registry, pinned in package.json and installed by `make test`."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.e2e.conftest import row_of
from transcriptions.models import Transcription

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"phone": 375, "laptop": 1366, "desktop": 1920}
ROLES = ["viewer", "reviewer", "deleter", "privacy_officer"]

# Every rule of the WCAG 2.x A and AA sets and axe's best practices.
RUN_AXE = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: [
      "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice",
    ]},
    resultTypes: ["violations"],
  });
  return result.violations.map(v => `${v.id} (${v.impact}): ${v.help} at ` +
    v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
}"""


@pytest.fixture(scope="session")
def axe_source() -> Path:
    if not AXE.exists():
        message = f"axe-core not found at {AXE}: run `make test` (it runs npm ci)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return AXE


WIDER_THAN_THE_SCREEN = """() => Array.from(document.querySelectorAll("body *"))
  .filter(e => e.getClientRects().length)
  .filter(e => !e.closest(".table-scroll, .overview-chart, dialog:not([open])"))
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : ""))"""


class Checker:
    """Runs axe on each state it is shown and keeps what it found, named by state."""

    def __init__(self, page: Page):
        self.page = page
        self.found: list[str] = []
        self.states: list[str] = []
        # Set for the one state that asks for a page the role may not see, on purpose.
        self.refusal_expected = False
        page.on("console", self._console)
        page.on("response", self._response)

    def _state(self) -> str:
        return self.states[-1] if self.states else "start"

    def _console(self, message) -> None:
        refused = self.refusal_expected and "status of 403" in message.text
        if message.type == "error" and not refused:
            self.found.append(f"[after {self._state()}] console error: {message.text}")

    def _response(self, response) -> None:
        if response.status == 404 or response.status >= 500:
            self.found.append(f"[after {self._state()}] {response.status} {response.url}")

    def check(self, state: str) -> None:
        self.page.wait_for_load_state("networkidle")
        self.states.append(state)
        for violation in self.page.evaluate(RUN_AXE):
            self.found.append(f"[{state}] {violation}")
        for element in self.page.evaluate(WIDER_THAN_THE_SCREEN):
            self.found.append(f"[{state}] wider than the screen: {element}")


@pytest.fixture
def seeded(cached, make_transcription):
    """Rows of each kind a page draws: text with personal data, failed, in progress."""
    rows = [
        cached(transcription_text="Call me back on +1 415 555 2671 about the refund, please."),
        cached(transcription_text="The parcel went missing on Tuesday."),
        cached(transcription_text="Refund for order 1234 was approved."),
    ]
    make_transcription(status="failed", transcription_text=None)
    make_transcription(status="in-progress", transcription_text=None)
    return rows


def _log_in(page: Page, base: str, user) -> None:
    page.goto(f"{base}{reverse('login')}")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(f"pw-{user.get_username()}")
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def _walk(checker: Checker, page: Page, base: str, role: str, rows) -> None:
    """Every page state this role can reach, each checked once."""
    check = checker.check
    first = rows[0]

    def pages(*states: tuple[str, str]) -> None:
        for path, state in states:
            page.goto(f"{base}{path}")
            check(state)

    page.goto(f"{base}/")
    expect(page.locator("[data-bulk-count], #results")).not_to_have_count(0)
    check("table")
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-help")).to_be_visible()
    check("shortcuts help")
    page.keyboard.press("Escape")
    pages(
        ("/?q=nothing-matches-this", "table, no match"),
        ("/?date_from=not-a-date", "table, a filter ignored"),
        ("/overview/", "overview"),
    )
    if role == "viewer":
        checker.refusal_expected = True
        page.goto(f"{base}/t/{first.sid}/")
        check("preview refused (403)")
        return

    page.goto(f"{base}/")
    row_of(page, first.sid).locator("[data-action='preview']").click()
    expect(page.locator(f"#preview-{first.sid}")).to_be_visible()
    check("preview open")
    pages((f"/t/{first.sid}/", "transcription page"))
    if role == "reviewer":
        return

    page.goto(f"{base}/")
    row_of(page, first.sid).locator("[data-action='delete']").click()
    expect(page.locator("#modal [role='alertdialog']")).to_be_visible()
    check("delete confirmation")
    page.keyboard.press("Escape")
    page.get_by_label(f"Select {rows[1].sid}").check()
    page.locator("[data-action='bulk-delete-selected']").click()
    expect(page.locator("#modal [data-bulk-confirm]")).to_be_visible()
    check("bulk confirmation")
    page.get_by_label("Reason").fill("Accessibility check")
    page.locator("[data-action='confirm-bulk-delete']").click()
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    check("bulk deletion, queued")
    pages(("/bulk/", "bulk deletions"))
    if role == "deleter":
        return

    pages(
        ("/personal-data/", "personal data"),
        ("/retention/", "retention"),
        ("/retention/?older_than_days=-1", "retention, an error"),
        ("/retention/?older_than_days=0", "retention, a preview"),
        ("/audit/", "audit trail"),
        (f"/audit/?transcription_sid={first.sid}", "audit trail of one transcription"),
    )


@pytest.mark.parametrize("width", list(WIDTHS), ids=list(WIDTHS))
@pytest.mark.parametrize("role", ROLES)
def test_no_axe_violation_on_any_page_state(
    request, browser, live_server, axe_source, seeded, role, width
):
    user = request.getfixturevalue(role)
    context = browser.new_context(viewport={"width": WIDTHS[width], "height": 900})
    context.add_init_script(path=str(axe_source))
    page = context.new_page()
    checker = Checker(page)
    try:
        page.goto(f"{live_server.url}{reverse('login')}")
        checker.check("login")
        _log_in(page, live_server.url, user)
        _walk(checker, page, live_server.url, role, seeded)
    finally:
        context.close()
    assert len(checker.states) >= 6
    assert checker.found == [], "\n".join(checker.found)
    assert Transcription.objects.exists()
