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
]
