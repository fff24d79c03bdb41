"""The review table's filter form: GET parameters q, status, recording, dates, sort, per_page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from django import forms
from django.core.validators import RegexValidator

from .models import TranscriptionStatus
from .queries import DEFAULT_SORT

SORT_CHOICES = [
    ("-created", "Newest first"),
    ("created", "Oldest first"),
    ("-duration", "Longest first"),
    ("duration", "Shortest first"),
    ("status", "Status A–Z"),
    ("-status", "Status Z–A"),
]
PER_PAGE_CHOICES = [(25, "25"), (50, "50"), (100, "100")]
DEFAULT_PER_PAGE = 25


@dataclass(frozen=True)
class TableFilters:
    """The filters the table applies: only values that passed validation, defaults otherwise."""

    search: str = ""
    statuses: tuple[str, ...] = ()
    recording_sid: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    sort: str = DEFAULT_SORT
    per_page: int = DEFAULT_PER_PAGE

    def query_kwargs(self) -> dict:
        """Keyword arguments for `queries.transcription_list`."""
        return {
            "search": self.search,
            "statuses": self.statuses,
            "recording_sid": self.recording_sid,
            "created_from": self.created_from,
            "created_to": self.created_to,
            "sort": self.sort,
        }

    def facet_kwargs(self) -> dict:
        """Keyword arguments for `queries.status_counts`: every filter but status itself."""
        kwargs = self.query_kwargs()
        del kwargs["statuses"], kwargs["sort"]
        return kwargs

    @property
    def is_filtered(self) -> bool:
        """Whether anything narrows the rows (sort and page size do not)."""
        return bool(
            self.search
            or self.statuses
            or self.recording_sid
            or self.created_from
            or self.created_to
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

    def url(self, base: str, **changes: object) -> str:
        """`base` with the canonical query string for these filters (see `params`)."""
        query = urlencode(self.params(**changes))
        return f"{base}?{query}" if query else base


class StatusChoiceField(forms.MultipleChoiceField):
    """Multiple statuses; unknown ones are reported by the form and dropped, not fatal."""

    def validate(self, value: list[str]) -> None:
        # Checked in TranscriptionFilterForm.clean_status, which keeps the known values.
        return None


class TranscriptionFilterForm(forms.Form):
    """Validates the table's GET parameters. An invalid field is ignored (its error is shown
    above the table) while the valid ones still apply."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Search text, or a TR… / RE… SID",
                "autocomplete": "off",
                "spellcheck": "false",
                "data-search-input": "",
                "aria-keyshortcuts": "/",
            }
        ),
    )
    status = StatusChoiceField(
        label="Status",
        required=False,
        choices=TranscriptionStatus.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    recording = forms.CharField(
        label="Recording SID",
        required=False,
        strip=True,
        validators=[
            RegexValidator(
                r"^RE[0-9a-fA-F]{32}$",
                "Not a recording SID (RE and 32 hexadecimal digits); recording filter ignored.",
            )
        ],
        widget=forms.TextInput(
            attrs={"placeholder": "RE…", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
    date_from = forms.DateField(
        label="Created from",
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "Not a date (use YYYY-MM-DD); start date ignored."},
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label="Created to",
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "Not a date (use YYYY-MM-DD); end date ignored."},
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    sort = forms.ChoiceField(
        label="Sort",
        required=False,
        choices=SORT_CHOICES,
        error_messages={"invalid_choice": "Unknown sort “%(value)s”; showing newest first."},
    )
    per_page = forms.TypedChoiceField(
        label="Per page",
        required=False,
        choices=PER_PAGE_CHOICES,
        coerce=int,
        empty_value=DEFAULT_PER_PAGE,
        error_messages={
            "invalid_choice": "Page size “%(value)s” is not offered; showing 25 per page."
        },
    )

    def clean_status(self) -> list[str]:
        values = self.cleaned_data["status"]
        known = [v for v in values if v in TranscriptionStatus.values]
        unknown = [v for v in values if v not in TranscriptionStatus.values]
        if unknown:
            names = ", ".join(f"“{v[:40]}”" for v in unknown)
            self.add_error("status", f"Unknown status {names} ignored.")
        return known

    def clean_recording(self) -> str:
        value = self.cleaned_data["recording"]
        # Twilio's SIDs are lower-case hex after the prefix; accept any case as typed.
        return value[:2] + value[2:].lower() if value else value

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date; end date ignored.")
        return cleaned

    def filters(self) -> TableFilters:
        """The filters to apply: the fields that validated, defaults for the rest.
        Call after `is_valid()` (or `errors`)."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return TableFilters(
            search=(data.get("q") or "").strip(),
            statuses=tuple(data.get("status") or ()),
            recording_sid=data.get("recording") or None,
            created_from=data.get("date_from"),
            created_to=data.get("date_to"),
            sort=data.get("sort") or DEFAULT_SORT,
            per_page=data.get("per_page") or DEFAULT_PER_PAGE,
        )
