"""The table's filters: one `TableFilters` object, made from the URL by the filter form and
handed to every read of the table, and the vocabulary of its sorts and page sizes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Protocol
from urllib.parse import urlencode

from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from ..days import day_after, day_start
from ..models import PersonalDataMention, TranscriptionStatus
from ..personal_data import ANY, BITS, mask_of
from ..personal_data.mentions import Mentions, number_query
from .terms import SearchTerms, parse_search

# The sorts the table offers, in the order the sort menu lists them.
SORT_LABELS = {
    "-created": "Newest first",
    "created": "Oldest first",
    "-duration": "Longest first",
    "duration": "Shortest first",
    "status": "Status A–Z",
    "-status": "Status Z–A",
}
DEFAULT_SORT = "-created"
# Column -> the sort its header asks for first (a second click flips the direction).
SORTABLE_COLUMNS = {"created": "-created", "duration": "-duration", "status": "status"}
PER_PAGE_CHOICES = (25, 50, 100)
DEFAULT_PER_PAGE = 25


class _KeyRow(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def recording_sid(self) -> str: ...
    @property
    def date_created(self) -> datetime: ...
    @property
    def personal_data(self) -> int: ...


@dataclass(frozen=True)
class TableFilters:
    """The filters the table applies: only values that passed validation, defaults otherwise.
    Unknown statuses and sorts are dropped here, whoever made the object."""

    search: str = ""
    statuses: tuple[str, ...] = ()
    recording_sid: str | None = None
    created_from: date | None = None
    created_to: date | None = None  # inclusive: the whole day
    sort: str = DEFAULT_SORT
    per_page: int = DEFAULT_PER_PAGE
    # Kinds of personal data (any of them; `ANY` for any kind at all).
    personal_data: tuple[str, ...] = ()
    # A data subject's value, as keyed hashes (`personal_data.mentions`).
    mentions: Mentions | None = None

    def __post_init__(self) -> None:
        known = TranscriptionStatus.values
        object.__setattr__(
            self, "statuses", tuple(dict.fromkeys(s for s in self.statuses if s in known))
        )
        kinds = [k for k in self.personal_data if k in BITS or k == ANY]
        object.__setattr__(
            self, "personal_data", (ANY,) if ANY in kinds else tuple(dict.fromkeys(kinds))
        )
        object.__setattr__(self, "recording_sid", self.recording_sid or None)
        if self.sort not in SORT_LABELS:
            object.__setattr__(self, "sort", DEFAULT_SORT)

    @cached_property
    def number_search(self) -> Mentions | None:
        """The search box's text when it is one long number, looked up as digits (see
        `mentions.number_query`) rather than as words."""
        return number_query(self.search) if self.search else None

    @cached_property
    def terms(self) -> SearchTerms:
        """The search box split into words (see `terms.parse_search`); none when the search
        is one long number (`number_search`)."""
        return parse_search("" if self.number_search else self.search)

    @property
    def hash_lookups(self) -> list[tuple[str, ...]]:
        """The sets of keyed hashes a row must mention (one of each set)."""
        return [m.hashes for m in (self.mentions, self.number_search) if m is not None]

    @property
    def personal_data_mask(self) -> int:
        return mask_of(self.personal_data)

    @cached_property
    def created_from_at(self) -> datetime | None:
        """The first instant the date filter keeps."""
        return day_start(self.created_from) if self.created_from else None

    @cached_property
    def created_before_at(self) -> datetime | None:
        """The first instant after the date filter (exclusive)."""
        return day_after(self.created_to) if self.created_to else None

    @property
    def is_filtered(self) -> bool:
        """Whether anything narrows the rows (sort and page size do not)."""
        return bool(
            self.search
            or self.statuses
            or self.recording_sid
            or self.created_from
            or self.created_to
            or self.personal_data
            or self.mentions
        )

    @property
    def only_search_and_status(self) -> bool:
        return not (
            self.recording_sid
            or self.created_from
            or self.created_to
            or self.personal_data
            or self.hash_lookups
        )

    def without_statuses(self) -> TableFilters:
        return replace(self, statuses=())

    def with_status(self, status: str) -> TableFilters:
        return replace(self, statuses=(status,))

    def plain_q(self, *, statuses: bool = True) -> Q:
        """Every filter but the search, as ORM conditions (but the status with `statuses`
        False: the word index checks it)."""
        q = Q()
        if self.statuses and statuses:
            q &= Q(status__in=self.statuses)
        if self.recording_sid:
            q &= Q(recording_sid=self.recording_sid)
        if self.created_from_at:
            q &= Q(date_created__gte=self.created_from_at)
        if self.created_before_at:
            q &= Q(date_created__lt=self.created_before_at)
        if self.personal_data:
            q &= personal_data_q(self.personal_data)
        for hashes in self.hash_lookups:
            q &= Q(
                id__in=PersonalDataMention.objects.filter(value_hash__in=hashes).values(
                    "transcription_id"
                )
            )
        return q

    def keeps(self, row: _KeyRow) -> bool:
        """The same filters as `plain_q`, on a row already read (but the hash lookups,
        which the planner reads first when there are any)."""
        start, before = self.created_from_at, self.created_before_at
        mask = self.personal_data_mask
        return (
            (not self.statuses or row.status in self.statuses)
            and (not self.recording_sid or row.recording_sid == self.recording_sid)
            and (not start or row.date_created >= start)
            and (not before or row.date_created < before)
            and (not mask or bool(row.personal_data & mask))
        )

    def params(self, **changes: object) -> list[tuple[str, str]]:
        """The canonical query parameters for these filters: defaults left out, so that a
        bookmarked or shared URL is short. `changes` override by parameter name (None drops)."""
        values: dict[str, object] = {
            "q": self.search,
            "status": list(self.statuses),
            "recording": self.recording_sid,
            "date_from": self.created_from.isoformat() if self.created_from else None,
            "date_to": self.created_to.isoformat() if self.created_to else None,
            "personal_data": list(self.personal_data),
            # The value itself never goes into a URL: a signed, expiring token does.
            "mentions_token": self.mentions.token() if self.mentions else None,
            "sort": self.sort if self.sort != DEFAULT_SORT else None,
            "per_page": self.per_page if self.per_page != DEFAULT_PER_PAGE else None,
        }
        values.update(changes)
        pairs: list[tuple[str, str]] = []
        for name, value in values.items():
            for item in value if isinstance(value, list) else [value]:
                if item not in (None, ""):
                    pairs.append((name, str(item)))
        return pairs

    def date_presets(self, base: str, *, today: date) -> list[dict[str, object]]:
        """Links that set the creation dates to today, the last seven days or this month (in
        the desk's time zone), keeping the other filters; which one is in force."""
        presets = [
            ("Today", today, today),
            ("Last 7 days", today - timedelta(days=6), today),
            ("This month", today.replace(day=1), today),
        ]
        return [
            {
                "label": label,
                "url": self.url(base, date_from=start.isoformat(), date_to=end.isoformat()),
                "active": (self.created_from, self.created_to) == (start, end),
            }
            for label, start, end in presets
        ]

    def params_by_name(self) -> dict[str, list[str]]:
        """The filter's parameters (no sort, no page size) grouped by name, as a bulk deletion
        records the filter it was made from."""
        grouped: dict[str, list[str]] = {}
        for name, value in self.params(sort=None, per_page=None):
            grouped.setdefault(name, []).append(value)
        return grouped

    def url(self, base: str, **changes: object) -> str:
        """`base` with the canonical query string for these filters (see `params`)."""
        query = urlencode(self.params(**changes))
        return f"{base}?{query}" if query else base

    def sort_links(self, base: str) -> dict[str, dict[str, str]]:
        """For each sortable column header: the URL that sorts by it (or flips its direction)
        and its aria-sort state."""
        links = {}
        for column, first in SORTABLE_COLUMNS.items():
            if self.sort.lstrip("-") == column:
                descending = self.sort.startswith("-")
                state = "descending" if descending else "ascending"
                target = column if descending else f"-{column}"
            else:
                state, target = "none", first
            links[column] = {"url": self.url(base, sort=target), "state": state}
        return links


# As the partial indexes on the rows with personal data declare it, written out rather than
# a parameter: SQLite uses a partial index only for a term it can match to the index's own.
_WITH_PERSONAL_DATA = RawSQL(
    '"transcriptions_transcription"."personal_data" > 0', [], output_field=BooleanField()
)


def personal_data_q(kinds: tuple[str, ...]) -> Q:
    """Rows holding one of these kinds of personal data (`ANY`: any kind), as the partial
    indexes on the rows with personal data can serve it (the table, the retention policy)."""
    q = Q(_WITH_PERSONAL_DATA)
    if ANY not in kinds:
        q &= Q(
            RawSQL(
                '("transcriptions_transcription"."personal_data" & %s) <> 0',
                [mask_of(kinds)],
                output_field=BooleanField(),
            )
        )
    return q
