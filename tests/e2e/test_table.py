"""The review table in a real browser: filters, search with highlights, clearing, keyboard."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


@pytest.fixture
def rows(make_transcription):
    return {
        "refund": make_transcription(
            status="completed", transcription_text="Customer asked for a refund of the fee"
        ),
        "failed_card": make_transcription(
            status="failed", transcription_text="My card was declined twice"
        ),
        "failed_other": make_transcription(
            status="failed", transcription_text="Line dropped before the end"
        ),
        "running": make_transcription(
            status="in-progress", transcription_text="Please call me back tomorrow"
        ),
    }


def table_rows(page):
    return page.locator("#results tbody tr[data-sid]")


def test_filter_to_failed(logged_in_page, live_server, reviewer, rows):
    page = logged_in_page(reviewer)
    expect(table_rows(page)).to_have_count(4)

    page.get_by_label("Failed").check()

    expect(table_rows(page)).to_have_count(2)
    expect(page).to_have_url(re.compile(r"[?&]status=failed"))
    for key in ("failed_card", "failed_other"):
        expect(page.locator(f'tr[data-sid="{rows[key].sid}"]')).to_be_visible()
    expect(page.locator("#results .badge-completed")).to_have_count(0)


def test_search_narrows_highlights_and_pushes_the_url(logged_in_page, reviewer, rows):
    page = logged_in_page(reviewer)
    search = page.get_by_label("Search")
    search.fill("refu")  # the last word matches as a prefix while typing

    expect(table_rows(page)).to_have_count(1)
    row = page.locator(f'tr[data-sid="{rows["refund"].sid}"]')
    expect(row.locator("mark")).to_have_text("refu")
    expect(page).to_have_url(re.compile(r"\?q=refu$"))

    search.fill("card declined")
    expect(page.locator(f'tr[data-sid="{rows["failed_card"].sid}"] mark')).to_have_text(
        ["card", "declined"]
    )
    expect(page).to_have_url(re.compile(r"\?q=card\+declined$"))
    # Facet counts follow the search.
    expect(page.locator("#status-count-failed")).to_have_text("1")
    expect(page.locator("#status-count-completed")).to_have_text("0")


def test_clear_filters(logged_in_page, live_server, reviewer, rows):
    page = logged_in_page(reviewer)
    page.goto(f"{live_server.url}/?q=nothing-matches-this&status=failed")
    expect(page.get_by_text("No transcriptions match these filters")).to_be_visible()

    page.get_by_role("link", name="Clear filters").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(table_rows(page)).to_have_count(4)
    expect(page.get_by_label("Search")).to_have_value("")
    expect(page.get_by_label("Failed")).not_to_be_checked()


def test_back_and_forward_restore_the_filtered_table(logged_in_page, live_server, reviewer, rows):
    page = logged_in_page(reviewer)
    page.get_by_label("Search").fill("card")
    expect(table_rows(page)).to_have_count(1)
    expect(page).to_have_url(re.compile(r"\?q=card$"))

    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(table_rows(page)).to_have_count(4)
    expect(page.get_by_label("Search")).to_have_value("")

    page.go_forward()
    expect(table_rows(page)).to_have_count(1)
    expect(page.get_by_label("Search")).to_have_value("card")


def test_keyboard_shortcuts(logged_in_page, reviewer, rows):
    page = logged_in_page(reviewer)
    expect(table_rows(page)).to_have_count(4)

    page.keyboard.press("/")
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_label("Search")).not_to_be_focused()

    page.keyboard.press("j")
    expect(table_rows(page).nth(0)).to_have_class(re.compile(r"\bis-selected\b"))
    page.keyboard.press("j")
    expect(table_rows(page).nth(1)).to_have_class(re.compile(r"\bis-selected\b"))
    expect(table_rows(page).nth(0)).not_to_have_class(re.compile(r"\bis-selected\b"))
    page.keyboard.press("k")
    expect(table_rows(page).nth(0)).to_have_class(re.compile(r"\bis-selected\b"))

    # Enter asks for the selected row's preview.
    sid = table_rows(page).nth(0).get_attribute("data-sid")
    detail = reverse("transcriptions:detail", args=[sid])
    with page.expect_request(lambda r: r.url.endswith(detail)) as request:
        page.keyboard.press("Enter")
    assert request.value.headers.get("hx-request") == "true"

    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()


def test_recording_link_applies_the_recording_filter(logged_in_page, reviewer, make_transcription):
    recording = "RE" + "5a" * 16
    first = make_transcription(recording_sid=recording)
    second = make_transcription(recording_sid=recording)
    make_transcription()
    page = logged_in_page(reviewer)
    expect(table_rows(page)).to_have_count(3)

    page.locator(f'tr[data-sid="{first.sid}"] .col-recording a').click()

    expect(page).to_have_url(re.compile(rf"\?recording={recording}$"))
    expect(page.get_by_label("Recording SID")).to_have_value(recording)
    expect(table_rows(page)).to_have_count(2)
    expect(page.locator(f'tr[data-sid="{second.sid}"]')).to_be_visible()


def test_script_in_a_transcript_is_shown_as_text_and_never_runs(
    logged_in_page, reviewer, make_transcription
):
    t = make_transcription(
        transcription_text="<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>"
    )
    page = logged_in_page(reviewer)
    page.get_by_label("Search").fill("script")  # also through the htmx partial
    snippet = page.locator(f'tr[data-sid="{t.sid}"] .snippet')
    expect(snippet).to_contain_text("<script>window.__pwned = 1</script>")
    assert page.evaluate("window.__pwned") is None
    assert page.locator(f'tr[data-sid="{t.sid}"] img').count() == 0


def test_viewer_sees_no_text_and_no_buttons(logged_in_page, viewer, rows):
    page = logged_in_page(viewer)
    expect(table_rows(page)).to_have_count(4)
    expect(page.locator("[data-action='delete']")).to_have_count(0)
    expect(page.locator("[data-action='preview']")).to_have_count(0)
    expect(page.get_by_text("declined")).to_have_count(0)


def test_table_refreshes_itself_when_the_cache_changes(logged_in_page, reviewer, rows):
    page = logged_in_page(reviewer)
    page.get_by_label("Failed").check()
    expect(table_rows(page)).to_have_count(2)

    rows["failed_other"].delete()
    page.evaluate("htmx.trigger(document.body, 'transcriptions-changed')")

    expect(table_rows(page)).to_have_count(1)
    # The refresh kept the filter and did not add a history entry of its own.
    expect(page).to_have_url(re.compile(r"\?status=failed$"))
