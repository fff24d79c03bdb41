"""The table's query: search semantics, filters, sorts, facet counts, cache status, snippets.

Run on SQLite and on PostgreSQL: the same data must give the same rows on both.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from transcriptions import queries
from transcriptions.models import SyncRun

pytestmark = pytest.mark.django_db


def sids(qs) -> list[str]:
    return list(qs.values_list("sid", flat=True))


def found(search: str) -> set[str]:
    return set(sids(queries.transcription_list(search=search)))


# ---- Search ----


def test_search_matches_whole_words_case_insensitively_and_the_last_word_as_a_prefix(
    make_transcription,
):
    refund = make_transcription(transcription_text="The REFUND was issued today.")
    refunded = make_transcription(transcription_text="I was refunded yesterday")
    prefund = make_transcription(transcription_text="prefund account")
    make_transcription(transcription_text="nothing relevant")

    # Alone, the word is the last one, so it also matches as a prefix ("refunded").
    assert found("refund") == {refund.sid, refunded.sid}
    # Not last: it must be a whole word; "was" (last) matches both as a prefix.
    assert found("refund was") == {refund.sid}
    assert found("Refund WAS") == {refund.sid}
    # A partial word is only allowed in the last position.
    assert found("refu was") == set()
    # Never inside a word.
    assert prefund.sid not in found("fund")


def test_search_requires_every_word(make_transcription):
    both = make_transcription(transcription_text="My card number is 4242, please cancel it")
    make_transcription(transcription_text="My card is fine")
    make_transcription(transcription_text="please cancel the order")

    assert found("card cancel") == {both.sid}
    assert found("cancel card") == {both.sid}
    assert found("card cancel missing") == set()


def test_search_on_sid_prefix_finds_transcription_and_recording_sids(make_transcription):
    target = make_transcription(
        sid="TRabcdef" + "0" * 26,
        recording_sid="RE123456" + "0" * 26,
        transcription_text="unrelated words",
    )
    make_transcription(sid="TRabcdf1" + "0" * 26, transcription_text="other")

    assert found("TRabcdef") == {target.sid}
    assert found("RE123456") == {target.sid}
    # Upper-case hex typed by the user still finds Twilio's lower-case SID.
    assert found("TRABCDEF") == {target.sid}
    # Too short to be a SID prefix, and the SID prefix rule is case-sensitive on TR/RE.
    assert found("TRabc") == set()
    assert found("trabcdef") == set()


def test_sid_prefix_combines_with_text_words(make_transcription):
    rec = "RE7777aa" + "0" * 26
    hit = make_transcription(recording_sid=rec, transcription_text="customer asked for refund")
    make_transcription(recording_sid=rec, transcription_text="customer asked for a callback")

    assert found("RE7777aa refund") == {hit.sid}


@pytest.mark.parametrize(
    "typed",
    [
        "%",
        "_",
        "'",
        '"',
        "100%",
        "a%b",
        "x_y",
        ".*",
        "(",
        "[a-z]+",
        "\\",
        "'; DROP TABLE x; --",
        "\\y",
    ],
)
def test_sql_and_regex_characters_in_search_are_harmless(make_transcription, typed):
    plain = make_transcription(transcription_text="plain words only")
    percent = make_transcription(transcription_text="100% sure about a%b and x_y")

    result = found(typed)

    # Punctuation only separates words: it never acts as a wildcard or pattern.
    words = re.findall(r"\w+", typed)
    if not words:
        assert result == {plain.sid, percent.sid}
    else:
        assert plain.sid not in result
    if typed in {"100%", "a%b", "x_y"}:
        assert percent.sid in result


def test_search_with_only_punctuation_or_spaces_does_not_filter(make_transcription):
    rows = {make_transcription().sid for _ in range(3)}
    assert found("   ") == rows
    assert found("?!") == rows


def test_search_agrees_with_a_reference_implementation(make_transcription):
    """The database search (regex per vendor) gives exactly the rows a plain-Python reading
    of the rules gives, so SQLite and PostgreSQL return the same rows for the same data."""
    texts = [
        "Hello, I'd like a refund for order 42.",
        "REFUNDS are processed in 5 days",
        "Can't log in: password-reset link expired",
        "Call me at 555-0100 or e-mail jane.doe@example.com",
        "<script>alert('x')</script> please ignore",
        "multi\nline\ttext with   spaces",
        "under_score and snake_case_words",
        "",
        None,
    ]
    rows = {make_transcription(transcription_text=t).sid: t for t in texts}
    searches = [
        "refund",
        "refunds",
        "ref",
        "refund order",
        "order refund",
        "can t",
        "can't log",
        "password reset",
        "reset link",
        "555",
        "0100",
        "jane doe",
        "example com",
        "script",
        "alert x",
        "line text",
        "under_score",
        "snake",
        "snake_case",
        "LINE",
        "zzz",
    ]

    def reference(search: str) -> set[str]:
        words = re.findall(r"\w+", search)
        hits = set()
        for sid, text in rows.items():
            if text is None:
                continue
            ok = True
            for i, w in enumerate(words):
                end = "" if i == len(words) - 1 else r"\b"
                if not re.search(rf"\b{re.escape(w)}{end}", text, re.IGNORECASE):
                    ok = False
            if ok:
                hits.add(sid)
        return hits

    for search in searches:
        assert found(search) == reference(search), search


# ---- Filters ----


def test_status_filter_takes_one_or_more_and_ignores_unknown(make_transcription):
    done = make_transcription(status="completed")
    failed = make_transcription(status="failed")
    running = make_transcription(status="in-progress")

    assert set(sids(queries.transcription_list(statuses=["failed"]))) == {failed.sid}
    assert set(sids(queries.transcription_list(statuses=["failed", "in-progress"]))) == {
        failed.sid,
        running.sid,
    }
    everything = {done.sid, failed.sid, running.sid}
    assert set(sids(queries.transcription_list(statuses=["bogus"]))) == everything


def test_recording_filter(make_transcription):
    rec = "RE" + "ab" * 16
    a = make_transcription(recording_sid=rec)
    b = make_transcription(recording_sid=rec)
    make_transcription()

    assert set(sids(queries.transcription_list(recording_sid=rec))) == {a.sid, b.sid}


def test_date_filters_are_whole_days_in_the_configured_time_zone(settings, make_transcription):
    settings.TIME_ZONE = "America/New_York"
    # 03:30 UTC on 10 March is 22:30 on 9 March in New York.
    late_evening = make_transcription(date_created=datetime(2024, 3, 10, 3, 30, tzinfo=UTC))
    next_day = make_transcription(date_created=datetime(2024, 3, 10, 16, 0, tzinfo=UTC))
    earlier = make_transcription(date_created=datetime(2024, 3, 1, 12, 0, tzinfo=UTC))

    def between(start, end) -> set[str]:
        return set(sids(queries.transcription_list(created_from=start, created_to=end)))

    assert between(date(2024, 3, 9), date(2024, 3, 9)) == {late_evening.sid}
    assert between(date(2024, 3, 10), None) == {next_day.sid}
    assert between(None, date(2024, 3, 9)) == {late_evening.sid, earlier.sid}
    assert between(date(2024, 3, 1), date(2024, 3, 10)) == {
        late_evening.sid,
        next_day.sid,
        earlier.sid,
    }


# ---- Sorts ----


@pytest.fixture
def sortable(make_transcription):
    base = datetime(2024, 5, 1, tzinfo=UTC)
    return {
        "a": make_transcription(status="failed", duration=30, date_created=base),
        "b": make_transcription(
            status="completed", duration=None, date_created=base + timedelta(hours=1)
        ),
        "c": make_transcription(
            status="in-progress", duration=5, date_created=base + timedelta(hours=2)
        ),
        "d": make_transcription(
            status="completed", duration=60, date_created=base + timedelta(hours=3)
        ),
    }


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-created", "dcba"),
        ("created", "abcd"),
        # Unknown duration sorts last both ways; ties fall back to newest first.
        ("duration", "cadb"),
        ("-duration", "dacb"),
        ("status", "dbac"),
        ("-status", "cadb"),
        ("nonsense", "dcba"),
    ],
)
def test_sorts_are_stable_and_the_same_on_every_database(sortable, sort, expected):
    by_sid = {t.sid: key for key, t in sortable.items()}
    order = "".join(by_sid[s] for s in sids(queries.transcription_list(sort=sort)))
    assert order == expected


# ---- Facets and status ----


def test_status_counts_follow_the_search_and_other_filters_but_not_the_status(
    make_transcription,
):
    rec = "RE" + "cd" * 16
    make_transcription(status="failed", transcription_text="card declined", recording_sid=rec)
    make_transcription(status="failed", transcription_text="card lost")
    make_transcription(status="completed", transcription_text="card fine", recording_sid=rec)
    make_transcription(status="completed", transcription_text="no match here")

    assert queries.status_counts() == {"in-progress": 0, "completed": 2, "failed": 2}
    assert queries.status_counts(search="card") == {"in-progress": 0, "completed": 1, "failed": 2}
    assert queries.status_counts(search="card", recording_sid=rec) == {
        "in-progress": 0,
        "completed": 1,
        "failed": 1,
    }


def test_status_counts_take_one_query(make_transcription, django_assert_num_queries):
    for status in ("failed", "completed", "completed"):
        make_transcription(status=status)
    with django_assert_num_queries(1):
        queries.status_counts(search="thanks calling")


def test_cache_status_never_synced(make_transcription):
    make_transcription(status="failed")
    status = queries.cache_status()
    assert status.never_synced
    assert status.last_run is None
    assert status.total == 1
    assert status.by_status == [
        ("in-progress", "In progress", 0),
        ("completed", "Completed", 0),
        ("failed", "Failed", 1),
    ]


def test_cache_status_reports_latest_run_and_latest_success():
    now = datetime.now(UTC)
    good = SyncRun.objects.create(
        state=SyncRun.State.SUCCEEDED, started_at=now - timedelta(hours=2), finished_at=now
    )
    bad = SyncRun.objects.create(
        state=SyncRun.State.FAILED,
        started_at=now - timedelta(hours=1),
        finished_at=now,
        error_message="Twilio answered 500",
    )
    status = queries.cache_status()
    assert status.last_run == bad
    assert status.last_success == good
    assert not status.never_synced


# ---- Snippets ----


def test_snippet_escapes_text_and_marks_matches():
    html = queries.text_snippet("<script>alert('refund')</script> Refund now", "refund")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;<mark>refund</mark>&#x27;)&lt;/script&gt;" in html
    assert "<mark>Refund</mark> now" in html


def test_snippet_marks_the_search_word_inside_escaped_markup_without_breaking_it():
    html = queries.text_snippet("a <b>bold</b> move", "b")
    # "b" is the last word, so it is a prefix: it marks "b" and the "b" of "bold"; the
    # angle brackets around are escaped, never reassembled into a tag.
    assert "<b>" not in html
    assert "&lt;<mark>b</mark>&gt;<mark>b</mark>old&lt;/<mark>b</mark>&gt;" in html


def test_snippet_is_one_line_and_starts_near_a_late_match():
    text = "word " * 60 + "the refund\nwas made " + "tail " * 40
    html = queries.text_snippet(text, "refund")
    assert html.startswith("…")
    assert html.endswith("…")
    assert "<mark>refund</mark>" in html
    assert "\n" not in html
    assert len(html) < 220


def test_snippet_without_text_or_search():
    assert queries.text_snippet(None) == ""
    assert queries.text_snippet("short text") == "short text"
    assert queries.text_snippet("a & b", "zzz") == "a &amp; b"
