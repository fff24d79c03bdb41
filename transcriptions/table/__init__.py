"""The review table's read path: filters, search SQL per database, keyset paging, capped
counts, the planner and the rows' HTML. It reads the local cache only, never Twilio.

The table must answer in milliseconds at a million cached rows on SQLite and on PostgreSQL:
search goes through a word index, never `LIKE` or a regex over the text; counts over large
match sets are capped; pages are keyset pages; and the planner picks, per query, the way to
read a page that each database would not pick by itself."""

from __future__ import annotations

from .counts import (
    COUNT_CAP,
    CacheStatus,
    Count,
    cache_status,
    personal_data_counts,
    personal_data_totals,
    status_counts,
    status_totals,
)
from .filters import DEFAULT_PER_PAGE, DEFAULT_SORT, PER_PAGE_CHOICES, SORT_LABELS, TableFilters
from .news import News, newest_id, news_since
from .planner import TablePage, transcription_list, transcription_page
from .rows import TableRow, table_rows, text_snippet

__all__ = [
    "COUNT_CAP",
    "DEFAULT_PER_PAGE",
    "DEFAULT_SORT",
    "PER_PAGE_CHOICES",
    "SORT_LABELS",
    "CacheStatus",
    "News",
    "news_since",
    "newest_id",
    "Count",
    "TableFilters",
    "TablePage",
    "TableRow",
    "cache_status",
    "personal_data_counts",
    "personal_data_totals",
    "status_counts",
    "status_totals",
    "table_rows",
    "text_snippet",
    "transcription_list",
    "transcription_page",
]
