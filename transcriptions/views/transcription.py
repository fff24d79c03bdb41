"""One transcription: its preview (a panel beside the table over htmx, a page otherwise),
its refresh from Twilio, and its delete."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from ..deletion import DeleteOutcomeUnknown, DeleteUnderWay, transcription_forget_gone
from ..models import Transcription
from ..personal_data import Kind, kinds_of
from ..preview import RECORDING_OTHERS_LIMIT, preview_text_load, recording_others
from ..preview import transcription_cached as cached
from ..recording_deletion import transcription_erase
from ..sids import is_transcription_sid
from ..sync import transcription_refresh as refresh_from_twilio
from ..twilio_client import TwilioError, TwilioNotFound
from .htmx import (
    CHANGED_EVENT,
    DELETED_EVENT,
    HtmxHttpRequest,
    current_path,
    error_answer,
    not_found,
    page_or_fragment,
)

DETAIL = "transcriptions/transcription_detail.html"
CONFIRM_DELETE = "transcriptions/transcription_confirm_delete.html"


def _gone_response(request: HtmxHttpRequest, transcription: Transcription) -> HttpResponse:
    """The answer when Twilio said 404 while reading: the row was removed from the cache."""
    text = f"Twilio no longer has {transcription.sid}; it is removed from the list."
    if request.htmx:
        response = render(request, f"{DETAIL}#gone", {"sid": transcription.sid, "text": text})
        trigger_client_event(response, CHANGED_EVENT)
        return response
    messages.warning(request, text)
    return redirect("transcriptions:list")


def _is_on_list_page(request: HtmxHttpRequest) -> bool:
    """Whether the htmx request comes from the table's page (where the preview is a panel that
    can be closed), rather than from a transcription's own page."""
    return current_path(request) == reverse("transcriptions:list")


def _personal_data_context(request: HtmxHttpRequest, transcription: Transcription) -> dict:
    """The kinds found, whether the user may reveal them, and the audit's "who has seen
    this" for those who may read the trail."""
    audit_url = None
    if request.user.has_perm("transcriptions.view_auditevent"):
        audit_url = f"{reverse('transcriptions:audit')}?sid={transcription.sid}"
    return {
        "can_reveal": request.user.has_perm("transcriptions.reveal_personal_data"),
        "kinds": [Kind(k).label for k in kinds_of(transcription.personal_data)],
        "audit_url": audit_url,
    }


def _preview_response(
    request: HtmxHttpRequest, transcription: Transcription, *, notice: str = "", reveal=False
) -> HttpResponse:
    loaded = preview_text_load(transcription=transcription, actor=request.user, reveal=reveal)
    if loaded.gone:
        return _gone_response(request, transcription)
    can_delete = request.user.has_perm("transcriptions.delete_transcription")
    context = {
        "transcription": transcription,
        "text": loaded.text,
        "notice": " ".join(part for part in (notice, loaded.notice) if part),
        "error": loaded.error,
        "others": recording_others(transcription),
        "others_limit": RECORDING_OTHERS_LIMIT,
        "delete_url": (
            reverse("transcriptions:delete", args=[transcription.sid]) if can_delete else None
        ),
        "retention_days": settings.TRANSCRIPT_TEXT_RETENTION_DAYS,
        "masked": loaded.masked,
        **_personal_data_context(request, transcription),
    }
    response = page_or_fragment(
        request,
        DETAIL,
        context,
        fragment="preview",
        fragment_context={"in_panel": request.htmx and _is_on_list_page(request)},
    )
    if loaded.fetched and request.htmx:
        # The row said "not cached yet": the table refreshes itself.
        trigger_client_event(response, CHANGED_EVENT)
    return response


@require_GET
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.view_transcript_text", raise_exception=True)
def transcription_detail(request: HtmxHttpRequest, sid: str) -> HttpResponse:
    """One transcription's text and metadata: the preview partial for htmx, a page otherwise.
    Missing text is fetched from Twilio and cached; every view of text is audited."""
    transcription = cached(sid)
    if transcription is None:
        return not_found(request, sid)
    return _preview_response(request, transcription)


@require_POST
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.view_transcript_text", raise_exception=True)
@permission_required("transcriptions.reveal_personal_data", raise_exception=True)
def transcription_reveal(request: HtmxHttpRequest, sid: str) -> HttpResponse:
    """The preview with its personal data shown in full: a right of its own, and audited."""
    transcription = cached(sid)
    if transcription is None:
        return not_found(request, sid)
    return _preview_response(request, transcription, reveal=True)


@require_POST
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.view_transcript_text", raise_exception=True)
def transcription_refresh(request: HtmxHttpRequest, sid: str) -> HttpResponse:
    """Re-fetch one transcription from Twilio into the cache; a 404 there removes it here."""
    transcription = cached(sid)
    if transcription is None:
        return not_found(request, sid)
    detail_url = reverse("transcriptions:detail", args=[transcription.sid])
    try:
        refresh_from_twilio(transcription=transcription)
    except TwilioNotFound:
        transcription_forget_gone(transcription=transcription, actor=request.user)
        return _gone_response(request, transcription)
    except TwilioError as exc:
        text = f"Could not refresh {transcription.sid}. {exc.in_plain_words()}"
        return error_answer(request, text=text, to=detail_url)
    refreshed = f"Refreshed from Twilio at {timezone.localtime():%H:%M:%S}."
    if not request.htmx:
        messages.success(request, f"{transcription.sid}: {refreshed}")
        return redirect(detail_url)
    response = _preview_response(request, transcription, notice=refreshed)
    # The row's status or duration may have changed: the table refreshes itself.
    trigger_client_event(response, CHANGED_EVENT)
    return response


def _deleted_response(request: HtmxHttpRequest, *, sid: str, text: str) -> HttpResponse:
    """After a delete over htmx: the row, its preview and the confirmation leave the page.

    Why 200 with out-of-band parts rather than 204: htmx 2 swaps nothing on a 204. The body
    itself (empty) replaces the confirmation in #modal."""
    detail_path = reverse("transcriptions:detail", args=[sid])
    if current_path(request).startswith(detail_path):
        # Deleted from its own page, which would be left empty: go back to the list.
        messages.success(request, text)
        return HttpResponseClientRedirect(reverse("transcriptions:list"))
    response = render(request, f"{CONFIRM_DELETE}#deleted", {"sid": sid, "text": text})
    trigger_client_event(response, CHANGED_EVENT)
    trigger_client_event(response, DELETED_EVENT, {"sid": sid})
    return response


def _delete_confirmation(request: HtmxHttpRequest, sid: str) -> HttpResponse:
    transcription = cached(sid)
    if transcription is None:
        return not_found(request, sid)
    context = {
        "transcription": transcription,
        "cancel_url": reverse("transcriptions:list"),
        "recording_others": len(recording_others(transcription)),
    }
    return page_or_fragment(request, CONFIRM_DELETE, context, fragment="confirm")


@require_http_methods(["GET", "POST", "DELETE"])
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def transcription_delete(request: HtmxHttpRequest, sid: str) -> HttpResponse:
    """GET: the confirmation (a fragment for #modal over htmx, a page otherwise); it never
    deletes. POST (DELETE over htmx): delete at Twilio first, then here."""
    if request.method == "GET":
        return _delete_confirmation(request, sid)
    transcription = cached(sid)
    if transcription is None:
        if request.htmx and is_transcription_sid(sid):
            # Removed meanwhile (another user, a sync): take it off this page too.
            return _deleted_response(request, sid=sid, text=f"{sid} was already removed.")
        return not_found(request, sid)
    try:
        asked = request.POST.get("with_recording") == "on"
        outcome = transcription_erase(
            transcription=transcription, actor=request.user, with_recording=asked
        )
    except DeleteUnderWay as exc:
        if request.htmx and cached(sid) is None:
            return _deleted_response(request, sid=sid, text=str(exc))
        return error_answer(request, text=str(exc), to="transcriptions:list", close_modal=True)
    except DeleteOutcomeUnknown:
        text = (
            f"Twilio did not answer, so whether {transcription.sid} was deleted is not known. "
            "It stays in the list until Twilio says; delete it again to ask."
        )
        return error_answer(request, text=text, to="transcriptions:list", close_modal=True)
    except TwilioError as exc:
        text = f"Could not delete {transcription.sid}; it is kept. {exc.in_plain_words()}"
        return error_answer(request, text=text, to="transcriptions:list", close_modal=True)
    if request.htmx:
        return _deleted_response(request, sid=outcome.sid, text=outcome.message)
    messages.success(request, outcome.message)
    return redirect("transcriptions:list")
