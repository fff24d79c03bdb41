"""The privacy officer's page of personal data: what the cache holds by kind, and the scan
that looks for it in rows an older detector (or none) scanned, run by a worker."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from .. import table, tasks
from ..personal_data import DETECTOR_VERSION, Kind
from ..personal_data.scan import (
    ScanAlreadyRunning,
    latest_scan,
    personal_data_scan_start,
    rows_to_scan_count,
)
from ..table import TableFilters
from .htmx import HtmxHttpRequest

PAGE = "transcriptions/personal_data.html"


def _scan_context() -> dict:
    return {"scan": latest_scan()}


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("transcriptions.apply_retention", raise_exception=True)
def personal_data_page(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the kinds found, with links to the table filtered by each, and the latest scan.
    POST: start a scan (`every_row=1` for every row) for a worker."""
    if request.method == "POST":
        try:
            scan = personal_data_scan_start(
                actor=request.user, every_row=request.POST.get("every_row") == "1"
            )
        except ScanAlreadyRunning as exc:
            messages.info(request, f"{exc} Its progress is below.")
        else:
            tasks.personal_data_scan_enqueue(scan)
            messages.success(request, f"Scan #{scan.pk} queued for a worker.")
        return redirect("transcriptions:personal-data")
    base = reverse("transcriptions:list")
    totals = table.personal_data_totals()
    kinds = [
        {
            "value": value,
            "label": label,
            "count": totals.get(value, 0),
            "url": TableFilters(personal_data=(value,)).url(base),
        }
        for value, label in Kind.choices
    ]
    context = {
        **_scan_context(),
        "kinds": kinds,
        "to_scan": rows_to_scan_count(),
        "detector_version": DETECTOR_VERSION,
    }
    return render(request, PAGE, context)


@require_GET
@login_required
@permission_required("transcriptions.apply_retention", raise_exception=True)
def personal_data_scan_progress(request: HtmxHttpRequest) -> HttpResponse:
    """The latest scan's progress bar alone, polled by the page while it runs."""
    return render(request, f"{PAGE}#scan-progress", _scan_context())
