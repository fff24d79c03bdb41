"""Personal data in a real browser: masked snippets and badges, the filter by kind, the
mentions form that keeps the value out of the address bar, and an audited reveal."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import row_of
from transcriptions.models import AuditEvent
from transcriptions.sync import transcriptions_sync

pytestmark = pytest.mark.e2e

CARD = "My card number is 4111 1111 1111 1111, expiry 05/29."
SPOKEN_PHONE = "my number is four one five five five five two six seven one thanks"


@pytest.fixture
def synced(twilio):
    store = twilio.store
    items = {
        "card": store.add(transcription_text=CARD),
        "phone": store.add(transcription_text="Call me back on (415) 555-2671."),
        "spoken": store.add(transcription_text=SPOKEN_PHONE),
        "plain": store.add(transcription_text="The router is blinking again."),
    }
    transcriptions_sync()
    return {name: item.sid for name, item in items.items()}


def test_masked_snippets_badges_and_the_filter_by_kind(logged_in_page, reviewer, synced):
    page = logged_in_page(reviewer)
    card_row = row_of(page, synced["card"])
    expect(card_row).to_contain_text("[card ••••1111]")
    expect(card_row).not_to_contain_text("4111 1111 1111 1111")
    expect(card_row.locator(".badge-pd")).to_have_text(["Card", "Expiry"])
    # The counts per kind arrive after the rows.
    expect(page.locator("#pd-count-phone_number")).to_have_text("2")

    page.locator("#id_pd_phone_number").check()
    expect(page).to_have_url(re.compile(r"personal_data=phone_number"))
    expect(page.locator("#results tbody tr")).to_have_count(2)
    expect(row_of(page, synced["card"])).to_have_count(0)


def test_mentions_form_keeps_the_value_out_of_the_address_bar(logged_in_page, reviewer, synced):
    page = logged_in_page(reviewer)
    page.get_by_label("Mentions (phone, e-mail, card or IBAN)").fill("+1 415 555 2671")
    page.get_by_role("button", name="Find mentions").click()
    expect(page).to_have_url(re.compile(r"mentions_token="))
    assert "2671" not in page.url
    expect(page.locator("#results tbody tr")).to_have_count(2)
    expect(row_of(page, synced["spoken"])).to_be_visible()
    expect(page.locator("[data-mentions-active]")).to_contain_text("Phone number")


def test_a_privacy_officer_reveals_one_transcription_and_it_is_audited(
    logged_in_page, privacy_officer, synced
):
    page = logged_in_page(privacy_officer)
    row_of(page, synced["card"]).locator('[data-action="preview"]').click()
    text = page.locator("#preview [data-preview-text]")
    expect(text).to_contain_text("[card ••••1111]")
    page.locator('#preview [data-action="reveal"]').click()
    expect(text).to_contain_text("4111 1111 1111 1111")
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.REVEALED, transcription_sid=synced["card"]
    ).exists()
    page.locator('#preview [data-action="who-has-seen"]').click()
    expect(page).to_have_url(re.compile(rf"/audit/\?sid={synced['card']}"))
    expect(page.locator("[data-audit-table]")).to_contain_text("Revealed personal data")
