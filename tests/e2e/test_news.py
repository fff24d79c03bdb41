"""An open table learns of arrivals and status changes without a reload (real browser)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from transcriptions.models import Transcription

pytestmark = pytest.mark.e2e


def test_arrivals_are_announced_and_statuses_change_in_place(
    logged_in_page, reviewer, make_transcription, settings
):
    settings.TABLE_NEWS_POLL_SECONDS = 0.5
    waiting = make_transcription(status="in-progress", transcription_text=None)
    make_transcription(status="failed", transcription_text=None)
    page = logged_in_page(reviewer)
    page.locator("#id_status_in-progress").check()
    expect(page).to_have_url(re.compile(r"status=in-progress"))
    expect(page.locator("#results tbody tr")).to_have_count(1)

    # A callback (or a sync) brings a new in-progress transcription, one of another status,
    # and completes the one shown.
    fresh = make_transcription(status="in-progress", transcription_text=None)
    make_transcription(status="completed", transcription_text="not for this filter")
    Transcription.objects.filter(pk=waiting.pk).update(
        status="completed", transcription_text="done", synced_at=datetime.now(UTC)
    )

    notice = page.locator("[data-news-notice]")
    expect(notice).to_have_text(re.compile(r"^1 new transcription — show$"))
    badge = page.locator(f"#status-{waiting.sid}")
    expect(badge).to_have_text("Completed")
    expect(badge).to_have_class(re.compile(r"badge-completed"))
    # The reader's place is kept until they ask: the new row is not there yet.
    expect(page.locator(f'#results tr[data-sid="{fresh.sid}"]')).to_have_count(0)
    notice.get_by_role("link", name="show").click()
    expect(page.locator(f'#results tr[data-sid="{fresh.sid}"]')).to_be_visible()
    expect(page).to_have_url(re.compile(r"status=in-progress"))
