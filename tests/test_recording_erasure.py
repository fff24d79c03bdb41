"""Erasing the audio too, against the sandbox over real HTTP: a single delete with "also delete
the call recording", each artefact's outcome on the audit trail, also when Twilio fails on the
recording after the text is gone."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import HTMX
from transcriptions.models import AuditEvent, Transcription
from transcriptions.sync import transcriptions_sync


@pytest.fixture
def recorded(twilio, db):
    item = twilio.store.add(transcription_text="Please delete all of this.", duration=20)
    transcriptions_sync()
    return item


def delete(client, sid: str, *, with_recording: bool):
    data = {"with_recording": "on"} if with_recording else {}
    return client.post(reverse("transcriptions:delete", args=[sid]), data, **HTMX)


def test_the_confirmation_offers_the_recording(client, deleter, recorded):
    client.force_login(deleter)
    body = client.get(reverse("transcriptions:delete", args=[recorded.sid]), **HTMX)
    assert "Also delete the call recording" in body.content.decode()
    assert recorded.recording_sid in body.content.decode()


def test_a_delete_with_the_recording_erases_both_at_twilio(client, deleter, recorded, twilio):
    client.force_login(deleter)
    body = delete(client, recorded.sid, with_recording=True).content.decode()
    assert f"Its recording {recorded.recording_sid} too." in body
    assert twilio.store.get(recorded.sid) is None
    assert twilio.store.recordings.get(recorded.recording_sid).status == "deleted"
    assert not Transcription.objects.filter(sid=recorded.sid).exists()
    actions = list(
        AuditEvent.objects.filter(transcription_sid=recorded.sid)
        .order_by("id")
        .values_list("action", "outcome")
    )
    assert actions == [
        (AuditEvent.Action.DELETED, "deleted"),
        (AuditEvent.Action.RECORDING_DELETED, "recording deleted"),
    ]


def test_without_the_box_the_recording_stays(client, deleter, recorded, twilio):
    client.force_login(deleter)
    delete(client, recorded.sid, with_recording=False)
    assert twilio.store.get(recorded.sid) is None
    assert twilio.store.recordings.get(recorded.recording_sid).status == "completed"


def test_a_recording_gone_already_is_said_and_recorded(client, deleter, recorded, twilio):
    twilio.store.recordings.delete(recorded.recording_sid)
    client.force_login(deleter)
    body = delete(client, recorded.sid, with_recording=True).content.decode()
    assert f"Its recording {recorded.recording_sid} was gone." in body
    event = AuditEvent.objects.get(action=AuditEvent.Action.RECORDING_DELETED)
    assert event.outcome == "recording already gone at Twilio"


def test_twilio_failing_on_the_recording_keeps_the_text_deleted_and_says_so(
    client, deleter, recorded, twilio, monkeypatch
):
    """Twilio answers the transcription's DELETE, then fails every request after it."""
    real = twilio.answer

    def text_then_failure(method, target, authorization, range_header=None):
        if "/Recordings/" in target and method == "DELETE":
            twilio.faults.error_rate = 1.0
        return real(method, target, authorization, range_header)

    monkeypatch.setattr(twilio, "answer", text_then_failure)
    client.force_login(deleter)
    body = delete(client, recorded.sid, with_recording=True).content.decode()
    assert f"Deleted {recorded.sid} at Twilio" in body
    assert f"Its recording {recorded.recording_sid} could not be deleted" in body
    assert twilio.store.recordings.get(recorded.recording_sid).status == "completed"
    failed = AuditEvent.objects.get(action=AuditEvent.Action.RECORDING_DELETE_FAILED)
    assert failed.recording_sid == recorded.recording_sid and "500" in failed.outcome
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DELETED).count() == 1
