"""Thin views: a full page on a normal request, a partial on an htmx request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from email.utils import format_datetime
from urllib.parse import quote_plus, urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
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
from django_tasks.base import TaskResultStatus
from django_tasks.exceptions import TaskResultDoesNotExist

from . import deletion, export, overview, queries, retention, sync, tasks
from .audit import AuditFilterForm, audit_event_list, audit_record
from .forms import TableFilters, TranscriptionFilterForm
from .models import (
    AuditEvent,
    BulkDeletion,
    BulkDeletionItem,
    SyncRun,
    Transcription,
    TranscriptionStatus,
)
from .twilio_client import TwilioError, TwilioNotFound, get_client, twilio_configuration_problem


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@dataclass(frozen=True)
class TableRow:
    """One row of the table, its cells formatted here: a template lookup or filter costs
    microseconds, and fifty rows of a dozen cells made up most of the page's time.
    `snippet` is None when the user may not read transcript text."""

    transcription: Transcription
    snippet: SafeString | None
    recording_url: str
    detail_url: str
    delete_url: str
    created_iso: str  # as the `date:"c"` filter, `date:"r"`, and shown
    created_rfc: str
    created_text: str
    status_label: str
    price_text: str | None  # as `floatformat:4`, with the unit

    @classmethod
    def of(
        cls,
        t: Transcription,
        *,
        snippet: SafeString | None,
        recording_url: str,
        detail_url: str,
        delete_url: str,
    ) -> TableRow:
        created = timezone.localtime(t.date_created)
        return cls(
            transcription=t,
            snippet=snippet,
            recording_url=recording_url,
            detail_url=detail_url,
            delete_url=delete_url,
            created_iso=created.isoformat(),
            created_rfc=format_datetime(created),
            created_text=created.strftime("%Y-%m-%d %H:%M"),
            status_label=t.get_status_display(),
            price_text=None if t.price is None else f"{_price_text(t.price)} {t.price_unit}",
        )


# The table's row, written here rather than in the template: through template nodes, fifty
# rows of a dozen cells were about half of a page's time (`bench/table_at_scale.py`).
_ROW_HTML = (
    '<tr data-sid="{sid}" id="transcription-{sid}">{select}'
    '<td class="col-created"><time datetime="{created_iso}" title="{created_rfc}">'
    "{created_text}</time></td>"
    '<td class="col-sid"><span class="sid" title="{sid}">{sid}</span></td>'
    # A plain link: applying the recording filter reloads the page, so the form shows it.
    '<td class="col-recording"><a class="sid" href="{recording_url}" '
    'title="Show only recording {recording}">{recording}</a></td>'
    '<td class="col-status"><span class="badge badge-{status}">{status_label}</span></td>'
    '<td class="col-duration num">{duration}</td>'
    '<td class="col-price num">{price}</td>'
    '<td class="col-text">{text}</td>'
    '<td class="col-actions">{preview}{delete}</td>'
    "</tr>"
)
_ROW_SELECT_HTML = (
    '<td class="col-select"><input type="checkbox" name="sid" value="{sid}" form="bulk-form" '
    'data-bulk-select aria-label="Select {sid}"></td>'
)
# href for no-JS; htmx puts the detail page's preview partial beside the table.
_ROW_PREVIEW_HTML = (
    '<a class="button button-small" data-action="preview" href="{url}" hx-get="{url}" '
    'hx-target="#preview" hx-swap="innerHTML" aria-label="Preview {sid}">Preview</a>'
)
# The confirmation comes into #modal; without JS the link opens the confirmation page.
_ROW_DELETE_HTML = (
    '<a class="button button-small button-danger-quiet" data-action="delete" href="{url}" '
    'hx-get="{url}" hx-target="#modal" hx-swap="innerHTML" aria-label="Delete {sid}">Delete</a>'
)
_MUTED_DASH = mark_safe('<span class="muted">—</span>')
_TEXT_HIDDEN = mark_safe(
    '<span class="muted text-hidden" title="Reading transcript text needs the Reviewers role">'
    "hidden</span>"
)
_TEXT_NOT_CACHED = mark_safe('<span class="muted">not cached yet</span>')
_TEXT_EMPTY = mark_safe('<span class="muted">(empty)</span>')


def _row_html(row: TableRow, *, can_delete: bool) -> SafeString:
    """One `<tr>` of the table. A row without a snippet belongs to a user who may not read
    transcript text: no text and no preview link. Every value is escaped here, once, and put
    in with str.format: format_html's escaping of each argument cost more than the rest."""
    t = row.transcription
    sid = escape(t.sid)
    if row.snippet is None:
        text = _TEXT_HIDDEN
    elif row.snippet:
        text = f'<span class="snippet">{row.snippet}</span>'  # already escaped, with <mark>s
    elif t.transcription_text is None:
        text = _TEXT_NOT_CACHED
    else:
        text = _TEXT_EMPTY
    html = _ROW_HTML.format(
        sid=sid,
        select=_ROW_SELECT_HTML.format(sid=sid) if can_delete else "",
        created_iso=escape(row.created_iso),
        created_rfc=escape(row.created_rfc),
        created_text=escape(row.created_text),
        recording_url=escape(row.recording_url),
        recording=escape(t.recording_sid),
        status=escape(t.status),
        status_label=escape(row.status_label),
        duration=f"{int(t.duration)}&nbsp;s" if t.duration is not None else _MUTED_DASH,
        price=escape(row.price_text) if row.price_text is not None else _MUTED_DASH,
        text=text,
        preview=(
            _ROW_PREVIEW_HTML.format(url=escape(row.detail_url), sid=sid)
            if row.snippet is not None
            else ""
        ),
        delete=(_ROW_DELETE_HTML.format(url=escape(row.delete_url), sid=sid) if can_delete else ""),
    )
    return mark_safe(html)  # noqa: S308 - every value above is escaped or built safe here


def _price_text(price: Decimal) -> str:
    """Four decimals rounded half up, no sign on zero (as `floatformat:4`)."""
    rounded = price.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return f"-{-rounded:f}" if rounded < 0 else f"{abs(rounded):f}"


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


SID_PLACEHOLDER = "TR" + "0" * 32
RECORDING_PLACEHOLDER = "RE" + "0" * 32
# Longer than any cursor the table makes; anything longer is not one.
CURSOR_MAX_LENGTH = 200


def _paging_params(request: HtmxHttpRequest) -> dict[str, object]:
    """The page asked for: `after` or `before` a cursor, or `last`; the first page otherwise."""
    after = request.GET.get("after", "")[: CURSOR_MAX_LENGTH + 1]
    before = request.GET.get("before", "")[: CURSOR_MAX_LENGTH + 1]
    return {
        "after": after if after and not before else None,
        "before": before or None,
        "last": request.GET.get("last") == "1" and not (after or before),
    }


def _status_options(filters: TableFilters, page: queries.TablePage) -> list[dict[str, object]]:
    """The status filter's boxes with their facet counts (None: deferred)."""
    return [
        {
            "value": value,
            "label": label,
            "count": (None if page.facets is None else page.facets.get(value, queries.Count(0))),
            "checked": value in filters.statuses,
        }
        for value, label in TranscriptionStatus.choices
    ]


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
    paging = _paging_params(request)

    # counts=1: the counts a page left out because they cost more than the page (see the
    # template's result-count block); htmx asks for them alone, aimed at that block.
    counts_asked = request.GET.get("counts") == "1"
    counts_only = (
        counts_asked
        and request.htmx
        and not request.htmx.history_restore_request
        and request.htmx.target == "result-counts"
    )
    status = queries.cache_status()
    if counts_only:
        page = queries.transcription_page(
            **filters.query_kwargs(), per_page=1, totals=status.counts
        )
        return render(
            request,
            "transcriptions/transcription_list.html#counts",
            {
                "page": page,
                "filters": filters,
                "status_options": _status_options(filters, page),
            },
        )
    page = queries.transcription_page(
        **filters.query_kwargs(),
        per_page=filters.per_page,
        totals=status.counts,
        defer_counts=not counts_asked,
        **paging,
    )

    can_read_text = request.user.has_perm("transcriptions.view_transcript_text")
    can_delete = request.user.has_perm("transcriptions.delete_transcription")
    # Reversed once, not twice per row: URL reversing was a fifth of a 50-row page's time.
    detail_url = reverse("transcriptions:detail", kwargs={"sid": SID_PLACEHOLDER})
    delete_url = reverse("transcriptions:delete", kwargs={"sid": SID_PLACEHOLDER})
    recording_url = filters.url(base, recording=RECORDING_PLACEHOLDER)
    rows = [
        TableRow.of(
            t,
            snippet=(
                queries.text_snippet(t.transcription_text, filters.search)
                if can_read_text
                else None
            ),
            recording_url=(
                recording_url.replace(RECORDING_PLACEHOLDER, quote_plus(t.recording_sid))
                if t.recording_sid
                else filters.url(base)
            ),
            detail_url=detail_url.replace(SID_PLACEHOLDER, t.sid),
            delete_url=delete_url.replace(SID_PLACEHOLDER, t.sid),
        )
        for t in page.rows
    ]
    # The URL of what is shown: the cursor that was used (none when it was not valid).
    current = {}
    if not page.notice:
        current = {key: value for key, value in paging.items() if value}
        if current.get("last"):
            current["last"] = 1
    page_url = filters.url(base, **current)
    form_errors = [
        (form.fields[name].label if name in form.fields else "", message)
        for name, messages in form.errors.items()
        for message in messages
    ]
    if page.notice:
        form_errors.append(("Page", page.notice))
    context = {
        "form": form,
        "filters": filters,
        "form_errors": form_errors,
        "status": status,
        "status_options": _status_options(filters, page),
        "counts_url": filters.url(base, counts=1, **current),
        "page": page,
        "paging": current,
        "rows": rows,
        "rows_html": mark_safe(  # noqa: S308 - each row is escaped by _row_html
            "".join(_row_html(row, can_delete=can_delete) for row in rows)
        ),
        "first_url": filters.url(base) if page.has_previous else None,
        "previous_url": (
            filters.url(base, before=page.first_cursor)
            if page.has_previous and page.first_cursor
            else None
        ),
        "next_url": (
            filters.url(base, after=page.last_cursor)
            if page.has_next and page.last_cursor
            else None
        ),
        "last_url": filters.url(base, last=1) if page.has_next else None,
        "sort_links": _sort_links(filters, base),
        "page_url": page_url,
        "can_read_text": can_read_text,
        "can_delete": can_delete,
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
SYNC_TASK_ID_RE = re.compile(r"^[0-9a-fA-F-]{32,36}$")
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


# ---- Retention, export and overview ----

RETENTION_SAMPLE_SIZE = 20


def _retention_context(
    *, policy_form: retention.RetentionPolicyForm, preview: retention.RetentionPreview | None
) -> dict:
    return {
        "policy_form": policy_form,
        "preview": preview,
        "twilio_problem": _twilio_problem_text(),
        "account_sid": settings.TWILIO_ACCOUNT_SID,
        "reason": retention.RETENTION_REASON,
    }


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("transcriptions.apply_retention", raise_exception=True)
def retention_policy(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the policy form and, once a policy is given, how many transcriptions it would
    delete with a sample. POST: with the count typed to match, start the bulk deletion
    (reason "retention policy") and go to it."""
    if request.method == "GET":
        policy_form = retention.RetentionPolicyForm(request.GET or None)
        preview = None
        if policy_form.is_bound and policy_form.is_valid():
            preview = retention.retention_preview(
                policy=policy_form.policy(), sample_size=RETENTION_SAMPLE_SIZE
            )
        return render(
            request,
            "transcriptions/retention.html",
            _retention_context(policy_form=policy_form, preview=preview),
        )

    confirm_form = retention.RetentionConfirmForm(request.POST)
    if not confirm_form.is_valid():
        # The policy itself may be fine (only the typed count missing): show its preview again.
        policy_form = retention.RetentionPolicyForm(request.POST)
        preview = None
        if policy_form.is_valid():
            preview = retention.retention_preview(
                policy=policy_form.policy(), sample_size=RETENTION_SAMPLE_SIZE
            )
        context = _retention_context(policy_form=policy_form, preview=preview)
        context["confirm_errors"] = [e for errors in confirm_form.errors.values() for e in errors]
        return render(request, "transcriptions/retention.html", context, status=400)

    policy = confirm_form.policy()
    cutoff = confirm_form.cleaned_data["cutoff"]
    preview = retention.retention_preview(
        policy=policy, cutoff=cutoff, sample_size=RETENTION_SAMPLE_SIZE
    )
    problem = _twilio_problem_text()
    error = None
    if problem:
        error = f"{problem} Nothing deleted."
    elif preview.count == 0:
        error = "No cached transcription falls under the policy any more; nothing to delete."
    elif not confirm_form.typed_count_matches(preview.count):
        error = (
            f"The typed count does not match: the policy covers {preview.count:,} "
            f"transcription{'s' if preview.count != 1 else ''}. Nothing deleted."
        )
    if error is None:
        try:
            started = retention.retention_apply(policy=policy, cutoff=cutoff, actor=request.user)
        except retention.RetentionPolicyError as exc:
            error = str(exc)
    if error is not None:
        context = _retention_context(
            policy_form=retention.RetentionPolicyForm(request.POST), preview=preview
        )
        context["confirm_errors"] = [error]
        return render(request, "transcriptions/retention.html", context, status=400)

    bulk = started.bulk_deletion
    messages.success(
        request,
        f"Retention policy applied: bulk deletion #{bulk.pk} of {started.count:,} "
        f"transcription{'s' if started.count != 1 else ''} started.",
    )
    try:
        return redirect("transcriptions:bulk-detail", pk=bulk.pk)
    except NoReverseMatch:
        return redirect("transcriptions:retention")


@require_GET
@login_required
@permission_required("transcriptions.view_transcription", raise_exception=True)
def transcription_export(request: HtmxHttpRequest) -> StreamingHttpResponse:
    """The table's current filter and sort as a CSV download, streamed row by row; the text
    column only for users who may read text. Invalid filters are ignored, as in the table.
    The export is audited when the stream ends."""
    form = TranscriptionFilterForm(request.GET)
    form.is_valid()
    filters = form.filters()
    rows = queries.transcription_list(**filters.query_kwargs())
    query = urlencode(filters.params(per_page=None))
    response = StreamingHttpResponse(
        export.transcriptions_csv_stream(
            rows=rows,
            with_text=request.user.has_perm("transcriptions.view_transcript_text"),
            user=request.user,
            filter_description=f"filter: {query}" if query else "filter: none (all rows)",
        ),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{export.export_filename()}"'
    # Why: the file may hold transcript text; no shared or browser cache should keep a copy.
    patch_cache_control(response, private=True, no_store=True)
    return response


@require_GET
@login_required
@permission_required("transcriptions.view_transcription", raise_exception=True)
def status_overview(request: HtmxHttpRequest) -> HttpResponse:
    """Transcriptions per day by status over the last 30 or 90 days (`?days=`; anything else
    shows 30) as a server-drawn SVG chart; each bar segment links to the table filtered to
    that day and status."""
    days = overview.period_parse(request.GET.get("days"))
    data = overview.status_overview(days=days)
    list_url = reverse("transcriptions:list")

    def segment_url(day: date, status: str) -> str:
        return TableFilters(statuses=(status,), created_from=day, created_to=day).url(list_url)

    chart = overview.chart_geometry(overview=data, segment_url=segment_url)
    labels = dict(TranscriptionStatus.choices)
    context = {
        "days": days,
        "time_zone": settings.TIME_ZONE,
        "periods": overview.PERIODS,
        "overview": data,
        "chart": chart,
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
    return render(request, "transcriptions/overview.html", context)


# ---- Bulk deletion ----

BULK_SAMPLE_SIZE = 10
# Above this many items the confirmation asks for the count to be typed.
BULK_TYPED_CONFIRM_ABOVE = 100
# At most this many explicitly selected SIDs in one request (a page holds at most 100).
BULK_SELECTION_MAX = 1000
BULK_LIST_PAGE_SIZE = 50
BULK_FAILED_SHOWN = 100
# The table's filter parameters that "all matching" carries and records.
BULK_FILTER_PARAMS = ("q", "status", "recording", "date_from", "date_to")


@dataclass(frozen=True)
class BulkTarget:
    """What a bulk deletion request points at: the exact SIDs, a sample, and where they came
    from (a selection, or "all matching" a filter, re-evaluated on every request)."""

    count: int
    sample: list[Transcription]
    from_filter: bool
    filter_params: dict[str, list[str]]
    # The exact SIDs; for "all matching" only read when the bulk deletion is created.
    sids: list[str] | None = None
    # Selected SIDs dropped: malformed, or no longer in the cache.
    ignored: int = 0

    @property
    def needs_typed_count(self) -> bool:
        return self.count > BULK_TYPED_CONFIRM_ABOVE


def _bulk_target(data, *, with_sids: bool = False) -> BulkTarget:
    """Read the target from GET or POST data: `all=1` with the table's filter parameters
    (evaluated now with the table's own query), or `sid` repeated for a selection.
    `with_sids` also reads every matching SID (to create the bulk deletion)."""
    if data.get("all"):
        form = TranscriptionFilterForm(data)
        form.is_valid()  # invalid filters are ignored, as the table ignores them
        filters = form.filters()
        rows = queries.transcription_list(**filters.query_kwargs())
        params: dict[str, list[str]] = {}
        for name, value in filters.params(sort=None, per_page=None):
            params.setdefault(name, []).append(value)
        sids = list(rows.values_list("sid", flat=True)) if with_sids else None
        return BulkTarget(
            count=len(sids) if sids is not None else rows.order_by().count(),
            sample=list(rows.defer("transcription_text")[:BULK_SAMPLE_SIZE]),
            from_filter=True,
            filter_params=params,
            sids=sids,
        )
    raw = data.getlist("sid")[:BULK_SELECTION_MAX]
    wanted = [sid for sid in dict.fromkeys(raw) if TRANSCRIPTION_SID_RE.fullmatch(sid)]
    rows = list(
        Transcription.objects.filter(sid__in=wanted)
        .defer("transcription_text")
        .order_by(*queries.SORTS[queries.DEFAULT_SORT])
    )
    return BulkTarget(
        count=len(rows),
        sids=[row.sid for row in rows],
        sample=rows[:BULK_SAMPLE_SIZE],
        from_filter=False,
        filter_params={},
        ignored=len(raw) - len(rows),
    )


def _bulk_confirm_response(
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
        "twilio_problem": _twilio_problem_text(),
        "typed_above": BULK_TYPED_CONFIRM_ABOVE,
        "cancel_url": reverse("transcriptions:list"),
    }
    if request.htmx and not request.htmx.history_restore_request:
        # Why 200 even for an error: htmx 2 swaps nothing for a 4xx answer.
        return render(request, "transcriptions/bulkdeletion_confirm.html#confirm", context)
    return render(request, "transcriptions/bulkdeletion_confirm.html", context, status=status)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def bulk_deletion_confirm(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the confirmation of a bulk deletion (count, a sample, the Twilio account, a
    reason, and above 100 items the typed count); it deletes nothing. POST: check all that
    again against the cache as it is now, record the bulk deletion and queue it."""
    if request.method == "GET":
        return _bulk_confirm_response(request, target=_bulk_target(request.GET))

    target = _bulk_target(request.POST, with_sids=True)
    reason = " ".join(request.POST.get("reason", "").split())
    errors = []
    problem = _twilio_problem_text()
    if problem:
        errors.append(f"{problem} Nothing deleted.")
    if target.count == 0:
        errors.append("None of the chosen transcriptions is in the list any more.")
    if not reason:
        errors.append("Give a reason: it is kept in the audit trail.")
    if target.needs_typed_count:
        typed = request.POST.get("confirm_count", "").replace(",", "").strip()
        if typed != str(target.count):
            errors.append(
                f"Type the number of transcriptions to delete ({target.count}) to confirm."
            )
    if errors:
        return _bulk_confirm_response(
            request, target=target, errors=errors, reason=reason, status=400
        )
    bulk = deletion.bulk_deletion_start(
        actor=request.user,
        sids=target.sids or [],
        reason=reason,
        filter_params=target.filter_params,
    )
    url = bulk.get_absolute_url()
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _duration_text(seconds: float | None) -> str:
    """A short duration such as "2 h 05 min", "3 min 20 s" or "12 s"; empty when unknown."""
    if seconds is None:
        return ""
    whole = max(int(round(seconds)), 1)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _bulk_progress_context(bulk: BulkDeletion) -> dict:
    progress = deletion.bulk_deletion_progress(bulk_deletion=bulk)
    failed_items = []
    if not bulk.is_active and progress.failed:
        failed_items = list(
            bulk.items.filter(state=BulkDeletionItem.State.FAILED).order_by("id")[
                :BULK_FAILED_SHOWN
            ]
        )
    return {
        "bulk": bulk,
        "progress": progress,
        "failed_items": failed_items,
        "failed_shown": BULK_FAILED_SHOWN,
        "time_left": _duration_text(progress.seconds_left),
        "is_stale": bulk.is_active
        and bulk.heartbeat_at is not None
        and (timezone.now() - bulk.heartbeat_at).total_seconds()
        > settings.BULK_DELETE_STALE_SECONDS,
    }


def _bulk_deletion_or_404(pk: int) -> BulkDeletion:
    bulk = BulkDeletion.objects.select_related("created_by", "retry_of").filter(pk=pk).first()
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
    bulk = _bulk_deletion_or_404(pk)
    resumed = deletion.bulk_deletion_resume_if_stale(bulk_deletion=bulk)
    context = {**_bulk_progress_context(bulk), "resumed": resumed}
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "transcriptions/bulkdeletion_detail.html#progress", context)
        if not bulk.is_active:
            trigger_client_event(response, CHANGED_EVENT)
        return response
    return render(request, "transcriptions/bulkdeletion_detail.html", context)


@require_POST
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def bulk_deletion_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Cancel: DELETEs in flight finish, nothing more is deleted, the rest stay."""
    bulk = deletion.bulk_deletion_cancel(bulk_deletion=_bulk_deletion_or_404(pk))
    if request.htmx:
        return render(
            request,
            "transcriptions/bulkdeletion_detail.html#progress",
            _bulk_progress_context(bulk),
        )
    messages.info(request, f"Bulk deletion #{bulk.pk}: {bulk.get_state_display().lower()}.")
    return redirect(bulk.get_absolute_url())


@require_POST
@vary_on_headers("HX-Request")
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def bulk_deletion_retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Start a new bulk deletion over this one's failed items, and go to it."""
    bulk = _bulk_deletion_or_404(pk)
    problem = _twilio_problem_text()
    error = problem
    if not problem:
        try:
            retry = deletion.bulk_deletion_retry_failed(bulk_deletion=bulk, actor=request.user)
        except ValueError as exc:
            error = str(exc)
    if error:
        if request.htmx:
            return _message_response(request, text=error)
        messages.error(request, error)
        return redirect(bulk.get_absolute_url())
    url = retry.get_absolute_url()
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@require_GET
@login_required
@permission_required("transcriptions.delete_transcription", raise_exception=True)
def bulk_deletion_list(request: HtmxHttpRequest) -> HttpResponse:
    """Every bulk deletion, newest first, with its state; unfinished ones whose worker died
    are queued again."""
    deletion.resume_bulk_deletions()
    paginator = Paginator(
        BulkDeletion.objects.select_related("created_by").order_by("-created_at", "-id"),
        BULK_LIST_PAGE_SIZE,
    )
    page_obj = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "transcriptions/bulkdeletion_list.html",
        {"page_obj": page_obj, "bulk_deletions": page_obj.object_list},
    )


# ---- Sync now ----


def _sync_control(
    request: HtmxHttpRequest, *, task_id: str = "", message: str = "", finished: bool = False
) -> tuple[HttpResponse, bool]:
    """The status bar's sync control: queued, running (it then polls itself), or idle; and
    whether it polls."""
    waiting = False
    if task_id:
        try:
            waiting = tasks.run_sync.get_result(task_id).status == TaskResultStatus.READY
        except (TaskResultDoesNotExist, ValueError, ValidationError):
            task_id = ""
    run = SyncRun.objects.order_by("-started_at", "-id").first()
    running = run is not None and run.state == SyncRun.State.RUNNING and sync.run_looks_alive(run)
    context = {
        "run": run,
        "waiting": waiting,
        "polling": waiting or running,
        "task_id": task_id,
        "message": message,
        "finished": finished,
    }
    response = render(request, "transcriptions/syncrun_control.html#sync-control", context)
    return response, waiting or running


@login_required
@permission_required("transcriptions.view_transcription", raise_exception=True)
@require_POST
def sync_start(request: HtmxHttpRequest) -> HttpResponse:
    """Queue a full sync for a worker, unless one is already running."""
    problem = _twilio_problem_text()
    if problem:
        if request.htmx:
            return _message_response(request, text=problem)
        messages.error(request, problem)
        return redirect("transcriptions:list")
    running = SyncRun.objects.filter(
        account_sid=settings.TWILIO_ACCOUNT_SID, state=SyncRun.State.RUNNING
    ).first()
    if running is not None and sync.run_looks_alive(running):
        message, task_id = "A sync is already running; showing its progress.", ""
    else:
        result = tasks.run_sync.enqueue(started_by=request.user.get_username())
        message, task_id = "Sync queued.", result.id
    if not request.htmx:
        messages.info(request, message)
        return redirect("transcriptions:list")
    return _sync_control(request, task_id=task_id, message=message)[0]


@login_required
@permission_required("transcriptions.view_transcription", raise_exception=True)
@require_GET
def sync_progress(request: HtmxHttpRequest) -> HttpResponse:
    """The sync control again, for its polling; the answer that finds the sync over asks the
    page to refresh the table."""
    task_id = request.GET.get("task", "")
    if not SYNC_TASK_ID_RE.fullmatch(task_id):
        task_id = ""
    was_polling = request.GET.get("polling") == "1"
    response, polling = _sync_control(request, task_id=task_id, finished=was_polling)
    if was_polling and not polling:
        trigger_client_event(response, "transcriptions-changed")
    return response
