"""A data subject's request: a phone number, e-mail address, card number or IBAN as typed,
normalised into the keyed hashes the detector stores, so every transcript that mentions it
(written or spoken) is found without the value being stored anywhere. The page carries the
hashes in a signed, expiring token, never the value."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.core import signing
from stdnum import iban as stdnum_iban

from . import value_hash
from .detect import detect, is_card_number, phone_e164
from .kinds import NUMBER, Kind
from .spoken import normalise

_TOKEN_SALT = "transcriptions.mentions"
_SEPARATORS_RE = re.compile(r"[\s().-]")
# A search box's text that is one number: digits with spaces, dashes, dots or parentheses.
_NUMBER_QUERY_RE = re.compile(r"\+?[\d\s().-]+")
NUMBER_QUERY_MIN_DIGITS = 8


@dataclass(frozen=True)
class Mentions:
    """What a mentions search looks for: keyed hashes (any of them matches) and a masked
    description for the page and the audit trail."""

    hashes: tuple[str, ...]
    label: str

    @cached_property
    def _signed(self) -> str:
        return signing.dumps({"h": list(self.hashes), "l": self.label}, salt=_TOKEN_SALT)

    def token(self) -> str:
        """Signed once: every link of a page carries it."""
        return self._signed


def _tail(value: str, keep: int = 2) -> str:
    return "•" * max(0, min(len(value) - keep, 8)) + value[-keep:]


def mentions_parse(value: str) -> Mentions | None:
    """The hashes a typed value stands for (a phone number in any common form, an e-mail,
    a card number, an IBAN; written or spoken); None when it is none of these."""
    value = " ".join(value.split())[:200]
    if not value:
        return None
    found: dict[str, str] = {}
    # Whatever the detector finds in the value as written or spoken.
    for f in detect(value):
        if f.kind != NUMBER:
            found.setdefault(value_hash(str(f.kind), f.value), Kind(f.kind).label)
    norm = normalise(value).text
    compact = _SEPARATORS_RE.sub("", norm)
    if "@" in compact and not found:
        found[value_hash(Kind.EMAIL, compact.lower())] = Kind.EMAIL.label
    if stdnum_iban.is_valid(compact):
        found[value_hash(Kind.IBAN, compact.upper())] = Kind.IBAN.label
    digits = compact.lstrip("+")
    if digits.isdigit():
        if is_card_number(digits):
            found[value_hash(Kind.CARD_NUMBER, digits)] = Kind.CARD_NUMBER.label
        phone = phone_e164(norm)
        if phone:
            found[value_hash(Kind.PHONE_NUMBER, phone)] = Kind.PHONE_NUMBER.label
    if not found:
        return None
    labels = sorted(set(found.values()))
    shown = compact if "@" not in compact else compact.split("@")[0][:1] + "…@…"
    return Mentions(hashes=tuple(found), label=f"{' or '.join(labels)} {_tail(shown)}")


def number_query(search: str) -> Mentions | None:
    """A search box's text that is one number of `NUMBER_QUERY_MIN_DIGITS` digits or more,
    however spaced or dashed: looked up as digits (and as the phone or card number it may
    be) rather than as words, so `4993274904650633` finds `4993 2749 0465 0633`."""
    if not _NUMBER_QUERY_RE.fullmatch(search):
        return None
    digits = re.sub(r"\D", "", search)
    if len(digits) < NUMBER_QUERY_MIN_DIGITS:
        return None
    hashes = [value_hash(NUMBER, digits)]
    if is_card_number(digits):
        hashes.append(value_hash(Kind.CARD_NUMBER, digits))
    phone = phone_e164(search)
    if phone:
        hashes.append(value_hash(Kind.PHONE_NUMBER, phone))
    return Mentions(hashes=tuple(hashes), label=_tail(digits))


def mentions_from_token(token: str) -> Mentions | None:
    """The search a token stands for, or None when it is not one of ours or has expired."""
    try:
        data = signing.loads(
            token[:2000], salt=_TOKEN_SALT, max_age=settings.MENTIONS_TOKEN_MAX_AGE_SECONDS
        )
        hashes = tuple(str(h)[:32] for h in data["h"])[:20]
        return Mentions(hashes=hashes, label=str(data["l"])[:80])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
