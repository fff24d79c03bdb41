"""What the page says stays true, in a real browser: Escape leaves the search box keeping its
words, a refresh after a delete keeps the URL's filters, the status bar counts again after a
delete or a sync and turns red when a sync fails, and a delete journey logs nothing in the
console and asks for nothing that is not there."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.e2e.conftest import requests_held, row_of

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


def _run_worker(page):
    with requests_held(page.context):
        call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0, stdout=StringIO())


def test_the_status_bar_counts_again_after_a_delete_and_after_a_sync(
    logged_in_page, deleter, cached, twilio
):
    rows = [cached(transcription_text=f"call {n}") for n in range(3)]
    call_command("sync_transcriptions", stdout=StringIO())
    page = logged_in_page(deleter)
    summary = page.locator("#status-summary")
    expect(summary.locator(".status-counts")).to_contain_text("3 cached")

    row_of(page, rows[0].sid).locator('[data-action="delete"]').click()
    page.locator('[data-action="confirm-delete"]').click()
    expect(row_of(page, rows[0].sid)).to_have_count(0)
    expect(summary.locator(".status-counts")).to_contain_text("2 cached")

    for _ in range(4):
        twilio.store.add(status="failed")
    page.locator('[data-action="sync-now"]').click()
    _run_worker(page)
    expect(page.locator("#sync-control")).to_contain_text("Sync finished", timeout=15_000)
    expect(summary.locator(".status-counts")).to_contain_text("6 cached")
    expect(summary.get_by_role("link", name=re.compile("Failed"))).to_contain_text("4")
    expect(summary.locator(".dot-succeeded")).to_have_count(1)


def test_a_failed_sync_turns_the_status_bar_red(logged_in_page, reviewer, cached, twilio, settings):
    cached(transcription_text="a call")
    call_command("sync_transcriptions", stdout=StringIO())
    settings.TWILIO_MAX_ATTEMPTS = 1
    page = logged_in_page(reviewer)
    summary = page.locator("#status-summary")
    expect(summary.locator(".dot-succeeded")).to_have_count(1)

    twilio.faults.error_rate = 1.0
    page.locator('[data-action="sync-now"]').click()
    _run_worker(page)
    expect(page.locator("#sync-control")).to_contain_text("Sync failed", timeout=15_000)
    expect(summary).to_contain_text("Last sync failed")
    expect(summary.locator(".dot-failed")).to_have_count(1)
    expect(summary.locator(".dot-succeeded")).to_have_count(0)
    expect(page.locator("section.status-bar")).to_have_css("border-top-color", "rgb(244, 196, 191)")
