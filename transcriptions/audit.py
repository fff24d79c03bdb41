"""The audit trail: who read or deleted which transcription, and how it went. Never the text.

`audit_record` is the one place events are written. The application only ever adds events: it
has no code path that changes or removes one (the admin shows them read-only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone

from .models import AuditEvent

OUTCOME_MAX_LENGTH = AuditEvent._meta.get_field("outcome").max_length


def audit_record(
    *,
    user: AbstractBaseUser | AnonymousUser | None,
    action: str,
    transcription_sid: str = "",
    recording_sid: str = "",
    outcome: str = "",
) -> AuditEvent:
    """Append one event to the audit trail and return it.

    `user` may be None (a command run without a person); the username is stored beside the
    foreign key so the event still names them after the account is deleted. Callers pass what
    happened in `outcome` ("deleted", "Twilio error 500 …"), never transcript text."""
    if action not in AuditEvent.Action.values:
        raise ValueError(f"Unknown audit action {action!r}")
    person = user if user is not None and user.is_authenticated else None
    return AuditEvent.objects.create(
        user=person,
        username=person.get_username() if person is not None else "",
        action=action,
        transcription_sid=transcription_sid or "",
        recording_sid=recording_sid or "",
        outcome=(outcome or "")[:OUTCOME_MAX_LENGTH],
    )


# Reading the trail (the audit page)


@dataclass(frozen=True)
class AuditFilters:
    """The filters the audit page applies: only values that passed validation."""

    username: str = ""
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None


class AuditFilterForm(forms.Form):
    """The audit page's GET filters. Invalid fields are reported and left out of the query."""

    user = forms.CharField(required=False, max_length=150, label="User")
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *AuditEvent.Action.choices], label="Action"
    )
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")

    def filters(self) -> AuditFilters:
        """The valid part of the input; call after `is_valid()`."""
        data = getattr(self, "cleaned_data", {})
        return AuditFilters(
            username=(data.get("user") or "").strip(),
            action=data.get("action") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


# Days outside this range select everything or nothing anyway; clamping keeps the conversion to
# an aware datetime from overflowing at year 1 or 9999.
_EARLIEST_DAY = date(1970, 1, 1)
_LATEST_DAY = date(9999, 12, 30)


def _day_start(day: date) -> datetime:
    day = min(max(day, _EARLIEST_DAY), _LATEST_DAY)
    return timezone.make_aware(datetime.combine(day, time.min))


def _day_after(day: date) -> datetime:
    return _day_start(min(day, _LATEST_DAY - timedelta(days=1)) + timedelta(days=1))


def audit_event_list(
    *,
    username: str = "",
    action: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """The audit trail, newest first, narrowed by username (exact, case-insensitive), action
    and a range of days in the current time zone (both ends included)."""
    events = AuditEvent.objects.all()
    if username:
        events = events.filter(username__iexact=username)
    if action:
        events = events.filter(action=action)
    if date_from is not None:
        events = events.filter(created_at__gte=_day_start(date_from))
    if date_to is not None:
        events = events.filter(created_at__lt=_day_after(date_to))
    return events.order_by("-created_at", "-id")
