"""What changed since a page of the table was shown: how many transcriptions arrived that its
filters match, and the new status of the rows it shows. Asked for by the open page now and
then, so a reader learns of arrivals without losing their place; a few indexed reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Max

from ..models import Transcription
from .counts import COUNT_CAP, Count, _capped_sql, _counts_run
from .filters import TableFilters
from .search import Query, filtered

# The most rows of a page whose status is looked at again.
SHOWN_MAX = 100


@dataclass(frozen=True)
class News:
    arrived: Count
    # (SID, status, label) of shown rows whose status changed since the page was made.
    changed: list[tuple[str, str, str]] = field(default_factory=list)


def newest_id() -> int:
    """The newest cached row's id: what a page remembers to ask what arrived after it."""
    return Transcription.objects.aggregate(newest=Max("id"))["newest"] or 0


def news_since(
    *, filters: TableFilters, since_id: int, since: datetime | None, shown: list[str]
) -> News:
    """Rows the filters match with an id after `since_id` (capped), and the shown rows
    (SIDs) written by a sync or a callback after `since`, with their status now."""
    arrivals = filtered(Query.of(filters)).filter(id__gt=since_id)
    counted = _counts_run({"arrived": _capped_sql(arrivals, COUNT_CAP)})
    changed: list[tuple[str, str, str]] = []
    if since is not None and shown:
        rows = Transcription.objects.filter(sid__in=shown[:SHOWN_MAX], synced_at__gt=since).only(
            "sid", "status"
        )
        changed = [(t.sid, t.status, t.get_status_display()) for t in rows]
    return News(arrived=Count.of(counted["arrived"]), changed=changed)
