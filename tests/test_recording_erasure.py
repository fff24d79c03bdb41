"""Erasing the audio too, against the sandbox over real HTTP: a single delete with "also delete
the call recording", each artefact's outcome on the audit trail, also when Twilio fails on the
recording after the text is gone."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import ACCOUNT_SID, HTMX
from transcriptions.models import AuditEvent, BulkDeletion, BulkDeletionItem, Transcription
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


# Bulk deletions with their recordings, and the verification pass


def cached_items(twilio, make_transcription, recording_sids: list[str]) -> list:
    items = []
    for recording_sid in recording_sids:
        item = twilio.store.add(recording_sid=recording_sid, transcription_text="to erase")
        make_transcription(sid=item.sid, recording_sid=recording_sid, transcription_text="x")
        items.append(item)
    return items


def failing(twilio, monkeypatch, path_part: str) -> None:
    """The sandbox answers 500 to every DELETE whose path holds `path_part`."""
    real = twilio.answer

    def answer(method, target, authorization, range_header=None):
        if method == "DELETE" and path_part in target:
            return twilio._error(500, 20500, "Internal Server Error", "json")
        return real(method, target, authorization, range_header)

    monkeypatch.setattr(twilio, "answer", answer)


def run(deleter, items, *, settings=None):
    from transcriptions import bulk_deletion

    bulk = bulk_deletion.bulk_deletion_start(
        actor=deleter, sids=[i.sid for i in items], reason="erasure request", with_recordings=True
    )
    return bulk_deletion.bulk_deletion_run(bulk_deletion_id=bulk.pk, concurrency=2)


R1, R2 = "RE" + "1" * 32, "RE" + "2" * 32


def test_a_bulk_deletion_erases_each_recording_once_after_its_transcriptions(
    deleter, twilio, make_transcription
):
    items = cached_items(twilio, make_transcription, [R1, R1, R2])
    bulk = run(deleter, items)
    assert bulk.state == BulkDeletion.State.COMPLETED
    log = [(m, p) for m, p in twilio.request_log if m == "DELETE"]
    assert [p for _, p in log].count(
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{R1}.json"
    ) == 1
    last_text = max(i for i, (_, p) in enumerate(log) if "/Transcriptions/" in p)
    first_audio = min(i for i, (_, p) in enumerate(log) if "/Recordings/" in p)
    assert first_audio > last_text
    assert (
        twilio.store.recordings.get(R1).status
        == twilio.store.recordings.get(R2).status
        == "deleted"
    )
    rows = BulkDeletionItem.objects.filter(bulk_deletion=bulk)
    assert set(rows.values_list("recording_state", flat=True)) == {"deleted"}
    events = AuditEvent.objects.filter(action=AuditEvent.Action.RECORDING_DELETED)
    assert sorted(events.values_list("transcription_sid", flat=True)) == sorted(
        i.sid for i in items
    )
    assert bulk.verified_at is not None
    assert set(rows.values_list("verified", "recording_verified")) == {("gone", "gone")}


def test_a_recording_whose_transcription_could_not_be_deleted_is_kept(
    deleter, twilio, make_transcription, monkeypatch, settings
):
    settings.TWILIO_MAX_ATTEMPTS = 1
    monkeypatch.setattr("transcriptions.bulk_deletion.worker.ITEM_ROUNDS", 1)
    items = cached_items(twilio, make_transcription, [R1, R1, R2])
    failing(twilio, monkeypatch, items[0].sid)
    bulk = run(deleter, items)
    assert bulk.state == BulkDeletion.State.COMPLETED_WITH_FAILURES
    states = dict(
        BulkDeletionItem.objects.filter(bulk_deletion=bulk).values_list("sid", "recording_state")
    )
    assert states == {items[0].sid: "kept", items[1].sid: "kept", items[2].sid: "deleted"}
    assert twilio.store.recordings.get(R1).status == "completed"
    assert twilio.store.get(items[0].sid) is not None  # its text is kept too


def test_twilio_failing_on_a_recording_keeps_each_outcome(
    deleter, twilio, make_transcription, monkeypatch, settings
):
    settings.TWILIO_MAX_ATTEMPTS = 1
    items = cached_items(twilio, make_transcription, [R1, R2])
    failing(twilio, monkeypatch, R2)
    bulk = run(deleter, items)
    assert bulk.state == BulkDeletion.State.COMPLETED_WITH_FAILURES
    rows = {r.sid: r for r in BulkDeletionItem.objects.filter(bulk_deletion=bulk)}
    assert rows[items[0].sid].state == rows[items[1].sid].state == "deleted"
    assert rows[items[0].sid].recording_state == "deleted"
    assert rows[items[1].sid].recording_state == "failed"
    assert "500" in rows[items[1].sid].recording_error
    failed = AuditEvent.objects.get(action=AuditEvent.Action.RECORDING_DELETE_FAILED)
    assert failed.transcription_sid == items[1].sid and failed.recording_sid == R2


def test_the_verification_pass_catches_an_item_that_came_back(
    deleter, twilio, make_transcription, monkeypatch
):
    items = cached_items(twilio, make_transcription, [R1, R2])
    back = items[0]
    real = twilio.answer

    def answer(method, target, authorization, range_header=None):
        answered = real(method, target, authorization, range_header)
        if method == "DELETE" and back.sid in target:
            # Deleted, and there again (a restore at Twilio, a replica behind).
            twilio.store.add(sid=back.sid, recording_sid=R1, transcription_text="back")
        return answered

    monkeypatch.setattr(twilio, "answer", answer)
    bulk = run(deleter, items)
    verified = dict(
        BulkDeletionItem.objects.filter(bulk_deletion=bulk).values_list("sid", "verified")
    )
    assert verified == {back.sid: "still_there", items[1].sid: "gone"}


def test_the_bulk_page_shows_the_proof_and_the_erasure_record_holds_no_text(
    client, deleter, privacy_officer, twilio, make_transcription
):
    items = cached_items(twilio, make_transcription, [R1, R1, R2])
    bulk = run(privacy_officer, items)
    client.force_login(privacy_officer)
    page = client.get(reverse("transcriptions:bulk-detail", args=[bulk.pk])).content.decode()
    assert "Verified gone at Twilio: <strong>3 of 3</strong>" in page
    assert "Recordings: 3 deleted" in page and "Erasure record" in page
    record = client.get(reverse("transcriptions:bulk-erasure", args=[bulk.pk])).content.decode()
    assert all(i.sid in record for i in items) and "erasure request" in record
    response = client.get(reverse("transcriptions:bulk-erasure-csv", args=[bulk.pk]))
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("bulk_deletion,asked_by,reason,filter,transcription_sid")
    assert len(lines) == 4 and all("to erase" not in line for line in lines)
    first = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert (first["recording_sid"], first["recording_outcome"]) == (R1, "Deleted")
    assert (first["outcome"], first["verified"], first["recording_verified"]) == (
        "Deleted",
        "Gone",
        "Gone",
    )

    client.force_login(deleter)
    assert client.get(reverse("transcriptions:bulk-erasure", args=[bulk.pk])).status_code == 403
    page = client.get(reverse("transcriptions:bulk-detail", args=[bulk.pk])).content.decode()
    assert "Erasure record" not in page


def test_the_bulk_page_lists_an_item_that_came_back(
    client, privacy_officer, twilio, make_transcription, monkeypatch
):
    items = cached_items(twilio, make_transcription, [R1, R2])
    real = twilio.answer

    def answer(method, target, authorization, range_header=None):
        answered = real(method, target, authorization, range_header)
        if method == "DELETE" and items[1].sid in target:
            twilio.store.add(sid=items[1].sid, recording_sid=R2, transcription_text="back")
        return answered

    monkeypatch.setattr(twilio, "answer", answer)
    bulk = run(privacy_officer, items)
    client.force_login(privacy_officer)
    page = client.get(reverse("transcriptions:bulk-detail", args=[bulk.pk])).content.decode()
    assert "Verified gone at Twilio: <strong>1 of 2</strong>" in page
    assert "Came back" in page and f'data-sid="{items[1].sid}"' in page


def test_a_retry_asks_again_for_a_recording_that_failed(
    client, deleter, twilio, make_transcription, monkeypatch, settings
):
    settings.TWILIO_MAX_ATTEMPTS = 1
    items = cached_items(twilio, make_transcription, [R1, R2])
    real = twilio.answer
    failing(twilio, monkeypatch, R2)
    first = run(deleter, items)
    assert first.state == BulkDeletion.State.COMPLETED_WITH_FAILURES
    client.force_login(deleter)
    page = client.get(reverse("transcriptions:bulk-detail", args=[first.pk])).content.decode()
    assert "Retry the 1 failed" in page and f"Its recording <code>{R2}</code>" in page

    monkeypatch.setattr(twilio, "answer", real)
    from transcriptions import bulk_deletion

    retry = bulk_deletion.bulk_deletion_retry_failed(bulk_deletion=first, actor=deleter)
    retry = bulk_deletion.bulk_deletion_run(bulk_deletion_id=retry.pk)
    assert retry.state == BulkDeletion.State.COMPLETED
    item = retry.items.get()
    assert (item.sid, item.state, item.recording_state) == (items[1].sid, "already_gone", "deleted")
    assert twilio.store.recordings.get(R2).status == "deleted"
