"""Logging filters of the desk's own."""

from __future__ import annotations

import logging
import re

# "GET /?q=4111+1111 HTTP/1.1" -> "GET / HTTP/1.1" (also a bare path or URL).
_QUERY_RE = re.compile(r"\?[^\s\"]*")


class QueryStringsLeftOut(logging.Filter):
    """Removes query strings from a record's message arguments and message: the table's
    URL carries the search box's words, which can be personal data (a name, a card number),
    and a log line must never hold them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY_RE.sub("", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _QUERY_RE.sub("", record.msg) if "?" in record.msg else record.msg
        return True
