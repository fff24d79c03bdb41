"""Thin views: a full page on a normal request, a partial on an htmx request."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def transcription_list(request: HttpRequest) -> HttpResponse:
    return render(request, "transcriptions/transcription_list.html", {})


# ---- Preview, delete, refresh and audit (below this line) ----


@login_required
def transcription_detail(request: HttpRequest, sid: str) -> HttpResponse:
    raise NotImplementedError


@login_required
def transcription_delete(request: HttpRequest, sid: str) -> HttpResponse:
    raise NotImplementedError


@login_required
def transcription_refresh(request: HttpRequest, sid: str) -> HttpResponse:
    raise NotImplementedError


@login_required
def audit_list(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError
