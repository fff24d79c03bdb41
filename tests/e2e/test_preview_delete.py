"""Preview, refresh and delete in a real browser, with the sandbox as Twilio."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import row_of
from transcriptions.models import AuditEvent, Transcription
from transcriptions.twilio_client import TwilioNotFound, get_client

pytestmark = pytest.mark.e2e

PWN_TEXT = (
    "<script>window.__pwned = 1</script>"
    '<img src="x" onerror="window.__pwned = 2">'
    "Customer read out a suspicious snippet."
)


def test_open_a_preview(logged_in_page, reviewer, cached):
    row = cached(transcription_text="First line of the call\nSecond line of the call")
    other = Transcription.objects.create(
        **{
            **{
                f.name: getattr(row, f.name)
                for f in Transcription._meta.concrete_fields
                if f.name not in {"id", "sid", "uri"}
            },
            "sid": "TR" + "e" * 32,
        }
    )
    page = logged_in_page(reviewer)

    row_of(page, row.sid).locator('[data-action="preview"]').click()

    preview = page.locator("#preview")
    expect(preview.locator(f"#preview-{row.sid}")).to_be_visible()
    expect(preview.locator("[data-preview-text] br")).to_have_count(1)
    # innerText follows the rendering: the line break is kept.
    assert preview.locator("[data-preview-text]").inner_text() == (
        "First line of the call\nSecond line of the call"
    )
    # The recording's other transcription opens in the same place.
    preview.get_by_role("link", name=other.sid).click()
    expect(preview.locator(f"#preview-{other.sid}")).to_be_visible()
    assert AuditEvent.objects.filter(action="viewed_text", transcription_sid=row.sid).exists()


def test_preview_fetches_missing_text_and_refresh_gets_the_new_one(
    logged_in_page, reviewer, twilio, cached
):
    row = cached(transcription_text="Words at Twilio only")
    Transcription.objects.filter(pk=row.pk).update(transcription_text=None)
    page = logged_in_page(reviewer)

    row_of(page, row.sid).locator('[data-action="preview"]').click()
    expect(page.locator("#preview [data-preview-text]")).to_have_text("Words at Twilio only")

    twilio.store.update(row.sid, transcription_text="Corrected at Twilio")
    page.locator("#preview").get_by_role("button", name="Refresh from Twilio").click()

    expect(page.locator("#preview [data-preview-text]")).to_have_text("Corrected at Twilio")
    expect(page.locator("#preview")).to_contain_text("Refreshed from Twilio")
    row.refresh_from_db()
    assert row.transcription_text == "Corrected at Twilio"


def test_delete_from_a_row_through_the_confirmation(logged_in_page, deleter, twilio, cached):
    row = cached(transcription_text="Please remove this call")
    keep = cached(transcription_text="Keep this one")
    page = logged_in_page(deleter)

    row_of(page, row.sid).locator('[data-action="delete"]').click()

    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(row.sid)
    dialog.locator('[data-action="confirm-delete"]').click()

    expect(row_of(page, row.sid)).to_have_count(0)
    expect(page.locator("#modal")).to_be_empty()
    expect(page.locator("#messages")).to_contain_text(f"Deleted {row.sid}")
    expect(row_of(page, keep.sid)).to_be_visible()
    assert twilio.store.get(row.sid) is None
    with pytest.raises(TwilioNotFound):
        get_client().fetch_transcription(row.sid)
    assert not Transcription.objects.filter(sid=row.sid).exists()
    assert AuditEvent.objects.filter(action="deleted", transcription_sid=row.sid).exists()


def test_delete_from_the_preview_empties_it(logged_in_page, deleter, twilio, cached):
    row = cached(transcription_text="Delete me from the preview")
    page = logged_in_page(deleter)
    row_of(page, row.sid).locator('[data-action="preview"]').click()
    expect(page.locator(f"#preview-{row.sid}")).to_be_visible()

    page.locator(f'#preview-{row.sid} [data-action="delete"]').click()
    page.locator('[data-action="confirm-delete"]').click()

    expect(page.locator(f"#preview-{row.sid}")).to_have_count(0)
    expect(row_of(page, row.sid)).to_have_count(0)
    assert twilio.store.get(row.sid) is None


def test_cancel_and_escape_keep_the_row(logged_in_page, deleter, twilio, cached):
    row = cached(transcription_text="Not this time")
    page = logged_in_page(deleter)

    row_of(page, row.sid).locator('[data-action="delete"]').click()
    page.get_by_role("alertdialog").get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)

    row_of(page, row.sid).locator('[data-action="delete"]').click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("alertdialog")).to_have_count(0)

    expect(row_of(page, row.sid)).to_be_visible()
    assert twilio.store.get(row.sid) is not None
    assert all(method != "DELETE" for method, _ in twilio.request_log)


def test_delete_error_at_twilio_shows_in_messages_and_keeps_the_row(
    logged_in_page, deleter, twilio, cached
):
    row = cached(transcription_text="Twilio will refuse")
    page = logged_in_page(deleter)
    row_of(page, row.sid).locator('[data-action="delete"]').click()
    twilio.faults.error_rate = 1.0

    page.locator('[data-action="confirm-delete"]').click()

    expect(page.locator("#messages")).to_contain_text(f"Could not delete {row.sid}")
    expect(page.locator("#messages")).to_contain_text("500")
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    expect(row_of(page, row.sid)).to_be_visible()
    assert Transcription.objects.filter(sid=row.sid).exists()
    assert twilio.store.get(row.sid) is not None


def test_viewer_sees_no_delete_button_and_a_direct_post_is_refused(
    logged_in_page, live_server, viewer, twilio, cached
):
    row = cached(transcription_text="Viewers cannot delete")
    page = logged_in_page(viewer)

    expect(row_of(page, row.sid)).to_be_visible()
    expect(page.locator('[data-action="delete"]')).to_have_count(0)
    expect(page.locator('[data-action="preview"]')).to_have_count(0)

    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"{live_server.url}/t/{row.sid}/delete/",
        headers={"X-CSRFToken": token, "HX-Request": "true", "Referer": live_server.url + "/"},
    )

    assert response.status == 403
    assert Transcription.objects.filter(sid=row.sid).exists()
    assert twilio.store.get(row.sid) is not None


def test_script_in_a_transcript_shows_as_text_and_runs_nothing(
    logged_in_page, live_server, reviewer, cached
):
    row = cached(transcription_text=PWN_TEXT)
    page = logged_in_page(reviewer)

    row_of(page, row.sid).locator('[data-action="preview"]').click()

    text = page.locator("#preview [data-preview-text]")
    expect(text).to_have_text(PWN_TEXT)
    assert page.evaluate("typeof window.__pwned") == "undefined"

    # The same on the transcription's own page.
    page.goto(f"{live_server.url}/t/{row.sid}/")
    expect(page.locator("[data-preview-text]")).to_have_text(PWN_TEXT)
    assert page.evaluate("typeof window.__pwned") == "undefined"
