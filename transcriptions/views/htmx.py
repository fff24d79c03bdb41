"""What every view answers with over htmx: the page or one of its fragments, a message in
#messages, a not-found. The views decide; templates never choose a fragment by name."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import reswap, retarget
from django_htmx.middleware import HtmxDetails

# The event that tells the page the cache changed: the table refreshes itself on it.
CHANGED_EVENT = "transcriptions-changed"
# The event that tells the page one transcription was deleted (its SID): its preview closes.
DELETED_EVENT = "transcription-deleted"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def current_path(request: HtmxHttpRequest) -> str:
    """The path of the page an htmx request came from (HX-Current-URL), or "" when there is
    none or the header is not a URL (it is the browser's to send, anyone's to forge)."""
    try:
        return urlsplit(request.htmx.current_url_abs_path or "").path
    except ValueError:
        return ""


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """An htmx request that should get a fragment.

    Why not `request.htmx` alone: htmx 2 also sends HX-Request on a history restore
    (back/forward after a cache miss), and that must get the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def page_or_fragment(
    request: HtmxHttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    fragment: str,
    fragment_context: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The page `template`, or its partial `fragment` for an htmx request (with
    `fragment_context` added). Why a fragment answers 200 even for an error: htmx 2 swaps
    nothing for a 4xx answer."""
    if wants_fragment(request):
        return render(request, f"{template}#{fragment}", {**context, **(fragment_context or {})})
    return render(request, template, context, status=status)


def message_response(
    request: HtmxHttpRequest, *, text: str, level: str = "error", close_modal: bool = False
) -> HttpResponse:
    """An htmx answer that shows `text` in #messages, whatever element asked.

    Why 200 and a retarget: htmx 2 swaps nothing for a 4xx/5xx answer, so an error sent with
    its own status would never reach the page."""
    response = render(
        request,
        "transcriptions/_message.html",
        {"text": text, "level": level, "close_modal": close_modal, "alert": True},
    )
    retarget(response, "#messages")
    reswap(response, "innerHTML")
    return response


def error_answer(
    request: HtmxHttpRequest, *, text: str, to: str, close_modal: bool = False
) -> HttpResponse:
    """An error in words: in #messages over htmx, otherwise as a message on the page `to`."""
    if request.htmx:
        return message_response(request, text=text, close_modal=close_modal)
    messages.error(request, text)
    return redirect(to)


def not_found(request: HtmxHttpRequest, sid: str) -> HttpResponse:
    """A transcription that is not (or no longer) in the cache."""
    text = f"Transcription {sid[:40]} is not in the list: it was deleted, or never synced."
    if request.htmx:
        return message_response(request, text=text, level="warning", close_modal=True)
    raise Http404(text)


CSRF_FAILED_TEXT = (
    "This page was open too long (or you logged in elsewhere meanwhile), so the server could "
    "not trust the request, and nothing was done. Reload the page and try again."
)


def csrf_failure(request: HtmxHttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the refusal in words. Over htmx a 403 that the page's script shows
    in #messages (app.js swaps an error answer that names its target); otherwise a page."""
    if getattr(request, "htmx", False):
        response = message_response(request, text=CSRF_FAILED_TEXT)
        response.status_code = 403
        return response
    return render(request, "403_csrf.html", {"text": CSRF_FAILED_TEXT}, status=403)
