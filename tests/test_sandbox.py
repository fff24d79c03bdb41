"""The Twilio sandbox over real HTTP: Twilio's wire form (validated against the project's copy of
Twilio's spec), paging, auth, errors, the XML and `.txt` forms, faults, seeding, command line."""

from __future__ import annotations

import copy
import json
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.validation.response.validators import V30ResponseDataValidator

from sandbox.demo import DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN
from sandbox.server import SandboxServer
from sandbox.store import TranscriptionStore
from tests.conftest import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN

BASE_DIR = Path(__file__).resolve().parent.parent
WIRE_SPEC = Path(__file__).parent / "data" / "twilio" / "transcriptions-wire.json"
AUTH = (ACCOUNT_SID, AUTH_TOKEN)
OTHER_ACCOUNT_SID = "AC" + "9" * 32
KEYS = {
    "account_sid",
    "api_version",
    "date_created",
    "date_updated",
    "duration",
    "price",
    "price_unit",
    "recording_sid",
    "sid",
    "status",
    "transcription_text",
    "type",
    "uri",
}
PAGE_KEYS = {
    "end",
    "first_page_uri",
    "next_page_uri",
    "page",
    "page_size",
    "previous_page_uri",
    "start",
    "transcriptions",
    "uri",
}
XML_ELEMENTS = [
    "Sid",
    "DateCreated",
    "DateUpdated",
    "AccountSid",
    "Status",
    "Type",
    "RecordingSid",
    "Duration",
    "TranscriptionText",
    "Price",
    "PriceUnit",
    "ApiVersion",
    "Uri",
]
RFC2822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d\d:\d\d:\d\d \+0000$"
)
PRICE = re.compile(r"^-?\d+\.\d{5}$")
FIXED_NOW = datetime(2026, 3, 15, 13, 45, 10, tzinfo=UTC)


class _TwilioHostRequest(RequestsOpenAPIRequest):
    """The spec's server is https://api.twilio.com; the sandbox answers the same paths locally."""

    @property
    def host_url(self) -> str:
        return "https://api.twilio.com"


_openapi = OpenAPI.from_dict(
    json.loads(WIRE_SPEC.read_text()),
    config=Config(response_validator_cls=V30ResponseDataValidator),
)


def assert_valid(response: requests.Response) -> None:
    """The answer is what Twilio's spec (wire variant) allows for this operation."""
    _openapi.validate_response(
        _TwilioHostRequest(response.request), RequestsOpenAPIResponse(response)
    )


def account_path(suffix: str = "", account_sid: str = ACCOUNT_SID) -> str:
    return f"/2010-04-01/Accounts/{account_sid}{suffix}"


def get(server: SandboxServer, path: str, *, auth=AUTH, **kwargs) -> requests.Response:
    return requests.get(server.url + path, auth=auth, timeout=10, **kwargs)


def delete(server: SandboxServer, path: str, *, auth=AUTH) -> requests.Response:
    return requests.delete(server.url + path, auth=auth, timeout=10)


def list_all(server: SandboxServer, first_path: str) -> list[str]:
    """Follow next_page_uri verbatim, validating every page; the SIDs in the order served."""
    sids: list[str] = []
    path: str | None = first_path
    while path:
        response = get(server, path)
        assert response.status_code == 200, response.text
        assert_valid(response)
        body = response.json()
        sids += [t["sid"] for t in body["transcriptions"]]
        path = body["next_page_uri"]
    return sids


@pytest.fixture
def seeded(sandbox, sandbox_store):
    sandbox_store.seed(count=120, seed=7)
    return sandbox


# -- success answers against the spec -----------------------------------------------------------


def test_first_middle_and_last_pages_validate_and_list_every_item_once(seeded, sandbox_store):
    expected = [item.sid for item in sandbox_store.all()]
    first = get(seeded, account_path("/Transcriptions.json?PageSize=50"))
    assert first.status_code == 200
    assert_valid(first)
    page0 = first.json()
    assert set(page0) == PAGE_KEYS
    assert (page0["page"], page0["page_size"], page0["start"], page0["end"]) == (0, 50, 0, 49)
    base = account_path("/Transcriptions.json")
    assert page0["uri"] == f"{base}?PageSize=50&Page=0"
    assert page0["first_page_uri"] == f"{base}?PageSize=50&Page=0"
    assert page0["previous_page_uri"] is None
    assert page0["next_page_uri"] == f"{base}?PageSize=50&Page=1&PageToken=PA{expected[49]}"

    middle = get(seeded, page0["next_page_uri"])
    assert_valid(middle)
    page1 = middle.json()
    assert (page1["page"], page1["start"], page1["end"]) == (1, 50, 99)
    assert page1["uri"] == page0["next_page_uri"]
    assert page1["first_page_uri"] == f"{base}?PageSize=50&Page=0"
    assert page1["previous_page_uri"] == f"{base}?PageSize=50&Page=0&PageToken=PB{expected[50]}"

    last = get(seeded, page1["next_page_uri"])
    assert_valid(last)
    page2 = last.json()
    assert (page2["page"], page2["start"], page2["end"]) == (2, 100, 119)
    assert page2["next_page_uri"] is None
    assert len(page2["transcriptions"]) == 20

    served = [t["sid"] for p in (page0, page1, page2) for t in p["transcriptions"]]
    assert served == expected


def test_previous_page_uri_returns_the_same_page_as_going_forward(seeded):
    page0 = get(seeded, account_path("/Transcriptions.json?PageSize=30")).json()
    page1 = get(seeded, page0["next_page_uri"]).json()
    back = get(seeded, page1["previous_page_uri"])
    assert_valid(back)
    assert back.json()["transcriptions"] == page0["transcriptions"]
    assert back.json()["previous_page_uri"] is None


def test_empty_account_gives_a_valid_empty_page(sandbox):
    response = get(sandbox, account_path("/Transcriptions.json"))
    assert response.status_code == 200
    assert_valid(response)
    body = response.json()
    assert body["transcriptions"] == []
    assert (body["start"], body["end"], body["page"], body["page_size"]) == (0, 0, 0, 50)
    assert body["next_page_uri"] is None and body["previous_page_uri"] is None
    assert body["uri"] == account_path("/Transcriptions.json?PageSize=50&Page=0")


def test_page_size_1_and_1000_list_every_item(seeded, sandbox_store):
    expected = [item.sid for item in sandbox_store.all()]
    assert list_all(seeded, account_path("/Transcriptions.json?PageSize=1")) == expected
    assert list_all(seeded, account_path("/Transcriptions.json?PageSize=1000")) == expected


def test_recording_list_shows_only_that_recordings_items_and_validates(seeded, sandbox_store):
    counts = Counter(item.recording_sid for item in sandbox_store.all())
    recording_sid, count = counts.most_common(1)[0]
    assert count > 1, "seeding gives several transcriptions to some recordings"
    expected = [i.sid for i in sandbox_store.all() if i.recording_sid == recording_sid]
    path = account_path(f"/Recordings/{recording_sid}/Transcriptions.json")
    response = get(seeded, path)
    assert_valid(response)
    body = response.json()
    assert [t["sid"] for t in body["transcriptions"]] == expected
    assert {t["recording_sid"] for t in body["transcriptions"]} == {recording_sid}
    assert body["uri"] == f"{path}?PageSize=50&Page=0"
    assert list_all(seeded, f"{path}?PageSize=1") == expected


def test_recording_without_transcriptions_gives_an_empty_page(seeded):
    response = get(seeded, account_path(f"/Recordings/RE{'0' * 32}/Transcriptions.json"))
    assert response.status_code == 200
    assert_valid(response)
    assert response.json()["transcriptions"] == []


def test_fetch_on_both_routes_gives_the_13_keys_in_twilio_types(sandbox, sandbox_store):
    item = sandbox_store.add(
        status="completed",
        transcription_text="Thanks for calling <b>support</b>, José.",
        duration=42,
        price="-0.05000",
        date_created=datetime(2026, 2, 13, 2, 12, 8, tzinfo=UTC),
    )
    account_route = get(sandbox, account_path(f"/Transcriptions/{item.sid}.json"))
    recording_route = get(
        sandbox, account_path(f"/Recordings/{item.recording_sid}/Transcriptions/{item.sid}.json")
    )
    for response in (account_route, recording_route):
        assert response.status_code == 200
        assert_valid(response)
        body = response.json()
        assert set(body) == KEYS
        assert body["sid"] == item.sid
        assert body["duration"] == "42"
        assert body["price"] == "-0.05000"
        assert body["date_created"] == "Fri, 13 Feb 2026 02:12:08 +0000"
        assert RFC2822.match(body["date_updated"])
        assert body["transcription_text"] == "Thanks for calling <b>support</b>, José."
        assert (body["price_unit"], body["type"], body["api_version"]) == (
            "USD",
            "fast",
            "2010-04-01",
        )
        # The account-level URI even through the recording route.
        assert body["uri"] == account_path(f"/Transcriptions/{item.sid}.json")
    assert account_route.json() == recording_route.json()


def test_in_progress_item_with_null_price_and_text_validates(sandbox, sandbox_store):
    item = sandbox_store.add(status="in-progress", duration=7)
    response = get(sandbox, account_path(f"/Transcriptions/{item.sid}.json"))
    assert_valid(response)
    assert response.json()["price"] is None
    assert response.json()["transcription_text"] is None


def test_fetch_through_another_recording_is_404(sandbox, sandbox_store):
    item = sandbox_store.add()
    other = sandbox_store.add()
    path = account_path(f"/Recordings/{other.recording_sid}/Transcriptions/{item.sid}.json")
    response = get(sandbox, path)
    assert response.status_code == 404
    assert response.json()["code"] == 20404
    assert delete(sandbox, path).status_code == 404
    assert item.sid in sandbox_store


def test_unknown_or_malformed_sid_is_404(sandbox):
    for sid in ("TR" + "a" * 32, "TRnothex", "XX" + "a" * 32):
        response = get(sandbox, account_path(f"/Transcriptions/{sid}.json"))
        assert response.status_code == 404
        assert response.json()["message"] == (
            f"The requested resource {account_path(f'/Transcriptions/{sid}.json')} was not found"
        )


# -- delete -------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["account", "recording"])
def test_delete_answers_204_with_empty_body_then_404(sandbox, sandbox_store, route):
    item = sandbox_store.add(transcription_text="to be deleted")
    if route == "account":
        path = account_path(f"/Transcriptions/{item.sid}.json")
    else:
        path = account_path(f"/Recordings/{item.recording_sid}/Transcriptions/{item.sid}.json")
    response = delete(sandbox, path)
    assert response.status_code == 204
    assert response.content == b""
    assert "Content-Type" not in response.headers
    assert_valid(response)
    assert sandbox_store.get(item.sid) is None

    again = delete(sandbox, path)
    assert again.status_code == 404
    assert again.json() == {
        "code": 20404,
        "message": f"The requested resource {path} was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }
    assert get(sandbox, path).status_code == 404


# -- error bodies, XML and text forms -----------------------------------------------------------


def test_error_body_in_json_has_exactly_twilios_keys(sandbox):
    response = get(sandbox, account_path(f"/Transcriptions/TR{'b' * 32}.json"))
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert set(response.json()) == {"code", "message", "more_info", "status"}


@pytest.mark.parametrize("ext", [".xml", ""])
def test_error_body_in_xml_is_a_rest_exception(sandbox, ext):
    path = account_path(f"/Transcriptions/TR{'b' * 32}{ext}")
    response = get(sandbox, path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/xml"
    root = ET.fromstring(response.content)
    assert root.tag == "TwilioResponse"
    (exception,) = list(root)
    assert exception.tag == "RestException"
    assert [child.tag for child in exception] == ["Code", "Message", "MoreInfo", "Status"]
    assert exception.findtext("Code") == "20404"
    assert exception.findtext("Message") == f"The requested resource {path} was not found"
    assert exception.findtext("MoreInfo") == "https://www.twilio.com/docs/errors/20404"
    assert exception.findtext("Status") == "404"


@pytest.mark.parametrize("ext", [".xml", ""])
def test_xml_fetch_uses_twilios_2010_form(sandbox, sandbox_store, ext):
    item = sandbox_store.add(
        transcription_text="Card 4111 1111 1111 1111 & <script>alert(1)</script>", duration=12
    )
    response = get(sandbox, account_path(f"/Transcriptions/{item.sid}{ext}"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml"
    root = ET.fromstring(response.content)
    assert root.tag == "TwilioResponse"
    (transcription,) = list(root)
    assert transcription.tag == "Transcription"
    assert [child.tag for child in transcription] == XML_ELEMENTS
    wire = get(sandbox, account_path(f"/Transcriptions/{item.sid}.json")).json()
    for element in transcription:
        key = re.sub(r"(?<!^)([A-Z])", r"_\1", element.tag).lower()
        if key == "uri":
            assert element.text == account_path(f"/Transcriptions/{item.sid}")
        else:
            assert element.text == wire[key], key


def test_xml_null_fields_are_empty_elements(sandbox, sandbox_store):
    item = sandbox_store.add(status="in-progress")
    root = ET.fromstring(get(sandbox, account_path(f"/Transcriptions/{item.sid}.xml")).content)
    assert root.find("Transcription/Price").text is None
    assert root.find("Transcription/TranscriptionText").text is None


@pytest.mark.parametrize("ext", [".xml", ""])
def test_xml_list_carries_page_attributes(seeded, sandbox_store, ext):
    path = account_path(f"/Transcriptions{ext}")
    response = get(seeded, f"{path}?PageSize=10")
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    (listing,) = list(root)
    assert listing.tag == "Transcriptions"
    expected = [item.sid for item in sandbox_store.all()]
    assert listing.attrib["page"] == "0"
    assert listing.attrib["pagesize"] == "10"
    assert listing.attrib["uri"] == f"{path}?PageSize=10&Page=0"
    assert listing.attrib["firstpageuri"] == f"{path}?PageSize=10&Page=0"
    assert listing.attrib["nextpageuri"] == f"{path}?PageSize=10&Page=1&PageToken=PA{expected[9]}"
    assert listing.attrib["previouspageuri"] == ""
    assert [t.findtext("Sid") for t in listing] == expected[:10]
    assert all([c.tag for c in t] == XML_ELEMENTS for t in listing)

    second = ET.fromstring(get(seeded, listing.attrib["nextpageuri"]).content)[0]
    assert [t.findtext("Sid") for t in second] == expected[10:20]
    assert (
        second.attrib["previouspageuri"] == f"{path}?PageSize=10&Page=0&PageToken=PB{expected[10]}"
    )


@pytest.mark.parametrize("route", ["account", "recording"])
def test_txt_gives_only_the_text(sandbox, sandbox_store, route):
    text = "Hello, my e-mail is zoë@example.com & my card is 4111 1111 1111 1111."
    items = [
        sandbox_store.add(transcription_text=text),
        sandbox_store.add(transcription_text=None, status="failed"),
        sandbox_store.add(transcription_text="(blank)"),
    ]
    for item, body in zip(items, [text, "", "(blank)"], strict=True):
        if route == "account":
            path = account_path(f"/Transcriptions/{item.sid}.txt")
        else:
            path = account_path(f"/Recordings/{item.recording_sid}/Transcriptions/{item.sid}.txt")
        response = get(sandbox, path)
        assert response.status_code == 200
        assert response.headers["Content-Type"].split(";")[0] == "text/plain"
        assert response.headers["Content-Length"] == str(len(body.encode()))
        assert response.text == body


def test_txt_of_unknown_sid_or_on_a_list_is_404(sandbox, sandbox_store):
    assert get(sandbox, account_path(f"/Transcriptions/TR{'c' * 32}.txt")).status_code == 404
    sandbox_store.add()
    assert get(sandbox, account_path("/Transcriptions.txt")).status_code == 404


@pytest.mark.parametrize("ext", [".csv", ".html", ".yaml"])
def test_other_extensions_are_404(sandbox, sandbox_store, ext):
    item = sandbox_store.add()
    assert get(sandbox, account_path(f"/Transcriptions{ext}")).status_code == 404
    response = get(sandbox, account_path(f"/Transcriptions/{item.sid}{ext}"))
    assert response.status_code == 404
    assert response.json()["code"] == 20404


# -- authentication -----------------------------------------------------------------------------


def test_api_key_and_secret_authenticate(seeded):
    response = get(seeded, account_path("/Transcriptions.json"), auth=(API_KEY_SID, API_KEY_SECRET))
    assert response.status_code == 200
    assert_valid(response)


@pytest.mark.parametrize(
    "auth",
    [
        (ACCOUNT_SID, "wrong-token"),
        (API_KEY_SID, AUTH_TOKEN),
        (API_KEY_SID, "wrong-secret"),
        (OTHER_ACCOUNT_SID, AUTH_TOKEN),
        None,
    ],
    ids=["wrong-token", "key-with-token", "wrong-secret", "other-account", "no-credentials"],
)
def test_bad_or_missing_credentials_get_twilios_401(seeded, auth):
    response = get(seeded, account_path("/Transcriptions.json"), auth=auth)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
    assert response.json() == {
        "code": 20003,
        "detail": "Your AccountSid or AuthToken was incorrect.",
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


def test_malformed_authorization_header_gets_401(seeded):
    for header in ("Basic !!!not-base64", "Bearer abc", "Basic " + "bm9jb2xvbg=="):
        response = get(
            seeded,
            account_path("/Transcriptions.json"),
            auth=None,
            headers={"Authorization": header},
        )
        assert response.status_code == 401


def test_401_in_xml_carries_detail(seeded):
    response = get(seeded, account_path("/Transcriptions.xml"), auth=None)
    assert response.status_code == 401
    exception = ET.fromstring(response.content).find("RestException")
    assert exception.findtext("Code") == "20003"
    assert exception.findtext("Detail") == "Your AccountSid or AuthToken was incorrect."


def test_another_accounts_sid_in_the_path_is_404(seeded, sandbox_store):
    sid = sandbox_store.all()[0].sid
    for suffix in ("/Transcriptions.json", f"/Transcriptions/{sid}.json"):
        path = account_path(suffix, account_sid=OTHER_ACCOUNT_SID)
        response = get(seeded, path)
        assert response.status_code == 404
        assert response.json()["message"] == f"The requested resource {path} was not found"
    assert (
        delete(seeded, account_path(f"/Transcriptions/{sid}.json", OTHER_ACCOUNT_SID)).status_code
        == 404
    )
    assert sid in sandbox_store


def test_api_key_sid_in_the_path_is_refused(seeded):
    path = account_path("/Transcriptions.json", account_sid=API_KEY_SID)
    response = get(seeded, path, auth=(API_KEY_SID, API_KEY_SECRET))
    assert response.status_code == 400
    assert response.json()["code"] == 90002


# -- paging rules -------------------------------------------------------------------------------


def test_page_above_zero_without_a_token_is_refused_when_strict(seeded):
    response = get(seeded, account_path("/Transcriptions.json?PageSize=10&Page=2"))
    assert response.status_code == 400
    assert response.json() == {
        "code": 20001,
        "message": "PageToken is required for paging.",
        "more_info": "https://www.twilio.com/docs/errors/20001",
        "status": 400,
    }


def test_absolute_pages_are_served_when_strict_paging_is_off(seeded, sandbox_store):
    seeded.strict_paging = False
    response = get(seeded, account_path("/Transcriptions.json?PageSize=10&Page=2"))
    assert response.status_code == 200
    assert_valid(response)
    body = response.json()
    expected = [item.sid for item in sandbox_store.all()]
    assert [t["sid"] for t in body["transcriptions"]] == expected[20:30]
    assert (body["start"], body["end"]) == (20, 29)
    assert body["previous_page_uri"].endswith(f"Page=1&PageToken=PB{expected[20]}")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "PA",
        f"PX{'TR' + 'a' * 32}",
        f"PATR{'a' * 32}",
        f"PB{'TR' + 'z' * 32}",
        "PACA" + "1" * 32,
    ],
)
def test_bad_page_token_is_400_21481(seeded, token):
    response = get(
        seeded, account_path(f"/Transcriptions.json?PageSize=10&Page=1&PageToken={token}")
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": 21481,
        "message": "Invalid PageToken",
        "more_info": "https://www.twilio.com/docs/errors/21481",
        "status": 400,
    }


@pytest.mark.parametrize("size", ["0", "-1", "1001", "5000", "ten", ""])
def test_page_size_outside_1_to_1000_is_400_20001(seeded, size):
    response = get(seeded, account_path(f"/Transcriptions.json?PageSize={size}"))
    assert response.status_code == 400
    assert response.json()["code"] == 20001


def test_page_size_bounds_1_and_1000_are_served(seeded):
    for size in (1, 1000):
        response = get(seeded, account_path(f"/Transcriptions.json?PageSize={size}"))
        assert response.status_code == 200
        assert response.json()["page_size"] == size
        assert len(response.json()["transcriptions"]) == min(size, 120)


def test_negative_page_is_400(seeded):
    assert get(seeded, account_path("/Transcriptions.json?Page=-1")).status_code == 400


def test_items_with_the_same_date_are_ordered_by_sid(sandbox, sandbox_store):
    when = datetime(2026, 1, 1, tzinfo=UTC)
    sids = sorted("TR" + f"{n:x}" * 32 for n in (3, 1, 2))
    for sid in reversed(sids):
        sandbox_store.add(sid=sid, date_created=when)
    newer = sandbox_store.add(date_created=when + timedelta(seconds=1))
    served = list_all(sandbox, account_path("/Transcriptions.json?PageSize=2"))
    assert served == [newer.sid, *sids]


def _walk(server, path, *, between_pages) -> list[str]:
    sids: list[str] = []
    while path:
        response = get(server, path)
        assert response.status_code == 200, response.text
        assert_valid(response)
        body = response.json()
        sids += [t["sid"] for t in body["transcriptions"]]
        path = body["next_page_uri"]
        if path:
            between_pages(body)
    return sids


def test_paging_forwards_stays_consistent_when_items_are_deleted_between_pages(
    seeded, sandbox_store
):
    order = [item.sid for item in sandbox_store.all()]
    rng = random.Random(11)
    deleted: set[str] = set()

    def delete_some(page: dict) -> None:
        # The token's own item, the next page's first item, and a few anywhere.
        victims = {page["transcriptions"][-1]["sid"]}
        victims |= set(rng.sample(order, 3))
        position = order.index(page["transcriptions"][-1]["sid"])
        if position + 1 < len(order):
            victims.add(order[position + 1])
        for sid in victims:
            if sandbox_store.delete(sid):
                deleted.add(sid)

    served = _walk(
        seeded, account_path("/Transcriptions.json?PageSize=7"), between_pages=delete_some
    )
    assert len(served) == len(set(served)), "no duplicates"
    assert served == [sid for sid in order if sid in set(served)], "in the store's order"
    survivors = [sid for sid in order if sid not in deleted]
    assert set(survivors) <= set(served), "every item that was never deleted is listed"
    assert deleted, "the walk deleted items"


def test_paging_backwards_stays_consistent_when_items_are_deleted(seeded, sandbox_store):
    order = [item.sid for item in sandbox_store.all()]
    page0 = get(seeded, account_path("/Transcriptions.json?PageSize=10")).json()
    page1 = get(seeded, page0["next_page_uri"]).json()
    page2 = get(seeded, page1["next_page_uri"]).json()
    # Delete the item the previous-page token names and one item of the page before it.
    assert sandbox_store.delete(page2["transcriptions"][0]["sid"])
    assert sandbox_store.delete(order[15])
    back = get(seeded, page2["previous_page_uri"])
    assert_valid(back)
    assert [t["sid"] for t in back.json()["transcriptions"]] == [
        sid for sid in order[:20] if sid != order[15]
    ][-10:]
    assert back.json()["page"] == 1
    # Forward from the same place still continues right after the deleted token item.
    forward = get(seeded, page1["next_page_uri"]).json()
    assert [t["sid"] for t in forward["transcriptions"]] == order[21:31]


def test_new_items_at_the_top_do_not_shift_later_pages(seeded, sandbox_store):
    order = [item.sid for item in sandbox_store.all()]
    page0 = get(seeded, account_path("/Transcriptions.json?PageSize=10")).json()
    sandbox_store.add(date_created=datetime.now(UTC))
    page1 = get(seeded, page0["next_page_uri"]).json()
    assert [t["sid"] for t in page1["transcriptions"]] == order[10:20]


# -- methods, headers, leniency -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "allow"),
    [
        ("POST", "/Transcriptions.json", "GET"),
        ("DELETE", "/Transcriptions.json", "GET"),
        ("PUT", "/Transcriptions/{sid}.json", "GET, DELETE"),
        ("POST", "/Transcriptions/{sid}.json", "GET, DELETE"),
        ("PATCH", "/Recordings/{rec}/Transcriptions/{sid}.json", "GET, DELETE"),
        ("OPTIONS", "/Transcriptions.json", "GET"),
        ("DELETE", "/Transcriptions/{sid}.txt", "GET"),
    ],
)
def test_other_methods_get_405_20004(sandbox, sandbox_store, method, suffix, allow):
    item = sandbox_store.add()
    path = account_path(suffix.format(sid=item.sid, rec=item.recording_sid))
    response = requests.request(
        method, sandbox.url + path, auth=AUTH, data={"Text": "x"}, timeout=10
    )
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert response.json() == {
        "code": 20004,
        "message": "Method not allowed",
        "more_info": "https://www.twilio.com/docs/errors/20004",
        "status": 405,
    }
    assert item.sid in sandbox_store


def test_response_headers_are_twilios(seeded, sandbox_store):
    response = get(seeded, account_path("/Transcriptions.json"))
    headers = response.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(response.content))
    assert re.fullmatch(r"RQ[0-9a-f]{32}", headers["Twilio-Request-Id"])
    assert float(headers["Twilio-Request-Duration"]) >= 0
    assert int(headers["Twilio-Concurrent-Requests"]) >= 1
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "DELETE" in headers["Access-Control-Allow-Methods"]
    other = get(seeded, account_path("/Transcriptions.json"))
    assert other.headers["Twilio-Request-Id"] != headers["Twilio-Request-Id"]
    for bad in (get(seeded, account_path("/Transcriptions.json"), auth=None), get(seeded, "/nope")):
        assert bad.headers["Content-Length"] == str(len(bad.content))
        assert "Twilio-Request-Id" in bad.headers


def test_twilio_python_request_headers_do_not_change_the_answer(seeded):
    path = account_path("/Transcriptions.json?PageSize=5")
    plain = get(seeded, path)
    dressed = get(
        seeded,
        path,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "*/*",
            "Accept-Charset": "utf-8",
            "X-Twilio-Client": "python-9.11.0",
            "User-Agent": "twilio-python/9.11.0 (Linux x86_64) Python/3.11.7",
        },
    )
    assert dressed.status_code == 200
    assert dressed.json() == plain.json()


def test_keep_alive_connection_serves_several_requests(seeded):
    with requests.Session() as session:
        session.auth = AUTH
        for _ in range(5):
            response = session.get(
                seeded.url + account_path("/Transcriptions.json?PageSize=3"), timeout=5
            )
            assert response.status_code == 200
    assert len(seeded.request_log) == 5


def test_stop_closes_open_keep_alive_connections(sandbox_store):
    server = SandboxServer(store=sandbox_store, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    server.start()
    with requests.Session() as session:
        session.auth = AUTH
        url = server.url + account_path("/Transcriptions.json")
        assert session.get(url, timeout=5).status_code == 200
        server.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(url, timeout=5)


def test_request_log_records_method_and_path(seeded, sandbox_store):
    sid = sandbox_store.all()[0].sid
    get(seeded, account_path("/Transcriptions.json?PageSize=2"))
    delete(seeded, account_path(f"/Transcriptions/{sid}.json"))
    assert seeded.request_log == [
        ("GET", account_path("/Transcriptions.json")),
        ("DELETE", account_path(f"/Transcriptions/{sid}.json")),
    ]


# -- faults -------------------------------------------------------------------------------------


def test_latency_delays_every_answer(seeded):
    seeded.faults.latency_ms = 300
    started = time.monotonic()
    assert get(seeded, account_path("/Transcriptions.json")).status_code == 200
    assert get(seeded, account_path("/Transcriptions.json"), auth=None).status_code == 401
    assert time.monotonic() - started >= 0.6
    seeded.faults.latency_ms = 0
    started = time.monotonic()
    get(seeded, account_path("/Transcriptions.json"))
    assert time.monotonic() - started < 0.3


def test_latency_beyond_the_read_timeout_times_out(seeded):
    seeded.faults.latency_ms = 1500
    with pytest.raises(requests.ReadTimeout):
        requests.get(seeded.url + account_path("/Transcriptions.json"), auth=AUTH, timeout=(2, 0.3))


def test_error_rate_answers_that_share_with_500_20500(seeded):
    path = account_path("/Transcriptions.json?PageSize=1")
    seeded.faults.error_rate = 1.0
    response = get(seeded, path)
    assert response.status_code == 500
    assert response.json() == {
        "code": 20500,
        "message": "Internal Server Error",
        "more_info": "https://www.twilio.com/docs/errors/20500",
        "status": 500,
    }
    xml = get(seeded, account_path("/Transcriptions.xml"))
    assert ET.fromstring(xml.content).findtext("RestException/Code") == "20500"

    seeded.faults.error_rate = 0.3
    statuses = Counter(get(seeded, path).status_code for _ in range(300))
    assert set(statuses) == {200, 500}
    assert 45 <= statuses[500] <= 135  # 90 expected; far outside chance either way

    seeded.faults.error_rate = 0.0
    assert all(get(seeded, path).status_code == 200 for _ in range(20))


def test_rate_limit_answers_requests_beyond_n_per_second_with_429(seeded):
    path = account_path("/Transcriptions.json?PageSize=1")
    seeded.faults.rate_limit = 5
    with requests.Session() as session:
        session.auth = AUTH
        answers = [session.get(seeded.url + path, timeout=5) for _ in range(8)]
    # All eight arrive well within one second.
    assert [a.status_code for a in answers[:5]] == [200] * 5
    limited = answers[5:]
    assert {a.status_code for a in limited} == {429}
    assert limited[0].headers["Retry-After"] == "1"
    assert limited[0].json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    time.sleep(1.05)
    assert get(seeded, path).status_code == 200
    seeded.faults.rate_limit = 0
    assert all(get(seeded, path).status_code == 200 for _ in range(10))


def test_drop_rate_closes_connections_without_an_answer(seeded):
    path = account_path("/Transcriptions.json?PageSize=1")
    seeded.faults.drop_rate = 1.0
    with pytest.raises(requests.ConnectionError):
        get(seeded, path)

    seeded.faults.drop_rate = 0.2
    outcomes = Counter()
    for _ in range(150):
        try:
            outcomes[get(seeded, path).status_code] += 1
        except requests.ConnectionError:
            outcomes["dropped"] += 1
    assert set(outcomes) == {200, "dropped"}
    assert 10 <= outcomes["dropped"] <= 60  # 30 expected
    assert len(seeded.request_log) == 151, "dropped requests are still logged"

    seeded.faults.drop_rate = 0.0
    assert all(get(seeded, path).status_code == 200 for _ in range(10))


# -- the store and its seeding ------------------------------------------------------------------


def test_seeding_looks_like_a_support_line():
    store = TranscriptionStore(account_sid=ACCOUNT_SID)
    store.seed(count=5000, seed=3, now=FIXED_NOW)
    items = store.all()
    assert len(items) == len(store) == 5000
    shares = Counter(item.status for item in items)
    assert abs(shares["completed"] / 5000 - 0.80) < 0.03
    assert abs(shares["failed"] / 5000 - 0.12) < 0.02
    assert abs(shares["in-progress"] / 5000 - 0.08) < 0.02
    texts = [item.transcription_text for item in items]
    strings = [t for t in texts if t]
    assert texts.count(None) > 50
    assert texts.count("(blank)") > 50
    assert sum(bool(re.search(r"\b\d{4} \d{4} \d{4} \d{4}\b", t)) for t in strings) > 50
    assert sum(bool(re.search(r"\+1 \d{3} 555 \d{4}|\(\d{3}\) 555-\d{4}", t)) for t in strings) > 20
    assert sum(bool(re.search(r"[\w.]+@[\w.]+\.\w+", t)) for t in strings) > 50
    assert sum("<script>" in t for t in strings) > 5
    assert sum("<b>" in t or "<img" in t for t in strings) > 5
    lengths = sorted(len(t) for t in strings)
    assert lengths[0] < 20 and lengths[-1] > 1000, "varied length"
    recordings = Counter(item.recording_sid for item in items)
    assert sum(1 for n in recordings.values() if n > 1) > 100
    oldest = FIXED_NOW - timedelta(days=180)
    assert all(oldest <= item.date_created <= FIXED_NOW for item in items)
    assert max(i.date_created for i in items) - min(i.date_created for i in items) > timedelta(
        days=170
    )
    for item in items:
        assert re.fullmatch(r"TR[0-9a-f]{32}", item.sid)
        assert re.fullmatch(r"RE[0-9a-f]{32}", item.recording_sid)
        assert item.date_updated >= item.date_created
        if item.status == "in-progress":
            assert item.price is None and item.transcription_text is None
        else:
            assert PRICE.match(item.price)


def _snapshot(store: TranscriptionStore) -> list[tuple]:
    return [
        (i.sid, i.recording_sid, i.status, i.transcription_text, i.duration, i.price)
        for i in store.all()
    ]


def test_seeding_is_deterministic_and_only_dates_move_with_the_day():
    def seeded_store(seed: int, now: datetime) -> TranscriptionStore:
        store = TranscriptionStore(account_sid=ACCOUNT_SID)
        store.seed(count=500, seed=seed, now=now)
        return store

    a = seeded_store(0, FIXED_NOW)
    b = seeded_store(0, FIXED_NOW + timedelta(hours=5))
    next_day = seeded_store(0, FIXED_NOW + timedelta(days=1))
    other = seeded_store(1, FIXED_NOW)
    assert _snapshot(a) == _snapshot(b)
    assert [i.date_created for i in a.all()] == [i.date_created for i in b.all()]
    assert _snapshot(a) == _snapshot(next_day)
    assert [i.date_created + timedelta(days=1) for i in a.all()] == [
        i.date_created for i in next_day.all()
    ]
    assert {i.sid for i in a.all()}.isdisjoint({i.sid for i in other.all()})


def test_store_add_update_delete(sandbox_store):
    item = sandbox_store.add(status="in-progress", duration=30)
    assert item.price is None and item.transcription_text is None
    assert item.account_sid == ACCOUNT_SID
    assert item.date_created.tzinfo is not None and item.date_created.microsecond == 0
    assert sandbox_store.get(item.sid) is item and len(sandbox_store) == 1

    older = sandbox_store.add(date_created=item.date_created - timedelta(days=1), price=-0.05)
    assert older.price == "-0.05000"
    assert [i.sid for i in sandbox_store.all()] == [item.sid, older.sid]

    sandbox_store.update(older.sid, date_created=item.date_created + timedelta(days=1))
    assert [i.sid for i in sandbox_store.all()] == [older.sid, item.sid]
    updated = sandbox_store.update(
        item.sid, status="completed", transcription_text="Done.", price="-0.05000"
    )
    assert updated.status == "completed" and updated.date_updated >= updated.date_created
    assert sandbox_store.for_recording(item.recording_sid) == [item]

    with pytest.raises(ValueError):
        sandbox_store.add(sid=item.sid)
    with pytest.raises(ValueError):
        sandbox_store.add(status="done")
    with pytest.raises(ValueError):
        sandbox_store.update(item.sid, status="done")
    assert sandbox_store.get(item.sid).status == "completed", "a refused update changes nothing"
    assert [i.sid for i in sandbox_store.all()] == [older.sid, item.sid]
    with pytest.raises(TypeError):
        sandbox_store.update(item.sid, sid="TR" + "0" * 32)
    with pytest.raises(KeyError):
        sandbox_store.update("TR" + "0" * 32, status="failed")

    assert sandbox_store.delete(item.sid) is True
    assert sandbox_store.delete(item.sid) is False
    assert sandbox_store.get(item.sid) is None
    assert sandbox_store.for_recording(item.recording_sid) == []
    assert "Done." not in repr(updated), "no transcript text in reprs"


# -- the command line ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_line(process: subprocess.Popen, timeout: float = 30) -> str:
    # A reader thread, because select() on the pipe misses lines already in Python's buffer.
    lines = process.lines  # type: ignore[attr-defined]
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("the sandbox printed no line") from None


def _start_command(*args: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "twilio_sandbox", *args],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.lines = queue.Queue()  # type: ignore[attr-defined]

    def read() -> None:
        for line in process.stdout:
            process.lines.put(line.rstrip("\n"))  # type: ignore[attr-defined]

    process.reader = threading.Thread(target=read, daemon=True)  # type: ignore[attr-defined]
    process.reader.start()  # type: ignore[attr-defined]
    return process


def _stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_command_serves_until_interrupted():
    port = _free_port()
    process = _start_command(
        "--port", str(port), "--seed-count", "25", "--seed", "4",
        "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
    )  # fmt: skip
    try:
        line = _read_line(process)
        assert line == (
            f"Twilio sandbox on http://127.0.0.1:{port} (account {ACCOUNT_SID}, 25 transcriptions)"
        )
        url = f"http://127.0.0.1:{port}" + account_path("/Transcriptions.json?PageSize=50")
        response = requests.get(url, auth=AUTH, timeout=10)
        assert response.status_code == 200
        assert_valid(response)
        assert len(response.json()["transcriptions"]) == 25
        expected = TranscriptionStore(account_sid=ACCOUNT_SID)
        expected.seed(count=25, seed=4)
        assert [t["sid"] for t in response.json()["transcriptions"]] == [
            i.sid for i in expected.all()
        ]
    finally:
        code = _stop(process)
    assert code == 0, process.stderr.read()
    process.reader.join(timeout=5)
    assert process.lines.empty(), "exactly one line"


def test_command_without_credentials_serves_the_demo_account_with_faults():
    port = _free_port()
    process = _start_command("--port", str(port), "--seed-count", "3", "--error-rate", "1.0")
    try:
        assert _read_line(process) == (
            f"Twilio sandbox on http://127.0.0.1:{port} "
            f"(account {DEMO_ACCOUNT_SID}, 3 transcriptions)"
        )
        credentials = _read_line(process)
        assert DEMO_ACCOUNT_SID in credentials and DEMO_AUTH_TOKEN in credentials
        url = f"http://127.0.0.1:{port}" + account_path("/Transcriptions.json", DEMO_ACCOUNT_SID)
        response = requests.get(url, auth=(DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN), timeout=10)
        assert response.status_code == 500
        assert response.json()["code"] == 20500
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=15)
    assert code == 0, process.stderr.read()


def test_command_refuses_half_given_credentials():
    result = subprocess.run(
        [sys.executable, "manage.py", "twilio_sandbox", "--account-sid", ACCOUNT_SID],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--auth-token" in result.stderr


def test_json_copy_of_the_spec_is_unchanged_from_its_source():
    # The NOTICE next to the spec records where it came from; this guards accidental edits.
    spec = json.loads(WIRE_SPEC.read_text())
    assert set(spec["paths"]) == {
        "/2010-04-01/Accounts/{AccountSid}/Transcriptions.json",
        "/2010-04-01/Accounts/{AccountSid}/Transcriptions/{Sid}.json",
        "/2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}/Transcriptions.json",
        "/2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}/Transcriptions/{Sid}.json",
    }
    assert (WIRE_SPEC.parent / "NOTICE.md").exists()


def test_validator_rejects_answers_twilio_would_not_send(seeded):
    """The spec check has teeth: an extra key, a number price or a missing key fail."""
    response = get(seeded, account_path("/Transcriptions.json?PageSize=3"))
    assert_valid(response)
    mutations = [
        lambda body: body.__setitem__("total", 120),
        lambda body: body["transcriptions"][0].__setitem__("price", -0.05),
        lambda body: body["transcriptions"][0].pop("uri"),
        lambda body: body["transcriptions"][0].__setitem__("status", "done"),
    ]
    for mutate in mutations:
        body = response.json()
        mutate(body)
        broken = copy.copy(response)
        broken._content = json.dumps(body).encode()
        with pytest.raises(Exception):  # noqa: B017 - any validation error will do
            assert_valid(broken)


def test_command_loads_a_seed_file_beside_the_seeded_items(tmp_path):
    seed_file = tmp_path / "calls.jsonl"
    given_sid = "TR" + "ab" * 16
    seed_file.write_text(
        json.dumps({"transcription_text": "Call me back on +44 20 7946 0018"})
        + "\n\n"
        + json.dumps(
            {
                "sid": given_sid,
                "transcription_text": "It's jane dot doe at example dot com",
                "status": "failed",
                "date_created": "Mon, 02 Nov 2026 10:00:00 +0000",
                "duration": "42",
            }
        )
        + "\n"
    )
    port = _free_port()
    process = _start_command(
        "--port", str(port), "--seed-count", "2", "--seed-file", str(seed_file),
        "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
    )  # fmt: skip
    try:
        assert _read_line(process).endswith(f"(account {ACCOUNT_SID}, 4 transcriptions)")
        url = f"http://127.0.0.1:{port}" + account_path("/Transcriptions.json?PageSize=50")
        response = requests.get(url, auth=AUTH, timeout=10)
        assert_valid(response)
        by_sid = {t["sid"]: t for t in response.json()["transcriptions"]}
        given = by_sid[given_sid]
        assert given["status"] == "failed" and given["duration"] == "42"
        assert given["date_created"] == "Mon, 02 Nov 2026 10:00:00 +0000"
        texts = {t["transcription_text"] for t in by_sid.values()}
        assert "Call me back on +44 20 7946 0018" in texts
    finally:
        _stop(process)


def test_command_names_the_line_of_a_bad_seed_file(tmp_path):
    seed_file = tmp_path / "calls.jsonl"
    seed_file.write_text('{"transcription_text": "fine"}\n[1, 2]\n')
    result = subprocess.run(
        [sys.executable, "manage.py", "twilio_sandbox", "--seed-file", str(seed_file)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "line 2: not a JSON object" in result.stderr


def test_seeded_transcripts_hold_personal_data_and_near_misses_the_same_way_each_time():
    first, second = (TranscriptionStore(account_sid=ACCOUNT_SID) for _ in range(2))
    first.seed(count=2000, seed=9)
    second.seed(count=2000, seed=9)
    texts = [item.transcription_text or "" for item in first.all()]
    assert texts == [item.transcription_text or "" for item in second.all()]
    joined = "\n".join(texts)
    for marker in ("card number is", "IBAN", "social security number", "born on", " dot ",
                   "order number is", "tracking code"):  # fmt: skip
        assert marker in joined, marker


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arrivals-per-minute", "-1"], "--arrivals-per-minute must be 0 or more"),
        (["--callback-url", "desk.example.com/cb"], "--callback-url must be an http"),
        (["--callback-drop-rate", "2"], "--callback-drop-rate must be between 0 and 1"),
    ],
)
def test_command_refuses_bad_arrival_options(args, message):
    result = subprocess.run(
        [sys.executable, "manage.py", "twilio_sandbox", "--seed-count", "0", *args],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_command_adds_arrivals_while_it_runs():
    port = _free_port()
    process = _start_command(
        "--port", str(port), "--seed-count", "0", "--arrivals-per-minute", "600",
        "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
    )  # fmt: skip
    try:
        _read_line(process)
        url = f"http://127.0.0.1:{port}" + account_path("/Transcriptions.json?PageSize=50")
        deadline = time.monotonic() + 15
        statuses: set[str] = set()
        while time.monotonic() < deadline and not {"in-progress", "completed"} <= statuses:
            response = requests.get(url, auth=AUTH, timeout=10)
            assert_valid(response)
            statuses = {t["status"] for t in response.json()["transcriptions"]}
            time.sleep(0.2)
        assert {"in-progress", "completed"} <= statuses
    finally:
        _stop(process)
