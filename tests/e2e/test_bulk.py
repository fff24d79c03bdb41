"""A bulk deletion in a real browser: select rows, confirm with a reason, watch the progress."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.e2e.conftest import requests_held
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


def test_the_table_and_the_list_follow_a_running_job_without_a_reload(
    logged_in_page, live_server, deleter, sandbox, cached, settings
):
    # Slow enough for a click to land between two swaps of the notices.
    settings.TABLE_NEWS_POLL_SECONDS = 2
    rows = [cached() for _ in range(3)]
    page = logged_in_page(deleter)
    for row in rows[:2]:
        page.get_by_label(f"Select {row.sid}").check()
    page.locator("[data-action='bulk-delete-selected']").click()
    page.locator("#modal").get_by_label("Reason").fill("Old calls")
    page.locator("[data-action='confirm-bulk-delete']").click()
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    bulk = BulkDeletion.objects.get()

    # The table, open meanwhile, says a job is under way; the list polls while it runs.
    page.goto(f"{live_server.url}/")
    running = page.locator("[data-bulk-running]")
    expect(running).to_contain_text(f"Bulk deletion #{bulk.pk} queued: 0 of 2 deleted")
    other = page.context.new_page()
    other.goto(f"{live_server.url}/bulk/")
    expect(other.locator("#bulk-list")).to_have_attribute("data-polling", "on")
    state = other.locator(f"[data-bulk-id='{bulk.pk}'] .badge")
    expect(state).to_have_text("Queued")

    with requests_held(page.context):
        call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0, stdout=StringIO())

    expect(state).to_have_text("Completed", timeout=15_000)
    expect(other.locator("#bulk-list")).to_have_attribute("data-polling", "off")
    expect(running).to_have_count(0)
    finished = page.locator("[data-bulk-finished]")
    expect(finished).to_contain_text(f"Bulk deletion #{bulk.pk} completed: 2 of 2 deleted")
    finished.get_by_role("link", name="show the table now").click()
    expect(page.locator("#results tbody tr[data-sid]")).to_have_count(1)
    expect(page.locator(f"#results tr[data-sid='{rows[2].sid}']")).to_be_visible()
