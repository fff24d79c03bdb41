"""Thin views: a full page on a normal request, a partial on an htmx request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import (
    HttpResponseClientRedirect,
    push_url,
    reswap,
    retarget,
    trigger_client_event,
)
from django_htmx.middleware import HtmxDetails

from . import deletion, queries, sync
from .audit import AuditFilterForm, audit_event_list, audit_record
from .forms import TableFilters, TranscriptionFilterForm
from .models import AuditEvent, Transcription, TranscriptionStatus
from .twilio_client import TwilioError, TwilioNotFound, get_client, twilio_configuration_problem


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@dataclass(frozen=True)
class TableRow:
    """One row of the table; `snippet` is None when the user may not read transcript text."""

    transcription: Transcription
    snippet: SafeString | None
    recording_url: str


# Column -> the sort parameter its header toggles between (first click: this one).
SORTABLE_COLUMNS = {"created": "-created", "duration": "-duration", "status": "status"}


def _sort_links(filters: TableFilters, base: str) -> dict[str, dict[str, str]]:
    """For each sortable column header: the URL that sorts by it (or flips its direction)
    and its aria-sort state."""
    links = {}
    for column, first in SORTABLE_COLUMNS.items():
        if filters.sort.lstrip("-") == column:
            state = "descending" if filters.sort.startswith("-") else "ascending"
            target = column if filters.sort.startswith("-") else f"-{column}"
        else:
            state, target = "none", first
        links[column] = {"url": filters.url(base, sort=target), "state": state}
    return links


@require_GET
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.view_transcription", raise_exception=True)
def transcription_list(request: HtmxHttpRequest) -> HttpResponse:
    """The cache's status bar and the review table; htmx requests get the results alone."""
    form = TranscriptionFilterForm(request.GET)
    form.is_valid()  # invalid fields are dropped from the filters and listed above the table
    filters = form.filters()
    base = reverse("transcriptions:list")

    paginator = Paginator(queries.transcription_list(**filters.query_kwargs()), filters.per_page)
    page_obj = paginator.get_page(request.GET.get("page"))
    status = queries.cache_status()
    facet_filters = filters.facet_kwargs()
    facets = (
        queries.status_counts(**facet_filters) if any(facet_filters.values()) else status.counts
    )

    can_read_text = request.user.has_perm("transcriptions.view_transcript_text")
    rows = [
        TableRow(
            transcription=t,
            snippet=(
                queries.text_snippet(t.transcription_text, filters.search)
                if can_read_text
                else None
            ),
            recording_url=filters.url(base, recording=t.recording_sid),
        )
        for t in page_obj.object_list
    ]
    page_url = filters.url(base, page=page_obj.number if page_obj.number > 1 else None)
    context = {
        "form": form,
        "filters": filters,
        "form_errors": [
            (form.fields[name].label if name in form.fields else "", message)
            for name, messages in form.errors.items()
            for message in messages
        ],
        "status": status,
        "status_options": [
            {
                "value": value,
                "label": label,
                "count": facets.get(value, 0),
                "checked": value in filters.statuses,
            }
            for value, label in TranscriptionStatus.choices
        ],
        "page_obj": page_obj,
        "rows": rows,
        "previous_url": (
            filters.url(base, page=page_obj.previous_page_number() if page_obj.number > 2 else None)
            if page_obj.has_previous()
            else None
        ),
        "next_url": (
            filters.url(base, page=page_obj.next_page_number()) if page_obj.has_next() else None
        ),
        "sort_links": _sort_links(filters, base),
        "page_url": page_url,
        "can_read_text": can_read_text,
        "can_delete": request.user.has_perm("transcriptions.delete_transcription"),
    }
    # Why: htmx 2 also sends HX-Request on a history restore (back/forward after a cache
    # miss), and that must get the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        response = render(
            request,
            "transcriptions/transcription_list.html#results",
            {**context, "oob_facets": True},
        )
        # The results refreshing themselves after a change (trigger "results") keep the URL;
        # filters and paging push the canonical one (defaults and invalid values left out).
        if request.htmx.trigger != "results":
            push_url(response, page_url)
        return response
    return render(request, "transcriptions/transcription_list.html", context)


# ---- Preview, delete, refresh and audit (below this line) ----

# Twilio's transcription SIDs: TR and 32 hexadecimal digits. Anything else is not looked up.
TRANSCRIPTION_SID_RE = re.compile(r"^TR[0-9a-fA-F]{32}$")
# The preview lists this many of the recording's other transcriptions at most.
RECORDING_OTHERS_LIMIT = 50
AUDIT_PAGE_SIZE = 50
CHANGED_EVENT = "transcriptions-changed"


def _cached_transcription(sid: str) -> Transcription | None:
    """The cached row for a well-formed SID, or None (malformed SIDs are never queried)."""
    if not TRANSCRIPTION_SID_RE.fullmatch(sid):
        return None
    return Transcription.objects.filter(sid=sid).first()


def _recording_others(transcription: Transcription) -> list[Transcription]:
    """The recording's other cached transcriptions, newest first, without their text."""
    if not transcription.recording_sid:
        return []
    others = (
        Transcription.objects.filter(recording_sid=transcription.recording_sid)
        .exclude(pk=transcription.pk)
        .defer("transcription_text")
    )
    return list(others[:RECORDING_OTHERS_LIMIT])


def _message_response(
    request: HtmxHttpRequest,
    *,
    text: str,
    level: str = "error",
    close_modal: bool = False,
) -> HttpResponse:
    """An htmx answer that shows `text` in #messages, whatever element asked.

    Why 200 and a retarget: htmx 2 swaps nothing for a 4xx/5xx answer, so an error sent with
    its own status would never reach the page."""
    response = render(
        request,
        "transcriptions/transcription_detail.html#message",
        {"text": text, "level": level, "close_modal": close_modal},
    )
    retarget(response, "#messages")
    reswap(response, "innerHTML")
    return response


def _not_found(request: HtmxHttpRequest, sid: str) -> HttpResponse:
    text = f"Transcription {sid[:40]} is not in the list: it was deleted, or never synced."
    if request.htmx:
        return _message_response(request, text=text, level="warning", close_modal=True)
    raise Http404(text)


def _twilio_problem_text() -> str | None:
    problem = twilio_configuration_problem()
    return f"Twilio is not configured: {problem}" if problem else None


@dataclass(frozen=True)
class PreviewText:
    """What the preview shows in place of the text: the text, or why there is none."""

    text: str | None = None
    notice: str = ""
    error: str = ""
    gone: bool = False


def _preview_text_load(*, request: HtmxHttpRequest, transcription: Transcription) -> PreviewText:
    """The text to show, fetched from Twilio (and cached) when the cache has none, unless the
    retention setting forbids keeping it. Every time text is shown, the view is audited."""
    if sync.text_is_past_retention(transcription):
        days = settings.TRANSCRIPT_TEXT_RETENTION_DAYS
        return PreviewText(
            notice=(
                f"This transcription is older than the retention period ({days} days): its "
                "text is not kept here and was not fetched from Twilio."
            )
        )
    source = "cache"
    if transcription.transcription_text is None:
        problem = _twilio_problem_text()
        if problem:
            return PreviewText(notice=f"The text is not cached yet. {problem}")
        try:
            sync.transcription_text_fetch(transcription=transcription, client=get_client())
        except TwilioNotFound:
            deletion.transcription_forget_gone(transcription=transcription, actor=request.user)
            return PreviewText(gone=True)
        except TwilioError as exc:
            return PreviewText(error=f"Could not fetch the text from Twilio. {exc}")
        source = "fetched from Twilio"
    text = transcription.transcription_text
    if text is None:
        return PreviewText(
            notice=f"Twilio has no text for this transcription (status: {transcription.status})."
        )
    audit_record(
        user=request.user,
        action=AuditEvent.Action.VIEWED_TEXT,
        transcription_sid=transcription.sid,
        recording_sid=transcription.recording_sid,
        outcome=source,
    )
    return PreviewText(text=text)


def _gone_text(sid: str) -> str:
    return f"Twilio no longer has {sid}; it is removed from the list."


def _gone_response(request: HtmxHttpRequest, transcription: Transcription) -> HttpResponse:
    """The answer when Twilio said 404 while reading: the row was removed from the cache."""
    text = _gone_text(transcription.sid)
    if request.htmx:
        response = render(
            request,
            "transcriptions/transcription_detail.html#gone",
            {"sid": transcription.sid, "text": text},
        )
        trigger_client_event(response, CHANGED_EVENT)
        return response
    messages.warning(request, text)
    return redirect("transcriptions:list")


def _is_on_list_page(request: HtmxHttpRequest) -> bool:
    """Whether the htmx request comes from the table's page (where the preview is a panel that
    can be closed), rather than from a transcription's own page."""
    current = urlsplit(request.htmx.current_url_abs_path or "").path
    return current == reverse("transcriptions:list")


def _preview_response(
    request: HtmxHttpRequest, transcription: Transcription, *, notice: str = ""
) -> HttpResponse:
    loaded = _preview_text_load(request=request, transcription=transcription)
    if loaded.gone:
        return _gone_response(request, transcription)
    can_delete = request.user.has_perm("transcriptions.delete_transcription")
    context = {
        "transcription": transcription,
        "text": loaded.text,
        "notice": " ".join(part for part in (notice, loaded.notice) if part),
        "error": loaded.error,
        "others": _recording_others(transcription),
        "others_limit": RECORDING_OTHERS_LIMIT,
        "delete_url": (
            reverse("transcriptions:delete", args=[transcription.sid]) if can_delete else None
        ),
        "retention_days": settings.TRANSCRIPT_TEXT_RETENTION_DAYS,
    }
    # Why: htmx 2 also sends HX-Request on a history restore, which needs the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        return render(
            request,
            "transcriptions/transcription_detail.html#preview",
            {**context, "in_panel": _is_on_list_page(request)},
        )
    return render(request, "transcriptions/transcription_detail.html", context)


@require_GET
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.view_transcript_text", raise_exception=True)
def transcription_detail(request: HtmxHttpRequest, sid: str) -> HttpResponse:
    """One transcription's text and metadata: the preview partial for htmx, a page otherwise.
    Missing text is fetched from Twilio and cached; every view of text is audited."""
    transcription = _cached_transcription(sid)
    if transcription is None:
        return _not_found(request, sid)
    return _preview_response(request, transcription)


@require_POST
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.view_transcript_text", raise_exception=True)
def transcription_refresh(request: HtmxHttpRequest, sid: str) -> HttpResponse:
    """Re-fetch one transcription from Twilio into the cache; a 404 there removes it here."""
    transcription = _cached_transcription(sid)
    if transcription is None:
        return _not_found(request, sid)
    detail_url = reverse("transcriptions:detail", args=[transcription.sid])
    problem = _twilio_problem_text()
    error = None
    if problem:
        error = f"Could not refresh {transcription.sid}. {problem}"
    else:
        try:
            sync.transcription_refresh(transcription=transcription, client=get_client())
        except TwilioNotFound:
            deletion.transcription_forget_gone(transcription=transcription, actor=request.user)
            return _gone_response(request, transcription)
        except TwilioError as exc:
            error = f"Could not refresh {transcription.sid} from Twilio. {exc}"
    if error:
        if request.htmx:
            return _message_response(request, text=error)
        messages.error(request, error)
        return redirect(detail_url)
    refreshed = f"Refreshed from Twilio at {timezone.localtime():%H:%M:%S}."
    if request.htmx:
        response = _preview_response(request, transcription, notice=refreshed)
        # The row's status or duration may have changed: the table refreshes itself.
        trigger_client_event(response, CHANGED_EVENT)
        return response
    messages.success(request, f"{transcription.sid}: {refreshed}")
    return redirect(detail_url)


@require_http_methods(["GET", "POST", "DELETE"])
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def transcription_delete(request: HtmxHttpRequest, sid: str) -> HttpResponse:
    """GET: the confirmation (a fragment for #modal over htmx, a page otherwise); it never
    deletes. POST (DELETE over htmx): delete at Twilio first, then here."""
    transcription = _cached_transcription(sid)
    if request.method == "GET":
        if transcription is None:
            return _not_found(request, sid)
        context = {
            "transcription": transcription,
            "cancel_url": reverse("transcriptions:list"),
        }
        if request.htmx and not request.htmx.history_restore_request:
            return render(
                request, "transcriptions/transcription_confirm_delete.html#confirm", context
            )
        return render(request, "transcriptions/transcription_confirm_delete.html", context)

    if transcription is None:
        if request.htmx and TRANSCRIPTION_SID_RE.fullmatch(sid):
            # Removed meanwhile (another user, a sync): take it off this page too.
            return _deleted_response(request, sid=sid, text=f"{sid} was already removed.")
        return _not_found(request, sid)
    problem = _twilio_problem_text()
    error = problem
    if not problem:
        try:
            outcome = deletion.transcription_delete(
                transcription=transcription, client=get_client(), actor=request.user
            )
        except TwilioError as exc:
            error = str(exc)
    if error:
        text = f"Could not delete {transcription.sid}; it is kept. {error}"
        if request.htmx:
            return _message_response(request, text=text, close_modal=True)
        messages.error(request, text)
        return redirect("transcriptions:list")
    if request.htmx:
        return _deleted_response(request, sid=outcome.sid, text=outcome.message)
    messages.success(request, outcome.message)
    return redirect("transcriptions:list")


def _deleted_response(request: HtmxHttpRequest, *, sid: str, text: str) -> HttpResponse:
    """After a delete over htmx: the row, its preview and the confirmation leave the page.

    Why 200 with out-of-band parts rather than 204: htmx 2 swaps nothing on a 204. The body
    itself (empty) replaces the confirmation in #modal."""
    detail_path = reverse("transcriptions:detail", args=[sid])
    current = request.htmx.current_url_abs_path or ""
    if current.startswith(detail_path):
        # Deleted from its own page, which would be left empty: go back to the list.
        messages.success(request, text)
        return HttpResponseClientRedirect(reverse("transcriptions:list"))
    response = render(
        request,
        "transcriptions/transcription_confirm_delete.html#deleted",
        {"sid": sid, "text": text},
    )
    trigger_client_event(response, CHANGED_EVENT)
    return response


@require_GET
@login_required
@permission_required("transcriptions.view_auditevent", raise_exception=True)
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    """The audit trail, filtered by user, action and dates; invalid filters are reported and
    ignored."""
    form = AuditFilterForm(request.GET)
    form.is_valid()
    filters = form.filters()
    paginator = Paginator(
        audit_event_list(
            username=filters.username,
            action=filters.action,
            date_from=filters.date_from,
            date_to=filters.date_to,
        ),
        AUDIT_PAGE_SIZE,
    )
    page_obj = paginator.get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page_obj": page_obj,
        "events": page_obj.object_list,
        "is_filtered": any((filters.username, filters.action, filters.date_from, filters.date_to)),
    }
    return render(request, "transcriptions/auditevent_list.html", context)
