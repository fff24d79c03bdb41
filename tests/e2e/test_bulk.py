"""A bulk deletion in a real browser: select rows, confirm with a reason, watch the progress."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from transcriptions.models import BulkDeletion, Transcription

pytestmark = pytest.mark.e2e


@pytest.fixture
def cached(sandbox, settings, make_transcription):
    """`cached(**fields)`: an item at Twilio and its matching cached row."""
    settings.TWILIO_MAX_ATTEMPTS = 2
    settings.TWILIO_BACKOFF_CAP_SECONDS = 0.05

    def make(**fields):
        item = sandbox.store.add(**fields)
        return make_transcription(
            sid=item.sid, recording_sid=item.recording_sid, status=item.status
        )

    return make


def test_select_rows_confirm_with_a_reason_and_watch_the_progress_reach_the_end(
    logged_in_page, deleter, sandbox, cached
):
    rows = [cached() for _ in range(4)]
    chosen, kept = rows[:3], rows[3]
    page = logged_in_page(deleter)

    counter = page.locator("[data-bulk-count]")
    expect(counter).to_have_text("0 selected")
    expect(page.locator("[data-action='bulk-delete-selected']")).to_be_disabled()
    for row in chosen:
        page.get_by_label(f"Select {row.sid}").check()
    expect(counter).to_have_text("3 selected")

    page.locator("[data-action='bulk-delete-selected']").click()
    dialog = page.locator("#modal [role='alertdialog']")
    expect(dialog).to_contain_text("Delete 3 transcriptions?")
    expect(dialog.locator("[data-bulk-account]")).to_have_text(sandbox.account_sid)
    for row in chosen:
        expect(dialog.locator(f"[data-sample-sid='{row.sid}']")).to_be_visible()
    dialog.get_by_label("Reason").fill("Customer asked for erasure")
    dialog.locator("[data-action='confirm-bulk-delete']").click()

    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    progress = page.locator("#bulk-progress")
    expect(progress).to_have_attribute("data-bulk-state", "queued")
    bulk = BulkDeletion.objects.get()
    assert bulk.reason == "Customer asked for erasure"

    # The worker, as `make demo` runs it, takes the job; the page polls until the end.
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0, stdout=StringIO())

    expect(progress).to_have_attribute("data-bulk-state", "completed", timeout=15_000)
    bar = page.locator("[data-bulk-progress]")
    expect(bar).to_have_attribute("value", "3")
    expect(bar).to_have_attribute("max", "3")
    expect(page.locator("[data-bulk-done]")).to_have_text("3")
    expect(page.locator("[data-bulk-remaining]")).to_have_text("0")
    assert {item.sid for item in sandbox.store.all()} == {kept.sid}
    assert list(Transcription.objects.values_list("sid", flat=True)) == [kept.sid]


def test_select_all_on_the_page_counts_every_row(logged_in_page, deleter, cached):
    for _ in range(3):
        cached()
    page = logged_in_page(deleter)

    page.get_by_label("Select all on this page").check()

    expect(page.locator("[data-bulk-count]")).to_have_text("3 selected")
    expect(page.locator("[data-action='bulk-delete-selected']")).to_be_enabled()
