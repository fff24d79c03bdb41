"""CSV written line by line for streamed downloads, with cells a spreadsheet shows as text."""

from __future__ import annotations

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection");
# tab and carriage return are included because some spreadsheets strip them first.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """A text cell a spreadsheet will show as text: a leading apostrophe before a cell that
    would otherwise start a formula, also after leading spaces or other blanks, which some
    spreadsheets skip before they look for the formula."""
    stripped = value.lstrip(" \t\r\n\x0b\x0c\u00a0")
    if value.startswith(_FORMULA_PREFIXES) or stripped.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


class CsvLine:
    """A file-like object whose write returns what was written, so csv.writer makes lines
    that are handed straight to the response instead of being buffered."""

    def write(self, value: str) -> str:
        return value
