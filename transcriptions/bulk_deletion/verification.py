"""The proof after a bulk deletion: Twilio is asked again about every item the job deleted (or
found gone), and its answer kept per item: the transcription must answer 404, its recording
(when the job deleted it) 404 or `deleted`. An item that came back shows as "still there"."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db.models import QuerySet
from django.utils import timezone

from ..models import BulkDeletionItem
from ..twilio_client import TwilioClient, TwilioError, TwilioNotFound

Verified = BulkDeletionItem.Verified


def _transcription_gone(client: TwilioClient, sid: str) -> str:
    try:
        client.fetch_transcription(sid)
    except TwilioNotFound:
        return Verified.GONE
    except TwilioError:
        return Verified.UNKNOWN
    return Verified.STILL_THERE


def _recording_gone(client: TwilioClient, recording_sid: str) -> str:
    try:
        status = client.fetch_recording_status(recording_sid)
    except TwilioNotFound:
        return Verified.GONE
    except TwilioError:
        return Verified.UNKNOWN
    return Verified.GONE if status == "deleted" else Verified.STILL_THERE


def items_verify(
    *,
    items: QuerySet[BulkDeletionItem],
    client_factory: Callable[[], TwilioClient],
    concurrency: int,
) -> None:
    """Ask Twilio about each deleted item not yet verified (`concurrency` at a time) and keep
    each answer; an item Twilio could not be asked about is asked again next time."""
    done = (BulkDeletionItem.State.DELETED, BulkDeletionItem.State.ALREADY_GONE)
    recording_done = (
        BulkDeletionItem.RecordingState.DELETED,
        BulkDeletionItem.RecordingState.ALREADY_GONE,
    )
    todo = list(
        items.filter(state__in=done)
        .exclude(verified=Verified.GONE)
        .exclude(verified=Verified.STILL_THERE)
        .values_list("pk", "sid", "recording_sid", "recording_state")
    )
    if not todo:
        return

    def ask(row: tuple[int, str, str, str]) -> tuple[int, str, str]:
        pk, sid, recording_sid, recording_state = row
        with client_factory() as client:
            text = _transcription_gone(client, sid)
            audio = ""
            if recording_sid and recording_state in recording_done:
                audio = _recording_gone(client, recording_sid)
        return pk, text, audio

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bulk-verify") as pool:
        answers = list(pool.map(ask, todo))
    now = timezone.now()
    by_answer: dict[tuple[str, str], list[int]] = {}
    for pk, text, audio in answers:
        by_answer.setdefault((text, audio), []).append(pk)
    for (text, audio), pks in by_answer.items():
        for start in range(0, len(pks), 500):
            items.filter(pk__in=pks[start : start + 500]).update(
                verified=text, recording_verified=audio, verified_at=now
            )


def verification_counts(items: QuerySet[BulkDeletionItem]) -> dict[str, int]:
    """How many items are verified gone, still there, or could not be asked; and how many
    were to verify (those the job deleted or found gone)."""
    done = (BulkDeletionItem.State.DELETED, BulkDeletionItem.State.ALREADY_GONE)
    asked = items.filter(state__in=done)
    counts = {"to_verify": asked.count()}
    for value in (Verified.GONE, Verified.STILL_THERE, Verified.UNKNOWN):
        counts[value] = asked.filter(verified=value).count()
    counts["recordings_still_there"] = asked.filter(recording_verified=Verified.STILL_THERE).count()
    return counts
