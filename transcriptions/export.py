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

from .audit import Actor, audit_batch
from .csv_lines import CsvLine, csv_safe
from .models import AuditEvent, Transcription
from .personal_data import masked_text
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


def filter_description(filters: TableFilters) -> str:
    """The filters of an export for its audit event, without the search box's words (they
    can be personal data: a name, a card number): only that there was a search."""
    query = urlencode(filters.params(per_page=None, q=None, mentions_token=None))
    parts = [f"filter: {query}" if query else "filter: none"]
    if filters.search:
        parts.append("with a text search (its words are not recorded)")
    if filters.mentions:
        parts.append(f"mentions {filters.mentions.label}")
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
    reveal: bool = False,
) -> Iterator[str]:
    """Yield the CSV of `rows` (in the queryset's own order) line by line, reading the
    database in chunks of CHUNK_SIZE; the text column only when `with_text`, its personal
    data masked unless `reveal`.

    Each row whose text was sent is audited as an item of the export's batch, as it is
    sent; when the stream ends, complete or cut off by the client, the batch's head event
    records the filter and the number of rows sent."""
    columns = export_columns(with_text=with_text)
    fields = columns.fields + (("recording_sid", "personal_data_found") if with_text else ())
    writer = csv.writer(CsvLine())
    sent = 0
    complete = False
    batch = ""
    seen: list[tuple[str, str]] = []
    text_at = len(columns.fields) - 1
    try:
        yield writer.writerow(columns.headers)
        for values in rows.values_list(*fields).iterator(chunk_size=CHUNK_SIZE):
            cells = list(values[: len(columns.fields)])
            if with_text:
                recording_sid, found = values[-2:]
                if cells[text_at] is not None:
                    if not reveal:
                        cells[text_at] = masked_text(cells[text_at], found)
                    seen.append((values[1], recording_sid))
            line = writer.writerow([_cell(v) for v in cells])
            sent += 1  # counted once handed to the server, whether or not the client reads it
            if len(seen) >= CHUNK_SIZE:
                batch = audit_batch(
                    user=user,
                    action=AuditEvent.Action.EXPORTED,
                    items=seen,
                    batch=batch,
                    head=False,
                )
                seen = []
            yield line
        complete = True
    finally:
        if seen:
            batch = audit_batch(
                user=user, action=AuditEvent.Action.EXPORTED, items=seen, batch=batch, head=False
            )
        content = "metadata only"
        if with_text:
            content = "metadata and text" + ("" if reveal else ", personal data masked")
        ending = "" if complete else ", stopped before the end"
        rows_sent = f"{sent} row{'' if sent == 1 else 's'}"
        audit_batch(
            user=user,
            action=AuditEvent.Action.EXPORTED,
            items=[],
            batch=batch,
            outcome=f"{rows_sent} ({content}{ending}); {filter_description}",
        )
