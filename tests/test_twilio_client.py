"""The Twilio client against the sandbox over real HTTP: paging, typed fields, text, delete,
retries and give-up under faults, timeouts, auth, settings, and secrets kept out of sight."""

from __future__ import annotations

import base64
import logging
import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN
from transcriptions.twilio_client import (
    TwilioClient,
    TwilioError,
    TwilioNotConfigured,
    TwilioNotFound,
    TwilioTranscription,
    get_client,
    twilio_configuration_problem,
)

OTHER_ACCOUNT_SID = "AC" + "9" * 32
LIST_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions.json"


def make_client(server, **options) -> TwilioClient:
    """A client for the sandbox with quick retries; options override any argument."""
    arguments = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "base_url": server.url,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "max_attempts": 5,
        "backoff_cap": 0.05,
    }
    arguments.update(options)
    return TwilioClient(**arguments)


def list_requests(server) -> list[tuple[str, str]]:
    return [
        (method, path)
        for method, path in server.request_log
        if method == "GET" and path.split("?")[0].endswith("/Transcriptions.json")
    ]


def retry_warnings(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "transcriptions.twilio_client" and r.levelno == logging.WARNING
    ]


# Paging


@pytest.mark.parametrize(("page_size", "count"), [(1, 137), (50, 1013), (1000, 2345)])
def test_lists_every_transcription_exactly_once_in_twilio_order(
    sandbox, sandbox_store, page_size, count
):
    sandbox_store.seed(count=count, seed=page_size)
    expected = [item.sid for item in sandbox_store.all()]
    client = make_client(sandbox)

    pages = list(client.iter_transcription_pages(page_size=page_size))

    listed = [t.sid for page in pages for t in page]
    assert listed == expected
    assert len(set(listed)) == count
    full_pages = math.ceil(count / page_size)
    # Twilio may or may not end with an empty page after a full one.
    assert len(pages) in (full_pages, full_pages + 1)
    assert all(len(page) == page_size for page in pages[: full_pages - 1])
    assert len(list_requests(sandbox)) == len(pages)


def test_follows_next_page_uri_verbatim_and_asks_for_the_page_size(sandbox, sandbox_store):
    sandbox_store.seed(count=25, seed=3)
    # An injected session (real HTTP) records each request it sent and the page it got back.
    session = requests.Session()
    answers: list[tuple[requests.PreparedRequest, str | None]] = []
    session.hooks["response"].append(
        lambda response, **_: answers.append(
            (response.request, response.json().get("next_page_uri"))
        )
    )
    client = make_client(sandbox, session=session)

    assert len(list(client.iter_transcriptions(page_size=10))) == 25

    requested = [request.path_url for request, _ in answers]
    given = [next_page_uri for _, next_page_uri in answers]
    assert requested[0] == f"{LIST_PATH}?PageSize=10"
    assert requested[1:] == given[:-1]
    assert len(requested) == 3 and given[-1] is None
    assert all("PageToken=PA" in path for path in requested[1:])
    assert {request.headers["User-Agent"] for request, _ in answers} == {"transcript-desk/0.1"}
    assert all(request.headers["Authorization"].startswith("Basic ") for request, _ in answers)


@pytest.mark.parametrize(("page_size", "count"), [(1, 40), (50, 420), (1000, 2600)])
def test_lists_consistently_when_items_are_deleted_between_pages(
    sandbox, sandbox_store, page_size, count
):
    sandbox_store.seed(count=count, seed=7)
    order = [item.sid for item in sandbox_store.all()]
    client = make_client(sandbox)
    seen: list[str] = []
    deleted_unseen: set[str] = set()

    for number, page in enumerate(client.iter_transcription_pages(page_size=page_size)):
        seen.extend(t.sid for t in page)
        if not page or number % 2:
            continue
        # Delete the item the next page token points at, and items not yet listed.
        assert sandbox_store.delete(page[-1].sid)
        listed = set(seen)
        ahead = [sid for sid in order if sid not in listed and sid not in deleted_unseen]
        for sid in ahead[:1] + ahead[page_size + 1 : page_size + 3]:
            assert sandbox_store.delete(sid)
            deleted_unseen.add(sid)

    assert deleted_unseen
    assert len(seen) == len(set(seen))
    assert seen == [sid for sid in order if sid not in deleted_unseen]


def test_lists_one_recordings_transcriptions(sandbox, sandbox_store):
    sandbox_store.seed(count=30, seed=1)
    recording_sid = "RE" + "a" * 32
    now = datetime.now(UTC).replace(microsecond=0)
    mine = [
        sandbox_store.add(recording_sid=recording_sid, date_created=now - timedelta(hours=n))
        for n in range(5)
    ]
    client = make_client(sandbox)

    pages = list(client.iter_recording_transcription_pages(recording_sid, page_size=2))
    listed = list(client.iter_recording_transcriptions(recording_sid))

    assert [t.sid for page in pages for t in page] == [item.sid for item in mine]
    assert [t.sid for t in listed] == [item.sid for item in mine]
    assert {t.recording_sid for t in listed} == {recording_sid}
    # The resource's uri is the account-level one, even through the recording route.
    assert listed[0].uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/{mine[0].sid}.json"
    assert any("/Recordings/" in path for _, path in sandbox.request_log)


def test_rejects_a_page_size_twilio_does_not_allow(sandbox):
    client = make_client(sandbox)
    for page_size in (0, 1001):
        with pytest.raises(ValueError):
            next(client.iter_transcription_pages(page_size=page_size))
    assert sandbox.request_log == []


# One transcription


def test_fetch_returns_typed_fields(sandbox, sandbox_store):
    created = datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)
    item = sandbox_store.add(
        recording_sid="RE" + "b" * 32,
        status="completed",
        transcription_text="Caller asked about invoice 1234.",
        duration=12,
        price="-0.05000",
        date_created=created,
        date_updated=created + timedelta(minutes=3),
    )
    client = make_client(sandbox)

    fetched = client.fetch_transcription(item.sid)

    assert fetched == TwilioTranscription(
        sid=item.sid,
        account_sid=ACCOUNT_SID,
        recording_sid="RE" + "b" * 32,
        status="completed",
        transcription_text="Caller asked about invoice 1234.",
        duration=12,
        price=Decimal("-0.05000"),
        price_unit="USD",
        type="fast",
        api_version="2010-04-01",
        date_created=created,
        date_updated=created + timedelta(minutes=3),
        uri=f"/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/{item.sid}.json",
    )
    assert fetched.date_created.tzinfo is not None
    assert fetched.date_created.utcoffset() == timedelta(0)
    with pytest.raises(AttributeError):
        fetched.status = "failed"  # frozen


def test_fetch_of_an_unpriced_transcription_has_no_price(sandbox, sandbox_store):
    item = sandbox_store.add(status="in-progress", price=None, transcription_text=None)
    fetched = make_client(sandbox).fetch_transcription(item.sid)
    assert fetched.price is None
    assert fetched.transcription_text is None
    assert fetched.status == "in-progress"


def test_fetch_of_an_unknown_sid_is_not_found(sandbox):
    client = make_client(sandbox)
    with pytest.raises(TwilioNotFound) as caught:
        client.fetch_transcription("TR" + "0" * 32)
    assert caught.value.status == 404
    assert caught.value.code == 20404
    assert "was not found" in caught.value.message
    # A 404 is an answer, not a failure: never retried.
    assert len(sandbox.request_log) == 1


def test_a_sid_cannot_escape_its_path_segment(sandbox, sandbox_store):
    sandbox_store.seed(count=3, seed=0)
    with pytest.raises(TwilioNotFound):
        make_client(sandbox).fetch_transcription("../Transcriptions")


@pytest.mark.parametrize(
    "text",
    [
        "Thanks for calling. Your reference is 55-1234.",
        "Grüße aus Köln — 你好 — <script>alert(1)</script> & more",
        "(blank)",
    ],
)
def test_fetch_text_returns_the_text_only(sandbox, sandbox_store, text):
    item = sandbox_store.add(transcription_text=text)
    assert make_client(sandbox).fetch_transcription_text(item.sid) == text
    assert sandbox.request_log[-1] == (
        "GET",
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/{item.sid}.txt",
    )


def test_fetch_text_of_a_null_text_is_empty(sandbox, sandbox_store):
    item = sandbox_store.add(transcription_text=None, status="in-progress", price=None)
    assert make_client(sandbox).fetch_transcription_text(item.sid) == ""


def test_fetch_text_of_an_unknown_sid_is_not_found(sandbox):
    with pytest.raises(TwilioNotFound) as caught:
        make_client(sandbox).fetch_transcription_text("TR" + "0" * 32)
    assert caught.value.status == 404


def test_delete_removes_it_at_twilio_and_then_it_is_not_found(sandbox, sandbox_store):
    item = sandbox_store.add(transcription_text="to be deleted")
    keep = sandbox_store.add(transcription_text="to be kept")
    client = make_client(sandbox)

    assert client.delete_transcription(item.sid) is None

    assert sandbox_store.get(item.sid) is None
    assert sandbox_store.get(keep.sid) is not None
    with pytest.raises(TwilioNotFound):
        client.fetch_transcription(item.sid)
    with pytest.raises(TwilioNotFound) as caught:
        client.delete_transcription(item.sid)
    assert caught.value.code == 20404
    assert [m for m, _ in sandbox.request_log] == ["DELETE", "GET", "DELETE"]


# Faults


def test_lists_everything_despite_server_errors(sandbox, sandbox_store, caplog):
    sandbox_store.seed(count=500, seed=11)
    expected = [item.sid for item in sandbox_store.all()]
    sandbox.faults.error_rate = 0.3
    client = make_client(sandbox, max_attempts=15, backoff_cap=0.02)

    with caplog.at_level(logging.WARNING, logger="transcriptions.twilio_client"):
        listed = [t.sid for t in client.iter_transcriptions(page_size=20)]

    assert listed == expected
    warnings = retry_warnings(caplog)
    assert warnings and all("answered 500" in r.getMessage() for r in warnings)
    assert len(list_requests(sandbox)) == 25 + len(warnings)


def test_lists_everything_despite_rate_limiting(sandbox, sandbox_store, caplog):
    sandbox_store.seed(count=200, seed=12)
    expected = [item.sid for item in sandbox_store.all()]
    sandbox.faults.rate_limit = 5
    # The cap lets the client wait the whole Retry-After: 1 the sandbox sends.
    client = make_client(sandbox, max_attempts=8, backoff_cap=1.5)

    with caplog.at_level(logging.WARNING, logger="transcriptions.twilio_client"):
        listed = [t.sid for t in client.iter_transcriptions(page_size=10)]

    assert listed == expected
    assert any("answered 429" in r.getMessage() for r in retry_warnings(caplog))


def test_lists_everything_despite_dropped_connections(sandbox, sandbox_store, caplog):
    sandbox_store.seed(count=500, seed=13)
    expected = [item.sid for item in sandbox_store.all()]
    sandbox.faults.drop_rate = 0.2
    client = make_client(sandbox, max_attempts=15, backoff_cap=0.02)

    with caplog.at_level(logging.WARNING, logger="transcriptions.twilio_client"):
        listed = [t.sid for t in client.iter_transcriptions(page_size=10)]

    assert listed == expected
    warnings = retry_warnings(caplog)
    assert warnings and all("failed (connection" in r.getMessage() for r in warnings)


def test_fetch_text_and_delete_survive_faults(sandbox, sandbox_store):
    items = [sandbox_store.add(transcription_text=f"call {n}") for n in range(10)]
    sandbox.faults.error_rate = 0.3
    sandbox.faults.drop_rate = 0.2
    client = make_client(sandbox, max_attempts=20, backoff_cap=0.02)

    texts = [client.fetch_transcription_text(item.sid) for item in items]
    for item in items:
        try:
            client.delete_transcription(item.sid)
        except TwilioNotFound:
            pass  # an earlier try deleted it and its answer was lost

    assert texts == [f"call {n}" for n in range(10)]
    assert len(sandbox_store) == 0


def test_gives_up_after_its_tries_when_twilio_always_fails(sandbox, sandbox_store, caplog):
    sandbox_store.seed(count=5, seed=0)
    sandbox.faults.error_rate = 1.0
    client = make_client(sandbox, max_attempts=3, backoff_cap=0.05)

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="transcriptions.twilio_client"):
        with pytest.raises(TwilioError) as caught:
            list(client.iter_transcriptions())

    assert time.monotonic() - started < 2
    assert caught.value.status == 500
    assert caught.value.code == 20500
    assert "gave up after 3 tries" in str(caught.value)
    assert not isinstance(caught.value, TwilioNotFound)
    assert sandbox.request_log == [("GET", LIST_PATH)] * 3
    assert len(retry_warnings(caplog)) == 2


def test_a_delete_that_always_fails_leaves_the_item_and_raises(sandbox, sandbox_store):
    item = sandbox_store.add()
    sandbox.faults.error_rate = 1.0
    client = make_client(sandbox, max_attempts=4)

    with pytest.raises(TwilioError) as caught:
        client.delete_transcription(item.sid)

    assert caught.value.status == 500
    assert [m for m, _ in sandbox.request_log] == ["DELETE"] * 4
    assert sandbox_store.get(item.sid) is not None


def test_gives_up_when_every_connection_is_dropped(sandbox, sandbox_store):
    item = sandbox_store.add()
    sandbox.faults.drop_rate = 1.0
    client = make_client(sandbox, max_attempts=3)

    with pytest.raises(TwilioError) as caught:
        client.fetch_transcription(item.sid)

    assert caught.value.status is None
    host = sandbox.url.split("://")[1]
    assert str(caught.value).startswith(f"Twilio error: Twilio could not be reached at {host}")
    assert "gave up after 3 tries" in str(caught.value)
    assert len(sandbox.request_log) == 3


def test_a_closed_port_is_a_twilio_error_not_a_crash():
    client = TwilioClient(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        base_url="http://127.0.0.1:9",
        max_attempts=2,
        backoff_cap=0.01,
    )
    with pytest.raises(TwilioError) as caught:
        client.fetch_transcription("TR" + "0" * 32)
    assert caught.value.status is None
    assert "could not be reached at 127.0.0.1:9" in caught.value.message


def test_honours_retry_after(sandbox, sandbox_store, caplog):
    item = sandbox_store.add()
    sandbox.faults.rate_limit = 1
    client = make_client(sandbox, max_attempts=3, backoff_cap=3.0)
    client.fetch_transcription(item.sid)

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="transcriptions.twilio_client"):
        fetched = client.fetch_transcription(item.sid)
    waited = time.monotonic() - started

    assert fetched.sid == item.sid
    assert [r.getMessage() for r in retry_warnings(caplog)] == [
        f"Twilio GET /2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/{item.sid}.json "
        "answered 429; try 1 of 3, retrying in 1.00s"
    ]
    assert 0.95 <= waited < 2.5
    assert len(sandbox.request_log) == 3


def test_retry_after_never_waits_longer_than_the_cap(sandbox, sandbox_store):
    item = sandbox_store.add()
    sandbox.faults.rate_limit = 1
    client = make_client(sandbox, max_attempts=2, backoff_cap=0.1)
    client.fetch_transcription(item.sid)

    started = time.monotonic()
    with pytest.raises(TwilioError) as caught:
        client.fetch_transcription(item.sid)

    assert time.monotonic() - started < 0.8
    assert caught.value.status == 429
    assert caught.value.code == 20429


def test_a_read_timeout_is_a_twilio_error_not_a_hang(sandbox, sandbox_store):
    item = sandbox_store.add()
    sandbox.faults.latency_ms = 2000
    client = make_client(sandbox, read_timeout=0.2, max_attempts=2, backoff_cap=0.01)

    started = time.monotonic()
    with pytest.raises(TwilioError) as caught:
        client.fetch_transcription(item.sid)
    elapsed = time.monotonic() - started
    sandbox.faults.latency_ms = 0

    assert elapsed < 1.5
    assert caught.value.status is None
    assert "read timed out" in caught.value.message
    assert "gave up after 2 tries" in caught.value.message
    assert len(sandbox.request_log) == 2


# Auth


def test_api_key_auth_lists_and_deletes(sandbox, sandbox_store):
    sandbox_store.seed(count=60, seed=2)
    expected = [item.sid for item in sandbox_store.all()]
    client = TwilioClient(
        account_sid=ACCOUNT_SID,
        api_key_sid=API_KEY_SID,
        api_key_secret=API_KEY_SECRET,
        base_url=sandbox.url,
    )

    assert [t.sid for t in client.iter_transcriptions(page_size=25)] == expected
    client.delete_transcription(expected[0])
    assert sandbox_store.get(expected[0]) is None


@pytest.mark.parametrize(
    "credentials",
    [
        {"auth_token": "not-the-token"},
        {"api_key_sid": API_KEY_SID, "api_key_secret": "not-the-secret"},
        {"api_key_sid": "SK" + "7" * 32, "api_key_secret": API_KEY_SECRET},
    ],
)
def test_wrong_credentials_fail_with_401_and_are_not_retried(sandbox, sandbox_store, credentials):
    sandbox_store.seed(count=3, seed=0)
    client = make_client(sandbox, **{"auth_token": None, **credentials})

    with pytest.raises(TwilioError) as caught:
        list(client.iter_transcriptions())

    assert not isinstance(caught.value, TwilioNotFound)
    assert caught.value.status == 401
    assert caught.value.code == 20003
    assert caught.value.more_info == "https://www.twilio.com/docs/errors/20003"
    assert len(sandbox.request_log) == 1


def test_a_wrong_account_sid_with_its_own_token_fails_authentication(sandbox, sandbox_store):
    sandbox_store.seed(count=3, seed=0)
    client = make_client(sandbox, account_sid=OTHER_ACCOUNT_SID)
    with pytest.raises(TwilioError) as caught:
        list(client.iter_transcriptions())
    assert caught.value.status == 401


def test_another_accounts_sid_in_the_path_is_not_found(sandbox, sandbox_store):
    item = sandbox_store.add()
    client = make_client(
        sandbox,
        account_sid=OTHER_ACCOUNT_SID,
        auth_token=None,
        api_key_sid=API_KEY_SID,
        api_key_secret=API_KEY_SECRET,
    )
    with pytest.raises(TwilioNotFound):
        list(client.iter_transcriptions())
    with pytest.raises(TwilioNotFound):
        client.fetch_transcription(item.sid)


# Settings


def test_get_client_uses_the_settings(sandbox, sandbox_store, settings):
    sandbox_store.seed(count=12, seed=4)
    settings.TWILIO_MAX_ATTEMPTS = 2
    settings.TWILIO_BACKOFF_CAP_SECONDS = 0.01
    client = get_client()

    assert client.account_sid == ACCOUNT_SID
    assert repr(client) == f"TwilioClient(account_sid={ACCOUNT_SID!r}, base_url={sandbox.url!r})"
    assert len(list(client.iter_transcriptions())) == 12
    sandbox.faults.error_rate = 1.0
    with pytest.raises(TwilioError):
        client.fetch_transcription(sandbox_store.all()[0].sid)
    assert len(sandbox.request_log) == 1 + 2


def test_get_client_prefers_an_api_key(sandbox, sandbox_store, settings):
    sandbox_store.seed(count=4, seed=4)
    settings.TWILIO_AUTH_TOKEN = "a-token-that-is-wrong"
    settings.TWILIO_API_KEY_SID = API_KEY_SID
    settings.TWILIO_API_KEY_SECRET = API_KEY_SECRET
    assert len(list(get_client().iter_transcriptions())) == 4


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_AUTH_TOKEN": AUTH_TOKEN}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID}, "TWILIO_AUTH_TOKEN"),
        (
            {"TWILIO_ACCOUNT_SID": API_KEY_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN},
            "TWILIO_ACCOUNT_SID",
        ),
        (
            {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_KEY_SID": API_KEY_SID},
            "TWILIO_API_KEY_SECRET",
        ),
        (
            {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_KEY_SECRET": API_KEY_SECRET},
            "TWILIO_API_KEY_SID",
        ),
    ],
)
def test_get_client_names_the_missing_setting(settings, values, named):
    for name, value in values.items():
        setattr(settings, name, value)

    with pytest.raises(TwilioNotConfigured) as caught:
        get_client()

    assert isinstance(caught.value, ImproperlyConfigured)
    assert twilio_configuration_problem().startswith(named)
    assert str(caught.value) == f"Twilio is not configured: {twilio_configuration_problem()}"
    assert AUTH_TOKEN not in str(caught.value)
    assert API_KEY_SECRET not in str(caught.value)


def test_twilio_is_configured_with_a_token_or_an_api_key(settings):
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    assert twilio_configuration_problem() is None
    settings.TWILIO_AUTH_TOKEN = ""
    settings.TWILIO_API_KEY_SID = API_KEY_SID
    settings.TWILIO_API_KEY_SECRET = API_KEY_SECRET
    assert twilio_configuration_problem() is None


def test_the_constructor_refuses_incomplete_credentials():
    with pytest.raises(ValueError):
        TwilioClient(account_sid=ACCOUNT_SID)
    with pytest.raises(ValueError):
        TwilioClient(account_sid=ACCOUNT_SID, api_key_sid=API_KEY_SID)
    with pytest.raises(ValueError):
        TwilioClient(account_sid="", auth_token=AUTH_TOKEN)
    with pytest.raises(ValueError):
        TwilioClient(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, max_attempts=0)


# Secrets


def test_credentials_and_text_never_appear_in_logs_errors_or_reprs(sandbox, sandbox_store, caplog):
    secret_text = "Card 4111 1111 1111 1111, mail jane.doe@example.com, PIN-SECRET-7731"
    item = sandbox_store.add(transcription_text=secret_text)
    sandbox_store.seed(count=40, seed=5)
    forbidden = [
        AUTH_TOKEN,
        API_KEY_SECRET,
        base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode(),
        base64.b64encode(f"{API_KEY_SID}:{API_KEY_SECRET}".encode()).decode(),
        secret_text,
        "4111 1111",
        "PIN-SECRET",
    ]
    token_client = make_client(sandbox, max_attempts=15, backoff_cap=0.01)
    key_client = make_client(
        sandbox,
        auth_token=None,
        api_key_sid=API_KEY_SID,
        api_key_secret=API_KEY_SECRET,
        max_attempts=15,
        backoff_cap=0.01,
    )
    shown: list[str] = [repr(token_client), str(token_client), repr(key_client)]
    errors: list[TwilioError] = []

    with caplog.at_level(logging.DEBUG):
        sandbox.faults.error_rate = 0.3
        sandbox.faults.drop_rate = 0.1
        for client in (token_client, key_client):
            listed = list(client.iter_transcriptions(page_size=5))
            shown.extend(repr(t) for t in listed)
            shown.append(repr(client.fetch_transcription(item.sid)))
            assert client.fetch_transcription_text(item.sid) == secret_text
        sandbox.faults.error_rate = 1.0
        sandbox.faults.drop_rate = 0.0
        for client in (token_client, key_client):
            try:
                client.fetch_transcription_text(item.sid)
            except TwilioError as exc:
                errors.append(exc)
        sandbox.faults.error_rate = 0.0
        sandbox.faults.drop_rate = 1.0
        try:
            make_client(sandbox, max_attempts=2).fetch_transcription(item.sid)
        except TwilioError as exc:
            errors.append(exc)
        sandbox.faults.drop_rate = 0.0
        for credentials in ({"auth_token": "wrong-" + AUTH_TOKEN}, {"auth_token": AUTH_TOKEN}):
            try:
                make_client(sandbox, **credentials).fetch_transcription("TR" + "f" * 32)
            except TwilioError as exc:
                errors.append(exc)

    assert len(errors) == 5
    assert retry_warnings(caplog)
    shown.extend(str(e) for e in errors)
    shown.extend(repr(e) for e in errors)
    shown.extend(str(e.args) for e in errors)
    shown.extend(record.getMessage() for record in caplog.records)
    shown.extend(str(record.args) for record in caplog.records)
    for text in shown:
        for secret in forbidden:
            assert secret not in text


# Parsing what Twilio sends


def test_parses_twilio_wire_strings_and_tolerates_both_price_forms():
    base = {
        "sid": "TR" + "c" * 32,
        "account_sid": ACCOUNT_SID,
        "recording_sid": None,
        "status": "failed",
        "transcription_text": None,
        "duration": "0",
        "price": -0.05,
        "price_unit": "USD",
        "type": "fast",
        "api_version": "2010-04-01",
        "date_created": "Sun, 13 Feb 2011 02:12:08 +0000",
        "date_updated": "Sun, 13 Feb 2011 02:12:08 -0000",
        "uri": "/2010-04-01/Accounts/AC/Transcriptions/TR.json",
    }
    parsed = TwilioTranscription.from_twilio(base)
    assert parsed.price == Decimal("-0.05")
    assert parsed.duration == 0
    assert parsed.date_created == datetime(2011, 2, 13, 2, 12, 8, tzinfo=UTC)
    assert parsed.date_updated == parsed.date_created
    assert parsed.date_updated.tzinfo is not None

    for key, bad in (("date_created", "yesterday"), ("duration", "ten"), ("price", "free")):
        with pytest.raises(TwilioError) as caught:
            TwilioTranscription.from_twilio({**base, key: bad})
        assert key in caught.value.message
        assert bad not in caught.value.message


@pytest.mark.parametrize(
    "written",
    [
        "Sun, 13 Feb 2011 02:12:08 +0000",
        "Mon, 29 Feb 2016 23:59:59 +0000",
        "Tue, 01 Dec 2026 00:00:00 +0000",
        "Sun, 13 Feb 2011 02:12:08 -0000",
        "Sun, 13 Feb 2011 03:12:08 +0100",
        "13 Feb 2011 02:12:08 GMT",
        "Sun, 3 Feb 2011 02:12:08 +0000",
    ],
)
def test_dates_read_the_same_as_the_general_rfc_2822_parser(written):
    from email.utils import parsedate_to_datetime

    general = parsedate_to_datetime(written)
    expected = general.replace(tzinfo=UTC) if general.tzinfo is None else general
    parsed = TwilioTranscription.from_twilio({"sid": "TR" + "d" * 32, "date_created": written})
    assert parsed.date_created == expected
    assert parsed.date_created.utcoffset() == timedelta(0)


def test_an_impossible_date_in_twilios_spelling_is_malformed():
    with pytest.raises(TwilioError) as caught:
        TwilioTranscription.from_twilio(
            {"sid": "TR" + "d" * 32, "date_updated": "Sat, 31 Feb 2026 10:00:00 +0000"}
        )
    assert "date_updated" in caught.value.message


def test_repr_of_a_transcription_leaves_out_its_text():
    parsed = TwilioTranscription.from_twilio(
        {"sid": "TR" + "d" * 32, "transcription_text": "my account number is 998877"}
    )
    assert "998877" not in repr(parsed)
    assert "transcription_text" not in repr(parsed)
    assert parsed.transcription_text == "my account number is 998877"


def _response(status: int, body: bytes, content_type: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = {404: "Not Found", 502: "Bad Gateway"}.get(status, "Error")
    response._content = body
    response.headers["Content-Type"] = content_type
    return response


def test_error_bodies_that_are_not_twilio_json_are_tolerated():
    from transcriptions.twilio_wire import error_from_response as _error_from_response

    html = _error_from_response(
        _response(502, b"<html><body>upstream broke: token=abc</body></html>", "text/html")
    )
    assert (html.status, html.code) == (502, None)
    assert html.message == "Twilio answered 502 Bad Gateway"

    xml = _error_from_response(
        _response(
            404,
            b"<TwilioResponse><RestException><Code>20404</Code><Message>The requested "
            b"resource /x was not found</Message><MoreInfo>https://www.twilio.com/docs/errors/"
            b"20404</MoreInfo><Status>404</Status></RestException></TwilioResponse>",
            "application/xml",
        )
    )
    assert isinstance(xml, TwilioNotFound)
    assert (xml.code, xml.message) == (20404, "The requested resource /x was not found")

    empty = _error_from_response(_response(404, b"", "text/plain"))
    assert isinstance(empty, TwilioNotFound)
    assert empty.message == "Twilio answered 404 Not Found"
