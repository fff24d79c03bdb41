"""Reads for the review table: search, filters, sort, facet counts and the cache's status.

`transcription_list` is the one place that turns the table's filters into a query; making the
table scale (full-text indexes, keyset paging) should only have to change this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connections, router
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .models import SyncRun, Transcription, TranscriptionStatus

# Sort keys offered by the table, each with its tie-breakers so that paging is stable.
# Durations can be null; nulls go last in both directions so SQLite and PostgreSQL agree.
SORTS: dict[str, tuple] = {
    "-created": (F("date_created").desc(), F("id").desc()),
    "created": (F("date_created").asc(), F("id").asc()),
    "-duration": (
        F("duration").desc(nulls_last=True),
        F("date_created").desc(),
        F("id").desc(),
    ),
    "duration": (
        F("duration").asc(nulls_last=True),
        F("date_created").desc(),
        F("id").desc(),
    ),
    "-status": (F("status").desc(), F("date_created").desc(), F("id").desc()),
    "status": (F("status").asc(), F("date_created").desc(), F("id").desc()),
}
DEFAULT_SORT = "-created"

_WORD_RE = re.compile(r"\w+")
# A SID prefix: TR or RE (as typed, upper case) and at least four more word characters.
_SID_TOKEN_RE = re.compile(r"^(?:TR|RE)\w{4,}$")


@dataclass(frozen=True)
class SearchTerms:
    """A search box value split into the words that must each match the text."""

    words: tuple[str, ...] = ()

    @property
    def sid_prefixes(self) -> tuple[str, ...]:
        """Words that look like the start of a transcription or recording SID, normalised to
        Twilio's form (upper-case prefix, lower-case hex) so both databases compare alike."""
        return tuple(w[:2] + w[2:].lower() for w in self.words if _SID_TOKEN_RE.match(w))

    def __bool__(self) -> bool:
        return bool(self.words)


def parse_search(search: str) -> SearchTerms:
    """Split the search box into words. Punctuation (`%`, `_` aside, quotes, brackets) only
    separates words, so nothing the user types can reach SQL or a regex unescaped."""
    return SearchTerms(words=tuple(_WORD_RE.findall(search or "")))


def _word_pattern(word: str, *, prefix: bool, vendor: str) -> str:
    """A case-insensitive regex matching `word` as a whole word of the text (or, with
    `prefix`, as the start of a word), in the dialect of the database vendor."""
    if vendor == "postgresql":
        # PostgreSQL's ARE: \y is a word boundary; a backslash before a non-alphanumeric
        # character makes it literal (and a backslash before a letter would not).
        escaped = re.sub(r"(\W)", r"\\\1", word)
        return rf"\y{escaped}" if prefix else rf"\y{escaped}\y"
    # SQLite runs REGEXP through Python's re (Django registers it); other backends with a
    # Python-compatible or POSIX-like syntax get the same \b form.
    escaped = re.escape(word)
    return rf"\b{escaped}" if prefix else rf"\b{escaped}\b"


def _search_q(terms: SearchTerms, *, vendor: str) -> Q:
    """Every word must match a whole word of the text (the last one also as a word prefix, so
    results narrow while typing); a SID-like word also matches SIDs starting with it."""
    condition = Q()
    last = len(terms.words) - 1
    for i, word in enumerate(terms.words):
        pattern = _word_pattern(word, prefix=(i == last), vendor=vendor)
        word_q = Q(transcription_text__iregex=pattern)
        if _SID_TOKEN_RE.match(word):
            sid_prefix = word[:2] + word[2:].lower()
            word_q |= Q(sid__startswith=sid_prefix) | Q(recording_sid__startswith=sid_prefix)
        condition &= word_q
    return condition


def _day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the current time zone (TIME_ZONE by default)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _filtered(
    *,
    search: str,
    statuses: Iterable[str],
    recording_sid: str | None,
    created_from: date | None,
    created_to: date | None,
) -> QuerySet[Transcription]:
    qs = Transcription.objects.all()
    terms = parse_search(search)
    if terms:
        vendor = connections[router.db_for_read(Transcription)].vendor
        qs = qs.filter(_search_q(terms, vendor=vendor))
    statuses = [s for s in statuses if s in TranscriptionStatus.values]
    if statuses:
        qs = qs.filter(status__in=statuses)
    if recording_sid:
        qs = qs.filter(recording_sid=recording_sid)
    if created_from:
        qs = qs.filter(date_created__gte=_day_start(created_from))
    if created_to:
        # Inclusive of the whole last day.
        qs = qs.filter(date_created__lt=_day_start(created_to + timedelta(days=1)))
    return qs


def transcription_list(
    *,
    search: str = "",
    statuses: Iterable[str] = (),
    recording_sid: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    sort: str = DEFAULT_SORT,
) -> QuerySet[Transcription]:
    """The table's rows: cached transcriptions matching the search and filters, in `sort`
    order (one of `SORTS`; anything else falls back to newest first). Never calls Twilio.

    Dates are whole days in the current time zone, both ends inclusive. Unknown statuses are
    ignored.
    """
    qs = _filtered(
        search=search,
        statuses=statuses,
        recording_sid=recording_sid,
        created_from=created_from,
        created_to=created_to,
    )
    return qs.order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))


def status_counts(
    *,
    search: str = "",
    recording_sid: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
) -> dict[str, int]:
    """How many rows each status has under the search and the other filters (the status
    filter's facet counts), in one query. Every status is present, zero when none."""
    qs = _filtered(
        search=search,
        statuses=(),
        recording_sid=recording_sid,
        created_from=created_from,
        created_to=created_to,
    )
    counts = dict.fromkeys(TranscriptionStatus.values, 0)
    for row in qs.order_by().values("status").annotate(n=Count("id")):
        if row["status"] in counts:
            counts[row["status"]] = row["n"]
    return counts


@dataclass(frozen=True)
class CacheStatus:
    """What the status bar shows: the latest sync, the latest good one, and the cache's size."""

    last_run: SyncRun | None
    last_success: SyncRun | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def by_status(self) -> list[tuple[str, str, int]]:
        """(value, label, count) for every status, in the order Twilio lists them."""
        return [(v, label, self.counts.get(v, 0)) for v, label in TranscriptionStatus.choices]

    @property
    def never_synced(self) -> bool:
        return self.last_run is None


def cache_status() -> CacheStatus:
    """The latest sync run (any kind), the latest one that succeeded, and rows per status."""
    last_run = SyncRun.objects.order_by("-started_at", "-id").first()
    last_success = last_run
    if last_run is not None and last_run.state != SyncRun.State.SUCCEEDED:
        last_success = (
            SyncRun.objects.filter(state=SyncRun.State.SUCCEEDED)
            .order_by("-started_at", "-id")
            .first()
        )
    return CacheStatus(last_run=last_run, last_success=last_success, counts=status_counts())


def _match_regex(terms: SearchTerms) -> re.Pattern[str] | None:
    """The Python twin of the database search, for highlighting exactly what matched."""
    if not terms:
        return None
    last = len(terms.words) - 1
    parts = [
        _word_pattern(w, prefix=(i == last), vendor="python") for i, w in enumerate(terms.words)
    ]
    # Longest first, so "refund" wins over a shorter word it starts with.
    parts.sort(key=len, reverse=True)
    return re.compile("|".join(parts), re.IGNORECASE)


def text_snippet(text: str | None, search: str = "", *, width: int = 140) -> SafeString:
    """One line of `text` as HTML: escaped, with matches of `search` wrapped in <mark>, and
    cut around the first match so it is visible. Raw text is always escaped before marking."""
    line = " ".join((text or "").split())
    pattern = _match_regex(parse_search(search))
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
