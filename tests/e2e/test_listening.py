"""Listening to a call in the preview, in a real browser, with the sandbox as Twilio: the
player loads through the desk, seeks (a range in the middle), and the session is audited."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from transcriptions import listening
from transcriptions.models import AuditEvent

pytestmark = pytest.mark.e2e


def test_listen_and_seek_in_the_preview(
    logged_in_page, reviewer, twilio, make_transcription, monkeypatch
):
    # Ranges of 64 KiB: the 90-second MP3 (360 KB) comes in several, and a seek asks for one
    # in the middle.
    monkeypatch.setattr(listening, "MEDIA_CHUNK_BYTES", 64 * 1024)
    item = twilio.store.add(transcription_text="Please check my bill.", duration=90)
    row = make_transcription(
        sid=item.sid,
        recording_sid=item.recording_sid,
        transcription_text=item.transcription_text,
        duration=90,
    )
    page = logged_in_page(reviewer)
    page.locator(f'#results tbody tr[data-sid="{row.sid}"] [data-action="preview"]').click()
    page.locator('[data-action="listen"]').click()

    player = page.locator("audio[data-player]")
    expect(player).to_have_count(1)
    page.wait_for_function(
        "() => { const a = document.querySelector('audio[data-player]');"
        " return a && a.readyState >= 1 && isFinite(a.duration); }"
    )
    duration = player.evaluate("a => a.duration")
    assert 85 <= duration <= 95  # the sandbox's 90-second recording, as an MP3
    seeked = player.evaluate(
        "a => new Promise((done, failed) => {"
        " a.pause();"
        " a.addEventListener('seeked', () => done(a.currentTime), {once: true});"
        " a.addEventListener('error', () => failed(String(a.error && a.error.code)), {once: true});"
        " a.currentTime = 60; })"
    )
    assert 59 <= seeked <= 61
    media = [path for method, path in twilio.request_log if path.endswith(".mp3")]
    assert len(media) >= 2  # the first range, and the one the seek asked for
    assert player.evaluate("a => a.error") is None
    audio_url = player.get_attribute("src")
    assert audio_url.startswith(f"/t/{row.sid}/audio/") and "twilio" not in audio_url.lower()
    assert (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.LISTENED, transcription_sid=row.sid, user=reviewer
        ).count()
        == 1
    )
