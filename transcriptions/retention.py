"""Both retentions, each counted from `date_created` as Twilio reports it:

* Text retention (TRANSCRIPT_TEXT_RETENTION_DAYS): how long the cache may keep a transcript's
  text. Syncs and fetches leave older text out, and `purge_transcript_text` clears it.
* The deletion policy: delete at Twilio the transcriptions older than a number of days
  (optionally of one status), previewed first, then run as one bulk deletion. The preview and
  the run share one cutoff instant, so a run deletes exactly what its preview counted (less
  whatever a sync or another delete removed meanwhile), never rows that only crossed the line
  since.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.utils import timezone

from .audit import Actor, audit_record
from .bulk_deletion import BulkDeletionRefused, bulk_deletion_start
from .models import AuditEvent, BulkDeletion, Transcription, TranscriptionStatus
from .personal_data import ANY, Kind
from .planner_stats import planner_stats_refresh
from .table.filters import personal_data_q

RETENTION_REASON = "retention policy"
# Beyond this, a timedelta overflows and no transcription could be that old anyway.
MAX_DAYS = 36_500
DEFAULT_SAMPLE_SIZE = 10


class RetentionPolicyError(ValueError):
    """A policy that cannot be applied (negative days, an unknown status); the message says
    what to change and is safe to show."""


@dataclass(frozen=True)
class RetentionPolicy:
    """Delete transcriptions created more than `older_than_days` days ago, of `status` only
    when given."""

    older_than_days: int
    status: str | None = None
    # Kinds of personal data found in the text (any of them); none: every transcription.
    personal_data: tuple[str, ...] = ()
    # Their call recordings deleted at Twilio too.
    with_recordings: bool = False

    def cutoff(self, *, now: datetime) -> datetime:
        """Rows created strictly before this instant fall under the policy."""
        return now - timedelta(days=self.older_than_days)

    def describe(self) -> str:
        """The policy in words, for prompts, pages and the audit trail."""
        days = f"{self.older_than_days} day{'' if self.older_than_days == 1 else 's'}"
        what = f"{self.status} transcriptions" if self.status else "transcriptions"
        if self.personal_data:
            kinds = (
                "any personal data"
                if ANY in self.personal_data
                else " or ".join(Kind(k).label.lower() for k in self.personal_data)
            )
            what += f" holding {kinds}"
        audio = " (and their call recordings)" if self.with_recordings else ""
        return f"{what} created more than {days} ago{audio}"


def retention_policy_parse(
    *,
    older_than_days: object,
    status: object = None,
    personal_data: Iterable[object] = (),
    with_recordings: bool = False,
) -> RetentionPolicy:
    """Validate raw input (a command's arguments, a form's fields) into a policy.

    Raises RetentionPolicyError with a message for the user on a non-integer or negative
    number of days, or a status Twilio does not have."""
    try:
        days = int(str(older_than_days).strip())
    except (TypeError, ValueError):
        raise RetentionPolicyError(
            f"The number of days must be a whole number, not {str(older_than_days)[:40]!r}."
        ) from None
    if days < 0:
        raise RetentionPolicyError(f"The number of days cannot be negative (got {days}).")
    if days > MAX_DAYS:
        raise RetentionPolicyError(f"The number of days must be at most {MAX_DAYS}.")
    status_value = str(status).strip() if status not in (None, "") else None
    if status_value is not None and status_value not in TranscriptionStatus.values:
        known = ", ".join(TranscriptionStatus.values)
        raise RetentionPolicyError(
            f"Unknown status {status_value[:40]!r}; use one of: {known} (or none for all)."
        )
    kinds = [str(k).strip() for k in (personal_data or ()) if str(k).strip()]
    unknown = [k for k in kinds if k != ANY and k not in Kind.values]
    if unknown:
        known = ", ".join([*Kind.values, ANY])
        raise RetentionPolicyError(
            f"Unknown kind of personal data {unknown[0][:40]!r}; use one of: {known}."
        )
    kinds_kept = (ANY,) if ANY in kinds else tuple(dict.fromkeys(kinds))
    return RetentionPolicy(
        older_than_days=days,
        status=status_value,
        personal_data=kinds_kept,
        with_recordings=with_recordings,
    )


def retention_queryset(*, policy: RetentionPolicy, cutoff: datetime) -> QuerySet[Transcription]:
    """The cached transcriptions the policy covers at `cutoff`, oldest first."""
    qs = Transcription.objects.filter(date_created__lt=cutoff)
    if policy.status:
        qs = qs.filter(status=policy.status)
    if policy.personal_data:
        qs = qs.filter(personal_data_q(policy.personal_data))
    return qs.order_by("date_created", "id")


@dataclass(frozen=True)
class RetentionPreview:
    """What a policy would delete: how many, and the oldest few (without their text)."""

    policy: RetentionPolicy
    cutoff: datetime
    count: int
    sample: list[Transcription] = field(default_factory=list)


def retention_preview(
    *,
    policy: RetentionPolicy,
    cutoff: datetime | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> RetentionPreview:
    """Count the cached transcriptions the policy would delete and take a sample of the oldest,
    in at most two queries. `cutoff` defaults to the policy's cutoff now; a confirmation passes
    the one its preview showed. Deletes nothing and never calls Twilio."""
    if cutoff is None:
        cutoff = policy.cutoff(now=timezone.now())
    qs = retention_queryset(policy=policy, cutoff=cutoff)
    sample = list(qs.defer("transcription_text")[:sample_size]) if sample_size > 0 else []
    count = qs.count() if len(sample) >= sample_size else len(sample)
    return RetentionPreview(policy=policy, cutoff=cutoff, count=count, sample=sample)


@dataclass(frozen=True)
class RetentionStarted:
    """A policy run that was handed to a bulk deletion, and how many items it queued."""

    bulk_deletion: BulkDeletion
    count: int


def retention_apply(
    *,
    policy: RetentionPolicy,
    cutoff: datetime,
    actor: Actor,
    via: str = "",
) -> RetentionStarted:
    """Record the bulk deletion (reason "retention policy") of every transcription the policy
    covers at `cutoff`, and on the audit trail who applied which policy. The caller queues
    it (`tasks.bulk_deletion_enqueue`).

    Deletion itself happens in the background job, at Twilio first, item by item. Raises
    TwilioNotConfigured without Twilio credentials, RetentionPolicyError when nothing is
    covered. `via` names
    where the policy was applied from when there is no user ("command line")."""
    sids = list(
        retention_queryset(policy=policy, cutoff=cutoff).values_list("sid", flat=True).iterator()
    )
    if not sids:
        raise RetentionPolicyError("No cached transcription falls under the policy; nothing to do.")
    filter_params = {
        "retention_older_than_days": policy.older_than_days,
        "retention_status": policy.status or "",
        "retention_personal_data": list(policy.personal_data),
        "created_before": cutoff.isoformat(),
    }
    try:
        bulk = bulk_deletion_start(
            actor=actor,
            sids=sids,
            reason=RETENTION_REASON,
            filter_params=filter_params,
            with_recordings=policy.with_recordings,
        )
    except BulkDeletionRefused as exc:
        raise RetentionPolicyError(str(exc)) from None
    by = f" from the {via}" if via else ""
    audit_record(
        user=actor,
        action=AuditEvent.Action.RETENTION_APPLIED,
        outcome=(
            f"{policy.describe()} (before {cutoff:%Y-%m-%d %H:%M:%S %Z}): {len(sids)} "
            f"queued for deletion as bulk deletion #{bulk.pk}{by}"
        ),
    )
    return RetentionStarted(bulk_deletion=bulk, count=len(sids))


# ---- Text retention: how long the cache may keep transcript text ----


def retention_cutoff(*, now: datetime | None = None) -> datetime | None:
    """The moment before which cached text must not be kept, or None when
    TRANSCRIPT_TEXT_RETENTION_DAYS is not set (text lives as long as Twilio keeps it)."""
    days = getattr(settings, "TRANSCRIPT_TEXT_RETENTION_DAYS", None)
    if days is None:
        return None
    if days < 0:
        raise ImproperlyConfigured("TRANSCRIPT_TEXT_RETENTION_DAYS must be 0 or more.")
    return (now or timezone.now()) - timedelta(days=days)


def is_past(date_created: datetime | None, cutoff: datetime | None) -> bool:
    return cutoff is not None and date_created is not None and date_created < cutoff


def text_is_past_retention(transcription: Transcription) -> bool:
    """Whether the retention setting forbids keeping this transcription's text."""
    return is_past(transcription.date_created, retention_cutoff())


def purge_transcript_text(*, now: datetime | None = None) -> int:
    """Clear the cached text of every transcription older than the retention window; returns
    how many were cleared (0 when retention is not set)."""
    cutoff = retention_cutoff(now=now)
    if cutoff is None:
        return 0
    cleared = Transcription.objects.filter(
        date_created__lt=cutoff, transcription_text__isnull=False
    ).update(transcription_text=None)
    if cleared:
        planner_stats_refresh(rewritten=cleared, reason="text retention")
    return cleared
