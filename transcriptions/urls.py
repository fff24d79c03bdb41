from __future__ import annotations

from django.urls import path

from . import views

app_name = "transcriptions"

urlpatterns = [
    path("", views.transcription_list, name="list"),
    path("t/<str:sid>/", views.transcription_detail, name="detail"),
    path("t/<str:sid>/delete/", views.transcription_delete, name="delete"),
    path("t/<str:sid>/refresh/", views.transcription_refresh, name="refresh"),
    path("audit/", views.audit_list, name="audit"),
    path("bulk/", views.bulk_deletion_list, name="bulk-list"),
    path("bulk/new/", views.bulk_deletion_confirm, name="bulk-confirm"),
    path("bulk/<int:pk>/", views.bulk_deletion_detail, name="bulk-detail"),
    path("bulk/<int:pk>/cancel/", views.bulk_deletion_cancel, name="bulk-cancel"),
    path("bulk/<int:pk>/retry/", views.bulk_deletion_retry, name="bulk-retry"),
    path("retention/", views.retention_policy, name="retention"),
    path("export.csv", views.transcription_export, name="export"),
    path("overview/", views.status_overview, name="overview"),
    path("sync/", views.sync_start, name="sync"),
    path("sync/progress/", views.sync_progress, name="sync-progress"),
]
