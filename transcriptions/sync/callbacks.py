"""Twilio's transcription callback (`<Record transcribe="true" transcribeCallback="…">`):
the request's signature checked exactly as Twilio computes it, then the transcription stored
as a sync would store it, idempotently.

The signed URL is rebuilt from the PUBLIC_BASE_URL setting (what Twilio was given), never
from what a proxy passes on. Only the account's auth token can validate a signature: with an
API key alone the callback is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import AuditEvent, Transcription, TranscriptionStatus
from ..retention import retention_cutoff
from ..sids import is_transcription_sid
from ..twilio_client import TwilioTranscription
from .pages import transcription_fields

# What a callback may move a transcription to, by what the cache holds: a finished
# transcription never goes back to in progress (an older callback arriving late).
_FINISHED = {TranscriptionStatus.COMPLETED.value, TranscriptionStatus.FAILED.value}
_RECORDING_SID_LENGTH = 34


class CallbackRefused(Exception):
    """The request is not a callback the desk can accept; the message names why (never a
    value from the request beyond its SIDs)."""


def _signature(url: str, params: Iterable[tuple[str, str]], token: str) -> str:
    """Twilio's X-Twilio-Signature: HMAC-SHA1 over the URL and the sorted parameters (each
    name followed by each of its values, sorted, repeats dropped), base64."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    data = url + "".join(
        name + value for name in sorted(grouped) for value in sorted(grouped[name])
    )
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _with_and_without_port(url: str) -> list[str]:
    """The URL as given, with its default port removed, and with it added: Twilio signs
    either way."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    bare = urlunsplit(parts._replace(netloc=host))
    ported = urlunsplit(parts._replace(netloc=f"{host}:{default}")) if default else url
    if parts.port is None or parts.port == default:
        return list(dict.fromkeys([url, bare, ported]))
    return [url]


def signature_valid(
    *, url: str, params: list[tuple[str, str]], body: bytes, json_body: bool, signature: str
) -> bool:
    """Whether `signature` is Twilio's for this request, keyed with the auth token. A JSON
    body is signed through its SHA-256 in the URL's `bodySHA256`, which must match."""
    token = settings.TWILIO_AUTH_TOKEN
    if not token or not signature:
        return False
    signed_params = params
    if json_body:
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        expected_hash = hashlib.sha256(body).hexdigest()
        if not hmac.compare_digest(query.get("bodySHA256", ""), expected_hash):
            return False
        signed_params = []
    return any(
        hmac.compare_digest(_signature(candidate, signed_params, token), signature)
        for candidate in _with_and_without_port(url)
    )


def signed_url(full_path: str) -> str:
    """The URL Twilio called: PUBLIC_BASE_URL and the request's path with its query."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + full_path


def callback_problem() -> str | None:
    """Why callbacks cannot be validated here, in words for the log; None when they can."""
    if not settings.TWILIO_AUTH_TOKEN:
        return "TWILIO_AUTH_TOKEN is not set (an API key cannot validate Twilio's signatures)"
    if not settings.PUBLIC_BASE_URL:
        return "PUBLIC_BASE_URL is not set (the signed URL cannot be rebuilt)"
    return None


@dataclass(frozen=True)
class CallbackOutcome:
    sid: str
    stored: bool  # False: nothing changed (a repeat, an older state, a deleted SID)
    reason: str


def _deleted_through_desk(sid: str) -> bool:
    return AuditEvent.objects.filter(
        action=AuditEvent.Action.DELETED, transcription_sid=sid
    ).exists()


def transcription_callback_store(params: dict[str, str]) -> CallbackOutcome:
    """Store what a valid callback says: insert the transcription, or update its status and
    text. Idempotent: the same callback twice, or an older state after a newer one, changes
    nothing; a transcription deleted through the desk is not brought back. Raises
    CallbackRefused for another account or a malformed callback."""
    sid = params.get("TranscriptionSid", "")
    account_sid = params.get("AccountSid", "") or settings.TWILIO_ACCOUNT_SID
    if account_sid != settings.TWILIO_ACCOUNT_SID:
        raise CallbackRefused("a callback for another account")
    if not is_transcription_sid(sid):
        raise CallbackRefused("no valid TranscriptionSid")
    status = params.get("TranscriptionStatus", "")
    if status not in TranscriptionStatus.values:
        raise CallbackRefused(f"unknown TranscriptionStatus for {sid}")
    recording_sid = params.get("RecordingSid", "")[:_RECORDING_SID_LENGTH]
    text = params.get("TranscriptionText") if status == "completed" else None
    now = timezone.now()
    with transaction.atomic():
        if _deleted_through_desk(sid):
            return CallbackOutcome(sid, False, "deleted through the desk")
        cached = Transcription.objects.select_for_update().filter(sid=sid).first()
        if cached is not None and cached.status in _FINISHED and status not in _FINISHED:
            return CallbackOutcome(sid, False, "an older state than the cache holds")
        if (
            cached is not None
            and cached.status == status
            and (text is None or cached.transcription_text == text)
        ):
            return CallbackOutcome(sid, False, "nothing new")
        item = TwilioTranscription(
            sid=sid,
            account_sid=account_sid,
            recording_sid=recording_sid,
            status=status,
            transcription_text=text,
            duration=None,
            price=None,
            price_unit="",
            type="",
            api_version=params.get("ApiVersion", "")[:16],
            date_created=cached.date_created if cached else now,
            date_updated=now,
            uri=urlsplit(params.get("TranscriptionUrl", "")).path[:200],
        )
        fields = transcription_fields(
            item,
            account_sid=account_sid,
            synced_at=now,
            text_cutoff=retention_cutoff(now=now),
        )
        if cached is None:
            Transcription.objects.create(sid=sid, **fields)
            return CallbackOutcome(sid, True, "added")
        # What the callback does not carry (duration, price, type) stays as synced.
        kept = {"duration", "price", "price_unit", "type", "date_created"}
        if not fields["uri"]:
            kept.add("uri")
        if text is None and cached.transcription_text is not None:
            kept |= {"transcription_text", "personal_data", "personal_data_found"}
            kept.add("personal_data_version")
        changes = {name: value for name, value in fields.items() if name not in kept}
        Transcription.objects.filter(pk=cached.pk).update(**changes)
        return CallbackOutcome(sid, True, "updated")
