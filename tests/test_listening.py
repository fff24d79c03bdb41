"""Listening to a transcription's recording through the desk, against the sandbox over real
HTTP: one audited listening session, a signed short-lived URL, ranges relayed as 206, plain
errors, and the rights."""

from __future__ import annotations

import re
import time

import pytest
import requests
from django.core import signing
from django.urls import reverse

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, HTMX
from transcriptions import listening
from transcriptions.models import AuditEvent
from transcriptions.sync import transcriptions_sync


@pytest.fixture
def recorded(twilio, db):
    """A synced transcription whose recording is at the sandbox."""
    item = twilio.store.add(transcription_text="Please check my bill.", duration=30)
    transcriptions_sync()
    return item


def listen(client, sid: str) -> str:
    """Start a listening session; the player's audio URL."""
    body = client.post(reverse("transcriptions:listen", args=[sid]), **HTMX).content.decode()
    match = re.search(r'<audio[^>]* src="([^"]+)"', body)
    assert match, body
    return match.group(1)


def audio(client, url: str, byte_range: str = ""):
    headers = {"HTTP_RANGE": byte_range} if byte_range else {}
    response = client.get(url, **headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def at_twilio(twilio, recording_sid: str, extension: str = ".mp3") -> bytes:
    url = f"{twilio.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}{extension}"
    return requests.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=30).content


def test_the_preview_offers_the_recording(client, reviewer, recorded):
    client.force_login(reviewer)
    body = client.get(reverse("transcriptions:detail", args=[recorded.sid]), **HTMX)
    assert "Listen to the call" in body.content.decode()


def test_a_listening_session_is_audited_once_and_seeking_is_not(client, reviewer, recorded, twilio):
    client.force_login(reviewer)
    url = listen(client, recorded.sid)
    assert twilio.url not in url and AUTH_TOKEN not in url
    whole = at_twilio(twilio, recorded.recording_sid)
    first, body = audio(client, url, "bytes=0-")
    assert first.status_code == 206 and body == whole[: len(body)]
    assert first["Content-Range"] == f"bytes 0-{len(body) - 1}/{len(whole)}"
    assert first["Content-Type"] == "audio/mpeg" and first["Accept-Ranges"] == "bytes"
    assert first["Cache-Control"] == "private, no-store"
    seek, body = audio(client, url, "bytes=1000-1999")
    assert seek.status_code == 206 and body == whole[1000:2000]
    events = AuditEvent.objects.filter(action=AuditEvent.Action.LISTENED)
    assert [(e.user, e.transcription_sid, e.recording_sid) for e in events] == [
        (reviewer, recorded.sid, recorded.recording_sid)
    ]


def test_who_has_seen_this_includes_who_listened(client, reviewer, privacy_officer, recorded):
    client.force_login(reviewer)
    listen(client, recorded.sid)
    client.force_login(privacy_officer)
    trail = client.get(reverse("transcriptions:audit"), {"sid": recorded.sid}).content.decode()
    assert "Listened to the recording" in trail and "reviewer" in trail


def test_an_open_range_gets_at_most_a_chunk(client, reviewer, twilio, db, monkeypatch):
    monkeypatch.setattr(listening, "MEDIA_CHUNK_BYTES", 4096)
    item = twilio.store.add(transcription_text="A long call.", duration=100)
    transcriptions_sync()
    client.force_login(reviewer)
    url = listen(client, item.sid)
    response, body = audio(client, url, "bytes=100-")
    assert response.status_code == 206 and len(body) == 4096
    assert response["Content-Range"].startswith("bytes 100-4195/")


def test_without_a_range_the_whole_file_comes(client, reviewer, recorded, twilio):
    client.force_login(reviewer)
    response, body = audio(client, listen(client, recorded.sid))
    assert response.status_code == 200 and body == at_twilio(twilio, recorded.recording_sid)


def test_a_viewer_may_not_listen(client, viewer, recorded):
    client.force_login(viewer)
    assert client.post(reverse("transcriptions:listen", args=[recorded.sid])).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LISTENED).exists()


def test_the_audio_url_is_signed_for_one_transcription_and_expires(
    client, reviewer, recorded, twilio, db, monkeypatch
):
    client.force_login(reviewer)
    url = listen(client, recorded.sid)
    other = twilio.store.add(transcription_text="Another call.")
    forged = url.replace(recorded.sid, other.sid)
    assert audio(client, forged, "bytes=0-9")[0].status_code == 403
    token = url.split("/audio/")[1].rsplit(".", 1)[0]
    tampered = url.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert audio(client, tampered, "bytes=0-9")[0].status_code == 403
    monkeypatch.setattr(listening, "LISTEN_SECONDS", 0)
    time.sleep(1.1)
    response, body = audio(client, url, "bytes=0-9")
    assert response.status_code == 403 and b"expired" in body


def test_no_recording_deleted_audio_and_twilio_down_are_said_plainly(
    client, reviewer, recorded, twilio, make_transcription
):
    client.force_login(reviewer)
    none = make_transcription(recording_sid="")
    body = client.post(reverse("transcriptions:listen", args=[none.sid]), **HTMX).content
    assert b"names no recording" in body
    twilio.store.recordings.delete(recorded.recording_sid)
    body = client.post(reverse("transcriptions:listen", args=[recorded.sid]), **HTMX).content
    assert b"was deleted at Twilio" in body and b"<audio" not in body
    twilio.faults.error_rate = 1.0
    body = client.post(reverse("transcriptions:listen", args=[recorded.sid]), **HTMX).content
    assert b"The recording cannot be played. Twilio had a problem on its side (error 500)" in body
    twilio.faults.error_rate = 0.0
    twilio.faults.drop_rate = 1.0
    body = client.post(reverse("transcriptions:listen", args=[recorded.sid]), **HTMX).content
    assert b"The recording cannot be played. Twilio could not be reached just now" in body
    assert b"127.0.0.1" not in body and b"tries" not in body
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LISTENED).exists()


def test_audio_gone_after_the_session_started_is_a_plain_404(client, reviewer, recorded, twilio):
    client.force_login(reviewer)
    url = listen(client, recorded.sid)
    twilio.store.recordings.delete(recorded.recording_sid)
    response, body = audio(client, url, "bytes=0-99")
    assert response.status_code == 404 and body == b"The audio is not at Twilio."


def test_a_token_names_the_user_transcription_and_recording_only(client, reviewer, recorded):
    client.force_login(reviewer)
    token = listen(client, recorded.sid).split("/audio/")[1].rsplit(".", 1)[0]
    payload = signing.loads(token, salt="transcriptions.listening")
    assert payload == {"u": reviewer.pk, "t": recorded.sid, "r": recorded.recording_sid}
