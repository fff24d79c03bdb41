"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live_server.

Without /usr/bin/chromium the browser tests skip with one line saying how to install it,
except in CI (CI=true), where a missing browser fails the run: these tests are the only check
of the CSRF wiring and the hx- attributes.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from contextlib import contextmanager

import pytest
from django.urls import reverse

# The live server runs in a thread beside Playwright's sync API, which Django takes for an
# async context.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM}: apt-get install -y chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def _role_groups(transactional_db):
    """The role groups come from a data migration, and a transactional test's flush removes
    them; put them back so the user fixtures find them."""
    from django.contrib.auth.models import Group, Permission

    from transcriptions.roles import sync_role_groups

    sync_role_groups(Group, Permission)


@pytest.fixture
def logged_in_page(page, live_server) -> Callable:
    """`logged_in_page(user)` logs `user` in through the login page (password "pw-<username>",
    as the user fixtures set) and returns the Playwright page, on `/`."""
    from playwright.sync_api import expect

    def log_in(user, *, password: str | None = None, next_path: str = ""):
        username = user.get_username()
        url = f"{live_server.url}{reverse('login')}"
        page.goto(f"{url}?next={next_path}" if next_path else url)
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password or f"pw-{username}")
        page.get_by_role("button", name="Log in").click()
        expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
        return page

    return log_in


@pytest.fixture
def cached(twilio, make_transcription):
    """`cached(**fields)`: an item at Twilio and its matching cached row."""

    def make(**fields):
        item = twilio.store.add(**fields)
        return make_transcription(
            sid=item.sid,
            recording_sid=item.recording_sid,
            status=item.status,
            transcription_text=item.transcription_text,
            duration=item.duration,
        )

    return make


def row_of(page, sid: str):
    return page.locator(f'#results tbody tr[data-sid="{sid}"]')


@contextmanager
def requests_held(context):
    """Hold the browser's requests (polls included) while the test itself writes to the
    database, e.g. by running the worker: the live server shares the test's in-memory SQLite
    connection across threads, and a poll answered in the middle of the worker's transaction
    would meet it ("cannot start a transaction within a transaction"). What was held is sent
    afterwards."""
    held = []

    def hold(route):
        held.append(route)

    context.route("**/*", hold)
    time.sleep(0.3)  # requests already on their way are answered meanwhile
    try:
        yield
    finally:
        context.unroute("**/*", hold)
        for route in held:
            route.fallback()
