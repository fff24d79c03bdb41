"""The overview chart: transcriptions per day by status, and the failure rate.

`status_overview` reads the counts in one aggregate query; `chart_geometry` turns them into the
coordinates of a stacked bar chart that the template draws as inline SVG, so the page needs no
JavaScript and the numbers are testable here rather than in markup.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from .days import day_after, day_start
from .models import Transcription, TranscriptionStatus

PERIODS = (30, 90)
DEFAULT_PERIOD = 30

# Stacked from the baseline up: failures sit on the axis, so their heights compare across days.
STACK_ORDER = (
    TranscriptionStatus.FAILED,
    TranscriptionStatus.IN_PROGRESS,
    TranscriptionStatus.COMPLETED,
)


def period_parse(value: object) -> int:
    """The number of days to show: one of PERIODS, the default for anything else."""
    try:
        days = int(str(value))
    except (TypeError, ValueError):
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


def failure_rate(*, failed: int, total: int) -> float | None:
    """Failed as a share of all transcriptions created (0..1), None when there were none."""
    return failed / total if total else None


def rate_text(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


class _WithFailureRate:
    """The failure rate of whatever counts its `failed` and `total` transcriptions."""

    @property
    def failed(self) -> int:
        raise NotImplementedError

    @property
    def total(self) -> int:
        raise NotImplementedError

    @property
    def failure_rate(self) -> float | None:
        return failure_rate(failed=self.failed, total=self.total)

    @property
    def failure_rate_text(self) -> str:
        return rate_text(self.failure_rate)


@dataclass(frozen=True)
class DayCounts(_WithFailureRate):
    """One day (in the TIME_ZONE setting): how many transcriptions were created, per status."""

    day: date
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def failed(self) -> int:
        return self.counts.get(TranscriptionStatus.FAILED, 0)

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)


@dataclass(frozen=True)
class StatusOverview(_WithFailureRate):
    """Every day of the period, oldest first, days without transcriptions included."""

    days: list[DayCounts]

    @property
    def first_day(self) -> date:
        return self.days[0].day

    @property
    def last_day(self) -> date:
        return self.days[-1].day

    @property
    def totals(self) -> dict[str, int]:
        return {s: sum(d.count(s) for d in self.days) for s in TranscriptionStatus.values}

    @property
    def total(self) -> int:
        return sum(d.total for d in self.days)

    @property
    def failed(self) -> int:
        return sum(d.failed for d in self.days)


def status_overview(*, days: int, today: date | None = None) -> StatusOverview:
    """Transcriptions created per day and status over the `days` days ending with `today`
    (default: today in the TIME_ZONE setting), counted by the database in one query."""
    tz = timezone.get_default_timezone()
    last_day = today or timezone.localdate(timezone=tz)
    first_day = last_day - timedelta(days=days - 1)
    rows = (
        Transcription.objects.filter(
            date_created__gte=day_start(first_day),
            date_created__lt=day_after(last_day),
        )
        .annotate(day=TruncDate("date_created", tzinfo=tz))
        .values("day", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[date, dict[str, int]] = {
        first_day + timedelta(days=i): dict.fromkeys(TranscriptionStatus.values, 0)
        for i in range(days)
    }
    for row in rows:
        day_counts = counts.get(row["day"])
        if day_counts is not None and row["status"] in day_counts:
            day_counts[row["status"]] += row["n"]
    return StatusOverview(days=[DayCounts(day=d, counts=c) for d, c in counts.items()])


# Geometry of the SVG chart (user units of its viewBox; CSS scales it to the page's width).

CHART_WIDTH = 960
CHART_HEIGHT = 280
PLOT_LEFT = 48
PLOT_RIGHT = CHART_WIDTH - 12
PLOT_TOP = 12
PLOT_BOTTOM = CHART_HEIGHT - 32
BAR_FILL = 0.72  # share of a day's slot the bar covers
MIN_SEGMENT_HEIGHT = 2.0  # keeps a single failure visible (and clickable) beside hundreds


@dataclass(frozen=True)
class BarSegment:
    status: str
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float
    url: str
    title: str


@dataclass(frozen=True)
class Bar:
    day: DayCounts
    x: float
    width: float
    title: str
    segments: list[BarSegment] = field(default_factory=list)


@dataclass(frozen=True)
class AxisTick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    bars: list[Bar]
    y_ticks: list[AxisTick]
    x_ticks: list[AxisTick]
    y_max: int

    @property
    def plot_height(self) -> int:
        return self.plot_bottom - self.plot_top


def nice_axis_max(value: int, *, max_ticks: int = 5) -> tuple[int, int]:
    """A round top for the y axis at or above `value`, and its tick step (1, 2 or 5 times a
    power of ten), with at most `max_ticks` steps."""
    if value <= 0:
        return 1, 1
    raw_step = value / max_ticks
    magnitude = 10 ** math.floor(math.log10(raw_step)) if raw_step >= 1 else 1
    for multiple in (1, 2, 5, 10):
        step = max(1, int(multiple * magnitude))
        if step * max_ticks >= value:
            break
    return step * math.ceil(value / step), step


def _r(value: float) -> float:
    return round(value, 2)


def chart_geometry(*, overview: StatusOverview, segment_url: Callable[[date, str], str]) -> Chart:
    """Coordinates of the stacked bars (one per day, a segment per status that has any), the
    axis ticks, and for each segment the link `segment_url(day, status)` and its tooltip."""
    labels = dict(TranscriptionStatus.choices)
    y_max, step = nice_axis_max(max((d.total for d in overview.days), default=0))
    plot_height = PLOT_BOTTOM - PLOT_TOP
    slot = (PLOT_RIGHT - PLOT_LEFT) / len(overview.days)
    bar_width = slot * BAR_FILL
    bars = []
    for i, day in enumerate(overview.days):
        x = PLOT_LEFT + i * slot + (slot - bar_width) / 2
        summary = (
            f"{day.day.isoformat()}: {day.total} transcription{'' if day.total == 1 else 's'}, "
            f"{day.failed} failed (failure rate {day.failure_rate_text})"
        )
        segments = []
        top = float(PLOT_BOTTOM)
        for status in STACK_ORDER:
            n = day.count(status)
            if not n:
                continue
            height = max(n / y_max * plot_height, MIN_SEGMENT_HEIGHT)
            top -= height
            segments.append(
                BarSegment(
                    status=status,
                    label=labels[status],
                    count=n,
                    x=_r(x),
                    y=_r(top),
                    width=_r(bar_width),
                    height=_r(height),
                    url=segment_url(day.day, status),
                    title=(
                        f"{day.day.isoformat()} · {labels[status]}: {n} of {day.total} "
                        f"(failure rate {day.failure_rate_text}). Open in the table."
                    ),
                )
            )
        bars.append(Bar(day=day, x=_r(x), width=_r(bar_width), title=summary, segments=segments))
    y_ticks = [
        AxisTick(position=_r(PLOT_BOTTOM - v / y_max * plot_height), label=f"{v:,}")
        for v in range(0, y_max + 1, step)
    ]
    # A date under the first bar of each week (or fortnight on the long period), and the last.
    every = 7 if len(overview.days) <= 31 else 14
    x_ticks = [
        AxisTick(position=_r(bar.x + bar.width / 2), label=f"{bar.day.day:%b} {bar.day.day.day}")
        for i, bar in enumerate(bars)
        if (len(bars) - 1 - i) % every == 0
    ]
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        plot_left=PLOT_LEFT,
        plot_right=PLOT_RIGHT,
        plot_top=PLOT_TOP,
        plot_bottom=PLOT_BOTTOM,
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        y_max=y_max,
    )
