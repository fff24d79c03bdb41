"""The audit trail: who read or deleted which transcription, and how it went. Never the text.

`audit_record` is the one place events are written. The application only ever adds events: it
has no code path that changes or removes one (the admin shows them read-only).
"""

from __future__ import annotations

from datetime import date

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from .days import day_after, day_start
from .models import AuditEvent

# Who did it: a user, or None for a command run without one.
Actor = User | AnonymousUser | None

OUTCOME_MAX_LENGTH = AuditEvent._meta.get_field("outcome").max_length


def audit_record(
    *,
    user: Actor,
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
        events = events.filter(created_at__gte=day_start(date_from))
    if date_to is not None:
        events = events.filter(created_at__lt=day_after(date_to))
    return events.order_by("-created_at", "-id")
