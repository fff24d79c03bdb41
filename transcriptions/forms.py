"""Every form of the desk: the table's filters, the audit trail's filters, the retention
policy and its confirmation, and the bulk deletion's confirmation. Each validates input into
the object the reads and writes take; none touches the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone

from .models import AuditEvent, TranscriptionStatus
from .personal_data import ANY, Kind
from .personal_data.mentions import Mentions, mentions_from_token, mentions_parse
from .retention import MAX_DAYS, RetentionPolicy
from .sids import RECORDING_SID_RE, sid_canonical, sid_prefix
from .table import DEFAULT_PER_PAGE, DEFAULT_SORT, PER_PAGE_CHOICES, SORT_LABELS, TableFilters
from .words import typed_count_matches


def _personal_data_field(label: str, *, ignored: bool = False) -> forms.MultipleChoiceField:
    """Kinds of personal data, or any: the table's filter and the retention policy's."""
    message = "Unknown kind of personal data “%(value)s”" + (" ignored." if ignored else ".")
    return forms.MultipleChoiceField(
        label=label,
        required=False,
        choices=[(ANY, "Any kind"), *Kind.choices],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": message},
    )


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
                RECORDING_SID_RE,
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
    personal_data = _personal_data_field("Personal data", ignored=True)
    # A data subject's value (for links and checks); the page's own form posts it instead
    # and comes back with `mentions_token`, so the value stays out of logged URLs.
    mentions = forms.CharField(label="Mentions", required=False, max_length=200)
    mentions_token = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    sort = forms.ChoiceField(
        label="Sort",
        required=False,
        choices=list(SORT_LABELS.items()),
        error_messages={"invalid_choice": "Unknown sort “%(value)s”; showing newest first."},
    )
    per_page = forms.TypedChoiceField(
        label="Per page",
        required=False,
        choices=[(n, str(n)) for n in PER_PAGE_CHOICES],
        coerce=int,
        error_messages={
            "invalid_choice": "Page size “%(value)s” is not offered; showing 25 per page."
        },
    )

    def __init__(self, *args: Any, can_read_text: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.can_read_text = can_read_text
        if not can_read_text:
            self.fields["q"].widget.attrs["placeholder"] = "Search by TR… / RE… SID"

    def clean_q(self) -> str:
        value = (self.cleaned_data.get("q") or "").strip()
        if self.can_read_text or not value:
            return value
        # Reading text is a right: a search by words (or by digits) tells what a call says.
        sids = [word for word in value.split() if sid_prefix(word)]
        if len(sids) != len(value.split()):
            self.add_error(
                "q",
                "Your role may search by SID only (TR… or RE…): searching the text needs "
                "the Reviewers role. Words of text ignored.",
            )
        return " ".join(sids)

    def clean_mentions(self) -> Mentions | None:
        value = self.cleaned_data.get("mentions") or ""
        if not value.strip():
            return None
        if not self.can_read_text:
            self.add_error("mentions", "Searching for mentions needs the Reviewers role.")
            return None
        found = mentions_parse(value)
        if found is None:
            self.add_error(
                "mentions",
                "Not a phone number, e-mail address, card number or IBAN; mentions ignored.",
            )
        return found

    def clean_mentions_token(self) -> Mentions | None:
        token = self.cleaned_data.get("mentions_token") or ""
        if not token or not self.can_read_text:
            return None
        found = mentions_from_token(token)
        if found is None:
            self.add_error(
                "mentions_token",
                "This mentions search has expired or is not valid; enter the value again.",
            )
        return found

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
        return sid_canonical(value) if value else value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
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
            personal_data=tuple(data.get("personal_data") or ()),
            mentions=data.get("mentions") or data.get("mentions_token") or None,
        )


class MentionsForm(forms.Form):
    """The page's own mentions search: the value comes in a POST body (never a URL that a
    server logs) and goes back as a signed, expiring token."""

    mentions = forms.CharField(label="Mentions", max_length=200)

    def clean_mentions(self) -> Mentions:
        found = mentions_parse(self.cleaned_data["mentions"])
        if found is None:
            raise forms.ValidationError("Not a phone number, e-mail address, card number or IBAN.")
        return found


# ---- The audit trail ----


@dataclass(frozen=True)
class AuditFilters:
    """The filters the audit page applies: only values that passed validation."""

    username: str = ""
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None
    sid: str = ""
    batch: str = ""

    @property
    def is_filtered(self) -> bool:
        return any((self.username, self.action, self.date_from, self.date_to, self.sid, self.batch))


class AuditFilterForm(forms.Form):
    """The audit page's GET filters. Invalid fields are reported and left out of the query."""

    user = forms.CharField(required=False, max_length=150, label="User")
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *AuditEvent.Action.choices], label="Action"
    )
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")
    sid = forms.CharField(
        required=False,
        max_length=34,
        label="Transcription or recording SID",
        validators=[
            RegexValidator(
                r"^(?:TR|RE)[0-9a-fA-F]{0,32}$",
                "Not a transcription or recording SID (TR… or RE…, or their start).",
            )
        ],
    )
    batch = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)

    def clean_sid(self) -> str:
        value = (self.cleaned_data.get("sid") or "").strip()
        return value[:2].upper() + value[2:].lower()

    def filters(self) -> AuditFilters:
        """The valid part of the input; call after `is_valid()`."""
        data = getattr(self, "cleaned_data", {})
        return AuditFilters(
            username=(data.get("user") or "").strip(),
            action=data.get("action") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            sid=data.get("sid") or "",
            batch=(data.get("batch") or "").strip(),
        )


# ---- Retention ----


class RetentionPolicyForm(forms.Form):
    """The retention page's policy: a number of days and, optionally, one status."""

    older_than_days = forms.IntegerField(
        label="Older than (days)",
        min_value=0,
        max_value=MAX_DAYS,
        error_messages={
            "required": "Enter a number of days.",
            "invalid": "Enter a whole number of days.",
            "min_value": "The number of days cannot be negative.",
        },
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), *TranscriptionStatus.choices],
        error_messages={"invalid_choice": "Unknown status “%(value)s”."},
    )
    personal_data = _personal_data_field("Holding personal data")
    with_recordings = forms.BooleanField(
        label="Also delete the call recordings at Twilio", required=False
    )

    def policy(self) -> RetentionPolicy:
        """The validated policy; call after `is_valid()` returned True."""
        kinds = tuple(self.cleaned_data.get("personal_data") or ())
        return RetentionPolicy(
            older_than_days=self.cleaned_data["older_than_days"],
            status=self.cleaned_data.get("status") or None,
            personal_data=(ANY,) if ANY in kinds else kinds,
            with_recordings=bool(self.cleaned_data.get("with_recordings")),
        )


class RetentionConfirmForm(RetentionPolicyForm):
    """The confirming step: the policy again, the cutoff its preview used, and the count as
    typed by the user, which must equal the number of transcriptions the policy now covers."""

    cutoff = forms.DateTimeField(widget=forms.HiddenInput)
    typed_count = forms.CharField(
        label="Type the count to confirm",
        max_length=20,
        error_messages={"required": "Type the count to confirm. Nothing deleted."},
    )

    def clean_cutoff(self) -> datetime:
        cutoff = self.cleaned_data["cutoff"]
        return cutoff if timezone.is_aware(cutoff) else timezone.make_aware(cutoff)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        days, cutoff = cleaned.get("older_than_days"), cleaned.get("cutoff")
        # A cutoff later than the policy allows would reach younger transcriptions.
        latest = None if days is None else timezone.now() - timedelta(days=days)
        if latest is not None and cutoff is not None and cutoff > latest:
            self.add_error(None, "The preview does not match the policy; preview it again.")
        return cleaned

    def typed_count_matches(self, count: int) -> bool:
        return typed_count_matches(self.cleaned_data.get("typed_count"), count)


# ---- Bulk deletion ----


class BulkConfirmForm(forms.Form):
    """The bulk deletion's confirmation: a reason (kept in the audit trail) and, above
    `TYPED_CONFIRM_ABOVE` items, the count typed to match."""

    reason = forms.CharField(max_length=2000, required=False)
    confirm_count = forms.CharField(max_length=20, required=False)

    def reason_text(self) -> str:
        return " ".join(self.data.get("reason", "").split())

    def with_recordings(self) -> bool:
        """ "Also delete the call recordings" was ticked."""
        return self.data.get("with_recordings") == "on"

    def errors_for(self, *, count: int, needs_typed_count: bool) -> list[str]:
        """What stops the deletion of `count` items, in words (empty when nothing does)."""
        errors = []
        if count == 0:
            errors.append("None of the chosen transcriptions is in the list any more.")
        if not self.reason_text():
            errors.append("Give a reason: it is kept in the audit trail.")
        if needs_typed_count and not typed_count_matches(self.data.get("confirm_count"), count):
            errors.append(f"Type the number of transcriptions to delete ({count}) to confirm.")
        return errors
