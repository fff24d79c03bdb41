"""A whole triage by keyboard only: search, move, a preview that follows the selection, a delete
with # and its confirmation, a bulk deletion with a reason and a typed count, and the ? list.
Focus is asserted at each step: a keyboard user has nothing else to go by."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import row_of
from transcriptions.models import BulkDeletion, Transcription

pytestmark = pytest.mark.e2e


def _sids_shown(page) -> list[str]:
    return page.locator("#results tbody tr[data-sid]").evaluate_all(
        "rows => rows.map(r => r.dataset.sid)"
    )


def test_a_whole_triage_by_keyboard(logged_in_page, deleter, cached, twilio, monkeypatch):
    # A typed count is asked above this many; two checked rows make the test ask for one.
    monkeypatch.setattr("transcriptions.bulk_deletion.records.TYPED_CONFIRM_ABOVE", 1)
    monkeypatch.setattr("transcriptions.bulk_deletion.TYPED_CONFIRM_ABOVE", 1)
    for n in range(5):
        cached(transcription_text=f"Caller {n} asked about a refund")
    cached(transcription_text="Caller wanted the opening hours")
    page = logged_in_page(deleter)
    expect(page.locator("[data-bulk-count]")).to_have_text("0 selected")  # the script runs

    # ? opens the list of shortcuts, Escape closes it.
    page.keyboard.press("?")
    help_dialog = page.locator("#shortcuts-help")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Delete the checked rows")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    # / searches; Escape leaves the box, keeping its words and the filtered table.
    page.keyboard.press("/")
    search = page.locator("[data-search-input]")
    expect(search).to_be_focused()
    page.keyboard.type("refund")
    expect(page).to_have_url(re.compile(r"[?&]q=refund"))
    expect(page.locator("#results tbody tr[data-sid]")).to_have_count(5)
    page.keyboard.press("Escape")
    expect(search).not_to_be_focused()
    expect(search).to_have_value("refund")
    sids = _sids_shown(page)

    # j and k move the selection, and the focus with it.
    page.keyboard.press("j")
    expect(row_of(page, sids[0])).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(row_of(page, sids[1])).to_be_focused()
    expect(row_of(page, sids[1])).to_have_attribute("aria-selected", "true")

    # Enter previews; the preview then follows the selection.
    page.keyboard.press("Enter")
    expect(page.locator(f"#preview #preview-{sids[1]}")).to_be_visible()
    expect(row_of(page, sids[1])).to_be_focused()
    page.keyboard.press("j")
    expect(page.locator(f"#preview #preview-{sids[2]}")).to_be_visible()
    expect(row_of(page, sids[2])).to_be_focused()

    # # asks to delete the selected row; Tab stays inside the confirmation; Escape goes back
    # to the row.
    page.keyboard.press("#")
    dialog = page.locator("#modal [role='alertdialog']")
    expect(dialog).to_contain_text(sids[2])
    cancel = dialog.locator("[data-action='cancel-delete']")
    expect(cancel).to_be_focused()
    for _ in range(5):
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('modal').contains(document.activeElement)")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.getElementById('modal').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(row_of(page, sids[2])).to_be_focused()

    # # again, Shift+Tab to "Delete permanently", Enter: deleted at Twilio; the next row takes
    # the focus and the preview of the deleted one closes.
    page.keyboard.press("#")
    expect(cancel).to_be_focused()
    page.keyboard.press("Shift+Tab")
    confirm = dialog.locator("[data-action='confirm-delete']")
    expect(confirm).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text(f"Deleted {sids[2]}")
    expect(row_of(page, sids[2])).to_have_count(0)
    expect(page.locator(f"#preview-{sids[2]}")).to_have_count(0)
    expect(row_of(page, sids[3])).to_be_focused()
    assert not Transcription.objects.filter(sid=sids[2]).exists()
    assert twilio.store.get(sids[2]) is None

    # x checks rows; # with rows checked asks for a bulk deletion of them, with the focus in
    # its Reason; the typed count; Enter starts it.
    page.keyboard.press("x")
    page.keyboard.press("k")
    expect(row_of(page, sids[1])).to_be_focused()
    page.keyboard.press("x")
    expect(page.locator("[data-bulk-count]")).to_have_text("2 selected")
    page.keyboard.press("#")
    bulk_dialog = page.locator("#modal [data-bulk-confirm]")
    expect(bulk_dialog).to_contain_text("Delete 2 transcriptions?")
    reason = bulk_dialog.get_by_label("Reason")
    expect(reason).to_be_focused()
    page.keyboard.type("Caller asked for erasure")
    page.keyboard.press("Tab")
    expect(bulk_dialog.locator("#bulk-with-recordings")).to_be_focused()
    page.keyboard.press("Tab")
    typed = bulk_dialog.locator("#bulk-confirm-count")
    expect(typed).to_be_focused()
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    bulk = BulkDeletion.objects.get()
    assert bulk.reason == "Caller asked for erasure"
    assert set(bulk.items.values_list("sid", flat=True)) == {sids[1], sids[3]}


def test_a_wrong_typed_count_keeps_the_focus_on_the_count(
    logged_in_page, deleter, cached, monkeypatch
):
    monkeypatch.setattr("transcriptions.bulk_deletion.records.TYPED_CONFIRM_ABOVE", 1)
    monkeypatch.setattr("transcriptions.bulk_deletion.TYPED_CONFIRM_ABOVE", 1)
    for _ in range(2):
        cached()
    page = logged_in_page(deleter)
    counter = page.locator("[data-bulk-count]")
    expect(counter).to_have_text("0 selected")  # the page's script is running
    sids = _sids_shown(page)
    for sid in sids:
        page.keyboard.press("j")
        expect(row_of(page, sid)).to_be_focused()
        page.keyboard.press("x")
    expect(counter).to_have_text("2 selected")
    page.keyboard.press("#")
    dialog = page.locator("#modal [data-bulk-confirm]")
    expect(dialog.get_by_label("Reason")).to_be_focused()
    page.keyboard.type("Old test calls")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    expect(dialog.locator("[data-bulk-errors]")).to_contain_text("Type the number")
    expect(dialog.locator("#bulk-confirm-count")).to_be_focused()
    expect(dialog.get_by_label("Reason")).to_have_value("Old test calls")
    assert not BulkDeletion.objects.exists()
