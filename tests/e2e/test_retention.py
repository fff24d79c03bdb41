"""The retention page in a real browser: a refused confirmation says why where the reader is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from transcriptions.models import BulkDeletion

pytestmark = pytest.mark.e2e


def test_a_wrong_typed_count_is_said_beside_the_count_which_takes_the_focus(
    logged_in_page, live_server, privacy_officer, make_transcription, twilio
):
    old = datetime.now(UTC) - timedelta(days=40)
    for _ in range(25):
        make_transcription(date_created=old)
    page = logged_in_page(privacy_officer)
    page.set_viewport_size({"width": 1366, "height": 800})
    page.goto(f"{live_server.url}/retention/?older_than_days=30")
    typed = page.get_by_label("Type the count (25) to confirm")
    typed.fill("24")
    page.locator("[data-action='confirm-retention']").click()

    error = page.locator("#retention-confirm-errors")
    expect(error).to_contain_text("The typed count does not match")
    expect(typed).to_be_focused()
    expect(error).to_be_in_viewport()
    expect(typed).to_have_attribute("aria-invalid", "true")
    assert not BulkDeletion.objects.exists()
