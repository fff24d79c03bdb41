"""The local cache of Twilio transcriptions, the record of syncs, and the audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from .words import plural


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
    # The SyncRun whose pass last saw this row at Twilio: after a complete pass, the rows of the
    # account it did not see are gone from Twilio. A run id, unlike a timestamp, does not depend
    # on clocks agreeing between machines.
    last_seen_run = models.BigIntegerField(null=True, blank=True, editable=False)
    # Personal data found in Twilio's text (`personal_data`): the kinds as bits, what was found
    # where as JSON [[kind, start, end, keyed hash], ...] (never a value; None when nothing),
    # and the detector's version (0: never scanned). Written with the text, by every path.
    personal_data = models.PositiveIntegerField(default=0, editable=False)
    personal_data_found = models.TextField(null=True, blank=True, editable=False)
    personal_data_version = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-date_created", "-id"]
        # One index per way the table walks the rows in order (keyset paging): newest or oldest
        # first, by status and newest first within one (also every status lookup), by duration
        # either way with newest first among equal durations. The full-text index is added by
        # migrations 0006 and 0008, per database.
        indexes = [
            models.Index(fields=["recording_sid"], name="tr_recording_idx"),
            models.Index(fields=["-date_created", "-id"], name="tr_created_idx"),
            models.Index(fields=["status", "-date_created", "-id"], name="tr_status_newest_idx"),
            models.Index(fields=["duration", "-date_created", "-id"], name="tr_duration_idx"),
            models.Index(fields=["-duration", "-date_created", "-id"], name="tr_duration_desc_idx"),
            # The rows with personal data, newest first: the personal-data filter walks these
            # only, however rare its kind among all rows.
            models.Index(
                fields=["-date_created", "-id"],
                name="tr_personal_data_idx",
                condition=models.Q(personal_data__gt=0),
            ),
            # ... and by status: a status's count among them reads only these rows (walking
            # every failed row to find its few with personal data took 0.3 s at a million).
            models.Index(
                fields=["status", "-date_created", "-id"],
                name="tr_personal_data_status_idx",
                condition=models.Q(personal_data__gt=0),
            ),
        ]
        permissions = [
            ("view_transcript_text", "Can read transcript text"),
            ("apply_retention", "Can apply the retention policy"),
            ("start_sync", "Can start a sync from the page"),
            ("reveal_personal_data", "Can reveal personal data in transcript text"),
        ]

    def __str__(self) -> str:
        return self.sid

    def get_absolute_url(self) -> str:
        return reverse("transcriptions:detail", kwargs={"sid": self.sid})


# Schema facts that the reads and the sync need: the word index lives outside Django's models.
TRANSCRIPTION_TABLE = "transcriptions_transcription"
FTS_TABLE = f"{TRANSCRIPTION_TABLE}_fts"  # SQLite only (migration 0006)
FTS_TERMS_TABLE = f"{FTS_TABLE}_terms"  # SQLite only (migration 0007)
SEARCH_VECTOR = "search_vector"  # PostgreSQL only (migrations 0006, 0008)
SEARCH_WORDS_TABLE = "transcriptions_search_word"  # PostgreSQL only (migration 0016)


class PersonalDataMention(models.Model):
    """One value found in a cached transcription, as its keyed hash: what a mentions search
    (or a search by digits) looks up. Kept by database triggers from the row's
    `personal_data_found` on every insert, change and delete (migration 0017), so no write
    path can leave it behind."""

    transcription_id = models.BigIntegerField(db_index=True)
    kind = models.CharField(max_length=24)
    value_hash = models.CharField(max_length=32, db_index=True)

    class Meta:
        indexes = [
            # Transcriptions per kind, counted from this table alone when nothing else filters.
            models.Index(fields=["kind", "transcription_id"], name="pd_mention_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} in {self.transcription_id}"


class TranscriptionCount(models.Model):
    """How many cached transcriptions have each status, kept exact by database triggers on
    every insert, delete and status change (migration 0006), so the table's totals never
    count a million rows."""

    status = models.CharField(max_length=16, primary_key=True)
    count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.status}: {self.count}"


class SyncRun(models.Model):
    """One pass of sync from Twilio into the cache: a whole account or one recording."""

    class Kind(models.TextChoices):
        FULL = "full", "Full"
        RECORDING = "recording", "One recording"
        # Newest pages only, until the cache already holds the rest (never removes a row).
        HEAD = "head", "Newest"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FULL)
    account_sid = models.CharField(max_length=34, blank=True, default="")
    recording_sid = models.CharField(max_length=34, blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    # Who or what started it (a user, or host and process id), for "already running" messages.
    started_by = models.CharField(max_length=150, blank=True, default="")
    # The process that runs it (`processes.process_tag`): gone, the run is taken over at once.
    process = models.CharField(max_length=120, blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Refreshed after every page, so a run whose process died can be told from a slow one.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    rows_seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    # Items stored with a value made storable (`adjusted`), or not stored at all (`set_aside`),
    # and why: {reason: {"count": n, "sids": [a few SIDs]}}. Never a value or text.
    adjusted = models.PositiveIntegerField(default=0)
    set_aside = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"
        constraints = [
            # The lock that keeps syncs of one account one at a time, across processes and
            # machines: a second running row for the account cannot be inserted.
            models.UniqueConstraint(
                fields=["account_sid"],
                condition=models.Q(state="running"),
                name="syncrun_one_running_per_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sync {self.started_at:%Y-%m-%d %H:%M} ({self.state})"

    @property
    def problem_lines(self) -> list[str]:
        """What the run read around or set aside, in words, one line per reason, with the
        few SIDs kept for each; empty when every item was stored as Twilio gave it."""
        lines = []
        for reason, entry in sorted((self.problems or {}).items()):
            sids = ", ".join(entry.get("sids", []))
            count = int(entry.get("count", 0))
            line = f"{plural(count, 'transcription')}: {reason}"
            lines.append(f"{line} ({sids})" if sids else line)
        return lines


class PersonalDataScan(models.Model):
    """One pass of the personal-data detector over the cache (`personal_data.scan`): the rows
    an older detector scanned, or every row. Run by a worker, resumable: it goes on after
    `last_id` when a worker takes it over."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    created_at = models.DateTimeField(auto_now_add=True)
    started_by = models.CharField(max_length=150, blank=True, default="")
    # Every row (a new hash key), not only those an older detector scanned.
    every_row = models.BooleanField(default=False)
    detector_version = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    task_id = models.CharField(max_length=64, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    scanned = models.PositiveIntegerField(default=0)
    found = models.PositiveIntegerField(default=0)  # rows with personal data among them
    last_id = models.BigIntegerField(default=0)
    error_message = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Personal-data scan #{self.pk} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def percent(self) -> int:
        if self.state == self.State.COMPLETED:
            return 100
        return min(100, int(100 * self.scanned / self.total)) if self.total else 0


class DeletionClaim(models.Model):
    """A delete of one transcription in progress from the desk: the first to insert the SID
    sends the DELETE; a second user (or tab) is told it is under way instead of sending
    another. Removed when the delete is over; a claim older than a request can last is
    stale (its process died) and taken over."""

    sid = models.CharField(max_length=34, unique=True)
    claimed_at = models.DateTimeField()
    username = models.CharField(max_length=150, blank=True, default="")

    def __str__(self) -> str:
        return f"Deleting {self.sid}"


class AuditEvent(models.Model):
    """Who viewed or deleted which transcription, and how it went. Never holds the text."""

    class Action(models.TextChoices):
        VIEWED_TEXT = "viewed_text", "Viewed text"
        DELETED = "deleted", "Deleted"
        DELETE_FAILED = "delete_failed", "Delete failed"
        # No answer to a DELETE, and Twilio could not be asked whether it was applied.
        DELETE_UNKNOWN = "delete_unknown", "Delete outcome unknown"
        SYNCED = "synced", "Synced"
        EXPORTED = "exported", "Exported CSV"
        RETENTION_APPLIED = "retention_applied", "Applied retention policy"
        VIEWED_SNIPPETS = "viewed_snippets", "Saw text in the table"
        SEARCHED = "searched", "Searched"
        REVEALED = "revealed", "Revealed personal data"
        BULK_DELETION = "bulk_deletion", "Bulk deletion"
        PERSONAL_DATA_SCAN = "personal_data_scan", "Scanned for personal data"
        LISTENED = "listened", "Listened to the recording"
        RECORDING_DELETED = "recording_deleted", "Deleted the recording"
        RECORDING_DELETE_FAILED = "recording_delete_failed", "Recording delete failed"
        VERIFIED = "verified", "Verified gone at Twilio"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Kept apart from the foreign key so the record survives the user's deletion.
    username = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    transcription_sid = models.CharField(max_length=34, blank=True, default="", db_index=True)
    recording_sid = models.CharField(max_length=34, blank=True, default="", db_index=True)
    outcome = models.CharField(max_length=255, blank=True, default="")
    # Events of one act over many transcriptions (a page of snippets, an export, a bulk run)
    # share a batch: the trail lists its head event, and each item answers "who saw TR…".
    batch = models.CharField(max_length=40, blank=True, default="", db_index=True)
    in_batch = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        when = f"{self.created_at:%Y-%m-%d %H:%M:%S}"
        return f"{when} {self.username} {self.action} {self.transcription_sid}"


class BulkDeletion(models.Model):
    """A request to delete many transcriptions, run by background workers: who asked, why,
    with which filter, and the exact SIDs (its items), each with its own outcome."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        CANCELLING = "cancelling", "Cancelling"
        CANCELLED = "cancelled", "Cancelled"
        COMPLETED = "completed", "Completed"
        COMPLETED_WITH_FAILURES = "completed_with_failures", "Completed with failures"
        FAILED = "failed", "Failed"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING, State.CANCELLING)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Kept apart from the foreign key so the record survives the user's deletion.
    created_by_username = models.CharField(max_length=150, blank=True, default="")
    reason = models.TextField()
    # The table's filter when "all matching" was chosen (URL parameters); empty for a selection.
    filter_params = models.JSONField(default=dict, blank=True)
    account_sid = models.CharField(max_length=34, blank=True, default="")
    # A retry of another bulk deletion's failed items.
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    state = models.CharField(
        max_length=32, choices=State.choices, default=State.QUEUED, db_index=True
    )
    # The background task last enqueued for it, to tell "waiting for a worker" from "lost".
    task_id = models.CharField(max_length=64, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Refreshed about every second by a worker running it: a stale heartbeat on an active
    # deletion means its worker died, and the next worker resumes it.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The worker that beat last (`processes.process_tag` after its token): gone, the job is
    # resumed at once rather than when the heartbeat goes stale.
    worker = models.CharField(max_length=140, blank=True, default="")
    # Copied from the items with each heartbeat and at the end (the items are the truth).
    total_count = models.PositiveIntegerField(default=0)
    deleted_count = models.PositiveIntegerField(default=0)
    already_gone_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True, default="")
    # "Also delete the call recording": each item's recording, once all of the job's
    # transcriptions of that recording are gone.
    with_recordings = models.BooleanField(default=False)
    # The verification pass after the job: when it ended (None: not run, or not finished).
    verified_at = models.DateTimeField(null=True, blank=True)
    # Since when Twilio has not been answering (or answering only errors) and the job waits
    # between tries; None while Twilio answers.
    twilio_down_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Bulk deletion #{self.pk} of {self.total_count} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("transcriptions:bulk-detail", kwargs={"pk": self.pk})

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES


class BulkDeletionItem(models.Model):
    """One SID of a bulk deletion and what happened to it.

    A worker claims pending items (state "claimed", with its id and the time), deletes them at
    Twilio, and records the outcome in the same transaction that removes the cached row. A
    claim whose time has gone stale belongs to a worker that died: it is claimed again, and
    Twilio's 404 then tells that the first worker had already deleted it."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "In progress"
        DELETED = "deleted", "Deleted"
        ALREADY_GONE = "already_gone", "Already gone"
        FAILED = "failed", "Failed"

    bulk_deletion = models.ForeignKey(BulkDeletion, on_delete=models.CASCADE, related_name="items")
    sid = models.CharField(max_length=34)
    recording_sid = models.CharField(max_length=34, blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    claimed_by = models.CharField(max_length=100, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True, default="")

    class RecordingState(models.TextChoices):
        NOT_ASKED = "", "Not asked"
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "In progress"
        DELETED = "deleted", "Deleted"
        ALREADY_GONE = "already_gone", "Already gone"
        FAILED = "failed", "Failed"
        # A transcription of the same recording in this job could not be deleted.
        KEPT = "kept", "Kept"

    recording_state = models.CharField(
        max_length=16, choices=RecordingState.choices, blank=True, default=""
    )
    recording_error = models.CharField(max_length=255, blank=True, default="")
    recording_finished_at = models.DateTimeField(null=True, blank=True)

    class Verified(models.TextChoices):
        NOT_YET = "", "Not verified"
        GONE = "gone", "Gone"
        STILL_THERE = "still_there", "Still there"
        UNKNOWN = "unknown", "Could not be asked"

    # What Twilio answered when asked afterwards, for the transcription and its recording.
    verified = models.CharField(max_length=16, choices=Verified.choices, blank=True, default="")
    recording_verified = models.CharField(
        max_length=16, choices=Verified.choices, blank=True, default=""
    )
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["bulk_deletion", "sid"], name="bulkitem_unique_sid"),
        ]
        indexes = [
            models.Index(fields=["bulk_deletion", "state"], name="bulkitem_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.sid} ({self.state})"
