"""Personal data as callers say it, for the sandbox's seeded transcripts: card numbers (valid
by Luhn, of several issuers) written or spoken digit by digit, with expiry and security code;
phone numbers of several countries, written or spoken; e-mail addresses, written or spoken;
IBANs (valid check digits); US social security and routing numbers with their context words;
dates of birth. And near misses that look like them but are not: order numbers that fail the
Luhn check, tracking codes, prices, times, years. Self-contained: the sandbox knows nothing of
the desk."""

from __future__ import annotations

import random

_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_NAMES = ("jane", "tom", "maria", "li", "olga", "ahmed", "grace", "pedro", "chloe", "ravi")
_SURNAMES = ("doe", "smith", "garcia", "chen", "novak", "hassan", "okafor", "silva", "patel")
_DOMAINS = ("example.com", "example.org", "mail.example.net", "example.co.uk")


def _luhn_complete(body: str) -> str:
    """`body` with the check digit that makes it Luhn-valid."""
    total = 0
    for index, ch in enumerate(reversed(body)):
        d = int(ch)
        if index % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def card_digits(rng: random.Random) -> str:
    prefix, length = rng.choice((("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("37", 15)))
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return _luhn_complete(body)


def _grouped(digits: str, sep: str) -> str:
    if len(digits) == 15:  # Amex: 4-6-5
        return sep.join((digits[:4], digits[4:10], digits[10:]))
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def spoken_digits(digits: str, rng: random.Random) -> str:
    """Digit by digit as a recogniser writes speech: "oh" for some zeros, "double" for pairs."""
    words, i = [], 0
    while i < len(digits):
        d = digits[i]
        if i + 1 < len(digits) and digits[i + 1] == d and rng.random() < 0.5:
            words.append(f"double {_DIGIT_WORDS[int(d)]}")
            i += 2
            continue
        words.append("oh" if d == "0" and rng.random() < 0.5 else _DIGIT_WORDS[int(d)])
        i += 1
    return " ".join(words)


def _iban(rng: random.Random) -> str:
    country, bban = rng.choice(
        (
            ("GB", "WEST" + "".join(str(rng.randrange(10)) for _ in range(14))),
            ("DE", "".join(str(rng.randrange(10)) for _ in range(18))),
            ("FR", "".join(str(rng.randrange(10)) for _ in range(23))),
            ("NL", "ABNA" + "".join(str(rng.randrange(10)) for _ in range(10))),
        )
    )
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(numeric) % 97
    iban = f"{country}{check:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _ssn(rng: random.Random) -> str:
    area = rng.randrange(1, 900)
    area = 665 if area == 666 else area
    return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


def _routing(rng: random.Random) -> str:
    body = f"0{rng.randrange(1, 10)}" + "".join(str(rng.randrange(10)) for _ in range(6))
    weights = (3, 7, 1, 3, 7, 1, 3, 7)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + str((10 - total % 10) % 10)


def _phone(rng: random.Random) -> tuple[str, str]:
    """A phone number written, and its national digits for speaking."""
    kind = rng.randrange(5)
    if kind == 0:
        area, line = rng.choice(("415", "212", "312", "617")), f"{rng.randrange(10**4):04d}"
        return f"+1 {area} 555 {line}", f"{area}555{line}"
    if kind == 1:
        area, line = rng.choice(("415", "646", "206")), f"{rng.randrange(10**4):04d}"
        return f"({area}) 555-{line}", f"{area}555{line}"
    if kind == 2:
        line = f"{rng.randrange(10**3):03d}"
        return f"+44 20 7946 0{line}", f"0207946 0{line}".replace(" ", "")
    if kind == 3:
        line = f"{rng.randrange(10**6):06d}"
        return f"+49 30 {line}", f"030{line}"
    line = f"{rng.randrange(10**4):04d}"
    return f"+33 1 23 45 {line[:2]} {line[2:]}", f"012345{line}"


def personal_line(rng: random.Random) -> str:
    """One thing a caller says that holds personal data."""
    kind = rng.randrange(12)
    if kind == 0:
        digits = card_digits(rng)
        expiry = f"{rng.randrange(1, 13):02d}/{rng.randrange(26, 31)}"
        return f"My card number is {_grouped(digits, rng.choice(' -'))}, expiry {expiry}."
    if kind == 1:
        digits = card_digits(rng)
        month = spoken_digits(f"{rng.randrange(1, 13):02d}", rng)
        code = spoken_digits(f"{rng.randrange(1000):03d}", rng)
        return (
            f"The card is {spoken_digits(digits, rng)}, expires {month} twenty "
            f"{rng.choice(_DIGIT_WORDS[6:])}, and the security code is {code}."
        )
    if kind == 2:
        written, _ = _phone(rng)
        return f"You can call me back on {written}."
    if kind == 3:
        _, national = _phone(rng)
        return f"My number is {spoken_digits(national, rng)}."
    if kind == 4:
        return f"My e-mail is {rng.choice(_NAMES)}.{rng.choice(_SURNAMES)}@{rng.choice(_DOMAINS)}."
    if kind == 5:
        domain = rng.choice(_DOMAINS).replace(".", " dot ")
        return f"It's {rng.choice(_NAMES)} dot {rng.choice(_SURNAMES)} at {domain}."
    if kind == 6:
        return f"Please pay it into IBAN {_iban(rng)}."
    if kind == 7:
        return f"My social security number is {_ssn(rng)}."
    if kind == 8:
        ending = f"{rng.randrange(10**4):04d}"
        return f"The routing number is {_routing(rng)} and the account ends {ending}."
    if kind == 9:
        year = rng.randrange(1940, 2005)
        return f"I was born on {rng.choice(_MONTHS)} {rng.randrange(1, 29)}, {year}."
    if kind == 10:
        return (
            f"Date of birth {rng.randrange(1, 13):02d}/{rng.randrange(1, 29):02d}/"
            f"{rng.randrange(1940, 2005)}."
        )
    digits = card_digits(rng)
    return f"The card ending {digits[-4:]}, the long number is {_grouped(digits, ' ')}."


def near_miss_line(rng: random.Random) -> str:
    """Something that looks like personal data but is not."""
    kind = rng.randrange(6)
    if kind == 0:
        digits = card_digits(rng)
        wrong = digits[:-1] + str((int(digits[-1]) + rng.randrange(1, 10)) % 10)
        return f"Your order number is {_grouped(wrong, ' ')}."
    if kind == 1:
        code = "".join(rng.choice("0123456789") for _ in range(16))
        return f"The tracking code is 1Z{rng.randrange(999):03d}AA{code}."
    if kind == 2:
        return f"The total came to ${rng.randrange(100, 5000):,}.{rng.randrange(100):02d}."
    if kind == 3:
        minutes = rng.choice(("00", "15", "30", "45"))
        return f"The engineer comes at {rng.randrange(8, 18)}:{minutes}."
    if kind == 4:
        return f"I've been a customer since {rng.randrange(1995, 2025)}."
    return f"Reference {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)} on the letter."
