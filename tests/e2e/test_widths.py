"""The table at a laptop's and a phone's width: the preview never covers the table's text, its
actions or the top bar; on a phone nothing is wider than the screen and the first result is on
the first screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import row_of

pytestmark = pytest.mark.e2e

WIDER_THAN_THE_SCREEN = """() => Array.from(document.querySelectorAll("body *"))
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .filter(e => e.getClientRects().length && !e.closest(".table-scroll, .overview-chart"))
  .map(e => e.tagName + "." + e.className)"""


def _box(locator):
    box = locator.bounding_box()
    assert box is not None
    return box


def _overlaps(a, b) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_at_1366_the_preview_sits_beside_the_table(logged_in_page, deleter, cached):
    rows = [cached(transcription_text=f"A call about order {n}") for n in range(3)]
    page = logged_in_page(deleter)
    page.set_viewport_size({"width": 1366, "height": 800})
    row_of(page, rows[0].sid).locator("[data-action='preview']").click()
    preview = page.locator("#preview")
    expect(preview.locator(f"#preview-{rows[0].sid}")).to_be_visible()

    pane = _box(preview)
    for row in rows:
        for cell in ("td.col-text", "[data-action='preview']", "[data-action='delete']"):
            assert not _overlaps(pane, _box(row_of(page, row.sid).locator(cell)))
    assert not _overlaps(pane, _box(page.get_by_role("button", name="Log out")))
    # Another row's preview is one click away with the pane open.
    row_of(page, rows[1].sid).locator("[data-action='preview']").click()
    expect(preview.locator(f"#preview-{rows[1].sid}")).to_be_visible()
    assert page.evaluate(WIDER_THAN_THE_SCREEN) == []


def test_at_375_nothing_is_wider_than_the_screen_and_results_come_first(
    logged_in_page, privacy_officer, cached
):
    rows = [cached(transcription_text=f"A call about order {n}") for n in range(30)]
    page = logged_in_page(privacy_officer)
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert page.evaluate(WIDER_THAN_THE_SCREEN) == []
    first = page.locator("#results tbody tr[data-sid]").first
    expect(first).to_be_visible()
    assert _box(first)["y"] < 800
    # Every page of the main menu is on the screen, on the bar's colour.
    for name in ("Transcriptions", "Overview", "Bulk deletions", "Retention", "Audit trail"):
        link = page.get_by_role("navigation", name="Main").get_by_role("link", name=name)
        box = _box(link)
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375

    # The other filters open with "Filters" and close again.
    status_filter = page.get_by_role("group", name="Status")
    expect(status_filter).to_be_hidden()
    toggle = page.get_by_role("button", name="Filters")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(status_filter).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_label("Mentions (phone, e-mail, card or IBAN)")).to_be_visible()
    page.get_by_label("Failed").check()
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"status=failed"))
    assert len(rows) == 30

    page.goto(page.url.split("?")[0] + "overview/")
    assert page.evaluate(WIDER_THAN_THE_SCREEN) == []
    tick = page.locator(".chart-tick").first
    # The chart scrolls sideways instead of shrinking its 11px labels below 9px.
    assert _box(tick)["height"] >= 11
