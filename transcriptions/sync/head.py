"""The head sync's stop: Twilio lists the newest first, so once a page holds nothing new and
the pass is beyond the oldest row the cache holds in progress, the rest is already cached."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..models import Transcription

if TYPE_CHECKING:
    from .pages import _PreparedPage


@dataclass(frozen=True)
class Held:
    """What the cache held of a page's items before it was written."""

    held: int  # items already cached
    unchanged: int  # of those, with the same status and last change


def held_before(page: _PreparedPage) -> Held:
    cached = Transcription.objects.filter(sid__in=list(page.versions)).values_list(
        "sid", "status", "date_updated"
    )
    held = unchanged = 0
    for sid, status, updated in cached:
        held += 1
        unchanged += page.versions.get(sid) == (status, updated)
    return Held(held=held, unchanged=unchanged)


@dataclass
class HeadStop:
    """When a head sync has read enough: after a page that held nothing new, once past the
    oldest row the cache holds in progress (it may have finished since). Twilio lists the
    newest first, so what lies beyond is older still: rows the cache already holds, finished
    before the last sync. The changes on that last page are written all the same."""

    in_progress_since: datetime | None

    def reached(self, page: _PreparedPage, held: Held) -> bool:
        if not page.versions or held.held < len(page.versions):
            return False
        return self.in_progress_since is None or (
            page.oldest is not None and page.oldest < self.in_progress_since
        )
