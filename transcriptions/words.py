"""Numbers in words, as the pages and the commands say them."""

from __future__ import annotations


def plural(n: int, word: str) -> str:
    """ "1 transcription", "1,234 transcriptions"."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def duration_text(seconds: float | None) -> str:
    """A short duration such as "2 h 05 min", "3 min 20 s" or "12 s"; empty when unknown."""
    if seconds is None:
        return ""
    whole = max(int(round(seconds)), 1)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def typed_count_matches(typed: object, count: int) -> bool:
    """Whether a count typed to confirm a deletion ("1,234" or "1234") is `count`."""
    return str(typed or "").strip().replace(",", "") == str(count)
