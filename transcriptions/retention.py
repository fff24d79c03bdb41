"""The retention policy: delete the transcriptions older than a number of days (optionally only
those of one status), previewed first, then run as one bulk deletion.

The age is counted from `date_created`, as Twilio reports it. The preview and the run share one
cutoff instant, so a run deletes exactly what its preview counted (less whatever a sync or
another delete removed meanwhile), never rows that only crossed the line since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone

from . import deletion
from .audit import audit_record
from .models import AuditEvent, Transcription, TranscriptionStatus

if TYPE_CHECKING:
    from .models import BulkDeletion

RETENTION_REASON = "retention policy"
# Beyond this, a timedelta overflows and no transcription could be that old anyway.
MAX_DAYS = 36_500
DEFAULT_SAMPLE_SIZE = 10

Actor = AbstractBaseUser | AnonymousUser | None


class RetentionPolicyError(ValueError):
    """A policy that cannot be applied (negative days, an unknown status); the message says
    what to change and is safe to show."""


@dataclass(frozen=True)
class RetentionPolicy:
    """Delete transcriptions created more than `older_than_days` days ago, of `status` only
    when given."""

    older_than_days: int
    status: str | None = None

    def cutoff(self, *, now: datetime) -> datetime:
        """Rows created strictly before this instant fall under the policy."""
        return now - timedelta(days=self.older_than_days)

    def describe(self) -> str:
        """The policy in words, for prompts, pages and the audit trail."""
        days = f"{self.older_than_days} day{'' if self.older_than_days == 1 else 's'}"
        if self.status:
            return f"{self.status} transcriptions created more than {days} ago"
        return f"transcriptions created more than {days} ago"


def retention_policy_parse(*, older_than_days: object, status: object = None) -> RetentionPolicy:
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
    return RetentionPolicy(older_than_days=days, status=status_value)


def retention_queryset(*, policy: RetentionPolicy, cutoff: datetime) -> QuerySet[Transcription]:
    """The cached transcriptions the policy covers at `cutoff`, oldest first."""
    qs = Transcription.objects.filter(date_created__lt=cutoff)
    if policy.status:
        qs = qs.filter(status=policy.status)
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
    """Start the bulk deletion (reason "retention policy") of every transcription the policy
    covers at `cutoff`, and record on the audit trail who applied which policy.

    Deletion itself happens in the background job, at Twilio first, item by item. `via` names
    where the policy was applied from when there is no user ("command line")."""
    sids = list(
        retention_queryset(policy=policy, cutoff=cutoff).values_list("sid", flat=True).iterator()
    )
    if not sids:
        raise RetentionPolicyError("No cached transcription falls under the policy; nothing to do.")
    filter_params = {
        "retention_older_than_days": policy.older_than_days,
        "retention_status": policy.status or "",
        "created_before": cutoff.isoformat(),
    }
    try:
        bulk = deletion.bulk_deletion_start(
            actor=actor, sids=sids, reason=RETENTION_REASON, filter_params=filter_params
        )
    except ValueError as exc:
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

    def policy(self) -> RetentionPolicy:
        """The validated policy; call after `is_valid()` returned True."""
        return RetentionPolicy(
            older_than_days=self.cleaned_data["older_than_days"],
            status=self.cleaned_data.get("status") or None,
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

    def clean(self) -> dict:
        cleaned = super().clean()
        days, cutoff = cleaned.get("older_than_days"), cleaned.get("cutoff")
        # A cutoff later than the policy allows would reach younger transcriptions.
        latest = None if days is None else timezone.now() - timedelta(days=days)
        if latest is not None and cutoff is not None and cutoff > latest:
            self.add_error(None, "The preview does not match the policy; preview it again.")
        return cleaned

    def typed_count_matches(self, count: int) -> bool:
        typed = (self.cleaned_data.get("typed_count") or "").strip().replace(",", "")
        return typed == str(count)
