"""The audit trail: who read or deleted which transcription, and how it went. Never the text.

`audit_record` and `audit_batch` are the places events are written. The application only
ever adds events, with one exception: a search still being typed (the same user, within
seconds, the same query grown or shortened) amends its own search event, so that the trail
holds one event per settled search rather than one per keystroke. Nothing removes an event
(the admin shows them read-only).
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet
from django.utils import timezone

from .csv_lines import CsvLine, csv_safe
from .days import day_after, day_start
from .models import AuditEvent
from .personal_data import mask_query

# Who did it: a user, or None for a command run without one.
Actor = User | AnonymousUser | None

OUTCOME_MAX_LENGTH = AuditEvent._meta.get_field("outcome").max_length
# A search amended within this many seconds of its last change is the same search, typed on.
SEARCH_SETTLE_SECONDS = 20
# Snippets of a transcription the same user saw within this many minutes are not recorded
# again: each refresh of the table would otherwise add a row per transcription shown.
SNIPPETS_SEEN_MINUTES = 10
BATCH_CHUNK = 1000


def _person(user: Actor) -> User | None:
    return user if user is not None and user.is_authenticated else None


def audit_record(
    *,
    user: Actor,
    action: str,
    transcription_sid: str = "",
    recording_sid: str = "",
    outcome: str = "",
    batch: str = "",
    batch_head: bool = False,
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
        batch=batch,
        in_batch=bool(batch) and not batch_head,
    )


def bulk_batch(pk: int) -> str:
    """The audit batch of a bulk deletion's items (its head is written when it is made)."""
    return f"bulk-{pk}"


def audit_event_list(
    *,
    username: str = "",
    action: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    sid: str = "",
    batch: str = "",
) -> QuerySet[AuditEvent]:
    """The audit trail, newest first, narrowed by username (exact, case-insensitive), action,
    a range of days in the current time zone (both ends included), and a transcription or
    recording SID (or their start). A batch (a page of snippets, an export, a bulk run) is
    listed as its head event, unless its items are asked for (`batch`) or a SID is."""
    events = AuditEvent.objects.all()
    if batch:
        events = events.filter(batch=batch)
    elif sid:
        events = events.filter(sid_filter(sid))
    else:
        events = events.filter(in_batch=False)
    if username:
        events = events.filter(username__iexact=username)
    if action:
        events = events.filter(action=action)
    if date_from is not None:
        events = events.filter(created_at__gte=day_start(date_from))
    if date_to is not None:
        events = events.filter(created_at__lt=day_after(date_to))
    return events.order_by("-created_at", "-id")


def audit_batch(
    *,
    user: Actor,
    action: str,
    items: Iterable[tuple[str, str]],
    outcome: str = "",
    batch: str = "",
    head: bool = True,
) -> str:
    """Record one act over many transcriptions: an event per item (transcription and
    recording SID), so the trail answers "who saw TR…", under one head event that the trail
    lists (with `head`). Returns the batch's id (new unless `batch` is given)."""
    if action not in AuditEvent.Action.values:
        raise ValueError(f"Unknown audit action {action!r}")
    person = _person(user)
    username = person.get_username() if person is not None else ""
    batch = batch or uuid.uuid4().hex
    chunk: list[AuditEvent] = []
    for sid, recording_sid in items:
        chunk.append(
            AuditEvent(
                user=person,
                username=username,
                action=action,
                transcription_sid=sid,
                recording_sid=recording_sid or "",
                batch=batch,
                in_batch=True,
            )
        )
        if len(chunk) >= BATCH_CHUNK:
            AuditEvent.objects.bulk_create(chunk)
            chunk = []
    if chunk:
        AuditEvent.objects.bulk_create(chunk)
    if head:
        AuditEvent.objects.create(
            user=person,
            username=username,
            action=action,
            outcome=(outcome or "")[:OUTCOME_MAX_LENGTH],
            batch=batch,
        )
    return batch


def audit_snippets_viewed(*, user: Actor, rows: Iterable[tuple[str, str]]) -> None:
    """The table showed text of these transcriptions (SID, recording SID) to `user`: one
    batch, leaving out those the user saw within `SNIPPETS_SEEN_MINUTES`."""
    person = _person(user)
    rows = list(rows)
    if person is None or not rows:
        return
    since = timezone.now() - timedelta(minutes=SNIPPETS_SEEN_MINUTES)
    seen = set(
        AuditEvent.objects.filter(
            transcription_sid__in=[sid for sid, _ in rows],
            user=person,
            action=AuditEvent.Action.VIEWED_SNIPPETS,
            created_at__gte=since,
        ).values_list("transcription_sid", flat=True)
    )
    new = [(sid, rec) for sid, rec in rows if sid not in seen]
    if new:
        count = len(new)
        audit_batch(
            user=person,
            action=AuditEvent.Action.VIEWED_SNIPPETS,
            items=new,
            outcome=f"text of {count} transcription{'' if count == 1 else 's'} in the table "
            "(personal data masked)",
        )


def audit_search(*, user: Actor, description: str) -> None:
    """Record a search (its description already masked: `personal_data.mask_query`). A
    search typed on (the same user's last search, within `SEARCH_SETTLE_SECONDS`, whose
    query the new one extends or shortens) is amended rather than added."""
    person = _person(user)
    if person is None or not description:
        return
    description = description[:OUTCOME_MAX_LENGTH]
    now = timezone.now()
    last = (
        AuditEvent.objects.filter(user=person, action=AuditEvent.Action.SEARCHED)
        .order_by("-created_at", "-id")
        .first()
    )
    if last is not None and last.outcome == description:
        if now - last.created_at < timedelta(seconds=SEARCH_SETTLE_SECONDS):
            return
    if (
        last is not None
        and now - last.created_at < timedelta(seconds=SEARCH_SETTLE_SECONDS)
        and (description.startswith(last.outcome) or last.outcome.startswith(description))
    ):
        AuditEvent.objects.filter(pk=last.pk).update(outcome=description, created_at=now)
        return
    audit_record(user=person, action=AuditEvent.Action.SEARCHED, outcome=description)


def sid_filter(value: str) -> Q:
    """Events about a transcription or recording SID, or SIDs starting with `value`."""
    value = value.strip()
    return Q(transcription_sid__startswith=value) | Q(recording_sid__startswith=value)


# The trail's CSV columns, each a field of the event.
AUDIT_CSV_FIELDS = (
    "created_at",
    "username",
    "action",
    "transcription_sid",
    "recording_sid",
    "outcome",
    "batch",
)


def audit_csv_stream(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """The events as CSV lines, read in chunks (memory stays flat)."""
    writer = csv.writer(CsvLine())
    yield writer.writerow(AUDIT_CSV_FIELDS)
    for values in events.values_list(*AUDIT_CSV_FIELDS).iterator(chunk_size=2000):
        created, *rest = values
        yield writer.writerow(
            [timezone.localtime(created).isoformat(), *(csv_safe(str(v)) for v in rest)]
        )


def table_viewed(*, user: Actor, filters, rows, with_text: bool) -> None:
    """What one page of the table showed, on the trail: the search (masked) and the text of
    the rows it showed (their snippets, personal data masked)."""
    parts = []
    if filters.search:
        parts.append(f"text: {mask_query(filters.search)}")
    if filters.mentions:
        parts.append(f"mentions: {filters.mentions.label}")
    if parts:
        audit_search(user=user, description="; ".join(parts))
    if with_text:
        audit_snippets_viewed(
            user=user,
            rows=[(t.sid, t.recording_sid) for t in rows if t.transcription_text],
        )
