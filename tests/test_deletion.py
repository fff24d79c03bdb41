"""Deleting at Twilio (the sandbox over HTTP) first, then in the cache, always audited."""

from __future__ import annotations

import pytest

from tests.conftest import ACCOUNT_SID
from transcriptions.deletion import (
    OUTCOME_ALREADY_GONE,
    OUTCOME_DELETED,
    transcription_delete,
    transcription_forget_gone,
)
from transcriptions.models import AuditEvent, Transcription
from transcriptions.twilio_client import TwilioError, get_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def cached_pair(sandbox, make_transcription):
    """An item in the sandbox and its cached row."""
    item = sandbox.store.add(transcription_text="Please delete my card number.", duration=12)
    row = make_transcription(sid=item.sid, recording_sid=item.recording_sid)
    return item, row


def test_delete_removes_at_twilio_then_in_cache_and_audits(
    twilio_client, sandbox, cached_pair, deleter
):
    item, row = cached_pair

    outcome = transcription_delete(transcription=row, client=twilio_client, actor=deleter)

    assert outcome.sid == item.sid
    assert outcome.already_gone is False
    assert sandbox.store.get(item.sid) is None
    assert not Transcription.objects.filter(sid=item.sid).exists()
    assert ("DELETE", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/{item.sid}.json") in [
        tuple(entry) for entry in sandbox.request_log
    ]
    event = AuditEvent.objects.get()
    assert event.action == AuditEvent.Action.DELETED
    assert event.outcome == OUTCOME_DELETED
    assert event.user == deleter
    assert event.username == "deleter"
    assert event.transcription_sid == item.sid
    assert event.recording_sid == item.recording_sid


def test_delete_of_one_already_gone_at_twilio_removes_the_cached_row(
    twilio_client, sandbox, cached_pair, deleter
):
    item, row = cached_pair
    sandbox.store.delete(item.sid)

    outcome = transcription_delete(transcription=row, client=twilio_client, actor=deleter)

    assert outcome.already_gone is True
    assert "already gone" in outcome.message
    assert not Transcription.objects.filter(sid=item.sid).exists()
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome) == (AuditEvent.Action.DELETED, OUTCOME_ALREADY_GONE)


def test_delete_that_twilio_refuses_keeps_the_row_audits_the_failure_and_raises(
    twilio_client, sandbox, cached_pair, deleter
):
    item, row = cached_pair
    sandbox.faults.error_rate = 1.0

    with pytest.raises(TwilioError) as raised:
        transcription_delete(transcription=row, client=twilio_client, actor=deleter)

    assert raised.value.status == 500
    assert sandbox.store.get(item.sid) is not None
    assert Transcription.objects.filter(sid=item.sid).exists()
    event = AuditEvent.objects.get()
    assert event.action == AuditEvent.Action.DELETE_FAILED
    assert event.transcription_sid == item.sid
    assert "status 500" in event.outcome
    assert "code 20500" in event.outcome


def test_delete_failure_when_twilio_cannot_be_reached_keeps_the_row(
    settings, make_transcription, deleter
):
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = "token"
    settings.TWILIO_MAX_ATTEMPTS = 1

    row = make_transcription()
    with pytest.raises(TwilioError):
        transcription_delete(transcription=row, client=get_client(), actor=deleter)

    assert Transcription.objects.filter(pk=row.pk).exists()
    event = AuditEvent.objects.get()
    assert event.action == AuditEvent.Action.DELETE_FAILED
    assert event.outcome.startswith("no answer")


def test_delete_audit_never_holds_the_text(twilio_client, sandbox, make_transcription, deleter):
    # Words that no SID (hex) or username can contain by chance.
    secret = "my card is visa-quartz-xylophone 4111 1111 1111 1111"
    item = sandbox.store.add(transcription_text=secret)
    row = make_transcription(
        sid=item.sid, recording_sid=item.recording_sid, transcription_text=secret
    )

    transcription_delete(transcription=row, client=twilio_client, actor=deleter)

    event = AuditEvent.objects.get(transcription_sid=item.sid)
    assert event.action == AuditEvent.Action.DELETED
    recorded = [getattr(event, field.attname) for field in AuditEvent._meta.concrete_fields]
    assert all("xylophone" not in str(value) for value in recorded)


def test_forget_gone_removes_the_row_and_records_a_sync_event(make_transcription, reviewer):
    row = make_transcription()

    transcription_forget_gone(transcription=row, actor=reviewer)

    assert not Transcription.objects.filter(pk=row.pk).exists()
    event = AuditEvent.objects.get()
    assert event.action == AuditEvent.Action.SYNCED
    assert event.transcription_sid == row.sid
    assert "gone at Twilio" in event.outcome
