"""Property-based fuzzing of every view: any GET and POST parameters, any htmx headers, never
a 5xx and never an exception in the log. Runs on whichever database the suite runs on (CI
runs it on SQLite and on PostgreSQL).

The values mix what users and tools send by mistake with what an attacker tries: text with
NUL and odd Unicode, numbers at and beyond 64 bits, dates at the ends of the calendar,
keyset cursors built with tampered contents, SIDs of every shape, headers that are not URLs."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from transcriptions.table.paging import SORTS

# Cases per view: enough to find the classes of input that broke (see the note below), and the
# whole file runs in well under a minute on one database.
CASES_PER_VIEW = 150

SID_HEX = "0123456789abcdefABCDEF"

texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60
) | st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "’",
        "é",
        "💬",
        "%",
        "_",
        "*",
        "\\",
        "'",
        '"',
        "<script>",
        "x" * 5000,
    ]
)
numbers = st.integers(min_value=-(2**70), max_value=2**70).map(str) | st.sampled_from(
    ["0", "-0", "1e309", "NaN", "inf", "0x10", "9" * 40, "1.5", " 7 ", "٣"]
)
dates = st.sampled_from(
    [
        "9999-12-31",
        "0001-01-01",
        "0000-00-00",
        "2025-02-30",
        "2025-13-01",
        "2024-02-29",
        "10000-01-01",
        "2025-1-1",
        "yesterday",
        "2025-06-01T00:00:00+23:59",
        "9999-12-31 23:59:59",
        "0001-01-01T00:00:00-23:59",
    ]
) | st.dates().map(str)
sids = st.sampled_from(["TR", "RE", "CA", "tr", "AC"]).flatmap(
    lambda head: st.text(alphabet=SID_HEX, min_size=0, max_size=40).map(lambda tail: head + tail)
)


def _cursor_json() -> SearchStrategy[str]:
    """Cursors as the table makes them (sort, lead, date, id), with tampered contents: most
    of the default sort (the one a URL without `sort` uses), some of every other."""
    status_or_duration = (
        st.none()
        | st.integers(-(2**70), 2**70)
        | st.sampled_from(["completed", "failed", "fa\x00iled", "", "x" * 40])
        | texts
        | st.booleans()
        | st.floats()
    )
    edge_dates = st.sampled_from(
        [
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "2025-01-01T00:00:00+23:59",
            "2025-01-01T00:00:00-23:59",
            "2025-01-01T00:00:00",
            "not a date",
            "",
        ]
    )
    created = (
        edge_dates
        | edge_dates
        | edge_dates
        | st.datetimes(
            min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.timezones()
        ).map(lambda d: d.isoformat())
        | texts
    )
    pk = (
        st.integers(1, 10**6)
        | st.integers(1, 10**6)
        | st.integers(-(2**70), 2**70)
        | st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64])
        | st.booleans()
        | st.none()
        | texts
    )
    default_sort = st.just("-created")
    sort = default_sort | default_sort | default_sort | st.sampled_from(list(SORTS)) | texts
    body = st.tuples(sort, status_or_duration, created, pk).map(list)
    anything = st.lists(st.integers() | texts, max_size=6)
    return (body | body | body | anything).map(
        lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    )


cursors = _cursor_json()
values = texts | numbers | dates | sids | cursors | cursors
odd_urls = st.sampled_from(
    [
        "http://testserver/",
        "http://testserver/t/TR" + "a" * 32 + "/",
        "not a url",
        "http://[::1",
        "//evil.example/x",
        "",
        "http://testserver/%00",
    ]
)
urls = odd_urls | odd_urls | odd_urls | texts
headers = st.fixed_dictionaries(
    # Most requests as htmx sends them, where most of the header handling is.
    {
        "HTTP_HX_REQUEST": st.sampled_from(["true", "true", "true", "false", ""]),
        "HTTP_HX_CURRENT_URL": urls,  # htmx sends it with every request
    },
    optional={
        "HTTP_HX_TARGET": st.sampled_from(["results", "result-counts", "preview", "modal"]) | texts,
        "HTTP_HX_TRIGGER": texts,
        "HTTP_HX_TRIGGER_NAME": texts,
        "HTTP_HX_HISTORY_RESTORE_REQUEST": st.sampled_from(["true", "false"]),
        "HTTP_HX_BOOSTED": st.sampled_from(["true"]),
        # What a player sends for audio, and what it should not.
        "HTTP_RANGE": st.sampled_from(["bytes=0-", "bytes=100-199", "bytes=-50", "bytes=9999999-"])
        | texts,
    },
)


statuses = st.sampled_from(["completed", "failed", "in-progress", "queued", "COMPLETED"])
cutoffs = dates | st.sampled_from(
    [
        "9999-12-31 23:59:59",
        "0001-01-01 00:00:00",
        "9999-12-31T23:59:59+23:59",
        "0001-01-01T00:00:00-23:59",
        "2025-06-01T12:00:00+00:00",
    ]
)
# Each parameter gets values of its own kind (hostile ones included) as well as anything.
OF_ITS_KIND: dict[str, SearchStrategy[str]] = {
    "after": cursors,
    "before": cursors,
    "date_from": dates,
    "date_to": dates,
    "cutoff": cutoffs,
    "sort": st.sampled_from([*SORTS, "-status", "nope"]),
    "status": statuses,
    "action": st.sampled_from(["deleted", "delete_failed", "viewed_text", "nope"]),
    "older_than_days": numbers,
    "typed_count": numbers,
    "confirm_count": numbers,
    "per_page": numbers,
    "page": numbers,
    "days": numbers,
    "recording": sids,
    "sid": sids,
    "task": texts | st.uuids().map(str),
    "personal_data": st.sampled_from(["card_number", "ssn", "any", "passport", "ANY", ""]),
    "mentions": st.sampled_from(
        [
            "+1 415 555 2671",
            "jane dot doe at example dot com",
            "4111111111111111",
            "GB82 WEST 1234 5698 7654 32",
            "four one five",
            "@",
            "+",
            "00",
        ]
    ),  # fmt: skip
    "mentions_token": texts | st.sampled_from(["a:b:c", "eyJoIjpbXX0:1:x"]),
    "batch": texts | st.uuids().map(lambda u: u.hex),
    "news": st.sampled_from(["1", "0"]),
    "since_id": numbers,
    "since": cutoffs,
    "shown": sids | st.lists(sids, max_size=5).map(",".join),
}


def params(names: list[str]) -> SearchStrategy[dict[str, object]]:
    """Any subset of the view's own parameters (one value, or several), plus a stray one."""

    def one(name: str) -> SearchStrategy[object]:
        kind = OF_ITS_KIND.get(name)
        value = values if kind is None else kind | kind | values
        return value | st.lists(value, min_size=1, max_size=3)

    return st.fixed_dictionaries(
        {}, optional={**{name: one(name) for name in names}, "stray": values}
    )


TABLE = ["q", "status", "recording", "date_from", "date_to", "sort", "per_page", "after"]
TABLE += ["before", "last", "counts", "page", "personal_data", "mentions", "mentions_token"]
TABLE += ["pd_counts", "news", "since_id", "since", "shown"]
VIEWS: list[tuple[str, str, list[str]]] = [
    ("GET", "/", TABLE),
    ("GET", "/export.csv", TABLE),
    ("GET", "/t/{sid}/", []),
    ("GET", "/t/{sid}/delete/", []),
    ("POST", "/t/{sid}/delete/", ["with_recording"]),
    ("POST", "/t/{sid}/refresh/", []),
    ("POST", "/t/{sid}/reveal/", []),
    ("POST", "/mentions/", ["mentions"]),
    ("POST", "/t/{sid}/listen/", []),
    ("GET", "/t/{sid}/audio/{token}.mp3", []),
    ("GET", "/t/{sid}/audio/{token}.wav", []),
    ("GET", "/personal-data/", []),
    ("POST", "/personal-data/", ["every_row"]),
    ("GET", "/personal-data/progress/", []),
    ("GET", "/bulk/", ["page"]),
    ("GET", "/bulk/new/", [*TABLE, "sid"]),
    (
        "POST",
        "/bulk/new/",
        [*TABLE, "sid", "reason", "confirm_count", "all_matching", "with_recordings"],
    ),
    ("GET", "/bulk/{pk}/", []),
    ("POST", "/bulk/{pk}/cancel/", []),
    ("POST", "/bulk/{pk}/retry/", []),
    ("POST", "/bulk/{pk}/continue/", []),
    ("GET", "/bulk/{pk}/erasure/", ["page"]),
    ("GET", "/bulk/{pk}/erasure.csv", []),
    ("POST", "/sync/", []),
    ("GET", "/sync/progress/", ["task", "polling"]),
    ("GET", "/audit/", ["user", "action", "date_from", "date_to", "page", "sid", "batch"]),
    ("GET", "/audit/export.csv", ["user", "action", "date_from", "date_to", "sid", "batch"]),
    (
        "GET",
        "/retention/",
        ["older_than_days", "status", "cutoff", "typed_count", "personal_data", "with_recordings"],
    ),
    (
        "POST",
        "/retention/",
        [
            "older_than_days",
            "status",
            "cutoff",
            "typed_count",
            "apply",
            "personal_data",
            "with_recordings",
        ],
    ),
    ("GET", "/overview/", ["days"]),
    (
        "POST",
        "/twilio/transcription-callback/",
        ["TranscriptionSid", "TranscriptionStatus", "TranscriptionText", "AccountSid"],
    ),
]


@pytest.fixture
def superuser_client(client, django_user_model, twilio, make_transcription):
    user = django_user_model.objects.create_superuser(username="fuzz", password="pw-fuzz")
    client.force_login(user)
    now = datetime.now(UTC)
    rows = [make_transcription(date_created=now) for _ in range(3)]
    for row in rows:
        twilio.store.add(sid=row.sid, recording_sid=row.recording_sid, transcription_text="hi")
    from transcriptions import bulk_deletion

    bulk = bulk_deletion.bulk_deletion_start(actor=user, sids=[rows[0].sid], reason="fuzz")
    from transcriptions.listening import listening_start

    token = listening_start(transcription=rows[1], user=user).token
    assert token, "the audio views are fuzzed with a real listening session"
    client.fuzz_targets = {"sid": rows[1].sid, "pk": bulk.pk, "token": token}
    # A server error is an answer to assert on (with the input that caused it), not a raise.
    client.raise_request_exception = False
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "names"), VIEWS, ids=[f"{m} {p}" for m, p, _ in VIEWS])
def test_no_input_gives_a_server_error(superuser_client, caplog, method, path, names):
    caplog.set_level(logging.ERROR)
    targets = superuser_client.fuzz_targets

    known = st.sampled_from([targets["sid"], "TR" + "a" * 32])

    @settings(
        max_examples=CASES_PER_VIEW,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(data=params(names), extra=headers, sid=known | known | sids)
    def check(data, extra, sid):
        url = path.format(sid=sid, pk=targets["pk"], token=targets["token"])
        send = superuser_client.get if method == "GET" else superuser_client.post
        caplog.clear()
        response = send(url, data, **extra)
        assert response.status_code < 500, (method, url, data, extra, response.status_code)
        if response.streaming:
            b"".join(response.streaming_content)  # an export fails while streaming, if at all
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, (method, url, data, extra, [r.getMessage() for r in errors])

    check()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/export.csv", "/bulk/new/"])
def test_no_cursor_gives_a_server_error(superuser_client, caplog, path):
    """The keyset cursor is the table's most structured input: tampered cursors alone, with
    the sort they claim or another, going either way."""
    caplog.set_level(logging.ERROR)

    @settings(
        max_examples=CASES_PER_VIEW,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(
        cursor=cursors,
        direction=st.sampled_from(["after", "before"]),
        sort=st.none() | st.sampled_from(list(SORTS)),
    )
    def check(cursor, direction, sort):
        data = {direction: cursor, **({"sort": sort} if sort else {})}
        caplog.clear()
        response = superuser_client.get(path, data, HTTP_HX_REQUEST="true")
        assert response.status_code < 500, (path, data, response.status_code)
        if response.streaming:
            b"".join(response.streaming_content)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, (path, data, [r.getMessage() for r in errors])

    check()


def _cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


# The inputs an audit found answering 500, each now a plain answer.
KNOWN = [
    ("GET", "/", {"q": "refund", "date_from": "2025-01-01"}, {}),
    ("GET", "/", {"q": "refund", "date_from": "2025-01-01", "date_to": "9999-12-31"}, {}),
    ("GET", "/", {"date_to": "9999-12-31"}, {}),
    ("GET", "/export.csv", {"date_to": "9999-12-31"}, {}),
    ("GET", "/bulk/new/", {"date_to": "9999-12-31", "q": "x"}, {}),
    ("GET", "/", {"after": _cursor("-created", None, "2025-01-01T00:00:00+00:00", 2**64)}, {}),
    ("GET", "/", {"after": _cursor("-created", None, "0001-01-01T00:00:00+05:00", 1)}, {}),
    ("GET", "/", {"before": _cursor("-created", None, "9999-12-31T23:59:59-05:00", 1)}, {}),
    ("GET", "/", {"after": _cursor("-created", None, "2025-01-01T00:00:00+23:59", 1)}, {}),
    (
        "GET",
        "/",
        {
            "sort": "status",
            "after": _cursor("status", "fa\x00iled", "2025-01-01T00:00:00+00:00", 1),
        },
        {},
    ),
    (
        "POST",
        "/t/TR" + "a" * 32 + "/delete/",
        {},
        {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://[::1"},
    ),
    (
        "GET",
        "/t/TR" + "a" * 32 + "/",
        {},
        {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://[::1"},
    ),
    ("GET", "/retention/", {"older_than_days": "1", "cutoff": "9999-12-31 23:59:59"}, {}),
    (
        "POST",
        "/retention/",
        {"older_than_days": "1", "cutoff": "0001-01-01 00:00:00", "typed_count": "1"},
        {},
    ),
    (
        "POST",
        "/retention/",
        {"older_than_days": str(2**63), "cutoff": "9999-12-31T23:59:59+23:59"},
        {},
    ),
    ("GET", "/audit/", {"date_to": "9999-12-31", "date_from": "0001-01-01"}, {}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "data", "extra"), KNOWN)
def test_inputs_that_once_gave_a_server_error(superuser_client, caplog, method, path, data, extra):
    caplog.set_level(logging.ERROR)
    send = superuser_client.get if method == "GET" else superuser_client.post
    response = send(path, data, **extra)
    assert response.status_code < 500
    if response.streaming:
        b"".join(response.streaming_content)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
