"""The sandbox's Recording resource over real HTTP: metadata validated against Twilio's spec
(tests/data/twilio/recordings-wire.json), the list's paging and filters, media as WAV and MP3
with Range, Basic auth on media, and a delete that keeps the metadata as `deleted`."""

from __future__ import annotations

import io
import json
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.validation.response.validators import V30ResponseDataValidator

from sandbox.recordings import SAMPLE_RATE
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN

SPEC = Path(__file__).parent / "data" / "twilio" / "recordings-wire.json"
AUTH = (ACCOUNT_SID, AUTH_TOKEN)
ACCOUNT = f"/2010-04-01/Accounts/{ACCOUNT_SID}"


class _TwilioHostRequest(RequestsOpenAPIRequest):
    @property
    def host_url(self) -> str:
        return "https://api.twilio.com"


_openapi = OpenAPI.from_dict(
    json.loads(SPEC.read_text()), config=Config(response_validator_cls=V30ResponseDataValidator)
)


def assert_valid(response: requests.Response) -> None:
    _openapi.validate_response(
        _TwilioHostRequest(response.request), RequestsOpenAPIResponse(response)
    )


def get(sandbox, path: str, *, auth=AUTH, **kwargs) -> requests.Response:
    return requests.get(sandbox.url + path, auth=auth, timeout=30, **kwargs)


@pytest.fixture
def recorded(sandbox, sandbox_store):
    sandbox_store.seed(count=40, seed=21)
    return sandbox_store


def test_a_recording_is_twilios_resource(sandbox, recorded):
    item = recorded.all()[0]
    response = get(sandbox, f"{ACCOUNT}/Recordings/{item.recording_sid}.json")
    assert response.status_code == 200
    assert_valid(response)
    body = response.json()
    assert body["sid"] == item.recording_sid and body["status"] == "completed"
    assert body["media_url"] == f"https://api.twilio.com{ACCOUNT}/Recordings/{item.recording_sid}"
    assert body["subresource_uris"]["transcriptions"].endswith("/Transcriptions.json")
    assert int(body["duration"]) == item.duration


def test_the_list_pages_newest_first_and_filters_by_date(sandbox, recorded):
    sids, path = [], f"{ACCOUNT}/Recordings.json?PageSize=7"
    while path:
        response = get(sandbox, path)
        assert response.status_code == 200
        assert_valid(response)
        body = response.json()
        sids += [r["sid"] for r in body["recordings"]]
        path = body["next_page_uri"]
    assert len(sids) == len(set(sids)) == len({i.recording_sid for i in recorded.all()})
    created = {s: recorded.recordings.get(s).date_created for s in sids}
    assert [created[s] for s in sids] == sorted(created.values(), reverse=True)

    day = created[sids[len(sids) // 2]].date()
    on_day = get(sandbox, f"{ACCOUNT}/Recordings.json?DateCreated={day}&PageSize=1000").json()
    assert {r["sid"] for r in on_day["recordings"]} == {s for s in sids if created[s].date() == day}
    after = get(sandbox, f"{ACCOUNT}/Recordings.json?DateCreated>={day}&PageSize=1000").json()
    assert {r["sid"] for r in after["recordings"]} == {s for s in sids if created[s].date() >= day}
    before = get(sandbox, f"{ACCOUNT}/Recordings.json?DateCreated<={day}&PageSize=1000").json()
    assert {r["sid"] for r in before["recordings"]} == {s for s in sids if created[s].date() <= day}


def test_media_is_a_wav_of_the_recordings_length_the_same_bytes_each_time(sandbox, recorded):
    sid = recorded.all()[0].recording_sid
    first = get(sandbox, f"{ACCOUNT}/Recordings/{sid}")
    assert first.status_code == 200 and first.headers["Content-Type"] == "audio/x-wav"
    assert first.headers["Accept-Ranges"] == "bytes"
    with wave.open(io.BytesIO(first.content)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (
            SAMPLE_RATE,
            1,
            2,
        )
        assert audio.getnframes() == recorded.recordings.get(sid).duration * SAMPLE_RATE
    assert get(sandbox, f"{ACCOUNT}/Recordings/{sid}.wav").content == first.content
    assert len(set(first.content[44:20044])) > 50  # sound, not silence


def test_media_answers_a_range_with_206(sandbox, recorded):
    sid = recorded.all()[0].recording_sid
    whole = get(sandbox, f"{ACCOUNT}/Recordings/{sid}.wav").content
    part = get(sandbox, f"{ACCOUNT}/Recordings/{sid}.wav", headers={"Range": "bytes=1000-4999"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 1000-4999/{len(whole)}"
    assert part.content == whole[1000:5000]
    tail = get(sandbox, f"{ACCOUNT}/Recordings/{sid}.wav", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == whole[-100:]
    beyond = get(
        sandbox, f"{ACCOUNT}/Recordings/{sid}.wav", headers={"Range": f"bytes={len(whole)}-"}
    )
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(whole)}"


def test_media_as_mp3(sandbox, recorded):
    sid = recorded.all()[0].recording_sid
    mp3 = get(sandbox, f"{ACCOUNT}/Recordings/{sid}.mp3")
    assert mp3.status_code == 200 and mp3.headers["Content-Type"] == "audio/mpeg"
    assert mp3.content[:3] == b"ID3" or mp3.content[0] == 0xFF  # a tag or a frame sync
    seconds = recorded.recordings.get(sid).duration
    assert abs(len(mp3.content) - seconds * 32_000 / 8) < 4_000  # 32 kbps
    part = get(sandbox, f"{ACCOUNT}/Recordings/{sid}.mp3", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == mp3.content[10:20]


def test_media_needs_basic_auth(sandbox, recorded):
    sid = recorded.all()[0].recording_sid
    assert get(sandbox, f"{ACCOUNT}/Recordings/{sid}", auth=None).status_code == 401
    assert (
        get(sandbox, f"{ACCOUNT}/Recordings/{sid}", auth=(ACCOUNT_SID, "wrong")).status_code == 401
    )


def test_a_deleted_recording_has_no_media_and_stays_listable_as_deleted(sandbox, recorded):
    item = recorded.all()[0]
    sid = item.recording_sid
    deleted = requests.delete(
        f"{sandbox.url}{ACCOUNT}/Recordings/{sid}.json", auth=AUTH, timeout=10
    )
    assert deleted.status_code == 204
    assert get(sandbox, f"{ACCOUNT}/Recordings/{sid}").status_code == 404
    assert get(sandbox, f"{ACCOUNT}/Recordings/{sid}.json").status_code == 404
    kept = get(sandbox, f"{ACCOUNT}/Recordings/{sid}.json?IncludeSoftDeleted=true")
    assert kept.status_code == 200 and kept.json()["status"] == "deleted"
    assert_valid(kept)
    listed = get(sandbox, f"{ACCOUNT}/Recordings.json?PageSize=1000").json()["recordings"]
    assert sid not in {r["sid"] for r in listed}
    soft = get(sandbox, f"{ACCOUNT}/Recordings.json?PageSize=1000&IncludeSoftDeleted=true").json()
    assert sid in {r["sid"] for r in soft["recordings"]}
    again = requests.delete(f"{sandbox.url}{ACCOUNT}/Recordings/{sid}.json", auth=AUTH, timeout=10)
    assert again.status_code == 404
    # Its transcriptions stay, each deleted on its own.
    assert recorded.get(item.sid) is not None


def test_a_recordings_delete_outlives_its_transcriptions(sandbox, recorded):
    item = recorded.all()[0]
    recorded.delete(item.sid)
    assert get(sandbox, f"{ACCOUNT}/Recordings/{item.recording_sid}.json").status_code == 200


def test_a_long_recording_is_served_in_ranges(sandbox, sandbox_store):
    long = sandbox_store.recordings.add(
        "RE" + "5" * 32, duration=3600, date_created=datetime.now(UTC) - timedelta(hours=2)
    )
    size = 44 + 3600 * SAMPLE_RATE * 2
    middle = get(
        sandbox,
        f"{ACCOUNT}/Recordings/{long.sid}",
        headers={"Range": f"bytes={size // 2}-{size // 2 + 65535}"},
    )
    assert middle.status_code == 206 and len(middle.content) == 65536
    assert middle.headers["Content-Range"] == f"bytes {size // 2}-{size // 2 + 65535}/{size}"
