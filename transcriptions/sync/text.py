"""One transcription from Twilio: refreshed into the cache, or its text fetched on demand."""

from __future__ import annotations

from django.utils import timezone

from ..models import Transcription
from ..retention import retention_cutoff, text_is_past_retention
from ..twilio_client import TwilioClient, client_or_settings
from .pages import transcription_fields


def transcription_refresh(
    *, transcription: Transcription, client: TwilioClient | None = None
) -> Transcription:
    """Re-fetch one transcription from Twilio and update its cached row (text included, unless
    past retention). TwilioNotFound means Twilio no longer has it; the caller decides. The
    client comes from the settings unless one is given."""
    with client_or_settings(client) as twilio:
        item = twilio.fetch_transcription(transcription.sid)
    now = timezone.now()
    fields = transcription_fields(
        item,
        account_sid=transcription.account_sid or twilio.account_sid,
        synced_at=now,
        text_cutoff=retention_cutoff(now=now),
    )
    # An UPDATE rather than save(): a row removed meanwhile (a sync, a delete) stays removed.
    Transcription.objects.filter(pk=transcription.pk).update(**fields)
    for name, value in fields.items():
        setattr(transcription, name, value)
    return transcription


def transcription_text_fetch(
    *, transcription: Transcription, client: TwilioClient | None = None
) -> str | None:
    """The transcription's text: the cached copy, or fetched from Twilio and cached when the
    cache has none. None when Twilio has no text for it, or when it is past retention (then
    nothing is fetched and any cached copy is cleared)."""
    if text_is_past_retention(transcription):
        if transcription.transcription_text is not None:
            Transcription.objects.filter(pk=transcription.pk).update(transcription_text=None)
            transcription.transcription_text = None
        return None
    if transcription.transcription_text is not None:
        return transcription.transcription_text
    return transcription_refresh(transcription=transcription, client=client).transcription_text
