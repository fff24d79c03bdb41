"""Logging in and out through the real pages, in a real browser."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_log_in_through_the_login_page_opens_the_table(
    page, live_server, reviewer, make_transcription
):
    t = make_transcription(status="failed")
    page.goto(f"{live_server.url}/")

    # Anonymous: sent to the login page, which remembers where we were going.
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Username").fill("reviewer")
    page.get_by_label("Password").fill("pw-reviewer")
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator(f'tr[data-sid="{t.sid}"]')).to_be_visible()
    expect(page.locator(".user-name")).to_have_text("reviewer")


def test_wrong_password_is_refused_with_a_message(page, live_server, reviewer):
    page.goto(f"{live_server.url}{reverse('login')}")
    page.get_by_label("Username").fill("reviewer")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_contain_text("didn't match")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_log_in_returns_to_the_filtered_page_asked_for(logged_in_page, live_server, viewer):
    page = logged_in_page(viewer, next_path="/%3Fstatus%3Dfailed")
    expect(page).to_have_url(f"{live_server.url}/?status=failed")
    expect(page.get_by_label("Failed")).to_be_checked()


def test_log_out_is_a_post_with_the_csrf_token(logged_in_page, live_server, reviewer):
    page = logged_in_page(reviewer)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    # Logged out for real: the table now needs a login again.
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/"))


def test_user_without_the_view_permission_is_refused(logged_in_page, live_server, nobody):
    page = logged_in_page(nobody)
    response = page.goto(f"{live_server.url}/")
    assert response is not None and response.status == 403
