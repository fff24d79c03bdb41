from __future__ import annotations

from django.contrib import admin
from django.db.models.constants import LOOKUP_SEP

from .models import AuditEvent, SyncRun, Transcription


class ReadOnlyAdmin(admin.ModelAdmin):
    """The cache and the records are written by sync, deletion and audit, never by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Transcription)
class TranscriptionAdmin(ReadOnlyAdmin):
    list_display = ["sid", "recording_sid", "status", "duration", "price", "date_created"]
    list_filter = ["status"]
    search_fields = ["=sid", "=recording_sid"]
    # Transcript text is left out: reading it goes through the audited preview.
    exclude = ["transcription_text"]
    # The only fields a query string may filter on. Django allows a lookup on any field of
    # the model itself, so `?transcription_text__regex=…` answered, match or no match, and a
    # staff user without the text right read a card number a character at a time.
    lookup_fields = frozenset({"sid", "recording_sid", "status", "date_created", "duration"})

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        if lookup.split(LOOKUP_SEP)[0] not in self.lookup_fields:
            return False
        return super().lookup_allowed(lookup, value, request)


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "kind",
        "recording_sid",
        "state",
        "pages",
        "rows_seen",
        "created",
        "updated",
        "removed",
    ]
    list_filter = ["kind", "state"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "username", "action", "transcription_sid", "outcome"]
    list_filter = ["action"]
