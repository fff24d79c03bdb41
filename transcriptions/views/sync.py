""" "Sync now" in the status bar: queue a sync for a worker, and follow its progress."""

from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from .. import sync, tasks
from ..twilio_client import TwilioError
from .htmx import CHANGED_EVENT, HtmxHttpRequest, error_answer

SYNC_TASK_ID_RE = re.compile(r"^[0-9a-fA-F-]{32,36}$")


def _sync_control(
    request: HtmxHttpRequest, *, task_id: str = "", message: str = "", finished: bool = False
) -> tuple[HttpResponse, bool]:
    """The status bar's sync control: queued, running (it then polls itself), or idle; and
    whether it polls."""
    waiting = tasks.sync_task_waiting(task_id)
    if waiting is None:
        task_id, waiting = "", False
    run = sync.latest_run()
    running = run is not None and run.state == run.State.RUNNING and sync.run_looks_alive(run)
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
@permission_required("transcriptions.start_sync", raise_exception=True)
@require_POST
def sync_start(request: HtmxHttpRequest) -> HttpResponse:
    """Queue a full sync for a worker, unless one is already running."""
    try:
        queued = tasks.sync_request(started_by=request.user.get_username())
    except TwilioError as exc:
        return error_answer(request, text=exc.in_plain_words(), to="transcriptions:list")
    if not request.htmx:
        messages.info(request, queued.message)
        return redirect("transcriptions:list")
    return _sync_control(request, task_id=queued.task_id, message=queued.message)[0]


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
        trigger_client_event(response, CHANGED_EVENT)
    return response
