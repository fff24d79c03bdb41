"""The local cache of Twilio transcriptions, the record of syncs, and the audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class TranscriptionStatus(models.TextChoices):
    """Twilio's `transcription_enum_status`."""

    IN_PROGRESS = "in-progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class Transcription(models.Model):
    """One Twilio Transcription resource as last seen by a sync or a fetch."""

    sid = models.CharField(max_length=34, unique=True)
    account_sid = models.CharField(max_length=34)
    recording_sid = models.CharField(max_length=34)
    status = models.CharField(max_length=16, choices=TranscriptionStatus.choices)
    transcription_text = models.TextField(null=True, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=5, null=True, blank=True)
    price_unit = models.CharField(max_length=8, blank=True, default="")
    type = models.CharField(max_length=16, blank=True, default="")
    api_version = models.CharField(max_length=16, blank=True, default="")
    uri = models.CharField(max_length=200, blank=True, default="")
    date_created = models.DateTimeField()
    date_updated = models.DateTimeField()
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["-date_created", "-id"]
        indexes = [
            models.Index(fields=["status"], name="tr_status_idx"),
            models.Index(fields=["recording_sid"], name="tr_recording_idx"),
            models.Index(fields=["-date_created", "-id"], name="tr_created_idx"),
            models.Index(fields=["status", "-date_created"], name="tr_status_created_idx"),
        ]
        permissions = [
            ("view_transcript_text", "Can read transcript text"),
            ("apply_retention", "Can apply the retention policy"),
        ]

    def __str__(self) -> str:
        return self.sid

    def get_absolute_url(self) -> str:
        return reverse("transcriptions:detail", kwargs={"sid": self.sid})


class SyncRun(models.Model):
    """One pass of sync from Twilio into the cache: a whole account or one recording."""

    class Kind(models.TextChoices):
        FULL = "full", "Full"
        RECORDING = "recording", "One recording"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FULL)
    account_sid = models.CharField(max_length=34, blank=True, default="")
    recording_sid = models.CharField(max_length=34, blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Refreshed after every page, so a run whose process died can be told from a slow one.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    rows_seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sync {self.started_at:%Y-%m-%d %H:%M} ({self.state})"


class AuditEvent(models.Model):
    """Who viewed or deleted which transcription, and how it went. Never holds the text."""

    class Action(models.TextChoices):
        VIEWED_TEXT = "viewed_text", "Viewed text"
        DELETED = "deleted", "Deleted"
        DELETE_FAILED = "delete_failed", "Delete failed"
        SYNCED = "synced", "Synced"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Kept apart from the foreign key so the record survives the user's deletion.
    username = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    transcription_sid = models.CharField(max_length=34, blank=True, default="", db_index=True)
    recording_sid = models.CharField(max_length=34, blank=True, default="")
    outcome = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        when = f"{self.created_at:%Y-%m-%d %H:%M:%S}"
        return f"{when} {self.username} {self.action} {self.transcription_sid}"
