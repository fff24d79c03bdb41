"""The review table at `/`: page versus partial, filters, bad input, permissions, escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from tests.conftest import HTMX
from transcriptions.models import SyncRun, Transcription
from transcriptions.table import planner

pytestmark = pytest.mark.django_db

LIST = reverse("transcriptions:list")


def row_sids(response) -> list[str]:
    return re.findall(r'<tr data-sid="(TR[0-9a-f]+)"', response.content.decode())


def page_for(client, user, **params):
    client.force_login(user)
    return client.get(LIST, params)


# ---- Access ----


def test_anonymous_is_sent_to_the_login_page(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=/" in response["Location"]


def test_user_without_view_permission_gets_403(client, nobody, make_transcription):
    make_transcription()
    client.force_login(nobody)
    assert client.get(LIST).status_code == 403
    assert client.get(LIST, **HTMX).status_code == 403


def test_post_is_not_allowed(client, reviewer):
    client.force_login(reviewer)
    assert client.post(LIST).status_code == 405


def test_viewer_sees_metadata_but_no_text_and_no_buttons(client, viewer, make_transcription):
    t = make_transcription(transcription_text="Secret account number 12345678")
    response = page_for(client, viewer)
    html = response.content.decode()
    assert response.status_code == 200
    assert t.sid in html and t.recording_sid in html
    assert "Secret account" not in html
    assert "hidden" in html
    assert 'data-action="preview"' not in html
    assert 'data-action="delete"' not in html


def test_viewer_search_does_not_reveal_text_through_highlights(client, viewer, make_transcription):
    make_transcription(transcription_text="Secret account number")
    html = page_for(client, viewer, q="secret").content.decode()
    assert "<mark>" not in html
    assert "Secret" not in html


def test_reviewer_sees_text_and_preview_but_no_delete(client, reviewer, make_transcription):
    t = make_transcription(transcription_text="Please cancel my subscription")
    html = page_for(client, reviewer).content.decode()
    assert "Please cancel my subscription" in html
    detail = reverse("transcriptions:detail", args=[t.sid])
    assert f'data-action="preview" href="{detail}"' in html
    assert f'hx-get="{detail}" hx-target="#preview"' in html
    assert 'data-action="delete"' not in html


def test_deleter_gets_a_delete_button_that_opens_the_confirmation(
    client, deleter, make_transcription
):
    t = make_transcription()
    html = page_for(client, deleter).content.decode()
    delete = reverse("transcriptions:delete", args=[t.sid])
    assert f'data-action="delete" href="{delete}"' in html
    assert f'hx-get="{delete}" hx-target="#modal"' in html
    assert 'id="modal"' in html


def test_audit_link_only_for_privacy_officers(client, reviewer, privacy_officer):
    audit = reverse("transcriptions:audit")
    assert f'href="{audit}"' not in page_for(client, reviewer).content.decode()
    assert f'href="{audit}"' in page_for(client, privacy_officer).content.decode()


# ---- Page, partial, history, Vary ----


def test_full_page_has_the_layout_the_row_hooks_and_the_filter_form(
    client, reviewer, make_transcription
):
    t = make_transcription()
    html = page_for(client, reviewer).content.decode()
    assert "<html" in html
    assert f'<tr data-sid="{t.sid}" id="transcription-{t.sid}">' in html
    assert '<aside id="preview"' in html
    assert 'id="messages"' in html
    assert 'hx-headers=\'{"x-csrftoken": "' in html
    assert '<form id="filters"' in html and 'method="get"' in html
    for name in ("q", "status", "recording", "date_from", "date_to", "sort", "per_page"):
        assert f'name="{name}"' in html
    assert 'hx-trigger="transcriptions-changed from:body"' in html
    # Shell commands are for those who run the server, not for the desk's users.
    assert "manage.py" not in html


def test_htmx_request_gets_only_the_results_with_facet_counts_out_of_band(
    client, reviewer, make_transcription
):
    t = make_transcription(status="failed", transcription_text="card declined")
    make_transcription(status="completed", transcription_text="all good")
    client.force_login(reviewer)
    response = client.get(LIST, {"q": "card"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="results"')
    assert "<html" not in body
    assert t.sid in body
    assert 'id="status-count-failed" hx-swap-oob="true">1<' in body
    assert 'id="status-count-completed" hx-swap-oob="true">0<' in body


def test_htmx_request_pushes_the_canonical_url(client, reviewer, make_transcription):
    make_transcription()
    client.force_login(reviewer)
    params = {"q": "thanks", "status": "", "recording": "", "date_from": "", "sort": "-created"}
    response = client.get(LIST, params, **HTMX)
    assert response["HX-Push-Url"] == "/?q=thanks"


def test_results_refreshing_themselves_do_not_push_a_url(client, reviewer, make_transcription):
    make_transcription()
    client.force_login(reviewer)
    response = client.get(LIST, {"q": "thanks"}, HTTP_HX_TRIGGER="results", **HTMX)
    assert response.status_code == 200
    assert "HX-Push-Url" not in response


def test_history_restore_gets_the_full_page(client, reviewer, make_transcription):
    make_transcription()
    client.force_login(reviewer)
    response = client.get(LIST, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in response.content.decode()


def test_responses_vary_on_hx_request(client, reviewer):
    client.force_login(reviewer)
    assert "HX-Request" in client.get(LIST)["Vary"]
    assert "HX-Request" in client.get(LIST, **HTMX)["Vary"]


# ---- Filters and sorts ----


def test_search_filters_rows_and_highlights_escaped_matches(client, reviewer, make_transcription):
    hit = make_transcription(transcription_text="I want a <b>refund</b> please")
    miss = make_transcription(transcription_text="I want a callback")
    response = page_for(client, reviewer, q="refund")
    html = response.content.decode()
    assert row_sids(response) == [hit.sid]
    assert miss.sid not in html
    assert "&lt;b&gt;<mark>refund</mark>&lt;/b&gt;" in html
    assert "<b>refund</b>" not in html


def test_script_in_text_is_shown_as_text(client, reviewer, make_transcription):
    make_transcription(transcription_text="<script>alert('pwned')</script> hello")
    html = page_for(client, reviewer).content.decode()
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in html


def test_status_filter_checks_the_boxes_and_shows_facet_counts(
    client, reviewer, make_transcription
):
    failed = make_transcription(status="failed")
    running = make_transcription(status="in-progress")
    make_transcription(status="completed")
    response = page_for(client, reviewer, status=["failed", "in-progress"])
    html = response.content.decode()
    assert set(row_sids(response)) == {failed.sid, running.sid}
    assert 'value="failed" id="id_status_failed" checked' in html
    assert 'value="completed" id="id_status_completed">' in html
    assert 'id="status-count-completed">1<' in html


def test_recording_filter_and_the_recording_link_that_applies_it(
    client, reviewer, make_transcription
):
    rec = "RE" + "ab" * 16
    a = make_transcription(recording_sid=rec)
    make_transcription()
    response = page_for(client, reviewer, recording=rec)
    assert row_sids(response) == [a.sid]
    assert f'href="/?recording={rec}"' in response.content.decode()


def test_recording_links_keep_the_other_filters_and_quote_odd_values(
    client, reviewer, make_transcription
):
    plain = make_transcription(recording_sid="RE" + "cd" * 16, transcription_text="call one")
    odd = make_transcription(recording_sid='RE"&x=<1>', transcription_text="call two")
    none = make_transcription(recording_sid="", transcription_text="call three")
    html = page_for(client, reviewer, q="call", sort="duration").content.decode()

    def link(sid: str) -> str:
        row = html[html.index(f'<tr data-sid="{sid}"') :]
        row = row[: row.index("</tr>")]
        return row.split('class="col-recording"><a class="sid" href="')[1].split('"')[0]

    assert link(plain.sid) == f"/?q=call&amp;recording={'RE' + 'cd' * 16}&amp;sort=duration"
    assert link(odd.sid) == "/?q=call&amp;recording=RE%22%26x%3D%3C1%3E&amp;sort=duration"
    assert link(none.sid) == "/?q=call&amp;sort=duration"
    assert 'title="Show only recording RE&quot;&amp;x=&lt;1&gt;"' in html


def test_recording_filter_accepts_upper_case_hex(client, reviewer, make_transcription):
    rec = "RE" + "ab" * 16
    a = make_transcription(recording_sid=rec)
    make_transcription()
    assert row_sids(page_for(client, reviewer, recording=rec.upper()[:2] + rec[2:].upper())) == [
        a.sid
    ]


def test_date_filters(client, reviewer, make_transcription):
    old = make_transcription(date_created=datetime(2024, 1, 5, 12, tzinfo=UTC))
    mid = make_transcription(date_created=datetime(2024, 2, 5, 12, tzinfo=UTC))
    make_transcription(date_created=datetime(2024, 3, 5, 12, tzinfo=UTC))
    response = page_for(client, reviewer, date_from="2024-01-01", date_to="2024-02-05")
    assert row_sids(response) == [mid.sid, old.sid]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-created", "cba"),
        ("created", "abc"),
        ("duration", "bca"),
        ("-duration", "acb"),
        ("status", "cba"),
        ("-status", "abc"),
    ],
)
def test_every_sort(client, reviewer, make_transcription, sort, expected):
    base = datetime(2024, 1, 1, tzinfo=UTC)
    rows = {
        make_transcription(status="in-progress", duration=90, date_created=base).sid: "a",
        make_transcription(status="failed", duration=10, date_created=base + timedelta(1)).sid: "b",
        make_transcription(
            status="completed", duration=50, date_created=base + timedelta(2)
        ).sid: "c",
    }
    response = page_for(client, reviewer, sort=sort)
    assert "".join(rows[s] for s in row_sids(response)) == expected


def test_sort_headers_link_to_the_other_direction(client, reviewer, make_transcription):
    make_transcription()
    html = page_for(client, reviewer, sort="duration").content.decode()
    assert 'aria-sort="ascending"><a href="/?sort=-duration"' in html
    assert 'aria-sort="none"><a href="/?sort=status"' in html


def href(html: str, rel: str) -> str:
    """The target of the pager link `rel` (prev, next) or data-page (first, last), unescaped."""
    attr = f'rel="{rel}"' if rel in ("prev", "next") else f'data-page="{rel}"'
    match = re.search(attr + r' href="([^"]+)" hx-get="\1"', html)
    assert match, f"no {rel} link"
    return match.group(1).replace("&amp;", "&")


def test_page_size_and_keyset_pager_links(client, reviewer, make_transcription):
    newest_first = [make_transcription().sid for _ in range(60)]  # each older than the last
    client.force_login(reviewer)
    response = client.get(LIST, {"per_page": "50"})
    html = response.content.decode()
    assert row_sids(response) == newest_first[:50]
    assert "<strong>60</strong> transcriptions" in html
    assert 'rel="prev"' not in html and 'data-page="first"' not in html
    assert "Rows 1–50</p>" in html
    next_url = href(html, "next")
    assert next_url.startswith("/?per_page=50&after=") and next_url.endswith("&start=51")

    second = client.get(next_url)
    assert row_sids(second) == newest_first[50:]
    second_html = second.content.decode()
    assert "Rows 51–60</p>" in second_html
    assert 'rel="next"' not in second_html and 'data-page="last"' not in second_html
    assert href(second_html, "first") == "/?per_page=50"
    back = client.get(href(second_html, "prev"))
    assert row_sids(back) == newest_first[:50]
    assert "Rows 1–50</p>" in back.content.decode()

    last = client.get(href(html, "last"))
    assert row_sids(last) == newest_first[-50:]
    assert 'rel="next"' not in last.content.decode()
    # The last page's place comes from the exact count; a hand-made start is only believed
    # where a cursor leaves the place unknown.
    assert "Rows 11–60</p>" in last.content.decode()
    assert "Rows 1–50</p>" in client.get(LIST, {"per_page": "50", "start": "7"}).content.decode()
    nonsense = client.get(next_url.replace("start=51", "start=-3x")).content.decode()
    assert "data-result-position" not in nonsense


def test_pager_pushes_the_cursor_url_and_the_refresh_keeps_the_page(
    client, reviewer, make_transcription
):
    for _ in range(30):
        make_transcription()
    client.force_login(reviewer)
    next_url = href(client.get(LIST).content.decode(), "next")
    cursor = next_url.split("after=")[1].split("&")[0]
    response = client.get(next_url, **HTMX)
    assert response["HX-Push-Url"] == next_url
    # The results refresh themselves (after a delete) with the cursor of the page shown, and
    # its place in the list.
    assert f'<input type="hidden" name="after" value="{cursor}">' in response.content.decode()
    assert '<input type="hidden" name="start" value="26">' in response.content.decode()


@pytest.mark.parametrize(
    "sort", ["-created", "created", "duration", "-duration", "status", "-status"]
)
@pytest.mark.parametrize(
    "way", ["search", "search by index walks", "search by probes", "no search"]
)
def test_paging_through_a_filtered_set_while_rows_come_and_go(
    client, reviewer, make_transcription, monkeypatch, sort, way
):
    """No row is skipped or shown twice when rows are deleted or added between page loads:
    each page starts from the sort key of the last row seen, not from a row number.

    On SQLite a search with few matches is ordered in Python and one with many by index
    walks, checking each row against the set of matches or looking it up in the word index;
    the "by index walks" and "by probes" ways make every search take those ways."""
    if way in ("search by index walks", "search by probes"):
        monkeypatch.setattr(planner, "FEW_MATCHES", 0)
    if way == "search by probes":
        monkeypatch.setattr(planner, "_probe_chosen", lambda query: True)
    base = datetime(2024, 6, 1, tzinfo=UTC)
    statuses = ("completed", "failed", "in-progress")
    matching = []
    for i in range(80):
        t = make_transcription(
            transcription_text=f"refund request {i}" if i % 4 else f"other call {i}",
            status=statuses[i % 3],
            duration=None if i % 7 == 0 else i % 5,
            # Some share a creation time, so the id breaks ties.
            date_created=base + timedelta(minutes=i // 2),
        )
        if (i % 4 or way == "no search") and t.status != "in-progress":
            matching.append(t.sid)
    client.force_login(reviewer)
    params = {"q": "refund", "status": ["completed", "failed"], "sort": sort}
    if way == "no search":
        del params["q"]
    seen: list[str] = []
    deleted: set[str] = set()
    url = LIST
    response = client.get(url, params)
    for round_ in range(20):
        page = row_sids(response)
        assert len(page) <= 25
        seen += page
        html = response.content.decode()
        if 'rel="next"' not in html:
            break
        url = href(html, "next")
        # Between two page loads: the last row seen and a row not yet seen go away, and
        # new matching rows arrive (newest, oldest, longest, shortest).
        gone_seen = page[-1]
        unseen = [s for s in matching if s not in seen and s not in deleted]
        gone_unseen = unseen[len(unseen) // 2]
        Transcription.objects.filter(sid__in=[gone_seen, gone_unseen]).delete()
        deleted |= {gone_seen, gone_unseen}
        make_transcription(
            transcription_text="refund late",
            status="failed",
            duration=99,
            date_created=base + timedelta(days=30 + round_),
        )
        make_transcription(
            transcription_text="refund early",
            status="completed",
            duration=0,
            date_created=base - timedelta(days=30 + round_),
        )
        response = client.get(url)
    assert len(seen) == len(set(seen)), "a row was shown twice"
    # Every original match is seen unless it was deleted before its page came.
    missing = set(matching) - set(seen) - deleted
    assert not missing, f"rows skipped: {missing}"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "W10",  # base64 of "[]"
        "WyItY3JlYXRlZCIsIG51bGwsICJub3QgYSBkYXRlIiwgMV0",  # a cursor with a bad date
        "x" * 500,
    ],
)
def test_a_bad_cursor_is_ignored_with_a_message(client, reviewer, make_transcription, cursor):
    rows = [make_transcription() for _ in range(3)]
    for params in ({"after": cursor}, {"before": cursor}):
        for htmx in ({}, HTMX):
            client.force_login(reviewer)
            response = client.get(LIST, params, **htmx)
            assert response.status_code == 200
            html = response.content.decode()
            assert "That page link is not valid" in html
            assert set(row_sids(response)) == {t.sid for t in rows}


def test_a_cursor_of_another_sort_is_ignored(client, reviewer, make_transcription):
    for _ in range(30):
        make_transcription()
    client.force_login(reviewer)
    next_url = href(client.get(LIST, {"sort": "duration"}).content.decode(), "next")
    cursor = next_url.split("after=")[1].split("&")[0]
    response = client.get(LIST, {"sort": "created", "after": cursor})
    assert response.status_code == 200
    assert "That page link is not valid" in response.content.decode()


def test_the_old_page_parameter_is_harmless(client, reviewer, make_transcription):
    for _ in range(30):
        make_transcription()
    for value in ("999", "abc", "-1"):
        response = page_for(client, reviewer, page=value)
        assert response.status_code == 200
        assert len(row_sids(response)) == 25


def _completed_rows(count: int, *, text: str) -> None:
    """`count` completed rows in one statement, one second apart, newest first."""
    now = datetime.now(UTC)
    Transcription.objects.bulk_create(
        Transcription(
            sid=f"TR{i:032x}",
            account_sid="AC" + "1" * 32,
            recording_sid=f"RE{i:032x}",
            status="completed",
            transcription_text=text,
            duration=1,
            date_created=now - timedelta(seconds=i),
            date_updated=now,
            synced_at=now,
        )
        for i in range(count)
    )


def test_large_counts_are_capped_and_shown_as_such(client, reviewer):
    _completed_rows(1100, text="warranty question")
    html = page_for(client, reviewer, q="warranty").content.decode()
    assert "<strong>1,000+</strong> transcriptions match" in html
    assert 'id="status-count-completed">1,000+<' in html
    assert "Counted up to 1,000+" in html
    # Without a filter the total is exact: the database keeps it.
    assert "<strong>1,100</strong> transcriptions" in page_for(client, reviewer).content.decode()


def test_counts_use_thousands_separators(client, reviewer):
    _completed_rows(1234, text="x")
    html = page_for(client, reviewer).content.decode()
    assert "<strong>1,234</strong> transcriptions" in html


# ---- Bad input ----


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": ["failed", "bogus"]}, "Unknown status “bogus” ignored."),
        ({"recording": "REnot-a-sid"}, "Not a recording SID"),
        ({"recording": "TR" + "a" * 32}, "Not a recording SID"),
        ({"date_from": "2024-13-45"}, "Not a date (use YYYY-MM-DD); start date ignored."),
        ({"date_to": "yesterday"}, "Not a date (use YYYY-MM-DD); end date ignored."),
        (
            {"date_from": "2024-02-01", "date_to": "2024-01-01"},
            "The end date is before the start date",
        ),
        ({"per_page": str(10**9)}, "Page size “1000000000” is not offered"),
        ({"sort": "password"}, "Unknown sort “password”"),
        ({"q": "x" * 500}, "Ensure this value has at most 200 characters"),
    ],
)
def test_bad_input_is_reported_and_ignored_never_a_500(
    client, reviewer, make_transcription, params, message
):
    failed = make_transcription(status="failed")
    other = make_transcription(status="completed")
    for htmx in ({}, HTMX):
        client.force_login(reviewer)
        response = client.get(LIST, params, **htmx)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Some filters were ignored" in html
        assert message in html
        expected = {failed.sid} if params.get("status") else {failed.sid, other.sid}
        assert set(row_sids(response)) == expected


# ---- Empty states ----


def test_never_synced_empty_state(client, reviewer, viewer, django_user_model):
    html = page_for(client, reviewer).content.decode()
    assert "Never synced." in html
    assert "it has never been synced" in html
    assert 'use "Sync now" above' in html and "manage.py" not in html
    html = page_for(client, viewer).content.decode()
    assert "which an administrator starts" in html and "manage.py" not in html
    admin = django_user_model.objects.create_superuser(username="root", password="pw-root")
    html = page_for(client, admin).content.decode()
    assert "python manage.py sync_transcriptions" in html


def test_synced_but_empty_account(client, reviewer):
    SyncRun.objects.create(state=SyncRun.State.SUCCEEDED, started_at=datetime.now(UTC))
    html = page_for(client, reviewer).content.decode()
    assert "No transcriptions in the account" in html
    assert "Synced" in html


def test_no_results_offers_to_clear_the_filters(client, reviewer, make_transcription):
    make_transcription(transcription_text="hello")
    html = page_for(client, reviewer, q="zebra").content.decode()
    assert "No transcriptions match these filters" in html
    assert f'href="{LIST}" data-clear-filters>Clear filters</a>' in html


def test_status_bar_shows_a_failed_sync_and_the_last_good_one(client, reviewer, make_transcription):
    make_transcription(status="failed")
    now = datetime.now(UTC)
    SyncRun.objects.create(state=SyncRun.State.SUCCEEDED, started_at=now - timedelta(days=1))
    SyncRun.objects.create(
        state=SyncRun.State.FAILED, started_at=now, error_message="Twilio could not be reached"
    )
    html = page_for(client, reviewer).content.decode()
    assert "Last sync failed" in html
    assert "Twilio could not be reached" in html
    assert "Last good sync" in html
    assert 'href="?status=failed"' in html


# ---- Query count ----


@pytest.mark.parametrize("per_page", ["25", "100"])
def test_query_count_does_not_grow_with_the_page_size(
    client, deleter, make_transcription, django_assert_max_num_queries, per_page
):
    for i in range(120):
        make_transcription(status=("failed", "completed")[i % 2])
    SyncRun.objects.create(state=SyncRun.State.FAILED, started_at=datetime.now(UTC))
    client.force_login(deleter)
    # Session, user, permissions (2), last run, last good run, totals, facets, count, page;
    # the words a prefix starts (as on SQLite); on PostgreSQL also the planner's estimate and
    # the word index read in a savepoint with its own planner setting (3); the audit of what
    # the page showed: the search (2) and the snippets seen (3); the newest row's id, from
    # which the page asks what arrived since (1); the bulk deletions under way, shown to those
    # who may delete (1).
    with django_assert_max_num_queries(22):
        response = client.get(LIST, {"per_page": per_page, "q": "thanks", "status": "failed"})
    assert len(row_sids(response)) == min(int(per_page), 60)
    with django_assert_max_num_queries(15):
        client.get(LIST, {"per_page": per_page}, **HTMX)


# ---- Counts left to a second request ----


def test_counts_too_costly_for_the_page_come_in_a_second_request(
    client, reviewer, make_transcription, monkeypatch
):
    """When the search matches too many rows to count within the page's time, the page
    comes without its counts; htmx asks for them aimed at #result-counts, and without JS
    the link shows the page again, counted."""
    for i in range(4):
        make_transcription(transcription_text=f"warranty claim {i}", status="failed")
    make_transcription(transcription_text="warranty again", status="completed")
    make_transcription(transcription_text="unrelated")
    # As with a frequent word at a million rows.
    monkeypatch.setattr(planner, "FEW_MATCHES", 0)
    monkeypatch.setattr(planner, "_many_matches", lambda query: True)

    html = page_for(client, reviewer, q="warranty").content.decode()
    assert len(re.findall(r'<tr data-sid="', html)) == 5
    assert "data-counts-pending" in html
    assert "transcriptions match" not in html
    assert 'id="status-count-failed"></span>' in html
    counts_url = re.search(r'href="([^"]*counts=1[^"]*)" hx-get="\1"', html).group(1)
    assert 'hx-target="#result-counts"' in html

    partial = client.get(LIST, {"q": "warranty"}, **HTMX).content.decode()
    assert "data-counts-pending" in partial
    assert 'id="status-count-failed" hx-swap-oob="true"></span>' in partial

    counts = client.get(
        counts_url.replace("&amp;", "&"), **HTMX, HTTP_HX_TARGET="result-counts"
    ).content.decode()
    assert counts.lstrip().startswith('<div class="result-counts" id="result-counts">')
    assert "<strong>5</strong> transcriptions match" in counts
    assert 'id="status-count-failed" hx-swap-oob="true">4<' in counts
    assert 'id="status-count-completed" hx-swap-oob="true">1<' in counts
    assert "<tr" not in counts

    # Without JS: the whole page, counted.
    counted = client.get(counts_url.replace("&amp;", "&")).content.decode()
    assert "<strong>5</strong> transcriptions match" in counted
    assert 'id="status-count-failed">4<' in counted
    assert "data-counts-pending" not in counted
    assert len(re.findall(r'<tr data-sid="', counted)) == 5


def test_cheap_counts_stay_in_the_page(client, reviewer, make_transcription):
    make_transcription(transcription_text="warranty claim", status="failed")
    html = page_for(client, reviewer, q="warranty").content.decode()
    assert "data-counts-pending" not in html
    assert "<strong>1</strong> transcription match" in html


# ---- Cells formatted by the view ----


def test_row_cells_read_as_the_template_filters_would_write_them(settings, make_transcription):
    """The view formats the dates and the price of each row (for speed); they must read
    exactly as Django's `date` and `floatformat` filters write them."""
    from decimal import Decimal

    from django.template import Context, Template

    from transcriptions.table import TableRow

    settings.TIME_ZONE = "America/New_York"
    template = Template(
        "{{ t.date_created|date:'c' }}|{{ t.date_created|date:'r' }}|"
        "{{ t.date_created|date:'Y-m-d H:i' }}|{{ t.price|floatformat:4 }}"
    )
    prices = ["-0.05000", "-0.00125", "0.00005", "-0.00004", "12.34565", "0", "-1.99999"]
    for i, price in enumerate(prices):
        t = make_transcription(
            price=Decimal(price),
            date_created=datetime(2026, 1 + i, 3, 4, 5, 6, 789000 * (i % 2), tzinfo=UTC),
        )
        t.refresh_from_db()
        row = TableRow.of(t, snippet=None, recording_url="", detail_url="", delete_url="")
        expected = template.render(Context({"t": t}))
        assert (
            f"{row.created_iso}|{row.created_rfc}|{row.created_text}|"
            f"{row.price_text.removesuffix(' USD')}" == expected
        ), price


def test_date_presets_set_the_creation_dates_and_keep_the_other_filters(
    client, reviewer, make_transcription
):
    from django.utils import timezone

    today = timezone.localdate()
    recent = make_transcription(date_created=timezone.now() - timedelta(days=2))
    old = make_transcription(date_created=timezone.now() - timedelta(days=40))
    html = page_for(client, reviewer, status="completed").content.decode()
    week = f"date_from={(today - timedelta(days=6)).isoformat()}&amp;date_to={today.isoformat()}"
    assert f'href="/?status=completed&amp;{week}">Last 7 days</a>' in html
    assert f"date_from={today.replace(day=1).isoformat()}" in html
    assert "Created <span" in html and "(UTC)" in html
    shown = page_for(
        client,
        reviewer,
        date_from=(today - timedelta(days=6)).isoformat(),
        date_to=today.isoformat(),
    ).content.decode()
    assert recent.sid in shown and old.sid not in shown
    assert 'aria-current="true">Last 7 days' in shown
