"""The head sync's stop: Twilio lists the newest first, and the last sync that succeeded read
everything older than its start; so once a page reaches back before that start (and before the
oldest row the cache holds in progress, which may have finished since), the rest is cached."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..models import Transcription

if TYPE_CHECKING:
    from .pages import PreparedPage


@dataclass(frozen=True)
class Held:
    """What the cache held of a page's items before it was written."""

    held: int  # items already cached
    unchanged: int  # of those, with the same status and last change


def held_before(page: PreparedPage) -> Held:
    cached = Transcription.objects.filter(sid__in=list(page.versions)).values_list(
        "sid", "status", "date_updated"
    )
    held = unchanged = 0
    for sid, status, updated in cached:
        held += 1
        unchanged += page.versions.get(sid) == (status, updated)
    return Held(held=held, unchanged=unchanged)


@dataclass(frozen=True)
class HeadStop:
    """When a head sync has read enough: after the first page that reaches back before
    `read_since` (a little before the start of the last sync of the account that succeeded,
    complete or head: by then Twilio listed everything older, and that sync read it or
    found it cached) and before `in_progress_since` (the oldest row the cache holds in
    progress). Without a sync that succeeded, every page is read (nothing is removed).

    Not "a page that holds nothing new": callbacks fill the newest pages, so a page of rows
    that all came by callback says nothing of a callback lost for an older row beyond it."""

    read_since: datetime | None
    in_progress_since: datetime | None

    def reached(self, page: PreparedPage) -> bool:
        if self.read_since is None or page.oldest is None:
            return False
        bound = self.read_since
        if self.in_progress_since is not None:
            bound = min(bound, self.in_progress_since)
        return page.oldest < bound
