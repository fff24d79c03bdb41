"""What the page says stays true, in a real browser: Escape leaves the search box keeping its
words, a refresh after a delete keeps the URL's filters, and a delete journey logs nothing in
the console and asks for nothing that is not there."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import row_of

pytestmark = pytest.mark.e2e


def test_escape_keeps_the_query_and_a_refresh_after_a_delete_keeps_the_filter(
    logged_in_page, deleter, cached
):
    refunds = [cached(transcription_text=f"refund number {n}") for n in range(3)]
    other = cached(transcription_text="a parcel went missing")
    page = logged_in_page(deleter)
    search = page.get_by_label("Search")
    search.fill("refund")
    expect(page).to_have_url(re.compile(r"\?q=refund$"))
    expect(row_of(page, other.sid)).to_have_count(0)

    search.press("Escape")
    expect(search).to_have_value("refund")
    expect(search).not_to_be_focused()

    # Words typed but not searched for yet do not leak into the refresh.
    search.evaluate("box => { box.value = 'parcel'; }")
    row_of(page, refunds[0].sid).locator('[data-action="delete"]').click()
    page.locator('[data-action="confirm-delete"]').click()
    expect(row_of(page, refunds[0].sid)).to_have_count(0)
    expect(row_of(page, refunds[1].sid)).to_be_visible()
    expect(row_of(page, other.sid)).to_have_count(0)
    expect(page).to_have_url(re.compile(r"\?q=refund$"))


def test_a_delete_journey_logs_no_console_error_and_no_missing_file(
    logged_in_page, live_server, deleter, cached
):
    row = cached(transcription_text="Please remove this call")
    errors: list[str] = []
    missing: list[str] = []
    page = logged_in_page(deleter)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{live_server.url}/")
    # Delete from the table with no preview open: nothing out of band lacks its target.
    row_of(page, row.sid).locator('[data-action="delete"]').click()
    page.locator('[data-action="confirm-delete"]').click()
    expect(page.locator("#messages")).to_contain_text(f"Deleted {row.sid}")
    expect(row_of(page, row.sid)).to_have_count(0)
    assert errors == [] and missing == []


def test_the_focus_outline_has_three_to_one_contrast_on_white(logged_in_page, reviewer, cached):
    cached(transcription_text="anything")
    page = logged_in_page(reviewer)
    colour = page.evaluate(
        "() => getComputedStyle(document.documentElement).getPropertyValue('--focus').trim()"
    )
    red, green, blue = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    assert (1.05 / (luminance + 0.05)) >= 3.0
