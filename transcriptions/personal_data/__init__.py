"""Personal data in transcripts: found when text is written (`detect`), stored as kinds,
positions and keyed hashes (never a value), masked when shown, and looked up by value for a
data subject's request (`mentions`). The detector is `detect.detect`; this module is what the
rest of the desk uses."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from functools import cache

from django.conf import settings

from .detect import DETECTOR_VERSION, Finding, detect
from .kinds import ALL_BITS, ANY, BITS, NUMBER, SHORT_LABELS, Kind, kinds_of, mask_of

__all__ = [
    "ALL_BITS",
    "ANY",
    "DETECTOR_VERSION",
    "Finding",
    "Kind",
    "SHORT_LABELS",
    "detect",
    "hash_key",
    "kinds_of",
    "mask_of",
    "mask_query",
    "masked_text",
    "personal_data_columns",
    "value_hash",
]


@cache
def _key(secret: str, configured: str) -> bytes:
    if configured:
        return configured.encode()
    return hmac.new(secret.encode(), b"transcript-desk personal data", hashlib.sha256).digest()


def hash_key() -> bytes:
    """The key of the keyed hashes (see the PERSONAL_DATA_HASH_KEY setting)."""
    return _key(settings.SECRET_KEY, settings.PERSONAL_DATA_HASH_KEY)


def value_hash(kind: str, value: str, *, key: bytes | None = None) -> str:
    """The keyed hash that stands for a normalised value of one kind (32 hex digits)."""
    key = key if key is not None else hash_key()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def personal_data_columns(text: str | None, *, key: bytes | None = None) -> dict:
    """The personal-data columns of a row with this text: the kinds found (a bit mask), what
    was found where (JSON: kind, start, end, keyed hash; None when nothing), and the
    detector's version. `key` (default: from the settings) lets a process without them
    compute the same."""
    findings = detect(text)
    mask = 0
    found = []
    if findings and key is None:
        key = hash_key()
    for f in findings:
        mask |= BITS.get(f.kind, 0)
        found.append([str(f.kind), f.start, f.end, value_hash(str(f.kind), f.value, key=key)])
    return {
        "personal_data": mask,
        "personal_data_found": json.dumps(found, separators=(",", ":")) if found else None,
        "personal_data_version": DETECTOR_VERSION,
    }


_MASKS: dict[str, str] = {
    Kind.CARD_EXPIRY: "[expiry]",
    Kind.CARD_SECURITY_CODE: "[security code]",
    Kind.SSN: "[SSN]",
    Kind.BANK_ROUTING: "[routing number]",
    Kind.PHONE_NUMBER: "[phone number]",
    Kind.EMAIL: "[e-mail]",
    Kind.DATE_OF_BIRTH: "[date of birth]",
}


def found_spans(found: str | None) -> list[tuple[str, int, int]]:
    """(kind, start, end) of the personal data stored for a row (no long numbers)."""
    if not found:
        return []
    try:
        entries = json.loads(found)
    except ValueError:
        return []
    return [(e[0], int(e[1]), int(e[2])) for e in entries if e and e[0] != NUMBER]


def _masked(kind: str, original: str) -> str:
    digits = [ch for ch in original if ch.isdigit()]
    if kind == Kind.CARD_NUMBER and len(digits) >= 4:
        return f"[card ••••{''.join(digits[-4:])}]"
    if kind == Kind.IBAN and len(digits) >= 4:
        return f"[IBAN ••••{''.join(digits[-4:])}]"
    return _MASKS.get(kind, "[personal data]")


def masked_text(text: str, found: str | None) -> str:
    """`text` with each value found replaced by a mask (a card keeps its last four digits)."""
    return _spans_masked(text, found_spans(found))


def _spans_masked(text: str, spans: list[tuple[str, int, int]]) -> str:
    spans = sorted(spans, key=lambda s: s[1])
    if not spans:
        return text
    out, pos = [], 0
    for kind, start, end in spans:
        if start < pos or end > len(text):
            continue
        out.append(text[pos:start])
        out.append(_masked(kind, text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask_query(text: str) -> str:
    """What a search or mentions value is stored as in the audit trail: personal data and
    any other number of four digits or more masked."""
    spans = [(str(f.kind), f.start, f.end) for f in detect(text) if f.kind != NUMBER]
    masked = _spans_masked(text, spans)
    return re.sub(r"\d(?:[ -]?\d){3,}", lambda m: "•" * len(m.group()), masked)
