"""What the search box asks for: the words that must match, and SID prefixes. Pure Python, no
database: the SQL per database is in `search`, the highlighting of matches in `rows`."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from ..sids import sid_prefix

# A word is a run of letters and digits: everything else (punctuation, quotes, `%`, `_`,
# FTS operators) only separates words, as the indexes on both databases see the text.
WORD_RE = re.compile(r"[^\W_]+")

# A phrase in double quotes: its words one after another in the text, only spaces and
# punctuation between them. An unclosed quote is not a phrase (yet): its words are words.
PHRASE_RE = re.compile(r'"([^"]*)"')

# A word as the search matches it: False for a whole word, True for a prefix, or (SQLite) the
# whole words a prefix starts, when they were looked up. A phrase is its words joined by
# spaces, matched whole (`is_phrase`).
WordMatch = bool | tuple[str, ...]


def is_phrase(word: str) -> bool:
    return " " in word


@dataclass(frozen=True)
class SearchTerms:
    """A search box value split into the words that must each match the text."""

    words: tuple[str, ...] = ()
    # SQLite: the whole words of the index the last word starts, when few (`search.expanded`).
    last_expanded: tuple[str, ...] | None = None
    # Quoted phrases, apart from `words`.
    phrases: tuple[tuple[str, ...], ...] = ()
    # The last word is still being typed: no phrase closed after it.
    last_is_prefix: bool = True

    def text_words(self) -> list[tuple[str, WordMatch]]:
        """(word, how it matches) for the words that only search the text; the last word
        matches as a prefix, or as the whole words it starts when they were looked up."""
        last = len(self.words) - 1 if self.last_is_prefix else -1
        words: list[tuple[str, WordMatch]] = [
            (w, (self.last_expanded or True) if i == last else False)
            for i, w in enumerate(self.words)
            if not sid_prefix(w)
        ]
        # A quoted word is a whole word, a quoted phrase its words in a row.
        return words + [(" ".join(phrase), False) for phrase in self.phrases]

    def sid_words(self) -> list[tuple[str, str, bool]]:
        """(word, SID prefix, matches the text as a prefix) for SID-like words."""
        last = len(self.words) - 1 if self.last_is_prefix else -1
        return [
            (w, prefix, i == last) for i, w in enumerate(self.words) if (prefix := sid_prefix(w))
        ]

    def __bool__(self) -> bool:
        return bool(self.words or self.phrases)


def parse_search(search: str) -> SearchTerms:
    """Split the search box into words (see `WORD_RE`) and quoted phrases: nothing the user
    types reaches SQL, FTS5 or tsquery syntax except runs of letters and digits."""
    search = search or ""
    phrases = tuple(
        words for words in (tuple(WORD_RE.findall(m)) for m in PHRASE_RE.findall(search)) if words
    )
    # A word after the last closed quote is the one being typed: a prefix.
    unquoted = PHRASE_RE.sub(" ", search)
    tail = PHRASE_RE.split(search)[-1] if phrases else unquoted
    return SearchTerms(
        words=tuple(WORD_RE.findall(unquoted)),
        phrases=phrases,
        last_is_prefix=bool(WORD_RE.search(tail)),
    )


def without_accents(text: str) -> str:
    """The text with the marks Unicode writes apart from their letters removed (é, ë, ñ):
    what both word indexes do to words (migration 0024)."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.cache
def _accented() -> dict[str, str]:
    """Each ASCII letter and the Latin letters with marks that fold to it."""
    found: dict[str, list[str]] = {}
    for code in range(0xC0, 0x250):
        letter = chr(code)
        base = without_accents(letter)
        if len(base) == 1 and base.isascii() and base.isalpha() and base != letter:
            found.setdefault(base.lower(), []).append(letter)
    return {base: "".join(letters) for base, letters in found.items()}


def _accent_free_pattern(word: str) -> str:
    accented = _accented()
    parts = []
    for char in without_accents(word):
        variants = accented.get(char.lower())
        parts.append(f"[{char}{variants}]" if variants else re.escape(char))
    return "".join(parts)


def match_regex(terms: SearchTerms) -> re.Pattern[str] | None:
    """The Python twin of the word index, for highlighting exactly what matched: a word
    starts and ends where a run of letters and digits does, accents aside."""
    if not terms:
        return None
    last = len(terms.words) - 1 if terms.last_is_prefix else -1
    parts = []
    for i, word in enumerate([*terms.words, *(w for phrase in terms.phrases for w in phrase)]):
        end = "" if i == last else r"(?![^\W_])"
        parts.append(rf"(?<![^\W_]){_accent_free_pattern(word)}{end}")
    # Longest first, so "refund" wins over a shorter word it starts with.
    parts.sort(key=len, reverse=True)
    return re.compile("|".join(parts), re.IGNORECASE)
