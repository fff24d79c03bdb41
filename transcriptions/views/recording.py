"""A transcription's recording, heard in the preview: the start of a listening session
(audited), and its audio relayed from Twilio a range at a time."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from ..listening import FORMATS, listen_grant, listening_start, media_relay
from ..preview import transcription_cached as cached
from .htmx import HtmxHttpRequest, not_found, page_or_fragment

LISTEN = "transcriptions/listen.html"


@require_POST
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.view_transcript_text", raise_exception=True)
def transcription_listen(request: HtmxHttpRequest, sid: str) -> HttpResponse:
    """The player for the transcription's recording (a listening session, audited once), or
    in plain words why it cannot play."""
    transcription = cached(sid)
    if transcription is None:
        return not_found(request, sid)
    started = listening_start(transcription=transcription, user=request.user)
    audio_url = ""
    if started.token:
        audio_url = reverse("transcriptions:audio", args=[sid, started.token, "mp3"])
    context = {"transcription": transcription, "audio_url": audio_url, "error": started.error}
    return page_or_fragment(request, LISTEN, context, fragment="player")


@require_GET
def transcription_audio(
    request: HttpRequest, sid: str, token: str, fmt: str
) -> HttpResponse | StreamingHttpResponse:
    """The audio of a listening session: the signed token is the permission (checked when the
    session started), so that seeking costs no check of rights. Ranges pass to Twilio."""
    grant = listen_grant(token, sid)
    if grant is None or fmt not in FORMATS:
        return HttpResponse("This link to the recording has expired.", status=403)
    relayed = media_relay(grant, fmt=fmt, requested_range=request.headers.get("Range", ""))
    if relayed.error:
        return HttpResponse(relayed.error, status=relayed.status, content_type="text/plain")
    response = StreamingHttpResponse(relayed.chunks, status=relayed.status)
    for name, value in relayed.headers.items():
        response[name] = value
    response["Cache-Control"] = "private, no-store"
    return response
