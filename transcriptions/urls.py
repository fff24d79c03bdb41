from __future__ import annotations

from django.urls import path

from .views import bulk, callbacks, pages, personal_data, recording, sync, table, transcription

app_name = "transcriptions"

urlpatterns = [
    path("", table.transcription_list, name="list"),
    path("export.csv", table.transcription_export, name="export"),
    path("mentions/", table.transcription_mentions, name="mentions"),
    path("t/<str:sid>/", transcription.transcription_detail, name="detail"),
    path("t/<str:sid>/delete/", transcription.transcription_delete, name="delete"),
    path("t/<str:sid>/refresh/", transcription.transcription_refresh, name="refresh"),
    path("t/<str:sid>/reveal/", transcription.transcription_reveal, name="reveal"),
    path("t/<str:sid>/listen/", recording.transcription_listen, name="listen"),
    path("t/<str:sid>/audio/<str:token>.<str:fmt>", recording.transcription_audio, name="audio"),
    path("bulk/", bulk.bulk_deletion_list, name="bulk-list"),
    path("bulk/new/", bulk.bulk_deletion_confirm, name="bulk-confirm"),
    path("bulk/<int:pk>/", bulk.bulk_deletion_detail, name="bulk-detail"),
    path("bulk/<int:pk>/cancel/", bulk.bulk_deletion_cancel, name="bulk-cancel"),
    path("bulk/<int:pk>/erasure/", bulk.bulk_deletion_erasure, name="bulk-erasure"),
    path("bulk/<int:pk>/erasure.csv", bulk.bulk_deletion_erasure_export, name="bulk-erasure-csv"),
    path("bulk/<int:pk>/retry/", bulk.bulk_deletion_retry, name="bulk-retry"),
    path("bulk/<int:pk>/continue/", bulk.bulk_deletion_continue, name="bulk-continue"),
    path("sync/", sync.sync_start, name="sync"),
    path("sync/progress/", sync.sync_progress, name="sync-progress"),
    path("audit/", pages.audit_list, name="audit"),
    path("audit/export.csv", pages.audit_export, name="audit-export"),
    path("retention/", pages.retention_policy, name="retention"),
    path("personal-data/", personal_data.personal_data_page, name="personal-data"),
    path(
        "personal-data/progress/",
        personal_data.personal_data_scan_progress,
        name="personal-data-progress",
    ),
    path("overview/", pages.status_overview, name="overview"),
    path(
        "twilio/transcription-callback/",
        callbacks.transcription_callback,
        name="transcription-callback",
    ),
]
