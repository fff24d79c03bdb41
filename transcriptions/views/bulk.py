"""Bulk deletion: the confirmation, the live progress of one, cancel, retry, and the list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from .. import bulk_deletion, tasks
from ..bulk_deletion import BulkDeletionRefused, BulkTarget
from ..forms import BulkConfirmForm, TranscriptionFilterForm
from ..models import BulkDeletion
from ..twilio_client import TwilioError, plain_words, twilio_not_configured_text
from ..words import duration_text
from .htmx import (
    CHANGED_EVENT,
    HtmxHttpRequest,
    error_answer,
    page_or_fragment,
    wants_fragment,
)

LIST_PAGE_SIZE = 50
FAILED_SHOWN = 100
ERASURE_PAGE_SIZE = 100
CONFIRM = "transcriptions/bulkdeletion_confirm.html"
DETAIL = "transcriptions/bulkdeletion_detail.html"


def _target(data: QueryDict, *, with_sids: bool = False) -> BulkTarget:
    """What the request points at: `all=1` with the table's filter parameters (invalid ones
    ignored, as the table ignores them), or `sid` repeated for a selection."""
    if data.get("all"):
        form = TranscriptionFilterForm(data)
        form.is_valid()
        return bulk_deletion.bulk_target_of_filter(filters=form.filters(), with_sids=with_sids)
    return bulk_deletion.bulk_target_of_selection(sids=data.getlist("sid"))


def _confirm_response(
    request: HtmxHttpRequest,
    *,
    target: BulkTarget,
    errors: list[str] | None = None,
    reason: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "target": target,
        "errors": errors or [],
        "reason": reason,
        "account_sid": settings.TWILIO_ACCOUNT_SID,
        "twilio_problem": twilio_not_configured_text(),
        "typed_above": bulk_deletion.TYPED_CONFIRM_ABOVE,
        "cancel_url": reverse("transcriptions:list"),
        "with_recordings": request.POST.get("with_recordings") == "on",
    }
    return page_or_fragment(request, CONFIRM, context, fragment="confirm", status=status)


def _start(
    request: HtmxHttpRequest, *, target: BulkTarget, form: BulkConfirmForm
) -> tuple[BulkDeletion | None, list[str]]:
    """Record the bulk deletion; or why not, in words."""
    try:
        bulk = bulk_deletion.bulk_deletion_start(
            actor=request.user,
            sids=target.sids or [],
            reason=form.reason_text(),
            filter_params=target.filter_params,
            with_recordings=form.with_recordings(),
        )
    except (TwilioError, BulkDeletionRefused) as exc:
        return None, [f"{plain_words(exc)} Nothing deleted."]
    return bulk, []


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def bulk_deletion_confirm(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the confirmation of a bulk deletion (count, a sample, the Twilio account, a
    reason, and above 100 items the typed count); it deletes nothing. POST: check all that
    again against the cache as it is now, record the bulk deletion and queue it."""
    if request.method == "GET":
        return _confirm_response(request, target=_target(request.GET))
    target = _target(request.POST, with_sids=True)
    form = BulkConfirmForm(request.POST)
    reason = form.reason_text()
    # Everything that stops the deletion at once, Twilio's settings first.
    problem = twilio_not_configured_text()
    errors = [f"{problem} Nothing deleted."] if problem else []
    errors += form.errors_for(count=target.count, needs_typed_count=target.needs_typed_count)
    bulk, errors = _start(request, target=target, form=form) if not errors else (None, errors)
    if bulk is None:
        return _confirm_response(request, target=target, errors=errors, reason=reason, status=400)
    return _queued(request, bulk)


def _progress_context(bulk: BulkDeletion) -> dict[str, Any]:
    progress = bulk_deletion.bulk_deletion_progress(bulk_deletion=bulk)
    failed_items = bulk_deletion.bulk_deletion_failed_items(bulk_deletion=bulk, limit=FAILED_SHOWN)
    return {
        "bulk": bulk,
        "progress": progress,
        "failed_items": failed_items,
        "failed_shown": FAILED_SHOWN,
        "failed_total": 0
        if bulk.is_active
        else bulk_deletion.bulk_deletion_failed_count(bulk_deletion=bulk),
        "time_left": duration_text(progress.seconds_left),
        "is_stale": bulk_deletion.bulk_deletion_looks_stale(bulk),
        "proof": None if bulk.is_active else bulk_deletion.bulk_deletion_proof(bulk_deletion=bulk),
        "failure_groups": bulk_deletion.bulk_deletion_failure_groups(bulk_deletion=bulk),
        "table_url": bulk_deletion.bulk_deletion_table_url(bulk),
        "outage_pause_max": f"{settings.BULK_OUTAGE_PAUSE_MAX_SECONDS:g}",
    }


def _queued(request: HtmxHttpRequest, bulk: BulkDeletion) -> HttpResponse:
    """Queue a recorded bulk deletion and go to its page."""
    tasks.bulk_deletion_enqueue(bulk)
    if request.htmx:
        return HttpResponseClientRedirect(bulk.get_absolute_url())
    return redirect(bulk.get_absolute_url())


def _follow_up(
    request: HtmxHttpRequest,
    bulk: BulkDeletion,
    start: Callable[..., BulkDeletion],
) -> HttpResponse:
    """A new bulk deletion made from `bulk` (a retry, the rest of a cancelled one), queued
    and shown; or why not, in words, on `bulk`'s page."""
    try:
        follow_up = start(bulk_deletion=bulk, actor=request.user)
    except (TwilioError, BulkDeletionRefused) as exc:
        return error_answer(request, text=plain_words(exc), to=bulk.get_absolute_url())
    return _queued(request, follow_up)


def _bulk_or_404(pk: int) -> BulkDeletion:
    bulk = bulk_deletion.bulk_deletion_get(pk)
    if bulk is None:
        raise Http404(f"No bulk deletion #{pk}.")
    return bulk


@require_GET
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def bulk_deletion_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One bulk deletion: who, why, what, and its live progress. htmx polls get the progress
    partial alone, which stops polling itself once the deletion has finished. A deletion
    whose worker died is queued again from here."""
    bulk = _bulk_or_404(pk)
    resumed = tasks.bulk_deletion_resume_if_stale(bulk=bulk)
    context = {**_progress_context(bulk), "resumed": resumed}
    response = page_or_fragment(request, DETAIL, context, fragment="progress")
    if wants_fragment(request) and not bulk.is_active:
        trigger_client_event(response, CHANGED_EVENT)
    return response


@require_POST
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def bulk_deletion_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Cancel: DELETEs in flight finish, nothing more is deleted, the rest stay."""
    bulk = bulk_deletion.bulk_deletion_cancel(bulk_deletion=_bulk_or_404(pk))
    if request.htmx:
        return render(request, f"{DETAIL}#progress", _progress_context(bulk))
    messages.info(request, f"Bulk deletion #{bulk.pk}: {bulk.get_state_display().lower()}.")
    return redirect(bulk.get_absolute_url())


@require_POST
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def bulk_deletion_retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Start a new bulk deletion over this one's failed items, and go to it."""
    return _follow_up(request, _bulk_or_404(pk), bulk_deletion.bulk_deletion_retry_failed)


@require_POST
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def bulk_deletion_continue(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Start a new bulk deletion over what a cancelled one left, and go to it."""
    return _follow_up(request, _bulk_or_404(pk), bulk_deletion.bulk_deletion_continue_cancelled)


@require_GET
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def bulk_deletion_list(request: HtmxHttpRequest) -> HttpResponse:
    """Every bulk deletion, newest first, with its state; unfinished ones whose worker died
    are queued again."""
    tasks.resume_bulk_deletions()
    paginator = Paginator(bulk_deletion.bulk_deletion_list(), LIST_PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "transcriptions/bulkdeletion_list.html",
        {
            "page_obj": page_obj,
            "bulk_deletions": page_obj.object_list,
            "polling": any(bulk.is_active for bulk in page_obj.object_list),
        },
    )


@require_GET
@login_required
@permission_required("transcriptions.view_auditevent", raise_exception=True)
def bulk_deletion_erasure(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The erasure record of one bulk deletion: who asked, why, the filter, and for each SID
    its outcome, its recording's, and Twilio's answer afterwards. No text."""
    bulk = _bulk_or_404(pk)
    paginator = Paginator(bulk_deletion.erasure_items(bulk), ERASURE_PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    context = {
        "bulk": bulk,
        "page_obj": page_obj,
        "items": page_obj.object_list,
        "chosen_by": bulk_deletion.filter_text(bulk),
        "proof": None if bulk.is_active else bulk_deletion.bulk_deletion_proof(bulk_deletion=bulk),
    }
    return render(request, "transcriptions/bulkdeletion_erasure.html", context)


@require_GET
@login_required
@permission_required("transcriptions.view_auditevent", raise_exception=True)
def bulk_deletion_erasure_export(request: HtmxHttpRequest, pk: int) -> StreamingHttpResponse:
    """The erasure record as CSV, one line per SID (no text)."""
    bulk = _bulk_or_404(pk)
    response = StreamingHttpResponse(
        bulk_deletion.erasure_csv_stream(bulk), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="erasure-record-{bulk.pk}.csv"'
    return response
