"""The review table (`/`) and its CSV export: both read the table's filters from the URL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from .. import bulk_deletion, export, table
from ..audit import table_viewed
from ..forms import MentionsForm, TranscriptionFilterForm
from ..models import TranscriptionStatus
from ..personal_data import ANY, Kind
from ..sids import is_transcription_sid
from .htmx import HtmxHttpRequest, wants_fragment

# Longer than any cursor the table makes; anything longer is not one.
CURSOR_MAX_LENGTH = 200
LIST = "transcriptions/transcription_list.html"


def _paging_params(request: HtmxHttpRequest) -> dict[str, Any]:
    """The page asked for: `after` or `before` a cursor, or `last`; the first page otherwise."""
    after = request.GET.get("after", "")[: CURSOR_MAX_LENGTH + 1]
    before = request.GET.get("before", "")[: CURSOR_MAX_LENGTH + 1]
    return {
        "after": after if after and not before else None,
        "before": before or None,
        "last": request.GET.get("last") == "1" and not (after or before),
    }


def _first_row_number(request: HtmxHttpRequest) -> int | None:
    """`start`: the number of the page's first row in the list, carried by the pager's links
    (a cursor says where a page starts, not how far down that is)."""
    start = request.GET.get("start", "")
    return int(start) if start.isdigit() and len(start) < 10 and int(start) > 0 else None


def _position(
    page: table.TablePage, paging: dict[str, Any], start: int | None
) -> dict[str, int] | None:
    """Rows `first`–`last` of the list on this page: known on the first page, on the last
    when the count is exact, and elsewhere when the pager's link said (`start`)."""
    shown = len(page.rows)
    if not shown:
        return None
    if page.notice or not (paging["after"] or paging["before"] or paging["last"]):
        start = 1
    elif paging["last"]:
        exact = page.count is not None and not page.count.capped
        start = page.count.value - shown + 1 if exact and page.count else None
    if start is None:
        return None
    return {"first": start, "last": start + shown - 1}


def _status_options(filters: table.TableFilters, page: table.TablePage) -> list[dict[str, Any]]:
    """The status filter's boxes with their facet counts (None: deferred)."""
    return [
        {
            "value": value,
            "label": label,
            "count": None if page.facets is None else page.facets.get(value, table.Count(0)),
            "checked": value in filters.statuses,
        }
        for value, label in TranscriptionStatus.choices
    ]


def _table_page(
    request: HtmxHttpRequest,
    filters: table.TableFilters,
    status: table.CacheStatus,
    paging: dict[str, Any],
) -> table.TablePage:
    """The page asked for; its counts left to a second request when they cost more."""
    return table.transcription_page(
        filters=filters,
        totals=status.counts,
        defer_counts=request.GET.get("counts") != "1",
        **paging,
    )


def _counts_only(request: HtmxHttpRequest) -> bool:
    """counts=1 aimed at #result-counts: the counts a page left out because they cost more
    than the page (see the template's result-count block), asked for alone by htmx."""
    return (
        request.GET.get("counts") == "1"
        and wants_fragment(request)
        and request.htmx.target == "result-counts"
    )


def _results_context(
    *,
    user: Any,
    form: TranscriptionFilterForm,
    status: table.CacheStatus,
    page: table.TablePage,
    paging: dict[str, Any],
    start: int | None,
) -> dict[str, Any]:
    filters = form.filters()
    position = _position(page, paging, start)
    per_page = filters.per_page
    base = reverse("transcriptions:list")
    can_read_text = form.can_read_text
    can_delete = user.has_perm("transcriptions.delete_transcription")
    # The URL of what is shown: the cursor that was used (none when it was not valid).
    current = {} if page.notice else {key: value for key, value in paging.items() if value}
    if current.get("last"):
        current["last"] = 1
    if current and position:
        current["start"] = position["first"]
    # The pager's links carry the number of the row each page starts at.
    after_start = {"start": position["last"] + 1} if position else {}
    before_start = {"start": max(1, position["first"] - per_page)} if position else {}
    form_errors = [
        (form.fields[name].label if name in form.fields else "", message)
        for name, field_errors in form.errors.items()
        for message in field_errors
    ]
    if page.notice:
        form_errors.append(("Page", page.notice))
    rows_html = table.table_rows(
        page.rows, filters=filters, base=base, can_read_text=can_read_text, can_delete=can_delete
    )
    return {
        "form": form,
        "filters": filters,
        "form_errors": form_errors,
        "status": status,
        "status_options": _status_options(filters, page),
        "counts_url": filters.url(base, counts=1, **current),
        "page": page,
        "paging": current,
        "rows": page.rows,
        "rows_html": rows_html,
        "first_url": filters.url(base) if page.has_previous else None,
        "previous_url": (
            filters.url(base, before=page.first_cursor, **before_start)
            if page.has_previous and page.first_cursor
            else None
        ),
        "next_url": (
            filters.url(base, after=page.last_cursor, **after_start)
            if page.has_next and page.last_cursor
            else None
        ),
        "last_url": filters.url(base, last=1) if page.has_next else None,
        "sort_links": filters.sort_links(base),
        "personal_data_options": [
            {"value": value, "label": label, "checked": value in filters.personal_data}
            for value, label in [(ANY, "Any kind"), *Kind.choices]
        ],
        "pd_counts_url": filters.url(base, pd_counts=1),
        # What the results ask for when they refresh themselves: the filters they were made
        # with, not the form's fields, which may hold words not searched for yet.
        "refresh_url": filters.url(base),
        "news_url": filters.url(
            base,
            news=1,
            since_id=table.newest_id(),
            since=timezone.now().isoformat(),
            shown=",".join(t.sid for t in page.rows),
        ),
        "news_poll_seconds": settings.TABLE_NEWS_POLL_SECONDS,
        "date_presets": filters.date_presets(base, today=timezone.localdate()),
        "page_url": filters.url(base, **current),
        "position": position,
        "running_bulk": _running_bulk(user),
        "can_read_text": can_read_text,
        "can_delete": can_delete,
    }


def _deferred_counts(
    request: HtmxHttpRequest, filters: table.TableFilters, status: table.CacheStatus
) -> HttpResponse:
    """The counts a page left out (see `_counts_only`), alone."""
    page = table.transcription_page(filters=filters, per_page=1, totals=status.counts)
    options = _status_options(filters, page)
    context = {"page": page, "filters": filters, "status_options": options}
    return render(request, f"{LIST}#counts", context)


def _running_bulk(user: Any) -> list[Any]:
    """The bulk deletions under way, for those who may delete (a lead sees a running job
    from the table)."""
    if not user.has_perm("transcriptions.delete_transcription"):
        return []
    return bulk_deletion.bulk_deletions_running()


def _finished_bulk(user: Any, since: datetime | None) -> list[Any]:
    """The bulk deletions that ended since the page was made: its rows may be gone."""
    if since is None or not user.has_perm("transcriptions.delete_transcription"):
        return []
    return bulk_deletion.bulk_deletions_finished_since(since)


def _news(request: HtmxHttpRequest, filters: table.TableFilters) -> HttpResponse:
    """What arrived and changed since the page was made (see `table.news`): a notice, and
    the shown rows' new status badges out of band; and the bulk deletions under way."""
    since_id = request.GET.get("since_id", "")
    try:
        since = datetime.fromisoformat(request.GET.get("since", ""))
    except ValueError:
        since = None
    if since is not None and timezone.is_naive(since):
        since = None
    shown = [sid for sid in request.GET.get("shown", "").split(",") if is_transcription_sid(sid)]
    news = table.news_since(
        filters=filters,
        since_id=int(since_id) if since_id.isdigit() and len(since_id) < 19 else 0,
        since=since,
        shown=shown,
    )
    context = {
        "news": news,
        "show_url": filters.url(reverse("transcriptions:list")),
        "running_bulk": _running_bulk(request.user),
        "finished_bulk": _finished_bulk(request.user, since),
    }
    return render(request, f"{LIST}#news", context)


def _personal_data_counts(request: HtmxHttpRequest, filters: table.TableFilters) -> HttpResponse:
    """The personal-data filter's counts per kind, asked for by the page after its rows."""
    counts = table.personal_data_counts(filters=filters)
    return render(request, f"{LIST}#personal-data-counts", {"pd_counts": counts})


@require_GET
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.view_transcription", raise_exception=True)
def transcription_list(request: HtmxHttpRequest) -> HttpResponse:
    """The cache's status bar and the review table; htmx requests get the results alone."""
    can_read_text = request.user.has_perm("transcriptions.view_transcript_text")
    form = TranscriptionFilterForm(request.GET, can_read_text=can_read_text)
    form.is_valid()  # invalid fields are dropped from the filters and listed above the table
    filters = form.filters()
    if request.GET.get("pd_counts") == "1" and wants_fragment(request):
        return _personal_data_counts(request, filters)
    if request.GET.get("news") == "1" and wants_fragment(request):
        return _news(request, filters)
    status = table.cache_status()
    if _counts_only(request):
        return _deferred_counts(request, filters, status)
    paging = _paging_params(request)
    page = _table_page(request, filters, status, paging)
    start = _first_row_number(request)
    context = _results_context(
        user=request.user, form=form, status=status, page=page, paging=paging, start=start
    )
    table_viewed(user=request.user, filters=filters, rows=page.rows, with_text=can_read_text)
    if not wants_fragment(request):
        return render(request, LIST, context)
    response = render(request, f"{LIST}#results", {**context, "out_of_band": True})
    # The results refreshing themselves after a change (trigger "results") keep the URL;
    # filters and paging push the canonical one (defaults and invalid values left out).
    if request.htmx.trigger != "results":
        push_url(response, context["page_url"])
    return response


@require_GET
@login_required
@permission_required("transcriptions.view_transcription", raise_exception=True)
def transcription_export(request: HtmxHttpRequest) -> StreamingHttpResponse:
    """The table's current filter and sort as a CSV download, streamed row by row; the text
    column only for users who may read text. Invalid filters are ignored, as in the table.
    The export is audited when the stream ends."""
    can_read_text = request.user.has_perm("transcriptions.view_transcript_text")
    form = TranscriptionFilterForm(request.GET, can_read_text=can_read_text)
    form.is_valid()
    filters = form.filters()
    response = StreamingHttpResponse(
        export.transcriptions_csv_stream(
            rows=table.transcription_list(filters=filters),
            with_text=can_read_text,
            reveal=request.user.has_perm("transcriptions.reveal_personal_data"),
            user=request.user,
            filter_description=export.filter_description(filters),
        ),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{export.export_filename()}"'
    # Why: the file may hold transcript text; no shared or browser cache should keep a copy.
    patch_cache_control(response, private=True, no_store=True)
    return response


@require_POST
@login_required
@permission_required("transcriptions.view_transcript_text", raise_exception=True)
def transcription_mentions(request: HtmxHttpRequest) -> HttpResponse:
    """The page's mentions search: the value comes in the POST body and the table is shown
    for a signed, expiring token instead, so the value never sits in a URL a server logs."""
    form = MentionsForm(request.POST)
    base = reverse("transcriptions:list")
    if not form.is_valid():
        problems = [str(error) for error in form.errors.get("mentions", [])]
        messages.error(request, " ".join(problems) or "Enter a value.")
        return redirect(base)
    filters = table.TableFilters(mentions=form.cleaned_data["mentions"])
    return redirect(filters.url(base))
