"""Numbers as speech recognisers write them, turned into digits before anything is validated:
"four one one one", "oh" for zero, "double five", "nineteen eighty five", "fourteenth". The
normalised text keeps every other character as it was, and maps each of its characters back to
the span of the original text it came from, so a finding points into the original."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9,
}  # fmt: skip
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_REPEATS = {"double": 2, "triple": 3}
_NUMBER_WORDS = frozenset(
    {*_UNITS, *_TEENS, *_TENS, *_ORDINALS, *_REPEATS, "oh", "hundred", "thousand"}
)

_WORD_RE = re.compile(r"[A-Za-z]+")
_WORDS_ALTERNATION = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
# Whether a text may hold a number worth normalising: any digit or number word at all.
_ANY_WORD_NUMBER_RE = re.compile(rf"\b(?:{_WORDS_ALTERNATION})\b", re.IGNORECASE)
_TO_SPACES = bytes.maketrans(b",.?!;:'\"()-", b" " * 11)
_NUMBER_WORDS_BYTES = frozenset(word.encode() for word in _NUMBER_WORDS)


@dataclass(frozen=True)
class Normalised:
    """`text` with spoken numbers as digits, and how to map its spans back: `segments` holds
    (start in `text`, start in the original, end in the original, replaced) for each piece,
    in order; None when nothing was replaced (the text is the original)."""

    text: str
    segments: tuple[tuple[int, int, int, bool], ...] | None = None

    def _at(self, index: int, *, end: bool) -> int:
        assert self.segments is not None
        k = bisect_right(self._starts, index) - 1
        norm_start, orig_start, orig_end, replaced = self.segments[k]
        if replaced:
            return orig_end if end else orig_start
        return orig_start + (index - norm_start) + (1 if end else 0)

    @property
    def _starts(self) -> list[int]:
        return [segment[0] for segment in self.segments or ()]

    def normalised_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of `text` behind `original[start:end]` (which no replacement cuts)."""
        if self.segments is None:
            return start, end
        return self._from_original(start), self._from_original(end - 1) + 1

    def _from_original(self, index: int) -> int:
        assert self.segments is not None
        for norm_start, orig_start, orig_end, replaced in reversed(self.segments):
            if orig_start <= index:
                return norm_start if replaced else norm_start + min(index, orig_end) - orig_start
        return 0

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text behind `text[start:end]`."""
        if self.segments is None:
            return start, end
        return self._at(start, end=False), self._at(end - 1, end=True)


def _ordinal(value: int) -> str:
    return f"{value}th"


def _read_number(words: list[tuple[str, int, int]], i: int) -> tuple[str, int] | None:
    """The digits spoken from word i on, and how many words they took; None if word i does
    not start a number. Digit by digit ("four one"), a repeat ("double five"), a compound
    ("twenty nine", "nineteen eighty five"), hundreds and thousands ("two thousand and
    three")."""
    word = words[i][0].lower()
    nxt = words[i + 1][0].lower() if i + 1 < len(words) else ""
    if word in _REPEATS and (nxt in _UNITS or nxt == "oh"):
        digit = "0" if nxt == "oh" else str(_UNITS[nxt])
        return digit * _REPEATS[word], 2
    if word in _ORDINALS:
        return _ordinal(_ORDINALS[word]), 1
    if word in _TENS:
        value = _TENS[word]
        if nxt in _UNITS and nxt != "zero":
            return str(value + _UNITS[nxt]), 2
        if nxt in _ORDINALS and _ORDINALS[nxt] < 10:
            return _ordinal(value + _ORDINALS[nxt]), 2
        return str(value), 1
    if word in _UNITS or word in _TEENS:
        value = _UNITS.get(word, _TEENS.get(word, 0))
        if nxt in ("hundred", "thousand"):
            return _read_large(words, i)
        return str(value), 1
    return None


def _read_large(words: list[tuple[str, int, int]], i: int) -> tuple[str, int]:
    """ "two thousand and three", "eight hundred": a number with hundreds or thousands."""
    total = current = 0
    j = i
    while j < len(words):
        w = words[j][0].lower()
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TEENS:
            current += _TEENS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w == "thousand":
            total += max(current, 1) * 1000
            current = 0
        elif w == "and" and j + 1 < len(words) and words[j + 1][0].lower() in _NUMBER_WORDS:
            pass
        else:
            break
        j += 1
    return str(total + current), j - i


def normalise(text: str) -> Normalised:
    """The text with spoken numbers written as digits (see the module)."""
    if not _ANY_WORD_NUMBER_RE.search(text):
        return Normalised(text)
    words = [(m.group(), m.start(), m.end()) for m in _WORD_RE.finditer(text)]
    out: list[str] = []
    segments: list[tuple[int, int, int, bool]] = []
    length = pos = 0

    def keep(upto: int) -> None:
        nonlocal pos, length
        if upto > pos:
            segments.append((length, pos, upto, False))
            out.append(text[pos:upto])
            length += upto - pos
            pos = upto

    i = 0
    while i < len(words):
        word, start, _end = words[i]
        lower = word.lower()
        read = None
        if lower in _NUMBER_WORDS and lower != "oh":
            read = _read_number(words, i)
        elif lower == "oh" and _beside_number(words, i):
            read = ("0", 1)
        if read is None:
            i += 1
            continue
        digits, taken = read
        # Words in a run must be separated by spaces or light punctuation only.
        last = i + taken - 1
        if any(not _light_gap(text[words[k][2] : words[k + 1][1]]) for k in range(i, last)):
            i += 1
            continue
        keep(start)
        span_end = words[last][2]
        segments.append((length, start, span_end, True))
        out.append(digits)
        length += len(digits)
        pos = span_end
        i += taken
    keep(len(text))
    if not any(replaced for *_, replaced in segments):
        return Normalised(text)
    return Normalised("".join(out), tuple(segments))


def _light_gap(gap: str) -> bool:
    return len(gap) <= 3 and all(ch in " ,-" for ch in gap)


def _beside_number(words: list[tuple[str, int, int]], i: int) -> bool:
    """ "oh" is a zero only among other digits ("five oh two"), not "oh, I see"."""
    for k in (i - 1, i + 1):
        if 0 <= k < len(words):
            w = words[k][0].lower()
            if w in _UNITS or w in _REPEATS or w == "oh":
                return True
    return False


def may_hold_spoken_numbers(lower: str) -> bool:
    """Two number words in a row at least in a lower-cased text ("four one", "twenty nine",
    "fourteenth nineteen"): a lone "one" or "three" in a sentence is no number worth
    reading. Split words and a set rather than one regular expression of every number word,
    which took ten times as long."""
    # As bytes: their translate and split are several times faster than str's.
    words = lower.encode().translate(_TO_SPACES).split()
    if _NUMBER_WORDS_BYTES.isdisjoint(words):
        return False
    previous = False
    for word in words:
        current = word in _NUMBER_WORDS_BYTES
        if current and previous:
            return True
        previous = current
    return False
