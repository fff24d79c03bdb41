"""Middleware of the desk's own."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

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
