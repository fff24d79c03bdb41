"""CSV export of the table's current filter: content, columns by permission, the formula guard,
streaming, and the audit event."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from transcriptions import export
from transcriptions.export import METADATA_COLUMNS, csv_safe
from transcriptions.models import AuditEvent
from transcriptions.table import TableFilters, transcription_list

pytestmark = pytest.mark.django_db

URL = reverse("transcriptions:export")
METADATA_HEADER = [h for h, _ in METADATA_COLUMNS]


def read_csv(response) -> list[list[str]]:
    """The whole body, read the way a streaming client reads it: chunk by chunk."""
    assert response.streaming is True
    body = "".join(
        chunk.decode() if isinstance(chunk, bytes) else chunk
        for chunk in response.streaming_content
    )
    return list(csv.reader(io.StringIO(body, newline="")))


@pytest.fixture
def rows(make_transcription):
    base = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    return [
        make_transcription(
            status="failed", date_created=base, transcription_text="The refund failed twice."
        ),
        make_transcription(
            status="completed",
            date_created=base - timedelta(days=1),
            transcription_text="Customer asked about a refund.",
            duration=None,
            price=None,
        ),
        make_transcription(
            status="failed",
            date_created=base - timedelta(days=2),
            transcription_text="Line dropped.",
        ),
        make_transcription(
            status="in-progress", date_created=base - timedelta(days=3), transcription_text=None
        ),
    ]


def test_export_has_the_header_and_exactly_the_filtered_rows_in_table_order(client, reviewer, rows):
    client.force_login(reviewer)
    response = client.get(URL, {"status": "failed", "sort": "created"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    table = read_csv(response)
    assert table[0] == [*METADATA_HEADER, "transcription_text"]
    expected = list(
        transcription_list(filters=TableFilters(statuses=["failed"], sort="created")).values_list(
            "sid", flat=True
        )
    )
    assert [r[1] for r in table[1:]] == expected == [rows[2].sid, rows[0].sid]


def test_export_row_values(client, reviewer, rows, settings):
    settings.TIME_ZONE = "America/New_York"
    client.force_login(reviewer)
    table = read_csv(client.get(URL, {"q": "refund", "sort": "created"}))
    by_sid = {r[1]: dict(zip(table[0], r, strict=True)) for r in table[1:]}
    assert set(by_sid) == {rows[0].sid, rows[1].sid}
    first = by_sid[rows[0].sid]
    # Dates in the TIME_ZONE setting, with their offset.
    assert first["date_created"] == "2026-03-10T08:00:00-04:00"
    assert first["recording_sid"] == rows[0].recording_sid
    assert first["status"] == "failed"
    assert first["duration"] == "30"
    # A negative price is a number, not a formula: no apostrophe.
    assert first["price"] == "-0.05000"
    assert first["transcription_text"] == "The refund failed twice."
    second = by_sid[rows[1].sid]
    assert second["duration"] == "" and second["price"] == ""


def test_export_without_filters_has_every_row(client, viewer, rows):
    client.force_login(viewer)
    table = read_csv(client.get(URL))
    assert {r[1] for r in table[1:]} == {r.sid for r in rows}


def test_export_leaves_out_the_text_column_for_users_who_cannot_read_text(client, viewer, rows):
    client.force_login(viewer)
    table = read_csv(client.get(URL, {"q": "refund"}))
    assert table[0] == METADATA_HEADER
    body = "\n".join(",".join(r) for r in table)
    assert "refund" not in body.lower().replace("q=refund", "")
    assert all(len(r) == len(METADATA_HEADER) for r in table)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('=HYPERLINK("http://x","click")', '\'=HYPERLINK("http://x","click")'),
        ("+1 555 0100", "'+1 555 0100"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tstarts with a tab", "'\tstarts with a tab"),
        ("Plain words = fine", "Plain words = fine"),
    ],
)
def test_export_guards_text_cells_against_formulas(
    client, reviewer, make_transcription, text, expected
):
    make_transcription(transcription_text=text)
    client.force_login(reviewer)
    table = read_csv(client.get(URL))
    assert table[1][-1] == expected


def test_csv_safe_prefixes_only_formula_starts():
    assert csv_safe("=1") == "'=1"
    # Spreadsheets skip leading blanks before they look for a formula.
    assert csv_safe(" =HYPERLINK(1)") == "' =HYPERLINK(1)"
    assert csv_safe("\u00a0 +1") == "'\u00a0 +1"
    assert csv_safe("   ") == "   "
    assert csv_safe("a=1") == "a=1"
    assert csv_safe("") == ""


def test_export_streams_in_chunks_across_chunk_boundaries(
    client, reviewer, make_transcription, monkeypatch
):
    monkeypatch.setattr(export, "CHUNK_SIZE", 3)
    made = [make_transcription() for _ in range(8)]
    client.force_login(reviewer)
    response = client.get(URL)
    assert response.streaming is True
    chunks = list(response.streaming_content)
    # One chunk per line: the header, then each row as the database hands it over.
    assert len(chunks) == 1 + len(made)
    table = list(csv.reader(io.StringIO(b"".join(chunks).decode(), newline="")))
    assert [r[1] for r in table[1:]] == [t.sid for t in made]


def test_export_is_audited_with_its_filter_and_row_count_when_the_stream_ends(
    client, reviewer, rows
):
    client.force_login(reviewer)
    response = client.get(URL, {"status": "failed", "q": "refund", "page": "3"})
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORTED).exists()
    read_csv(response)
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORTED, in_batch=False)
    assert event.user == reviewer
    # The search words can be personal data: the trail says there was a search, not what.
    assert event.outcome == (
        "1 row (metadata and text, personal data masked); filter: status=failed, "
        "with a text search (its words are not recorded)"
    )
    assert "refund" not in event.outcome


def test_export_audit_says_metadata_only_for_viewers_and_names_an_empty_filter(
    client, viewer, rows
):
    client.force_login(viewer)
    read_csv(client.get(URL))
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORTED, in_batch=False)
    assert event.outcome == "4 rows (metadata only); filter: none (all rows)"


def test_an_export_cut_off_by_the_client_is_audited_with_the_rows_sent(reviewer, rows):
    # What a WSGI server does when the client goes away: it closes the response, which closes
    # the stream. (Driven directly: the test client's own wrapper re-arms the handler that
    # closes the test's database connection on request_finished.)
    stream = export.transcriptions_csv_stream(
        rows=transcription_list(filters=TableFilters()),
        with_text=True,
        user=reviewer,
        filter_description="filter: none (all rows)",
    )
    next(stream)  # header
    next(stream)  # first row
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORTED).exists()
    stream.close()
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORTED, in_batch=False)
    assert event.outcome == (
        "1 row (metadata and text, personal data masked, stopped before the end); "
        "filter: none (all rows)"
    )
    assert event.user == reviewer


def test_export_filename_carries_the_date_and_the_response_is_not_cached(client, viewer, rows):
    client.force_login(viewer)
    response = client.get(URL)
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (f'attachment; filename="transcriptions-{today}.csv"')
    assert "no-store" in response["Cache-Control"]
    read_csv(response)


def test_export_ignores_invalid_filters_like_the_table(client, viewer, rows):
    client.force_login(viewer)
    response = client.get(
        URL, {"status": ["failed", "<bogus>"], "date_from": "yesterday", "recording": "nope"}
    )
    assert response.status_code == 200
    table = read_csv(response)
    assert {r[1] for r in table[1:]} == {rows[0].sid, rows[2].sid}


def test_export_of_an_empty_cache_is_just_the_header(client, viewer):
    client.force_login(viewer)
    assert read_csv(client.get(URL)) == [METADATA_HEADER]


def test_export_needs_login_and_the_table_permission(client, nobody, rows):
    response = client.get(URL)
    assert response.status_code == 302 and reverse("login") in response["Location"]
    client.force_login(nobody)
    assert client.get(URL).status_code == 403
    assert client.post(URL).status_code in (403, 405)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORTED).exists()


def test_table_links_to_the_export_of_its_current_filter(client, viewer, rows):
    client.force_login(viewer)
    html = client.get(
        reverse("transcriptions:list"), {"status": "failed", "q": "refund", "per_page": "50"}
    ).content.decode()
    match = re.search(r'href="([^"]*)"[^>]*data-action="export-csv"', html)
    assert match, "no Export CSV link"
    href = match.group(1).replace("&amp;", "&")
    assert href.startswith(URL + "?")
    assert "status=failed" in href and "q=refund" in href and "per_page" not in href


def test_decimal_and_datetime_cells_are_written_as_values():
    assert export._cell(Decimal("-0.05000")) == Decimal("-0.05000")
    assert export._cell(None) == ""
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert export._cell(when) == timezone.localtime(when).isoformat()
