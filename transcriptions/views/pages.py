"""The pages beside the table: the audit trail, the retention policy, and the overview chart."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods

from .. import overview, retention, tasks
from ..audit import audit_csv_stream, audit_event_list
from ..forms import AuditFilterForm, AuditFilters, RetentionConfirmForm, RetentionPolicyForm
from ..models import TranscriptionStatus
from ..table import TableFilters
from ..twilio_client import TwilioError, twilio_not_configured_text
from ..words import plural
from .htmx import HtmxHttpRequest

AUDIT_PAGE_SIZE = 50
RETENTION_SAMPLE_SIZE = 20
RETENTION = "transcriptions/retention.html"


@require_GET
@login_required
@permission_required("transcriptions.view_auditevent", raise_exception=True)
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    """The audit trail, filtered by user, action and dates; invalid filters are reported and
    ignored."""
    form = AuditFilterForm(request.GET)
    form.is_valid()
    filters = form.filters()
    events = _audit_events(filters)
    page_obj = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "filters": filters,
        "page_obj": page_obj,
        "events": page_obj.object_list,
        "is_filtered": filters.is_filtered,
        "export_url": reverse("transcriptions:audit-export") + "?" + request.GET.urlencode(),
    }
    return render(request, "transcriptions/auditevent_list.html", context)


def _audit_events(filters: AuditFilters):
    return audit_event_list(
        username=filters.username,
        action=filters.action,
        date_from=filters.date_from,
        date_to=filters.date_to,
        sid=filters.sid,
        batch=filters.batch,
    )


@require_GET
@login_required
@permission_required("transcriptions.view_auditevent", raise_exception=True)
def audit_export(request: HtmxHttpRequest) -> StreamingHttpResponse:
    """The filtered audit trail as CSV (the same filters as the page; batches as their head
    events unless a SID or a batch is asked for). Holds no transcript text: events never do."""
    form = AuditFilterForm(request.GET)
    form.is_valid()
    response = StreamingHttpResponse(
        audit_csv_stream(_audit_events(form.filters())), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    patch_cache_control(response, private=True, no_store=True)
    return response


def _retention_page(
    request: HtmxHttpRequest,
    *,
    policy_form: RetentionPolicyForm,
    cutoff: Any = None,
    errors: list[str] | None = None,
) -> HttpResponse:
    """The policy form and, once a valid policy is given, how many transcriptions it would
    delete with a sample (at `cutoff`, the one a confirmation carried, when given)."""
    preview = None
    if policy_form.is_bound and policy_form.is_valid():
        preview = retention.retention_preview(
            policy=policy_form.policy(), cutoff=cutoff, sample_size=RETENTION_SAMPLE_SIZE
        )
    context: dict[str, Any] = {
        "policy_form": policy_form,
        "preview": preview,
        "twilio_problem": twilio_not_configured_text(),
        "account_sid": settings.TWILIO_ACCOUNT_SID,
        "reason": retention.RETENTION_REASON,
    }
    if errors is not None:
        context["confirm_errors"] = errors
    return render(request, RETENTION, context, status=400 if errors else 200)


def _retention_start(request: HtmxHttpRequest, form: RetentionConfirmForm) -> HttpResponse:
    """Record and queue the bulk deletion of what the confirmed policy covers now, if the
    typed count still matches it."""
    policy, cutoff = form.policy(), form.cleaned_data["cutoff"]
    count = retention.retention_preview(policy=policy, cutoff=cutoff, sample_size=0).count
    started, error = None, None
    if count == 0:
        error = "No cached transcription falls under the policy any more; nothing to delete."
    elif not form.typed_count_matches(count):
        error = (
            f"The typed count does not match: the policy covers "
            f"{plural(count, 'transcription')}. Nothing deleted."
        )
    else:
        try:
            started = retention.retention_apply(policy=policy, cutoff=cutoff, actor=request.user)
        except retention.RetentionPolicyError as exc:
            error = str(exc)
        except TwilioError as exc:
            error = f"{exc.in_plain_words()} Nothing deleted."
    if started is None:
        policy_form = RetentionPolicyForm(request.POST)
        return _retention_page(
            request, policy_form=policy_form, cutoff=cutoff, errors=[error or ""]
        )
    tasks.bulk_deletion_enqueue(started.bulk_deletion)
    messages.success(
        request,
        f"Retention policy applied: bulk deletion #{started.bulk_deletion.pk} of "
        f"{plural(started.count, 'transcription')} started.",
    )
    return redirect("transcriptions:bulk-detail", pk=started.bulk_deletion.pk)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("transcriptions.apply_retention", raise_exception=True)
def retention_policy(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the policy form and, once a policy is given, how many transcriptions it would
    delete with a sample. POST: with the count typed to match, start the bulk deletion
    (reason "retention policy") and go to it."""
    if request.method == "GET":
        return _retention_page(request, policy_form=RetentionPolicyForm(request.GET or None))
    confirm_form = RetentionConfirmForm(request.POST)
    if confirm_form.is_valid():
        return _retention_start(request, confirm_form)
    # The policy itself may be fine (only the typed count missing): show its preview again.
    errors = [str(e) for field_errors in confirm_form.errors.values() for e in field_errors]
    return _retention_page(request, policy_form=RetentionPolicyForm(request.POST), errors=errors)


def _overview_context(days: int) -> dict[str, Any]:
    data = overview.status_overview(days=days)
    list_url = reverse("transcriptions:list")

    def segment_url(day: date, status: str) -> str:
        return TableFilters(statuses=(status,), created_from=day, created_to=day).url(list_url)

    labels = dict(TranscriptionStatus.choices)
    return {
        "days": days,
        "time_zone": settings.TIME_ZONE,
        "periods": overview.PERIODS,
        "overview": data,
        "chart": overview.chart_geometry(overview=data, segment_url=segment_url),
        "legend": [(s, labels[s]) for s in reversed(overview.STACK_ORDER)],
        "table_rows": [
            {
                "day": day,
                "cells": [
                    (day.count(s), segment_url(day.day, s)) for s, _ in TranscriptionStatus.choices
                ],
            }
            for day in reversed(data.days)
        ],
        "status_labels": [label for _, label in TranscriptionStatus.choices],
        "totals": [data.totals[s] for s, _ in TranscriptionStatus.choices],
        "period_url": TableFilters(created_from=data.first_day, created_to=data.last_day).url(
            list_url
        ),
    }


@require_GET
@login_required
@permission_required("transcriptions.view_transcription", raise_exception=True)
def status_overview(request: HtmxHttpRequest) -> HttpResponse:
    """Transcriptions per day by status over the last 30 or 90 days (`?days=`; anything else
    shows 30) as a server-drawn SVG chart; each bar segment links to the table filtered to
    that day and status."""
    days = overview.period_parse(request.GET.get("days"))
    return render(request, "transcriptions/overview.html", _overview_context(days))
