"""Every request path that calls Twilio answers within the request's budget with a message in
plain words when Twilio hangs; an outcome that is not known is recorded as unknown and found
out by asking Twilio; one deletion is one record."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from transcriptions.models import AuditEvent, DeletionClaim, Transcription

from .conftest import HTMX

BUDGET = 3.0
# What a request may take beyond the budget: the page itself, on a loaded machine.
SLACK = 2.0


@pytest.fixture
def hung(twilio, settings):
    settings.TWILIO_REQUEST_BUDGET_SECONDS = BUDGET
    # The worker's long settings, which a request must not get.
    settings.TWILIO_MAX_ATTEMPTS = 5
    settings.TWILIO_READ_TIMEOUT_SECONDS = 15.0
    twilio.faults.hang = True
    yield twilio
    twilio.faults.hang = False


@pytest.fixture
def at_twilio_and_cached(twilio, make_transcription):
    """A transcription at Twilio and its cached row, for a delete."""
    item = twilio.store.add()
    return make_transcription(sid=item.sid, recording_sid=item.recording_sid)


def _delete(client, row):
    return client.post(reverse("transcriptions:delete", args=[row.sid]), **HTMX)


def _uncached(twilio, make_transcription):
    item = twilio.store.add(transcription_text="a call about a parcel")
    return make_transcription(
        sid=item.sid, recording_sid=item.recording_sid, transcription_text=None
    )


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


PATHS = ["preview", "refresh", "delete"]


def _request(client, path: str, sid: str, htmx: bool):
    headers = HTMX if htmx else {}
    if path == "preview":
        return client.get(reverse("transcriptions:detail", args=[sid]), **headers)
    if path == "refresh":
        return client.post(reverse("transcriptions:refresh", args=[sid]), **headers)
    return client.post(reverse("transcriptions:delete", args=[sid]), **headers)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
@pytest.mark.parametrize("path", PATHS)
def test_a_hung_twilio_gets_an_answer_within_the_budget(
    hung, client, django_user_model, make_transcription, path, htmx
):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="lead", password="pw")
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_transcription", "view_transcript_text", "delete_transcription"]
        )
    )
    client.force_login(user)
    row = _uncached(hung, make_transcription)

    response, seconds = _timed(lambda: _request(client, path, row.sid, htmx))

    assert seconds < BUDGET + SLACK, seconds
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        response = client.get(response["Location"])
    html = response.content.decode()
    assert "Twilio" in html and ("not answer" in html or "could not be reached" in html), html
    assert Transcription.objects.filter(pk=row.pk).exists()  # nothing lost
    if path == "delete":
        event = AuditEvent.objects.get(transcription_sid=row.sid)
        assert event.action == AuditEvent.Action.DELETE_UNKNOWN


def test_a_delete_whose_answer_was_lost_is_recorded_as_deleted(
    twilio, client, deleter, at_twilio_and_cached
):
    """Twilio deleted it and the connection broke on the way back: the retry's 404 is this
    delete's own doing, not "already gone", and certainly not "kept"."""
    row = at_twilio_and_cached
    client.force_login(deleter)
    twilio.faults.lose_answers = 1

    response = _delete(client, row)

    assert response.status_code == 200
    assert f"Deleted {row.sid} at Twilio" in response.content.decode()
    event = AuditEvent.objects.get(transcription_sid=row.sid)
    assert (event.action, event.outcome) == (AuditEvent.Action.DELETED, "deleted")
    assert not Transcription.objects.filter(pk=row.pk).exists()
    assert row.sid not in twilio.store


def test_without_a_retry_the_lost_answer_is_found_out_by_asking_twilio(
    twilio, client, deleter, at_twilio_and_cached, settings
):
    settings.TWILIO_MAX_ATTEMPTS = 1
    row = at_twilio_and_cached
    client.force_login(deleter)
    twilio.faults.lose_answers = 1
    log_start = len(twilio.request_log)

    response = _delete(client, row)

    assert f"Deleted {row.sid} at Twilio" in response.content.decode()
    methods = [method for method, _ in twilio.request_log[log_start:]]
    assert methods == ["DELETE", "GET"]
    event = AuditEvent.objects.get(transcription_sid=row.sid)
    assert (event.action, event.outcome) == (AuditEvent.Action.DELETED, "deleted")


def test_an_unknown_outcome_is_resolved_by_the_next_attempt(
    twilio, client, deleter, at_twilio_and_cached, settings
):
    settings.TWILIO_MAX_ATTEMPTS = 1
    row = at_twilio_and_cached
    client.force_login(deleter)
    # The DELETE is carried out and its answer lost; the fetch that asks is lost too.
    twilio.faults.lose_answers = 2

    first = _delete(client, row)
    assert "whether" in first.content.decode() and "is not known" in first.content.decode()
    assert Transcription.objects.filter(pk=row.pk).exists()

    second = _delete(client, row)
    assert f"{row.sid}" in second.content.decode()
    actions = list(
        AuditEvent.objects.filter(transcription_sid=row.sid)
        .order_by("id")
        .values_list("action", "outcome")
    )
    assert actions == [
        (AuditEvent.Action.DELETE_UNKNOWN, actions[0][1]),
        (AuditEvent.Action.DELETED, "deleted (by an earlier attempt whose answer was lost)"),
    ]
    assert not Transcription.objects.filter(pk=row.pk).exists()


def test_a_delete_under_way_is_not_sent_twice(twilio, client, deleter, at_twilio_and_cached):
    from django.utils import timezone

    row = at_twilio_and_cached
    DeletionClaim.objects.create(sid=row.sid, claimed_at=timezone.now(), username="other")
    client.force_login(deleter)
    log_start = len(twilio.request_log)

    response = _delete(client, row)

    assert "being deleted by someone else" in response.content.decode()
    assert twilio.request_log[log_start:] == []
    assert not AuditEvent.objects.exists()
    assert Transcription.objects.filter(pk=row.pk).exists()


def test_a_stale_claim_is_taken_over(client, deleter, at_twilio_and_cached):
    from datetime import timedelta

    from django.utils import timezone

    row = at_twilio_and_cached
    DeletionClaim.objects.create(sid=row.sid, claimed_at=timezone.now() - timedelta(hours=1))
    client.force_login(deleter)

    response = _delete(client, row)

    assert f"Deleted {row.sid} at Twilio" in response.content.decode()
    assert not DeletionClaim.objects.exists()


def test_two_deletes_of_one_transcription_make_one_record(
    twilio, client, deleter, at_twilio_and_cached
):
    """The second delete (another user's tab, opened before the first) finds the row gone
    and sends nothing; a 404 for a SID already recorded as deleted adds no second record."""
    from transcriptions.deletion import delete_confirmed_record

    row = at_twilio_and_cached
    client.force_login(deleter)
    _delete(client, row)
    log_start = len(twilio.request_log)

    second = _delete(client, row)

    assert "already removed" in second.content.decode()
    assert twilio.request_log[log_start:] == []
    delete_confirmed_record(
        sid=row.sid, recording_sid=row.recording_sid, actor=deleter, already_gone=True
    )
    assert AuditEvent.objects.filter(transcription_sid=row.sid).count() == 1
