"""Whole days in the current time zone (TIME_ZONE by default), as the filters of the table,
the audit trail and the overview count them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

# Days outside this range select everything or nothing anyway; clamping keeps the conversion
# to an aware datetime from overflowing at year 1 or 9999.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9999, 12, 30)


def day_start(day: date) -> datetime:
    """Midnight at the start of `day`."""
    day = min(max(day, EARLIEST_DAY), LATEST_DAY)
    return timezone.make_aware(datetime.combine(day, time.min))


def day_after(day: date) -> datetime:
    """Midnight at the end of `day`: the exclusive bound of a range that includes it."""
    return day_start(min(day, LATEST_DAY - timedelta(days=1)) + timedelta(days=1))
