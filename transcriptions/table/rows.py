"""The table's rows as HTML, and the text snippet each shows.

The rows are written here rather than through template nodes: fifty rows of a dozen cells
through the template engine were about half of a page's time (`bench/table_at_scale.py`)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from email.utils import format_datetime
from urllib.parse import quote_plus

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from ..models import Transcription
from ..personal_data import SHORT_LABELS, Kind, kinds_of, masked_text
from .filters import TableFilters
from .terms import match_regex, parse_search

SID_PLACEHOLDER = "TR" + "0" * 32
RECORDING_PLACEHOLDER = "RE" + "0" * 32


@dataclass(frozen=True)
class TableRow:
    """One row of the table, its cells formatted here: a template lookup or filter costs
    microseconds, and fifty rows of a dozen cells made up most of the page's time.
    `snippet` is None when the user may not read transcript text."""

    transcription: Transcription
    snippet: SafeString | None
    recording_url: str
    detail_url: str
    delete_url: str
    created_iso: str  # as the `date:"c"` filter, `date:"r"`, and shown
    created_rfc: str
    created_text: str
    status_label: str
    price_text: str | None  # as `floatformat:4`, with the unit

    @classmethod
    def of(
        cls,
        t: Transcription,
        *,
        snippet: SafeString | None,
        recording_url: str,
        detail_url: str,
        delete_url: str,
    ) -> TableRow:
        created = timezone.localtime(t.date_created)
        return cls(
            transcription=t,
            snippet=snippet,
            recording_url=recording_url,
            detail_url=detail_url,
            delete_url=delete_url,
            created_iso=created.isoformat(),
            created_rfc=format_datetime(created),
            created_text=created.strftime("%Y-%m-%d %H:%M"),
            status_label=t.get_status_display(),
            price_text=None if t.price is None else f"{_price_text(t.price)} {t.price_unit}",
        )


# The table's row, written here rather than in the template: through template nodes, fifty
# rows of a dozen cells were about half of a page's time (`bench/table_at_scale.py`).
_ROW_HTML = (
    '<tr data-sid="{sid}" id="transcription-{sid}">{select}'
    '<td class="col-created"><time datetime="{created_iso}" title="{created_rfc}">'
    "{created_text}</time></td>"
    # The SID is cut short to fit; the button copies all of it (app.js, [data-copy]).
    '<td class="col-sid"><span class="sid" title="{sid}">{sid}</span>'
    '<button type="button" class="copy-button" data-copy="{sid}" aria-label="Copy {sid}" '
    'title="Copy the SID">{copy_icon}</button></td>'
    # A plain link: applying the recording filter reloads the page, so the form shows it.
    '<td class="col-recording"><a class="sid" href="{recording_url}" '
    'title="Show only recording {recording}">{recording}</a></td>'
    '<td class="col-status"><span class="badge badge-{status}" id="status-{sid}">'
    "{status_label}</span></td>"
    '<td class="col-duration num">{duration}</td>'
    '<td class="col-price num">{price}</td>'
    '<td class="col-text">{badges}{text}</td>'
    '<td class="col-actions">{preview}{delete}</td>'
    "</tr>"
)
_ROW_SELECT_HTML = (
    '<td class="col-select"><input type="checkbox" name="sid" value="{sid}" form="bulk-form" '
    'data-bulk-select aria-label="Select {sid}"></td>'
)
# href for no-JS; htmx puts the detail page's preview partial beside the table.
_ROW_PREVIEW_HTML = (
    '<a class="button button-small" data-action="preview" href="{url}" hx-get="{url}" '
    'hx-target="#preview" hx-swap="innerHTML" aria-label="Preview {sid}">Preview</a>'
)
# The confirmation comes into #modal; without JS the link opens the confirmation page.
_ROW_DELETE_HTML = (
    '<a class="button button-small button-danger-quiet" data-action="delete" href="{url}" '
    'hx-get="{url}" hx-target="#modal" hx-swap="innerHTML" aria-label="Delete {sid}">Delete</a>'
)
_MUTED_DASH = mark_safe('<span class="muted">—</span>')
_TEXT_HIDDEN = mark_safe(
    '<span class="muted text-hidden" title="Reading transcript text needs the Reviewers role">'
    "hidden</span>"
)
_TEXT_NOT_CACHED = mark_safe('<span class="muted">not cached yet</span>')
# Twilio has no text for these: nothing to cache, nothing to fetch.
_TEXT_NONE = {
    "failed": mark_safe('<span class="muted">no text (failed)</span>'),
    "in-progress": mark_safe('<span class="muted">not transcribed yet</span>'),
}
_TEXT_EMPTY = mark_safe('<span class="muted">(empty)</span>')


def _row_html(row: TableRow, *, can_delete: bool) -> SafeString:
    """One `<tr>` of the table. A row without a snippet belongs to a user who may not read
    transcript text: no text and no preview link. Every value is escaped here, once, and put
    in with str.format: format_html's escaping of each argument cost more than the rest."""
    t = row.transcription
    sid = escape(t.sid)
    text: str
    if row.snippet is None:
        text = _TEXT_HIDDEN
    elif row.snippet:
        text = f'<span class="snippet">{row.snippet}</span>'  # already escaped, with <mark>s
    elif t.transcription_text is None:
        text = _TEXT_NONE.get(t.status, _TEXT_NOT_CACHED)
    else:
        text = _TEXT_EMPTY
    html = _ROW_HTML.format(
        sid=sid,
        select=_ROW_SELECT_HTML.format(sid=sid) if can_delete else "",
        copy_icon=_copy_icon(),
        created_iso=escape(row.created_iso),
        created_rfc=escape(row.created_rfc),
        created_text=escape(row.created_text),
        recording_url=escape(row.recording_url),
        recording=escape(t.recording_sid),
        status=escape(t.status),
        status_label=escape(row.status_label),
        duration=f"{int(t.duration)}&nbsp;s" if t.duration is not None else _MUTED_DASH,
        price=escape(row.price_text) if row.price_text is not None else _MUTED_DASH,
        text=text,
        badges=_badges(t.personal_data),
        preview=(
            _ROW_PREVIEW_HTML.format(url=escape(row.detail_url), sid=sid)
            if row.snippet is not None
            else ""
        ),
        delete=(_ROW_DELETE_HTML.format(url=escape(row.delete_url), sid=sid) if can_delete else ""),
    )
    return mark_safe(html)  # noqa: S308 - every value above is escaped or built safe here


@functools.cache
def _copy_icon() -> str:
    """The copy button's icon, the same as the preview's (one template for both)."""
    return render_to_string("transcriptions/_copy_icon.html").strip()


@functools.lru_cache(maxsize=512)
def _badges(mask: int) -> str:
    """The kinds of personal data found in a row, as badges (none: nothing)."""
    if not mask:
        return ""
    badges = "".join(
        f'<span class="badge badge-pd" title="{escape(Kind(kind).label)} found">'
        f"{escape(SHORT_LABELS[Kind(kind)])}</span>"
        for kind in kinds_of(mask)
    )
    return f'<span class="pd-badges" aria-label="Personal data found">{badges}</span> '


def _price_text(price: Decimal) -> str:
    """Four decimals rounded half up, no sign on zero (as `floatformat:4`)."""
    rounded = price.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return f"-{-rounded:f}" if rounded < 0 else f"{abs(rounded):f}"


def table_rows(
    transcriptions: Iterable[Transcription],
    *,
    filters: TableFilters,
    base: str,
    can_read_text: bool,
    can_delete: bool,
) -> SafeString:
    """The `<tr>`s of one page. A user who may not read text gets no snippet and no preview
    link; one who may not delete gets no checkbox and no delete link."""
    # Reversed once, not twice per row: URL reversing was a fifth of a 50-row page's time.
    detail_url = reverse("transcriptions:detail", kwargs={"sid": SID_PLACEHOLDER})
    delete_url = reverse("transcriptions:delete", kwargs={"sid": SID_PLACEHOLDER})
    recording_url = filters.url(base, recording=RECORDING_PLACEHOLDER)
    rows = (
        TableRow.of(
            t,
            snippet=(text_snippet(_masked(t), filters.search) if can_read_text else None),
            recording_url=(
                recording_url.replace(RECORDING_PLACEHOLDER, quote_plus(t.recording_sid))
                if t.recording_sid
                else filters.url(base)
            ),
            detail_url=detail_url.replace(SID_PLACEHOLDER, t.sid),
            delete_url=delete_url.replace(SID_PLACEHOLDER, t.sid),
        )
        for t in transcriptions
    )
    # Each row is escaped by _row_html.
    return mark_safe("".join(_row_html(row, can_delete=can_delete) for row in rows))  # noqa: S308


def _masked(t: Transcription) -> str | None:
    """The row's text with its personal data masked (snippets never show a value)."""
    if t.transcription_text is None or not t.personal_data_found:
        return t.transcription_text
    return masked_text(t.transcription_text, t.personal_data_found)


@functools.lru_cache(maxsize=64)
def _snippet_pattern(search: str) -> re.Pattern[str] | None:
    """`match_regex` of a search box's text, made once for the fifty rows of a page."""
    return match_regex(parse_search(search))


def text_snippet(text: str | None, search: str = "", *, width: int = 140) -> SafeString:
    """One line of `text` as HTML: escaped, with matches of `search` wrapped in <mark>, and
    cut around the first match so it is visible. Raw text is always escaped before marking."""
    line = " ".join((text or "").split())
    pattern = _snippet_pattern(search)
    matches = list(pattern.finditer(line)) if pattern else []
    start = 0
    lead = 24  # characters of context kept before the first match
    if matches and matches[0].start() > lead + 8:
        start = matches[0].start() - lead
        # Start on a word, not in the middle of one.
        space = line.find(" ", start)
        if 0 <= space < matches[0].start():
            start = space + 1
    end = min(len(line), start + width)
    pieces: list[str] = ["…" if start > 0 else ""]
    pos = start
    for m in matches:
        if m.end() <= start or m.start() >= end:
            continue
        m_start, m_end = max(m.start(), start), min(m.end(), end)
        pieces.append(escape(line[pos:m_start]))
        pieces.append(f"<mark>{escape(line[m_start:m_end])}</mark>")
        pos = m_end
    pieces.append(escape(line[pos:end]))
    if end < len(line):
        pieces.append("…")
    return mark_safe("".join(pieces))  # noqa: S308 - every piece of text above is escaped
