"""The Content-Security-Policy in a real browser: the desk works under it without a single
violation; and a refused request (a stale CSRF token) is said on the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_the_desk_works_under_its_policy_without_violations(
    logged_in_page, live_server, deleter, twilio, make_transcription
):
    item = twilio.store.add(transcription_text="A call about a parcel.")
    row = make_transcription(
        sid=item.sid, recording_sid=item.recording_sid, transcription_text=None
    )
    violations: list[str] = []
    page = logged_in_page(deleter)
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    page.goto(f"{live_server.url}/")
    page.get_by_role("searchbox").fill("parcel")
    expect(page.locator(f'tr[data-sid="{row.sid}"]')).to_be_visible()
    page.locator(f'tr[data-sid="{row.sid}"] [data-action="preview"]').click()
    expect(page.locator("[data-preview-text]")).to_contain_text("A call about a parcel.")
    page.goto(f"{live_server.url}/overview/")
    page.goto(f"{live_server.url}/bulk/")
    assert violations == []


def test_a_stale_csrf_token_gets_a_message_not_silence(
    logged_in_page, live_server, reviewer, twilio
):
    page = logged_in_page(reviewer)
    # The page was left open while its CSRF cookie went (cleared, or replaced by a login in
    # another tab): the token the page holds no longer matches.
    csrf = [c for c in page.context.cookies() if c["name"] == "csrftoken"][0]
    page.context.add_cookies([{**csrf, "value": "x" * 32}])
    page.locator('[data-action="sync-now"]').click()
    expect(page.locator("#messages")).to_contain_text("Reload the page and try again")
