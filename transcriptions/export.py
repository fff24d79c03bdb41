"""CSV export of the table's rows: streamed in chunks, so memory stays flat at any size.

The audit event is written when the stream ends (or is cut off), because only then is the number
of rows actually sent known; counting first would cost a second pass over a possibly large,
searched set and could still disagree with what was streamed while a sync runs.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.utils import timezone

from .audit import Actor, audit_record
from .models import AuditEvent, Transcription
from .table import TableFilters

CHUNK_SIZE = 2000

# (CSV header, model field) in column order; the text column is added for readers only.
METADATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("date_created", "date_created"),
    ("sid", "sid"),
    ("recording_sid", "recording_sid"),
    ("status", "status"),
    ("duration", "duration"),
    ("price", "price"),
    ("price_unit", "price_unit"),
    ("type", "type"),
    ("date_updated", "date_updated"),
    ("account_sid", "account_sid"),
)
TEXT_COLUMN = ("transcription_text", "transcription_text")

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection");
# tab and carriage return are included because some spreadsheets strip them first.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """A text cell a spreadsheet will show as text: a leading apostrophe before a cell that
    would otherwise start a formula, also after leading spaces or other blanks, which some
    spreadsheets skip before they look for the formula."""
    stripped = value.lstrip(" \t\r\n\x0b\x0c\u00a0")
    if value.startswith(_FORMULA_PREFIXES) or stripped.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def filter_description(filters: TableFilters) -> str:
    """The filters of an export for its audit event, without the search box's words (they
    can be personal data: a name, a card number): only that there was a search."""
    query = urlencode(filters.params(per_page=None, q=None))
    parts = [f"filter: {query}" if query else "filter: none"]
    if filters.search:
        parts.append("with a text search (its words are not recorded)")
    elif not query:
        parts[0] = "filter: none (all rows)"
    return ", ".join(parts)


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, (int, Decimal)):
        # Numbers are written as numbers: a negative price is data, not a formula.
        return value
    return csv_safe(str(value))


class _Line:
    """A file-like object whose write returns what was written, so csv.writer makes lines
    that are handed straight to the response instead of being buffered."""

    def write(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class ExportColumns:
    headers: tuple[str, ...]
    fields: tuple[str, ...]


def export_columns(*, with_text: bool) -> ExportColumns:
    """The columns of an export: metadata, and the transcript text only when `with_text`."""
    columns = METADATA_COLUMNS + ((TEXT_COLUMN,) if with_text else ())
    return ExportColumns(headers=tuple(h for h, _ in columns), fields=tuple(f for _, f in columns))


def export_filename(*, now: datetime | None = None) -> str:
    """`transcriptions-YYYY-MM-DD.csv`, dated in the TIME_ZONE setting."""
    return f"transcriptions-{timezone.localtime(now or timezone.now()):%Y-%m-%d}.csv"


def transcriptions_csv_stream(
    *,
    rows: QuerySet[Transcription],
    with_text: bool,
    user: Actor,
    filter_description: str,
) -> Iterator[str]:
    """Yield the CSV of `rows` (in the queryset's own order) line by line, reading the
    database in chunks of CHUNK_SIZE; the text column only when `with_text`.

    When the stream ends, complete or cut off by the client, one "exported" audit event
    records the filter and the number of rows sent."""
    columns = export_columns(with_text=with_text)
    writer = csv.writer(_Line())
    sent = 0
    complete = False
    try:
        yield writer.writerow(columns.headers)
        for values in rows.values_list(*columns.fields).iterator(chunk_size=CHUNK_SIZE):
            line = writer.writerow([_cell(v) for v in values])
            sent += 1  # counted once handed to the server, whether or not the client reads it
            yield line
        complete = True
    finally:
        content = "metadata and text" if with_text else "metadata only"
        ending = "" if complete else ", stopped before the end"
        rows_sent = f"{sent} row{'' if sent == 1 else 's'}"
        audit_record(
            user=user,
            action=AuditEvent.Action.EXPORTED,
            outcome=f"{rows_sent} ({content}{ending}); {filter_description}",
        )
