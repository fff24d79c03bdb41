"""Shared fixtures: the Twilio sandbox on a free port (the one fake), users, cached rows."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sandbox.server import SandboxServer
from sandbox.store import TranscriptionStore
from transcriptions import sync as sync_package
from transcriptions.sync import writing as sync_writing

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "sandbox-test-auth-token-0123456789"
API_KEY_SID = "SK" + "2" * 32
API_KEY_SECRET = "sandbox-test-api-secret-9876543210"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _no_real_twilio(settings):
    """No test can reach api.twilio.com: without the sandbox fixture, Twilio is unconfigured
    and its base URL points at a closed local port."""
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    settings.TWILIO_API_KEY_SID = ""
    settings.TWILIO_API_KEY_SECRET = ""
    settings.TRANSCRIPT_TEXT_RETENTION_DAYS = None
    # Keep retries quick in tests; the client tests set their own limits.
    settings.TWILIO_BACKOFF_CAP_SECONDS = 0.2
    settings.TWILIO_READ_TIMEOUT_SECONDS = 5.0
    # Password hashing at full strength costs ~0.3 s per user and buys a test nothing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def sandbox_store() -> TranscriptionStore:
    """An empty sandbox store; tests seed it (`store.seed(count=…, seed=…)`) or add items."""
    return TranscriptionStore(account_sid=ACCOUNT_SID)


@pytest.fixture
def sandbox(sandbox_store, settings):
    """The Twilio sandbox served over real HTTP on a free port of 127.0.0.1, with the
    dashboard's settings pointed at it."""
    server = SandboxServer(
        store=sandbox_store,
        host="127.0.0.1",
        port=0,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_key=API_KEY_SID,
        api_secret=API_KEY_SECRET,
    )
    server.start()
    settings.TWILIO_API_BASE_URL = server.url
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def twilio(sandbox, settings):
    """The sandbox as Twilio, with quick retries so that fault tests stay fast."""
    settings.TWILIO_MAX_ATTEMPTS = 2
    settings.TWILIO_BACKOFF_CAP_SECONDS = 0.05
    return sandbox


@pytest.fixture
def twilio_client(sandbox):
    """A client built from the settings, pointed at the sandbox, for tests that hand one in."""
    from transcriptions.twilio_client import get_client

    with get_client() as client:
        yield client


_counter = itertools.count(1)


@pytest.fixture
def make_transcription(db):
    """Create a cached row directly (for tests that need no upstream)."""
    from transcriptions.models import Transcription
    from transcriptions.personal_data import personal_data_columns

    def make(**fields) -> Transcription:
        n = next(_counter)
        now = datetime.now(UTC)
        values = {
            "sid": "TR" + secrets.token_hex(16),
            "account_sid": ACCOUNT_SID,
            "recording_sid": "RE" + secrets.token_hex(16),
            "status": "completed",
            "transcription_text": f"Hello, thanks for calling support, ticket number {n}.",
            "duration": 30,
            "price": Decimal("-0.05000"),
            "price_unit": "USD",
            "type": "fast",
            "api_version": "2010-04-01",
            "date_created": now - timedelta(minutes=n),
            "date_updated": now - timedelta(minutes=n),
            "synced_at": now,
        }
        values.update(fields)
        # As every write path of the desk does: personal data found with the text.
        for name, value in personal_data_columns(values["transcription_text"]).items():
            values.setdefault(name, value)
        uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/{values['sid']}.json"
        values.setdefault("uri", uri)
        return Transcription.objects.create(**values)

    return make


def _user_in_role(django_user_model, username: str, role: str | None):
    from django.contrib.auth.models import Group, Permission

    from transcriptions.roles import sync_role_groups

    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    if role:
        # A transactional test's flush removes the groups the migration made; make them again.
        if not Group.objects.filter(name=role).exists():
            sync_role_groups(Group, Permission)
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def nobody(db, django_user_model):
    """Logged-in-able, but in no group."""
    return _user_in_role(django_user_model, "nobody", None)


@pytest.fixture
def viewer(db, django_user_model):
    return _user_in_role(django_user_model, "viewer", "Viewers")


@pytest.fixture
def reviewer(db, django_user_model):
    return _user_in_role(django_user_model, "reviewer", "Reviewers")


@pytest.fixture
def deleter(db, django_user_model):
    return _user_in_role(django_user_model, "deleter", "Deleters")


@pytest.fixture
def privacy_officer(db, django_user_model):
    return _user_in_role(django_user_model, "privacy", "Privacy officers")


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of 10 items, so a few dozen sandbox items make several pages; each committed
    on its own, as at Twilio's pace, so that progress comes after every page."""
    monkeypatch.setattr(sync_package, "PAGE_SIZE", 10)
    monkeypatch.setattr(sync_writing, "COMMIT_EVERY_SECONDS", 0)
    return 10
