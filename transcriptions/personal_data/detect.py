"""Finding personal data in a transcript: numbers with checksums validated by python-stdnum,
phone numbers by phonenumbers, e-mail addresses written or spoken, and the values that only
count near a card number or a context word (expiry, security code, social security and
routing numbers, dates of birth). Spoken numbers are normalised first (`spoken`), and every
finding points into the original text.

A finding's `value` is the normalised value (digits, E.164, a lower-case address) for hashing
only: it is never stored, logged or shown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.us import rtn, ssn

from .kinds import NUMBER, Kind
from .spoken import Normalised, may_hold_numbers, normalise

# Raised whenever detection changes, so that a rescan can find the rows scanned before.
DETECTOR_VERSION = 1

# Regions whose national numbers are tried, in order, for a phone number written without a
# country code (the first under which it is a valid number wins).
PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IE", "AU", "IN", "BR", "MX")


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int  # in the original text
    end: int
    value: str = ""  # normalised, for the keyed hash only

    def __repr__(self) -> str:  # never the value
        return f"Finding({self.kind}, {self.start}, {self.end})"


# Digits in groups: spaces, a dash, a dot or a comma between groups ("4993 2749", "4-9-9-3",
# "4, 9, 9"), a + or an opening parenthesis in front. Not beside letters (tracking codes),
# and not after a currency sign (prices).
_RUN_RE = re.compile(r"(?<![\w$€£.,])\+?\(?\d+\)?(?:(?:[ ]?[-.,][ ]?|[ ]{1,2})\(?\d+\)?)*(?![\w])")
_GROUP_RE = re.compile(r"\d+")
_CONTEXT_CHARS = 48

_SSN_CONTEXT = re.compile(r"social\s*security|\bssn\b|\bsocial\b", re.IGNORECASE)
_ROUTING_CONTEXT = re.compile(r"routing|\baba\b|transit number", re.IGNORECASE)
_EXPIRY_CONTEXT = re.compile(r"expir|\bexp\b|valid (?:thru|through|until)", re.IGNORECASE)
_CODE_CONTEXT = re.compile(
    r"security code|\bcvv2?\b|\bcvc\b|\bcid\b|verification (?:code|number)|"
    r"(?:digits|code|number) on the back",
    re.IGNORECASE,
)
_DOB_CONTEXT = re.compile(
    r"\bborn\b|date of birth|birth ?date|birthday|\bd\.? ?o\.? ?b\b", re.IGNORECASE
)
_MONTHS = {
    name: index
    for index, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}  # fmt: skip
_MONTH = "(?P<month_name>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d{2}|(?:19|20) \d{2})"
_DATE_RES = [
    re.compile(rf"\b{_MONTH} (?:the )?{_DAY},? (?:of )?{_YEAR}\b", re.IGNORECASE),
    re.compile(rf"\b(?:the )?{_DAY} (?:of )?{_MONTH},? {_YEAR}\b", re.IGNORECASE),
    re.compile(
        r"\b(?P<a>[0-3]?\d) ?[/.-] ?(?P<b>[0-3]?\d) ?[/.-] ?(?P<year>(?:19|20)\d{2}|\d{2})\b"
    ),
    re.compile(r"\b(?P<year>(?:19|20)\d{2})-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b"),
]
_EXPIRY_RE = re.compile(
    r"(?<!\d)(?P<month>0 ?[1-9]|1 ?[0-2]|[1-9])(?: ?[/-] ?| )(?P<year>(?:20)?\d{2})(?!\d)"
)
_CODE_RE = re.compile(r"(?<!\d)(\d(?: ?\d){2,3})(?!\d)")

_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_TLDS = (
    "com|net|org|edu|gov|mil|int|info|biz|io|co|ai|app|dev|me|us|uk|de|fr|es|it|nl|be|ch|at|"
    "se|no|dk|fi|ie|pt|pl|cz|au|nz|ca|mx|br|ar|in|jp|cn|kr|ru|za|eu"
)
_SPOKEN_EMAIL_RE = re.compile(
    r"\b(?P<local>[a-z0-9]+(?:\s+(?:dot|underscore|dash|hyphen)\s+[a-z0-9]+)*)"
    r"\s+at\s+"
    rf"(?P<domain>[a-z0-9]+(?:\s+(?:dot|dash|hyphen)\s+[a-z0-9]+)*\s+dot\s+(?:{_TLDS}))\b",
    re.IGNORECASE,
)
_SPOKEN_SEPARATORS = {"dot": ".", "underscore": "_", "dash": "-", "hyphen": "-"}
# Words that start many a spoken local part but are not one ("reach me at", "is at").
_NOT_LOCAL = {"me", "us", "is", "at", "it", "you", "him", "her", "them", "email", "mail"}
_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2} ?\d{2}(?: ?[A-Za-z0-9]){10,32}")

# Card numbers by issuer prefix: Luhn alone flags one 16-digit number in ten.
_CARD_PREFIX_RE = re.compile(
    r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[68])|6(?:011|5|4[4-9]|2)|"
    r"35(?:2[89]|[3-8]\d)|5[06-9]|6\d)"
)


@dataclass
class _Group:
    digits: str
    start: int  # in the normalised text
    end: int


def _runs(norm: str) -> list[list[_Group]]:
    runs = []
    for m in _RUN_RE.finditer(norm):
        groups = [
            _Group(g.group(), m.start() + g.start(), m.start() + g.end())
            for g in _GROUP_RE.finditer(m.group())
        ]
        runs.append(groups)
    return runs


def _windows(groups: list[_Group], low: int, high: int):
    """Consecutive groups holding low..high digits, longest first, then leftmost."""
    found = []
    for i in range(len(groups)):
        count = 0
        for j in range(i, len(groups)):
            count += len(groups[j].digits)
            if count > high:
                break
            if count >= low:
                found.append((count, i, j))
    found.sort(key=lambda f: (-f[0], f[1]))
    return found


def is_card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX_RE.match(digits)) and luhn.is_valid(digits)


def _context_before(
    norm: str, start: int, pattern: re.Pattern[str], chars: int = _CONTEXT_CHARS
) -> bool:
    return pattern.search(norm, max(0, start - chars), start) is not None


def phone_e164(candidate: str) -> str | None:
    """E.164 form of a phone number written `candidate`, if valid. With a country code (+ or
    00) in any country; without one, a North American number (ten digits, or eleven starting
    with 1), or a national number with its trunk prefix 0 in one of `PHONE_REGIONS`: a bare
    run of digits is valid in some numbering plan far too often."""
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15:
        return None
    tries: list[tuple[str, str | None]] = []
    if candidate.lstrip("(").startswith("+"):
        tries.append(("+" + digits, None))
    elif digits.startswith("00"):
        tries.append(("+" + digits[2:], None))
    elif digits.startswith("0"):
        tries += [(digits, region) for region in PHONE_REGIONS if region != "US"]
    elif len(digits) == 10 or (len(digits) == 11 and digits.startswith("1")):
        tries.append((digits, "US"))
    for number, region in tries:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None


class _Found:
    """Findings in the normalised text, with the spans already taken."""

    def __init__(self, norm: Normalised) -> None:
        self.norm = norm
        self.items: list[tuple[str, int, int, str]] = []  # kind, norm start, norm end, value

    def free(self, start: int, end: int) -> bool:
        return all(end <= s or start >= e for _k, s, e, _v in self.items)

    def add(self, kind: str, start: int, end: int, value: str) -> None:
        self.items.append((kind, start, end, value))

    def has(self, kind: str) -> bool:
        return any(k == kind for k, *_ in self.items)

    def near(self, kind: str, start: int, end: int, chars: int = 80) -> bool:
        return any(
            k == kind and s - chars <= end and start <= e + chars for k, s, e, _ in self.items
        )


def _numbers(found: _Found) -> None:
    """Cards, social security and routing numbers, and phone numbers, from runs of digits."""
    text = found.norm.text
    for groups in _runs(text):
        remaining = list(groups)
        # Cards: the longest Luhn-valid stretch of whole groups with an issuer's prefix.
        for _count, i, j in _windows(remaining, 13, 19):
            digits = "".join(g.digits for g in remaining[i : j + 1])
            start, end = remaining[i].start, remaining[j].end
            if found.free(start, end) and is_card_number(digits):
                found.add(Kind.CARD_NUMBER, start, end, digits)
        for _count, i, j in _windows(remaining, 9, 9):
            digits = "".join(g.digits for g in remaining[i : j + 1])
            start, end = remaining[i].start, remaining[j].end
            if not found.free(start, end):
                continue
            if _context_before(text, start, _ROUTING_CONTEXT) and rtn.is_valid(digits):
                found.add(Kind.BANK_ROUTING, start, end, digits)
            elif ssn.is_valid(digits) and (
                _context_before(text, start, _SSN_CONTEXT)
                or re.fullmatch(r"\d{3}-\d{2}-\d{4}", text[start:end])
            ):
                found.add(Kind.SSN, start, end, digits)
        # Phone numbers: the whole run, or a stretch of it from its first or to its last
        # group ("… seven one, one more thing").
        for _count, i, j in _windows(remaining, 7, 15):
            if i != 0 and j != len(remaining) - 1:
                continue
            start, end = remaining[i].start, remaining[j].end
            if not found.free(start, end):
                continue
            # The + or the parenthesis in front belongs to the number.
            lead = start
            while lead > 0 and text[lead - 1] in "+(":
                lead -= 1
            value = phone_e164(text[lead:end])
            if value:
                found.add(Kind.PHONE_NUMBER, lead, end, value)
        # Any long number, for a search by digits.
        for groups_kept in (groups,):
            digits = "".join(g.digits for g in groups_kept)
            if len(digits) >= 8:
                found.add(NUMBER, groups_kept[0].start, groups_kept[-1].end, digits)


def _ibans(found: _Found) -> None:
    text = found.norm.text
    for m in _IBAN_RE.finditer(text):
        compact = re.sub(r"\s", "", m.group()).upper()
        for length in range(min(34, len(compact)), 14, -1):
            if stdnum_iban.is_valid(compact[:length]):
                # The span of the first `length` characters of the match.
                seen, end = 0, m.start()
                for k, ch in enumerate(m.group()):
                    if not ch.isspace():
                        seen += 1
                    if seen == length:
                        end = m.start() + k + 1
                        break
                if found.free(m.start(), end):
                    found.add(Kind.IBAN, m.start(), end, compact[:length])
                break


def _card_details(found: _Found) -> None:
    """Expiry and security code: only near a card number and after a word that names them."""
    if not found.has(Kind.CARD_NUMBER):
        return
    text = found.norm.text
    for context in _EXPIRY_CONTEXT.finditer(text):
        m = _EXPIRY_RE.search(text, context.end(), context.end() + 30)
        if (
            m
            and found.free(m.start(), m.end())
            and found.near(Kind.CARD_NUMBER, m.start(), m.end())
        ):
            month = int(m.group("month").replace(" ", ""))
            year = m.group("year")[-2:]
            found.add(Kind.CARD_EXPIRY, m.start(), m.end(), f"{month:02d}/{year}")
    for context in _CODE_CONTEXT.finditer(text):
        m = _CODE_RE.search(text, context.end(), context.end() + 30)
        if (
            m
            and found.free(m.start(), m.end())
            and found.near(Kind.CARD_NUMBER, m.start(), m.end(), 160)
        ):
            found.add(Kind.CARD_SECURITY_CODE, m.start(), m.end(), m.group().replace(" ", ""))


def _dates_of_birth(found: _Found) -> None:
    text = found.norm.text
    for context in _DOB_CONTEXT.finditer(text):
        window_end = min(len(text), context.end() + 40)
        for pattern in _DATE_RES:
            m = pattern.search(text, context.end(), window_end)
            if not m:
                continue
            value = _date_value(m)
            if value and found.free(m.start(), m.end()):
                found.add(Kind.DATE_OF_BIRTH, m.start(), m.end(), value.isoformat())
                break


def _date_value(m: re.Match[str]) -> date | None:
    groups = m.groupdict()
    year_text = groups["year"].replace(" ", "")
    year = int(year_text)
    if year < 100:
        year += 1900 if year > date.today().year % 100 else 2000
    if groups.get("month_name"):
        month = _MONTHS[groups["month_name"].lower().rstrip(".")]
        day = int(groups["day"])
    elif groups.get("a"):
        a, b = int(groups["a"]), int(groups["b"])
        month, day = (a, b) if a <= 12 else (b, a)
    else:
        month, day = int(groups["month"]), int(groups["day"])
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    return value if date(1900, 1, 1) <= value <= date.today() else None


def _emails(found: _Found, original: str) -> list[Finding]:
    """E-mail addresses, written or spoken ("jane dot doe at example dot com"), found in the
    original text (the numbers' normalisation does not touch letters)."""
    out = []
    for m in _EMAIL_RE.finditer(original):
        out.append(Finding(Kind.EMAIL, m.start(), m.end(), m.group().lower()))
    for m in _SPOKEN_EMAIL_RE.finditer(original):
        local_words = m.group("local").split()
        # "reach me at …": the local part starts after a word that is not one.
        while len(local_words) > 1 and local_words[0].lower() in _NOT_LOCAL:
            local_words = local_words[1:]
        if local_words[0].lower() in _NOT_LOCAL:
            continue
        local = "".join(_SPOKEN_SEPARATORS.get(w.lower(), w) for w in local_words)
        domain = "".join(_SPOKEN_SEPARATORS.get(w.lower(), w) for w in m.group("domain").split())
        out.append(Finding(Kind.EMAIL, m.start("local"), m.end(), f"{local}@{domain}".lower()))
    return out


def detect(text: str | None) -> list[Finding]:
    """Every piece of personal data in `text` (and each long number, as `NUMBER`), in order
    of position; spans in the original text."""
    if not text:
        return []
    emails = _emails(_Found(Normalised("", [], [])), text) if "@" in text or " at " in text else []
    findings: list[Finding] = list(emails)
    if may_hold_numbers(text):
        norm = normalise(text)
        found = _Found(norm)
        for email in emails:  # digits inside an address are not a phone number
            found.items.append((Kind.EMAIL, *_norm_span(norm, email.start, email.end), ""))
        _ibans(found)
        _numbers(found)
        _card_details(found)
        _dates_of_birth(found)
        for kind, start, end, value in found.items:
            if kind == Kind.EMAIL:
                continue
            o_start, o_end = norm.original_span(start, end)
            findings.append(Finding(kind, o_start, o_end, value))
    findings.sort(key=lambda f: (f.start, f.end))
    return findings


def _norm_span(norm: Normalised, start: int, end: int) -> tuple[int, int]:
    """The normalised span behind an original one (e-mails are found in the original)."""
    n_start = next((k for k, s in enumerate(norm.starts) if s >= start), len(norm.text))
    n_end = next((k for k, e in enumerate(norm.ends) if e >= end), len(norm.text) - 1) + 1
    return n_start, n_end
