"""Twilio's transcription callback: `POST /twilio/transcription-callback/`, the one page that
takes no login. Its X-Twilio-Signature is the authentication; anything that fails it gets 403
and is logged in one line without its text."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..sync.callbacks import (
    CallbackRefused,
    callback_problem,
    signature_valid,
    signed_url,
    transcription_callback_store,
)

logger = logging.getLogger(__name__)


def _params(request: HttpRequest, json_body: bool) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The callback's parameters as signed (every value) and as read (the last of each)."""
    if json_body:
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            data = {}
        flat = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        return [], flat
    signed = [(name, value) for name, values in request.POST.lists() for value in values]
    return signed, {name: value for name, value in signed}


@csrf_exempt  # Twilio cannot send a CSRF token; the signature stands in for it.
@require_POST
def transcription_callback(request: HttpRequest) -> HttpResponse:
    problem = callback_problem()
    if problem:
        logger.warning("Transcription callback refused: %s", problem)
        return HttpResponse("Callbacks are not configured here.", status=403)
    json_body = request.content_type == "application/json"
    signed, params = _params(request, json_body)
    valid = signature_valid(
        url=signed_url(request.get_full_path()),
        params=signed,
        body=request.body,
        json_body=json_body,
        signature=request.headers.get("X-Twilio-Signature", ""),
    )
    if not valid:
        logger.warning("Transcription callback refused: missing or wrong X-Twilio-Signature")
        return HttpResponse("Invalid signature.", status=403)
    try:
        outcome = transcription_callback_store(params)
    except CallbackRefused as exc:
        logger.warning("Transcription callback refused: %s", exc)
        return HttpResponse("Refused.", status=403)
    logger.info("Transcription callback for %s: %s", outcome.sid, outcome.reason)
    return HttpResponse(status=204)
