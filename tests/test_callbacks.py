"""Twilio's transcription callback over real HTTP (the live server, as Twilio would reach it):
the signature checked exactly as the official `twilio` package's RequestValidator checks it
(ports, repeated keys, a JSON body), and what a valid callback stores, idempotently."""

from __future__ import annotations

import hashlib
import json
import logging
from urllib.parse import urlencode

import pytest
import requests
from django.http import QueryDict
from twilio.request_validator import RequestValidator

from transcriptions.models import AuditEvent, PersonalDataMention, Transcription
from transcriptions.sync.callbacks import signature_valid

from .conftest import ACCOUNT_SID, AUTH_TOKEN

PATH = "/twilio/transcription-callback/"
PUBLIC = "https://desk.example.com"
SID = "TR" + "c" * 32
RECORDING = "RE" + "d" * 32
TEXT = "Please call me back on (415) 555-2671 about the refund."


@pytest.fixture
def desk(live_server, settings, transactional_db):
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.PUBLIC_BASE_URL = PUBLIC
    return live_server


def callback(**changes) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT_SID,
        "TranscriptionSid": SID,
        "TranscriptionText": TEXT,
        "TranscriptionStatus": "completed",
        "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
        f"/Recordings/{RECORDING}/Transcriptions/{SID}",
        "RecordingSid": RECORDING,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
        f"/Recordings/{RECORDING}",
        "CallSid": "CA" + "e" * 32,
        "ApiVersion": "2010-04-01",
        "SomethingTwilioAddedLater": "tolerated",
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


def post(desk, params, *, signed_url=PUBLIC + PATH, token=AUTH_TOKEN, query="", signature=None):
    if signature is None:
        signature = RequestValidator(token).compute_signature(signed_url + query, params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return requests.post(f"{desk.url}{PATH}{query}", data=params, headers=headers, timeout=10)


def test_a_valid_callback_is_stored_with_its_personal_data(desk):
    response = post(desk, callback())
    assert response.status_code == 204
    row = Transcription.objects.get(sid=SID)
    assert (row.status, row.transcription_text, row.recording_sid) == ("completed", TEXT, RECORDING)
    assert PersonalDataMention.objects.filter(transcription_id=row.pk, kind="phone_number")


def test_the_same_callback_twice_and_an_older_state_change_nothing(desk):
    post(desk, callback())
    first = Transcription.objects.get(sid=SID)
    assert post(desk, callback()).status_code == 204
    assert post(desk, callback(TranscriptionStatus="in-progress")).status_code == 204
    row = Transcription.objects.get(sid=SID)
    assert (row.status, row.transcription_text, row.synced_at) == (
        "completed",
        TEXT,
        first.synced_at,
    )


def test_an_in_progress_row_completes_and_keeps_what_the_sync_knew(desk, make_transcription):
    cached = make_transcription(
        sid=SID, recording_sid=RECORDING, status="in-progress", transcription_text=None,
        duration=61,
    )  # fmt: skip
    assert post(desk, callback()).status_code == 204
    row = Transcription.objects.get(sid=SID)
    assert (row.status, row.transcription_text, row.duration) == ("completed", TEXT, 61)
    assert row.date_created == cached.date_created


def test_a_callback_for_a_transcription_deleted_through_the_desk_does_not_bring_it_back(desk):
    AuditEvent.objects.create(action=AuditEvent.Action.DELETED, transcription_sid=SID)
    assert post(desk, callback()).status_code == 204
    assert not Transcription.objects.filter(sid=SID).exists()


@pytest.mark.parametrize(
    "tamper",
    ["body", "url", "token", "missing", "account"],
)
def test_a_tampered_or_foreign_callback_is_refused_and_nothing_is_stored(desk, tamper, caplog):
    caplog.set_level(logging.INFO)
    params = callback()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + PATH, params)
    if tamper == "body":
        response = post(desk, {**params, "TranscriptionText": "changed"}, signature=signature)
    elif tamper == "url":
        response = post(desk, params, signed_url="https://other.example.com" + PATH)
    elif tamper == "token":
        response = post(desk, params, token="not-the-token")
    elif tamper == "missing":
        response = post(desk, params, signature="")
    else:
        response = post(desk, callback(AccountSid="AC" + "9" * 32))
    assert response.status_code == 403
    assert not Transcription.objects.exists()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused" in logged and "refund" not in logged and "2671" not in logged


def test_without_an_auth_token_callbacks_are_refused(desk, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    settings.TWILIO_API_KEY_SID = "SK" + "2" * 32
    assert post(desk, callback()).status_code == 403
    assert not Transcription.objects.exists()


def test_the_query_string_twilio_was_given_is_signed_too(desk):
    assert post(desk, callback(), query="?desk=eu").status_code == 204


def test_a_json_body_is_signed_through_its_sha256(desk):
    body = json.dumps(callback()).encode()
    query = "?" + urlencode({"bodySHA256": hashlib.sha256(body).hexdigest()})
    validator = RequestValidator(AUTH_TOKEN)
    signature = validator.compute_signature(PUBLIC + PATH + query, {})
    assert validator.validate(PUBLIC + PATH + query, body.decode(), signature)
    url = f"{desk.url}{PATH}{query}"
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/json"}
    assert requests.post(url, data=body, headers=headers, timeout=10).status_code == 204
    assert Transcription.objects.filter(sid=SID).exists()
    tampered = body.replace(b"refund", b"refunds")
    assert requests.post(url, data=tampered, headers=headers, timeout=10).status_code == 403


CASES = [
    ("https://desk.example.com/twilio/transcription-callback/", [("A", "1")]),
    ("https://desk.example.com:443/twilio/transcription-callback/", [("A", "1")]),
    ("https://desk.example.com/twilio/transcription-callback/?x=1&y=2", [("B", "2"), ("A", "1")]),
    ("http://desk.example.com:80/cb", [("Digits", "1"), ("Digits", "2"), ("Digits", "1")]),
    ("http://desk.example.com:8080/cb", [("K", "v"), ("K", "")]),
    ("https://desk.example.com/cb", [("TranscriptionText", "é 💬 <b> & =")]),
]


@pytest.mark.parametrize(("url", "params"), CASES)
def test_the_desk_accepts_exactly_what_twilios_validator_accepts(url, params, settings):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    validator = RequestValidator(AUTH_TOKEN)
    # A QueryDict: the validator reads every value of a repeated key from it, as Django has them.
    as_twilio_posts = QueryDict(mutable=True)
    for name, value in params:
        as_twilio_posts.appendlist(name, value)
    for signed_as in (url, url.replace(":443", "").replace(":80/", "/")):
        signature = validator.compute_signature(signed_as, as_twilio_posts)
        assert validator.validate(url, as_twilio_posts, signature) == signature_valid(
            url=url, params=params, body=b"", json_body=False, signature=signature
        )
    wrong = validator.compute_signature(url, {"A": "2"})
    assert validator.validate(url, as_twilio_posts, wrong) is False
    assert not signature_valid(url=url, params=params, body=b"", json_body=False, signature=wrong)


# ---- The sandbox's arrivals, with Twilio's callbacks to the desk ----


def _wait_for(condition, seconds: float = 15.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def arrivals_into_desk(desk, twilio, settings):
    """The sandbox adding transcriptions ten a second, each finished 0.3 s later, with its
    callback signed and posted to the live desk; `make(drop_rate)` starts them."""
    from sandbox.arrivals import Arrivals

    settings.PUBLIC_BASE_URL = desk.url
    started = []

    def make(drop_rate: float = 0.0) -> Arrivals:
        arrivals = Arrivals(
            store=twilio.store,
            per_minute=600,
            auth_token=AUTH_TOKEN,
            api_base_url=twilio.url,
            callback_url=desk.url + PATH,
            drop_rate=drop_rate,
            finish_after=0.3,
        )
        arrivals.start()
        started.append(arrivals)
        return arrivals

    yield make
    for arrivals in started:
        arrivals.stop()


def test_arrivals_reach_the_desk_through_signed_callbacks(arrivals_into_desk, twilio):
    arrivals = arrivals_into_desk()
    assert _wait_for(lambda: arrivals.callbacks_sent >= 5)
    arrivals.stop()
    assert arrivals.callback_failures == 0
    finished = [i for i in twilio.store.all() if i.status != "in-progress"]
    cached = {t.sid: t for t in Transcription.objects.all()}
    for item in finished[: arrivals.callbacks_sent]:
        assert cached[item.sid].status == item.status
        assert cached[item.sid].transcription_text == item.transcription_text


def test_callbacks_that_never_arrive_are_caught_by_a_head_sync(arrivals_into_desk, twilio):
    from transcriptions.sync import transcriptions_head_sync

    arrivals = arrivals_into_desk(drop_rate=1.0)
    assert _wait_for(lambda: arrivals.callbacks_dropped >= 3)
    arrivals.stop()
    assert not Transcription.objects.exists()
    transcriptions_head_sync()
    at_twilio = {i.sid: (i.status, i.transcription_text) for i in twilio.store.all()}
    cached = {t.sid: (t.status, t.transcription_text) for t in Transcription.objects.all()}
    assert cached == at_twilio


def test_a_callback_during_a_complete_pass_is_not_removed_by_it(desk, twilio):
    from transcriptions.sync import transcriptions_sync

    twilio.store.seed(count=5, seed=3)
    arrived = twilio.store.add(transcription_text="a new call")
    sent = []

    def callback_after_the_first_page(run) -> None:
        # Twilio announces a transcription the pass has already read past.
        if not sent:
            sent.append(post(desk, callback(TranscriptionSid="TR" + "7" * 32)))

    transcriptions_sync(progress=callback_after_the_first_page)
    assert sent[0].status_code == 204
    assert Transcription.objects.filter(sid="TR" + "7" * 32).exists()
    assert Transcription.objects.filter(sid=arrived.sid).exists()
