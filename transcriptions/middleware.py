"""Middleware of the desk's own."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from .twilio_client import request_budget


class TwilioRequestBudgetMiddleware:
    """Every Twilio call made while answering a request ends within
    TWILIO_REQUEST_BUDGET_SECONDS in all (see `twilio_client.get_client`): a Twilio that
    accepts connections and never answers costs the user a few seconds and a plain message,
    not the server's worker timeout and a bare error page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_budget(settings.TWILIO_REQUEST_BUDGET_SECONDS):
            return self.get_response(request)


class PrivatePagesMiddleware:
    """`Cache-Control: private, no-store` on every answer to a logged-in user (pages and htmx
    fragments alike, which show text and personal data): no shared cache, and no browser
    cache on disk, keeps a copy. Static files are served before this (whitenoise) and keep
    their long caching."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response
