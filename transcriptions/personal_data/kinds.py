"""The kinds of personal data the desk finds, each with its bit in a row's `personal_data`
mask. The values are fixed: URLs (`personal_data=card_number`) and stored masks use them."""

from __future__ import annotations

from django.db import models


class Kind(models.TextChoices):
    CARD_NUMBER = "card_number", "Card number"
    CARD_EXPIRY = "card_expiry", "Card expiry"
    CARD_SECURITY_CODE = "card_security_code", "Card security code"
    IBAN = "iban", "IBAN"
    SSN = "ssn", "Social security number"
    BANK_ROUTING = "bank_routing", "Bank routing number"
    PHONE_NUMBER = "phone_number", "Phone number"
    EMAIL = "email", "E-mail address"
    DATE_OF_BIRTH = "date_of_birth", "Date of birth"


# The filter's value for "any kind".
ANY = "any"
# A number of eight digits or more, whatever it is: not personal data by itself, but kept (as
# a keyed hash) so that a search by digits finds it however it was spaced or spoken.
NUMBER = "number"

# Never renumber: the masks are stored.
BITS: dict[str, int] = {kind.value: 1 << index for index, kind in enumerate(Kind)}
ALL_BITS = sum(BITS.values())
# Short names for badges.
SHORT_LABELS = {
    Kind.CARD_NUMBER: "Card",
    Kind.CARD_EXPIRY: "Expiry",
    Kind.CARD_SECURITY_CODE: "CVV",
    Kind.IBAN: "IBAN",
    Kind.SSN: "SSN",
    Kind.BANK_ROUTING: "Routing",
    Kind.PHONE_NUMBER: "Phone",
    Kind.EMAIL: "E-mail",
    Kind.DATE_OF_BIRTH: "Birth date",
}


def mask_of(kinds: tuple[str, ...] | list[str]) -> int:
    """The bits of `kinds` (ANY: every kind); unknown names are ignored."""
    if ANY in kinds:
        return ALL_BITS
    return sum(BITS[k] for k in set(kinds) if k in BITS)


def kinds_of(mask: int) -> list[str]:
    """The kinds whose bits are set, in the order of `Kind`."""
    return [kind for kind, bit in BITS.items() if mask & bit]
