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
from importlib import resources

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.us import rtn, ssn

from .kinds import NUMBER, Kind
from .spoken import Normalised, may_hold_spoken_numbers, normalise

# Raised whenever detection changes, so that a rescan can find the rows scanned before.
DETECTOR_VERSION = 1

# Regions whose national numbers (with their trunk prefix 0) are tried, in order, for a
# phone number written without a country code, each with the lengths its numbers have
# (digits, the 0 included): parsing is the costly part, and a length rules most out.
PHONE_REGIONS: dict[str, range] = {
    "GB": range(10, 12),
    "DE": range(6, 16),
    "FR": range(10, 11),
    "NL": range(10, 11),
    "IE": range(8, 11),
    "AU": range(10, 11),
    "IN": range(11, 12),
    "IT": range(6, 13),
    "BR": range(11, 13),
}


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
_RUN_RE = re.compile(
    r"(?<![\w$€£.,])\+?\(?\d+\)?"
    r"(?:(?:[ ]?[-.,][ ]?|[ ]{1,2}|(?<=\))|(?=\())\(?\d+\)?)*(?![\w])"
)
_GROUP_RE = re.compile(r"\d+")
_CONTEXT_CHARS = 48
_SSN_WRITTEN_RE = re.compile(r"\d{3}-\d{2}-\d{4}")
# Cheap first looks: seven digits in a row or in groups (cards, phones, SSNs, IBANs…), and a
# word about birth.
_DIGITS_HINT_RE = re.compile(r"\d(?:[ .,()-]{0,3}\d){6}")
_DOB_HINTS = ("born", "birth", "dob", "d.o.b")

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

_EMAIL_LOCAL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*\Z")
_EMAIL_DOMAIN_RE = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_TLDS = (
    "com|net|org|edu|gov|mil|int|info|biz|io|co|ai|app|dev|me|us|uk|de|fr|es|it|nl|be|ch|at|"
    "se|no|dk|fi|ie|pt|pl|cz|au|nz|ca|mx|br|ar|in|jp|cn|kr|ru|za|eu"
)
_SPOKEN_DOMAIN_RE = re.compile(rf"[a-z0-9]+(?: (?:dot|dash|hyphen) [a-z0-9]+)* dot (?:{_TLDS})\b")
_SPOKEN_LOCAL_RE = re.compile(r"[a-z0-9]+(?: (?:dot|underscore|dash|hyphen) [a-z0-9]+)*\Z")
_SPOKEN_SEPARATORS = {"dot": ".", "underscore": "_", "dash": "-", "hyphen": "-"}
# Words that start many a spoken local part but are not one ("reach me at", "is at").
_NOT_LOCAL = {"me", "us", "is", "at", "it", "you", "him", "her", "them", "email", "mail"}
_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2} ?\d{2}(?: ?[A-Za-z0-9]){10,32}")

# Card numbers by issuer prefix: Luhn alone flags one 16-digit number in ten.
_CARD_PREFIX_RE = re.compile(
    r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[68])|6(?:011|5|4[4-9]|2)|"
    r"35(?:2[89]|[3-8]\d)|5[06-9]|6\d)"
)


@dataclass(frozen=True)
class _Run:
    """Digits in groups: `digits` all of them, `offsets[k]` where group k starts in
    `digits` (one more at the end), `starts`/`ends` the groups' spans in the text."""

    digits: str
    offsets: list[int]
    starts: list[int]
    ends: list[int]

    def window(self, i: int, j: int) -> str:
        return self.digits[self.offsets[i] : self.offsets[j + 1]]


def _runs(norm: str) -> list[_Run]:
    runs = []
    for m in _RUN_RE.finditer(norm):
        if len(m.group()) < 7:  # fewer than seven digits: none of the numbers looked for
            continue
        base = m.start()
        groups = [
            (g.group(), base + g.start(), base + g.end()) for g in _GROUP_RE.finditer(m.group())
        ]
        offsets = [0]
        for digits, _, _ in groups:
            offsets.append(offsets[-1] + len(digits))
        if offsets[-1] < 7:
            continue
        runs.append(
            _Run(
                digits="".join(d for d, _, _ in groups),
                offsets=offsets,
                starts=[start for _, start, _ in groups],
                ends=[end for _, _, end in groups],
            )
        )
    return runs


def _windows(run: _Run, low: int, high: int) -> list[tuple[int, int]]:
    """Consecutive groups holding low..high digits, longest first, then leftmost."""
    offsets = run.offsets
    if offsets[-1] < low:
        return []
    groups = len(offsets) - 1
    found = []
    for i in range(groups):
        for j in range(i, groups):
            count = offsets[j + 1] - offsets[i]
            if count > high:
                break
            if count >= low:
                found.append((count, i, j))
    found.sort(key=lambda f: (-f[0], f[1]))
    return [(i, j) for _, i, j in found]


def is_card_number(digits: str) -> bool:
    """13 to 19 digits with a card issuer's prefix and a valid Luhn check digit."""
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
    if candidate.lstrip("(").startswith("+"):
        # "+44 (0)20 …": the trunk prefix in brackets is not dialled with a country code.
        candidate = candidate.replace("(0)", "")
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15:
        return None
    tries: list[tuple[str, str | None]] = []
    if candidate.lstrip("(").startswith("+"):
        tries.append(("+" + digits, None))
    elif digits.startswith("00"):
        tries.append(("+" + digits[2:], None))
    elif digits.startswith("0"):
        tries += [
            (digits, region) for region, lengths in PHONE_REGIONS.items() if len(digits) in lengths
        ]
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
        """No finding but a long number (`NUMBER`, kept for digit search only) is there."""
        return all(end <= s or start >= e or k == NUMBER for k, s, e, _v in self.items)

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
    for run in _runs(text):
        last = len(run.starts) - 1
        international = run.starts[0] > 0 and text[run.starts[0] - 1] in "+("
        # Cards: the longest Luhn-valid stretch of whole groups with an issuer's prefix (not
        # a number dialled with its country code).
        for i, j in [] if international else _windows(run, 13, 19):
            digits = run.window(i, j)
            start, end = run.starts[i], run.ends[j]
            if is_card_number(digits) and found.free(start, end):
                found.add(Kind.CARD_NUMBER, start, end, digits)
        for i, j in _windows(run, 9, 9):
            digits = run.window(i, j)
            start, end = run.starts[i], run.ends[j]
            if not found.free(start, end):
                continue
            if _context_before(text, start, _ROUTING_CONTEXT) and rtn.is_valid(digits):
                found.add(Kind.BANK_ROUTING, start, end, digits)
            elif ssn.is_valid(digits) and (
                _context_before(text, start, _SSN_CONTEXT)
                or _SSN_WRITTEN_RE.fullmatch(text, start, end)
            ):
                found.add(Kind.SSN, start, end, digits)
        # Phone numbers: the whole run, or all of it but a digit or two at one end ("… seven
        # one, one more thing"); never a stretch from inside a longer number.
        for i, j in _windows(run, 7, 15):
            left_out = len(run.digits) - (run.offsets[j + 1] - run.offsets[i])
            if left_out > 2 or (i != 0 and j != last):
                continue
            start, end = run.starts[i], run.ends[j]
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
        if len(run.digits) >= 8:
            found.add(NUMBER, run.starts[0], run.ends[-1], run.digits)


def _iban_lengths() -> dict[str, int]:
    """The length of an IBAN per country, from python-stdnum's register (the BBAN's
    structure, e.g. "4!a6!n8!n", plus four)."""
    register = resources.files("stdnum").joinpath("iban.dat").read_text(encoding="utf-8")
    lengths = {}
    for country, bban in re.findall(r'^([A-Z]{2}) .*?bban="([^"]+)"', register, re.MULTILINE):
        lengths[country] = 4 + sum(int(n) for n in re.findall(r"(\d+)!?[anc]", bban))
    return lengths


_IBAN_LENGTHS = _iban_lengths()


def _ibans(found: _Found) -> None:
    """IBANs as written: a country's code in capitals, its check digits, and exactly as many
    characters more as that country's IBANs have, validated (mod 97 and the country's
    format) by python-stdnum."""
    text = found.norm.text
    for m in _IBAN_RE.finditer(text):
        length = _IBAN_LENGTHS.get(m.group()[:2])
        if length is None:
            continue
        compact, end = "", m.start()
        for k, ch in enumerate(m.group()):
            if not ch.isspace():
                compact += ch
            if len(compact) == length:
                end = m.start() + k + 1
                break
        if len(compact) == length and stdnum_iban.is_valid(compact.upper()):
            if found.free(m.start(), end):
                found.add(Kind.IBAN, m.start(), end, compact.upper())


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


def _emails(original: str, lower: str) -> list[Finding]:
    """E-mail addresses, written or spoken ("jane dot doe at example dot com"), found in the
    original text (the numbers' normalisation does not touch letters). Looked for around each
    "@" and each " at ": a scan of the whole text for an address took far longer."""
    out = []
    at = original.find("@")
    while at != -1:
        local = _EMAIL_LOCAL_RE.search(original, max(0, at - 64), at)
        domain = _EMAIL_DOMAIN_RE.match(original, at + 1)
        if local and domain:
            start, end = local.start(), domain.end()
            out.append(Finding(Kind.EMAIL, start, end, original[start:end].lower()))
        at = original.find("@", at + 1)
    if " dot " not in lower:
        return out
    at = lower.find(" at ")
    while at != -1:
        domain = _SPOKEN_DOMAIN_RE.match(lower, at + 4)
        local = _SPOKEN_LOCAL_RE.search(lower, max(0, at - 80), at) if domain else None
        if local and domain:
            local_words = local.group().split()
            # "reach me at …": the local part starts after a word that is not one.
            while len(local_words) > 1 and local_words[0] in _NOT_LOCAL:
                local_words = local_words[1:]
            if local_words[0] not in _NOT_LOCAL:
                name = "".join(_SPOKEN_SEPARATORS.get(w, w) for w in local_words)
                host = "".join(_SPOKEN_SEPARATORS.get(w, w) for w in domain.group().split())
                start = at - len(" ".join(local_words))
                out.append(Finding(Kind.EMAIL, start, domain.end(), f"{name}@{host}"))
        at = lower.find(" at ", at + 1)
    return out


def detect(text: str | None) -> list[Finding]:
    """Every piece of personal data in `text` (and each long number, as `NUMBER`), in order
    of position; spans in the original text. Each detector runs only when the text has what
    it needs (a long run of digits, two number words in a row, an "@" or a spoken "at … dot",
    a word about birth), so that most of a support line's text costs a few regex scans."""
    if not text:
        return []
    lower = text.lower()
    emails = _emails(text, lower) if "@" in text or " at " in lower else []
    findings: list[Finding] = list(emails)
    spoken = may_hold_spoken_numbers(lower)
    births = any(hint in lower for hint in _DOB_HINTS)
    if not (spoken or births or _DIGITS_HINT_RE.search(text)):
        return findings
    norm = normalise(text) if spoken else Normalised(text)
    found = _Found(norm)
    for email in emails:  # digits inside an address are not a phone number
        found.items.append((Kind.EMAIL, *norm.normalised_span(email.start, email.end), ""))
    _ibans(found)
    _numbers(found)
    _card_details(found)
    if births:
        _dates_of_birth(found)
    for kind, start, end, value in found.items:
        if kind == Kind.EMAIL:
            continue
        o_start, o_end = norm.original_span(start, end)
        findings.append(Finding(kind, o_start, o_end, value))
    findings.sort(key=lambda f: (f.start, f.end))
    return findings
