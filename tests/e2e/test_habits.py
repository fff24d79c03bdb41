"""Habits of support tools, in a real browser: a copy button for SIDs, a selection bar that
shows once rows are checked, search words marked in the preview."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import row_of

pytestmark = pytest.mark.e2e


def test_the_copy_button_copies_the_whole_sid(logged_in_page, reviewer, cached):
    row = cached(transcription_text="A call about a parcel")
    page = logged_in_page(reviewer)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    # The SID is cut short in its column; the button has all of it.
    sid_box = row_of(page, row.sid).locator(".sid").first
    assert sid_box.evaluate("e => e.scrollWidth > e.clientWidth")
    row_of(page, row.sid).get_by_role("button", name=f"Copy {row.sid}").click()
    expect(page.locator("#messages")).to_have_text(f"Copied {row.sid}")
    assert page.evaluate("navigator.clipboard.readText()") == row.sid

    row_of(page, row.sid).locator("[data-action='preview']").click()
    page.locator("#preview").get_by_role("button", name=f"Copy {row.sid}").click()
    assert page.evaluate("navigator.clipboard.readText()") == row.sid


def test_the_selection_bar_shows_once_rows_are_checked(logged_in_page, deleter, cached):
    rows = [cached() for _ in range(2)]
    page = logged_in_page(deleter)
    counter = page.locator("[data-bulk-count]")
    delete_selected = page.locator("[data-action='bulk-delete-selected']")
    expect(counter).to_be_hidden()
    expect(delete_selected).to_be_hidden()
    page.get_by_label(f"Select {rows[0].sid}").check()
    expect(counter).to_have_text("1 selected")
    expect(delete_selected).to_be_visible()
    page.get_by_label(f"Select {rows[0].sid}").uncheck()
    expect(delete_selected).to_be_hidden()


def test_the_search_words_are_marked_in_the_preview(logged_in_page, reviewer, cached):
    row = cached(
        transcription_text="Refunds take a week. The refund for order 7 is sent; refunded."
    )
    page = logged_in_page(reviewer)
    search = page.get_by_label("Search")
    search.fill("order refund")
    expect(page).to_have_url(re.compile(r"q=order\+refund"))
    # Words typed but not searched for are not marked.
    search.evaluate("box => { box.value = 'week'; }")
    row_of(page, row.sid).locator("[data-action='preview']").click()
    marks = page.locator("#preview [data-preview-text] mark")
    # "order" whole; "refund" as the last word, a prefix: Refunds, refund, refunded.
    expect(marks).to_have_text(["Refund", "refund", "order", "refund"])
    assert page.locator("#preview [data-preview-text]").inner_text() == row.transcription_text


def test_a_search_without_accents_finds_and_marks_the_words_with_them(
    logged_in_page, reviewer, cached
):
    zoe = cached(transcription_text="Zoë asked for the café's opening hours.")
    cached(transcription_text="Nobody of that name here.")
    page = logged_in_page(reviewer)
    page.get_by_label("Search").fill("zoe cafe")
    expect(page.locator("#results tbody tr[data-sid]")).to_have_count(1)
    expect(row_of(page, zoe.sid).locator("mark")).to_have_text(["Zoë", "café"])
    row_of(page, zoe.sid).locator("[data-action='preview']").click()
    expect(page.locator("#preview [data-preview-text] mark")).to_have_text(["Zoë", "café"])
    assert page.locator("#preview [data-preview-text]").inner_text() == zoe.transcription_text
