"""The table's query: search semantics, filters, sorts, facet counts, cache status, snippets.

Run on SQLite and on PostgreSQL: the same data must give the same rows on both.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from transcriptions import table
from transcriptions.models import SyncRun
from transcriptions.table import TableFilters, planner
from transcriptions.table import search as table_search

pytestmark = pytest.mark.django_db


def sids(qs) -> list[str]:
    return list(qs.values_list("sid", flat=True))


def found(search: str) -> set[str]:
    return set(sids(table.transcription_list(filters=TableFilters(search=search))))


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

    # Punctuation (the underscore too) only separates words: never a wildcard or pattern.
    words = re.findall(r"[^\W_]+", typed)
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
    """The database search (a word index per vendor) gives exactly the rows a plain-Python
    reading of the rules gives, so SQLite and PostgreSQL return the same rows for the same
    data. A word is a run of letters and digits; anything else separates words."""
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
        words = re.findall(r"[^\W_]+", search)
        hits = set()
        for sid, text in rows.items():
            if text is None:
                continue
            ok = True
            for i, w in enumerate(words):
                end = "" if i == len(words) - 1 else r"(?![^\W_])"
                if not re.search(rf"(?<![^\W_]){re.escape(w)}{end}", text, re.IGNORECASE):
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

    assert set(sids(table.transcription_list(filters=TableFilters(statuses=["failed"])))) == {
        failed.sid
    }
    assert set(
        sids(table.transcription_list(filters=TableFilters(statuses=["failed", "in-progress"])))
    ) == {
        failed.sid,
        running.sid,
    }
    everything = {done.sid, failed.sid, running.sid}
    assert (
        set(sids(table.transcription_list(filters=TableFilters(statuses=["bogus"])))) == everything
    )


def test_recording_filter(make_transcription):
    rec = "RE" + "ab" * 16
    a = make_transcription(recording_sid=rec)
    b = make_transcription(recording_sid=rec)
    make_transcription()

    assert set(sids(table.transcription_list(filters=TableFilters(recording_sid=rec)))) == {
        a.sid,
        b.sid,
    }


def test_date_filters_are_whole_days_in_the_configured_time_zone(settings, make_transcription):
    settings.TIME_ZONE = "America/New_York"
    # 03:30 UTC on 10 March is 22:30 on 9 March in New York.
    late_evening = make_transcription(date_created=datetime(2024, 3, 10, 3, 30, tzinfo=UTC))
    next_day = make_transcription(date_created=datetime(2024, 3, 10, 16, 0, tzinfo=UTC))
    earlier = make_transcription(date_created=datetime(2024, 3, 1, 12, 0, tzinfo=UTC))

    def between(start, end) -> set[str]:
        return set(
            sids(table.transcription_list(filters=TableFilters(created_from=start, created_to=end)))
        )

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
    order = "".join(
        by_sid[s] for s in sids(table.transcription_list(filters=TableFilters(sort=sort)))
    )
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

    assert table.status_counts(filters=TableFilters()) == {
        "in-progress": 0,
        "completed": 2,
        "failed": 2,
    }
    assert table.status_counts(filters=TableFilters(search="card")) == {
        "in-progress": 0,
        "completed": 1,
        "failed": 2,
    }
    assert table.status_counts(filters=TableFilters(search="card", recording_sid=rec)) == {
        "in-progress": 0,
        "completed": 1,
        "failed": 1,
    }


def test_status_counts_take_one_query(make_transcription, django_assert_num_queries):
    for status in ("failed", "completed", "completed"):
        make_transcription(status=status)
    with django_assert_num_queries(1):
        table.status_counts(filters=TableFilters(search="thanks calling"))


def test_cache_status_never_synced(make_transcription):
    make_transcription(status="failed")
    status = table.cache_status()
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
    status = table.cache_status()
    assert status.last_run == bad
    assert status.last_success == good
    assert not status.never_synced


# ---- Snippets ----


def test_snippet_escapes_text_and_marks_matches():
    html = table.text_snippet("<script>alert('refund')</script> Refund now", "refund")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;<mark>refund</mark>&#x27;)&lt;/script&gt;" in html
    assert "<mark>Refund</mark> now" in html


def test_snippet_marks_the_search_word_inside_escaped_markup_without_breaking_it():
    html = table.text_snippet("a <b>bold</b> move", "b")
    # "b" is the last word, so it is a prefix: it marks "b" and the "b" of "bold"; the
    # angle brackets around are escaped, never reassembled into a tag.
    assert "<b>" not in html
    assert "&lt;<mark>b</mark>&gt;<mark>b</mark>old&lt;/<mark>b</mark>&gt;" in html


def test_snippet_is_one_line_and_starts_near_a_late_match():
    text = "word " * 60 + "the refund\nwas made " + "tail " * 40
    html = table.text_snippet(text, "refund")
    assert html.startswith("…")
    assert html.endswith("…")
    assert "<mark>refund</mark>" in html
    assert "\n" not in html
    assert len(html) < 220


def test_snippet_without_text_or_search():
    assert table.text_snippet(None) == ""
    assert table.text_snippet("short text") == "short text"
    assert table.text_snippet("a & b", "zzz") == "a &amp; b"


# ---- The word index: the same rows on every database ----

TRICKY_TEXTS = {
    "email": "Send it to jane.doe@example.com please",
    "hyphen": "The password-reset link expired; re-send it",
    "apostrophe": "I can't log in, it's the customer's account",
    "digits": "Card 4242 4242, ticket CS-000123, call 555-0100 or 07700900123",
    "accents": "Le café était fermé, Crème brûlée",
    "html": "<b>Access denied</b> and <script>alert('x')</script>",
    "underscore": "under_score and snake_case_words",
    "operators": "Use AND or OR, NEAR the star * and caret ^ column: value",
    "percent": "100% sure about a%b",
    "null": None,
    "empty": "",
}

# (search, the rows it must find): asserted on whichever database runs the suite, so SQLite
# and PostgreSQL are held to the same answers.
TRICKY_SEARCHES = [
    ("jane", {"email"}),
    ("jane.doe@example.com", {"email"}),
    ("example com", {"email"}),
    ("doe@exam", {"email"}),
    ("password", {"hyphen"}),
    ("password-reset", {"hyphen"}),
    ("reset link", {"hyphen"}),
    ("re send", {"hyphen"}),
    ("can't", {"apostrophe"}),
    ("can t log", {"apostrophe"}),
    ("customer", {"apostrophe"}),
    ("customer's", {"apostrophe"}),
    ("4242", {"digits"}),
    ("424", {"digits"}),
    ("000123", {"digits"}),
    ("CS-000123", {"digits"}),
    ("555-0100", {"digits"}),
    ("0100", {"digits"}),
    ("07700900123", {"digits"}),
    ("100", {"percent"}),
    ("077", {"digits"}),
    ("100%", {"percent"}),
    ("café", {"accents"}),
    ("CAFÉ", {"accents"}),
    ("crème brûlée", {"accents"}),
    ("BRÛL", {"accents"}),
    # Accents aside, both ways (migration 0024).
    ("cafe", {"accents"}),
    ("creme brulee", {"accents"}),
    ("etait ferme", {"accents"}),
    ("FERMÉE", set()),
    ("brûl", {"accents"}),
    ("brul", {"accents"}),
    ("cafè", {"accents"}),
    ("script alert", {"html"}),
    ("<script>", {"html"}),
    ("b access", {"html"}),
    ("snake", {"underscore"}),
    ("snake_case", {"underscore"}),
    ("case", {"underscore"}),
    ("and or", {"operators"}),
    # The last word is also a prefix: "and" is a word of three texts.
    ("AND", {"operators", "underscore", "html"}),
    ("NEAR star", {"operators"}),
    ("OR NOT", set()),
    ('"star', {"operators"}),
    ("star*", {"operators"}),
    ("column:value", {"operators"}),
    ("^caret", {"operators"}),
    ("-star", {"operators"}),
    ("a%b", {"percent"}),
    ("sure a", {"percent"}),
    ("refund", set()),
    ("ess", set()),
]


@pytest.fixture
def tricky(make_transcription):
    return {
        key: make_transcription(transcription_text=text).sid for key, text in TRICKY_TEXTS.items()
    }


@pytest.mark.parametrize(("search", "expected"), TRICKY_SEARCHES)
def test_tricky_texts_give_the_same_rows_on_every_database(tricky, search, expected):
    assert found(search) == {tricky[key] for key in expected}


def test_fts_operators_typed_by_the_user_are_plain_words(make_transcription):
    both = make_transcription(transcription_text="refund or callback")
    refund = make_transcription(transcription_text="refund only")
    callback = make_transcription(transcription_text="callback only")

    # OR, AND, NOT and NEAR are words to find, never operators.
    assert found("refund OR callback") == {both.sid}
    assert found("refund AND") == set()
    assert found("NOT refund") == set()
    assert found("NEAR(refund callback)") == set()
    assert found("refund*") == {both.sid, refund.sid}
    assert found('"refund only"') == {refund.sid}
    assert found("callback -only") == {callback.sid}
    assert found("transcription_text:refund") == set()
    assert found("status:completed") == set()


def test_a_word_is_never_matched_inside_another_or_in_the_status(make_transcription):
    make_transcription(status="failed", transcription_text="it worked")
    make_transcription(status="in-progress", transcription_text="still going")
    assert found("failed") == set()
    assert found("progress") == set()
    assert found("orked") == set()


def test_search_with_a_status_filter_uses_the_status_in_the_index(make_transcription):
    failed = make_transcription(status="failed", transcription_text="card declined")
    running = make_transcription(status="in-progress", transcription_text="card declined")
    make_transcription(status="completed", transcription_text="card declined")

    def with_status(*statuses) -> set[str]:
        return set(
            sids(table.transcription_list(filters=TableFilters(search="card", statuses=statuses)))
        )

    assert with_status("failed") == {failed.sid}
    assert with_status("in-progress") == {running.sid}
    assert with_status("failed", "in-progress") == {failed.sid, running.sid}


def test_sid_prefix_range_is_case_sensitive_and_exact_at_its_edges(make_transcription):
    first = make_transcription(sid="TRabcdef" + "0" * 26)
    last = make_transcription(sid="TRabcdef" + "f" * 26)
    after = make_transcription(sid="TRabcdeg" + "0" * 26)
    before = make_transcription(sid="TRabcdee" + "f" * 26)
    assert found("TRabcdef") == {first.sid, last.sid}
    assert found("TRabcdef" + "f" * 26) == {last.sid}
    assert found("TRabcde") == {first.sid, last.sid, after.sid, before.sid}
    assert found("TRABCDEF") == {first.sid, last.sid}


def test_sid_prefixes_ending_in_any_digit_find_their_rows(make_transcription):
    """The prefix's range ends just past its last character: after a 9 (":"), a linguistic
    collation would put that end before every SID with the prefix (PostgreSQL's SID columns
    compare bytes, migration 0010)."""
    for last in "09af":
        row = make_transcription(
            sid=f"TR123{last}" + "3" * 28, recording_sid=f"RE456{last}" + "4" * 28
        )
        assert found(f"TR123{last}") == {row.sid}, last
        assert found(f"RE456{last}") == {row.sid}, last
        assert found(f"TR123{last}33") == {row.sid}, last


# ---- Capped counts ----


def test_counts_are_exact_up_to_the_cap_and_capped_above(make_transcription):
    from datetime import UTC
    from datetime import datetime as dt

    from transcriptions.models import Transcription

    now = dt.now(UTC)
    Transcription.objects.bulk_create(
        Transcription(
            sid=f"TR{i:032x}",
            account_sid="AC" + "1" * 32,
            recording_sid=f"RE{i:032x}",
            status="failed" if i % 100 == 0 else "completed",
            transcription_text="warranty claim" if i < table.COUNT_CAP + 5 else "claim",
            duration=1,
            date_created=now - timedelta(seconds=i),
            date_updated=now,
            synced_at=now,
        )
        for i in range(table.COUNT_CAP + 20)
    )
    page = table.transcription_page(filters=TableFilters(search="warranty", per_page=25))
    # Each status under the cap: exact, and so is their sum.
    assert page.count == table.Count(1005)
    assert str(page.count) == "1,005"
    assert page.facets["completed"] == table.Count(994)
    assert page.facets["failed"] == table.Count(11)
    assert str(page.facets["failed"]) == "11"
    narrow = table.transcription_page(
        filters=TableFilters(search="warranty", statuses=["failed"], per_page=25)
    )
    assert narrow.count == table.Count(11)
    claims = table.transcription_page(filters=TableFilters(search="claim", per_page=25))
    assert claims.facets["completed"] == table.Count(table.COUNT_CAP, capped=True)
    assert str(claims.facets["completed"]) == "1,000+"
    assert str(claims.count) == "1,000+"
    # The unfiltered totals are exact, from the counts the triggers keep.
    everything = table.transcription_page(filters=TableFilters(per_page=25))
    assert everything.count == table.Count(table.COUNT_CAP + 20)
    assert table.status_totals() == {"in-progress": 0, "completed": 1009, "failed": 11}


# ---- Strategies: the same rows whichever way the page is found ----


def _all_pages(**kwargs) -> tuple[list[str], table.TablePage]:
    """Every row of a search, page by page through the `after` cursors."""
    first = page = table.transcription_page(filters=TableFilters(per_page=7, **kwargs))
    seen = [t.sid for t in page.rows]
    while page.has_next:
        page = table.transcription_page(
            filters=TableFilters(per_page=7, **kwargs), after=page.last_cursor
        )
        seen += [t.sid for t in page.rows]
    return seen, first


@pytest.mark.parametrize("strategy", ["chosen", "prefix-query", "walk", "walk-prefix-query"])
def test_every_search_strategy_gives_the_same_pages_and_counts(
    make_transcription, monkeypatch, strategy
):
    """Few or many matches, a prefix spelled out as words or sent as a prefix query, a word
    index read first or each walked row checked: only the speed may differ."""
    texts = ["refund issued", "refunded twice", "REFUNDS pending", "reference 7", "thanks"]
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(45):
        make_transcription(
            transcription_text=f"{texts[i % len(texts)]} call {i}",
            status=("completed", "failed", "in-progress")[i % 3],
            duration=None if i % 4 == 0 else i % 6,
            date_created=base - timedelta(minutes=i // 2),
        )
    if "prefix-query" in strategy:
        monkeypatch.setattr(table_search, "PREFIX_EXPANSION_MAX", 1)
    if strategy.startswith("walk"):
        monkeypatch.setattr(planner, "FEW_MATCHES", 0)
        monkeypatch.setattr(planner, "MANY_MATCHES", 0)
        monkeypatch.setattr(planner, "DENSE_SHARE", 0)
    for search in ["ref", "refund", "refunds", "re", "call ref", "zzz"]:
        for statuses in [(), ("failed",), ("failed", "in-progress")]:
            for sort in ["-created", "duration", "status"]:
                expected = sids(
                    table.transcription_list(
                        filters=TableFilters(search=search, statuses=statuses, sort=sort)
                    )
                )
                seen, first = _all_pages(search=search, statuses=statuses, sort=sort)
                assert seen == expected, (search, statuses, sort)
                assert first.count == table.Count(len(expected)), (search, statuses)


def test_a_prefix_spelled_out_as_words_matches_what_the_prefix_does(make_transcription):
    words = ["care", "career", "careful", "carefully", "cares", "caret", "cart"]
    rows = {make_transcription(transcription_text=f"the {w} here").sid: w for w in words}
    for prefix in ["car", "care", "caref", "carz", "CARE"]:
        page = table.transcription_page(filters=TableFilters(search=prefix, per_page=50))
        expected = {sid for sid, w in rows.items() if w.startswith(prefix.lower())}
        assert {t.sid for t in page.rows} == expected, prefix
        assert page.count == table.Count(len(expected))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bounded walk is PostgreSQL's")
@pytest.mark.django_db
@pytest.mark.parametrize("statuses", [(), ("failed",)])
def test_a_bounded_walk_that_finds_too_few_reads_the_word_index(
    make_transcription, monkeypatch, statuses
):
    """Matches beyond the walk's bound (and a word never found with a status) give the same
    pages as a full walk would."""
    from transcriptions.table import paging

    monkeypatch.setattr(paging, "WORDS_WALK_MAX", 5)
    monkeypatch.setattr(planner, "FEW_MATCHES", 2)  # more matches than the word index gives
    now = timezone.now()
    for n in range(20):  # the newest: no match
        make_transcription(date_created=now - timedelta(minutes=n), transcription_text="hello")
    older = [
        make_transcription(
            date_created=now - timedelta(hours=1, minutes=n),
            transcription_text="a refund please",
            status="failed" if n % 2 else "completed",
        )
        for n in range(8)
    ]
    filters = TableFilters(search="refund", statuses=statuses, per_page=3)
    expected = [t.sid for t in older if not statuses or t.status in statuses]
    seen, after = [], None
    while True:
        page = planner.transcription_page(filters=filters, after=after, defer_counts=True)
        seen += [row.sid for row in page.rows]
        if not page.has_next:
            break
        after = page.last_cursor
    assert seen == expected
    none = TableFilters(search="refund", statuses=("in-progress",), per_page=3)
    assert planner.transcription_page(filters=none, defer_counts=True).rows == []


# ---- Phrases ----

PHRASE_TEXTS = {
    "a": "Please refund the order now",
    "b": "The order was a refund, the customer said",
    "c": "refund, order",
    "d": "Le café était fermé",
    "e": "It was refunded",
}
PHRASE_SEARCHES = [
    ('"refund the order"', {"a"}),
    ('"order refund"', set()),
    # Anything but letters and digits between the words, as the word index splits the text.
    ('"refund order"', {"c"}),
    ("refund order", {"a", "b", "c"}),
    ('"cafe etait"', {"d"}),
    ('"CAFÉ ÉTAIT fermé"', {"d"}),
    ('"café fermé"', set()),
    # A quoted word is a whole word; unquoted, the last word is also a prefix.
    ("refund", {"a", "b", "c", "e"}),
    ('"refund"', {"a", "b", "c"}),
    # An unclosed quote is not a phrase yet: its words are words.
    ('"refund the', {"a", "b"}),
    ('"the order" refund', {"a", "b"}),
    ('"the order" "a refund"', {"b"}),
    ('""', {"a", "b", "c", "d", "e"}),
    # A word before a closed phrase is whole: the quote closed after it.
    ('refun "the order"', set()),
    ('"the order" refun', {"a", "b"}),
]


@pytest.fixture
def phrase_rows(make_transcription):
    return {
        key: make_transcription(transcription_text=text).sid for key, text in PHRASE_TEXTS.items()
    }


@pytest.mark.parametrize(
    "way", ["few matches", "search by index walks", "search by probes", "many matches"]
)
@pytest.mark.parametrize(("search", "expected"), PHRASE_SEARCHES)
def test_a_quoted_phrase_matches_its_words_in_a_row_on_every_database(
    phrase_rows, monkeypatch, search, expected, way
):
    from transcriptions.table import planner

    if way != "few matches":
        monkeypatch.setattr(planner, "FEW_MATCHES", 0)
    if way == "search by probes":
        monkeypatch.setattr(planner, "_probe_chosen", lambda query: True)
    if way == "many matches":
        monkeypatch.setattr(planner, "_many_matches", lambda query: True)
    assert found(search) == {phrase_rows[key] for key in expected}
    page = planner.transcription_page(filters=TableFilters(search=search, per_page=25))
    assert {t.sid for t in page.rows} == {phrase_rows[key] for key in expected}
    assert page.count is None or page.count.value == len(expected)
