"""The overview: per-day, per-status counts over known data, the failure rate, the SVG chart's
geometry and links, and the page."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from transcriptions.overview import (
    PLOT_BOTTOM,
    PLOT_TOP,
    chart_geometry,
    nice_axis_max,
    period_parse,
    status_overview,
)

pytestmark = pytest.mark.django_db

URL = reverse("transcriptions:overview")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """An aware instant on `day` at a local hour of the TIME_ZONE setting."""
    return timezone.make_aware(
        datetime.combine(day, time(hour, minute)), timezone.get_default_timezone()
    )


@pytest.fixture
def new_york(settings):
    settings.TIME_ZONE = "America/New_York"
    return ZoneInfo("America/New_York")


@pytest.fixture
def known(new_york, make_transcription):
    """Known rows over the last days, in New York time; some near midnight, where the day in
    UTC differs from the local one."""
    today = timezone.localdate()
    d1, d2, d5 = (today - timedelta(days=n) for n in (1, 2, 5))
    spec = [
        (d1, 9, "completed"),
        (d1, 10, "completed"),
        (d1, 11, "failed"),
        (d1, 23, "failed"),  # 23:30 local is the next day in UTC
        (d2, 0, "in-progress"),
        (d2, 12, "completed"),
        (d5, 23, "completed"),
        (today - timedelta(days=40), 12, "failed"),  # outside 30 days, inside 90
        (today - timedelta(days=120), 12, "failed"),  # outside both
    ]
    rows = [
        make_transcription(status=status, date_created=at(day, hour, 30))
        for day, hour, status in spec
    ]
    return {"today": today, "d1": d1, "d2": d2, "d5": d5, "rows": rows}


def test_counts_per_day_and_status_in_the_time_zone_setting(known):
    data = status_overview(days=30)
    assert len(data.days) == 30
    assert data.last_day == known["today"]
    assert data.first_day == known["today"] - timedelta(days=29)
    by_day = {d.day: d.counts for d in data.days}
    assert by_day[known["d1"]] == {"completed": 2, "failed": 2, "in-progress": 0}
    assert by_day[known["d2"]] == {"completed": 1, "failed": 0, "in-progress": 1}
    assert by_day[known["d5"]] == {"completed": 1, "failed": 0, "in-progress": 0}
    assert by_day[known["today"]] == {"completed": 0, "failed": 0, "in-progress": 0}
    assert data.total == 7
    assert data.totals == {"completed": 4, "failed": 2, "in-progress": 1}


def test_failure_rate_overall_and_per_day(known):
    data = status_overview(days=30)
    assert data.failure_rate == pytest.approx(2 / 7)
    assert data.failure_rate_text == "28.6%"
    day1 = next(d for d in data.days if d.day == known["d1"])
    assert day1.failure_rate == pytest.approx(0.5)
    assert day1.failure_rate_text == "50.0%"
    empty = next(d for d in data.days if d.day == known["today"])
    assert empty.failure_rate is None and empty.failure_rate_text == "—"


def test_ninety_days_reach_further_back(known):
    data = status_overview(days=90)
    assert len(data.days) == 90
    assert data.total == 8
    assert data.failed == 3


def test_the_counts_take_one_query(known, django_assert_num_queries):
    with django_assert_num_queries(1):
        status_overview(days=90)


def test_an_empty_cache_gives_zero_days_and_no_rate(db):
    data = status_overview(days=30)
    assert data.total == 0 and data.failure_rate is None
    chart = chart_geometry(overview=data, segment_url=lambda d, s: "")
    assert all(not bar.segments for bar in chart.bars)
    assert chart.y_max == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, (1, 1)), (3, (3, 1)), (7, (8, 2)), (10, (10, 2)), (48, (50, 10)), (1234, (1500, 500))],
)
def test_axis_top_is_a_round_number_at_or_above_the_highest_bar(value, expected):
    assert nice_axis_max(value) == expected


def test_chart_stacks_segments_proportionally_with_failed_on_the_axis(known):
    data = status_overview(days=30)
    chart = chart_geometry(overview=data, segment_url=lambda d, s: f"/?day={d}&status={s}")
    assert len(chart.bars) == 30
    bar = next(b for b in chart.bars if b.day.day == known["d1"])
    assert [s.status for s in bar.segments] == ["failed", "completed"]
    failed, completed = bar.segments
    plot_height = PLOT_BOTTOM - PLOT_TOP
    # d1 has 4, the highest day: the axis tops at 4, so 2 of 4 fill half the plot each.
    assert chart.y_max == 4
    assert failed.height == pytest.approx(plot_height / 2, abs=0.01)
    assert failed.y + failed.height == pytest.approx(PLOT_BOTTOM, abs=0.01)
    assert completed.y + completed.height == pytest.approx(failed.y, abs=0.01)
    assert failed.url == f"/?day={known['d1']}&status=failed"
    assert "failure rate 50.0%" in failed.title and "Failed: 2 of 4" in failed.title
    assert "4 transcriptions, 2 failed (failure rate 50.0%)" in bar.title
    # Bars sit left to right, oldest first, inside the plot.
    xs = [b.x for b in chart.bars]
    assert xs == sorted(xs) and xs[0] >= chart.plot_left and xs[-1] < chart.plot_right


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30),
        ("90", 90),
        (None, 30),
        ("", 30),
        ("7", 30),
        ("-90", 30),
        ("abc", 30),
        ("1e9", 30),
    ],
)
def test_period_is_30_or_90_and_anything_else_the_default(value, expected):
    assert period_parse(value) == expected


# The page


def test_page_draws_an_svg_with_a_title_per_bar_and_links_to_the_filtered_table(
    client, viewer, known
):
    client.force_login(viewer)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('<svg class="chart"')
    svg = html[start : html.index("</svg>", start)]
    assert "data-overview-chart" in svg
    assert len(re.findall(r'<g class="chart-day"', svg)) == 30
    assert len(re.findall(r'<g class="chart-day"[^>]*>\s*<title>', svg)) == 30
    d1 = known["d1"].isoformat()
    links = [a.replace("&amp;", "&") for a in re.findall(r'<a href="([^"]+)" aria-label=', svg)]
    queries = [parse_qs(urlsplit(link).query) for link in links]
    assert {"date_from": [d1], "date_to": [d1], "status": ["failed"]} in queries
    assert {"date_from": [d1], "date_to": [d1], "status": ["completed"]} in queries
    assert all(urlsplit(link).path == reverse("transcriptions:list") for link in links)
    # One link per non-empty segment: d1 (2), d2 (2), d5 (1).
    assert len(links) == 5
    assert "<script" not in svg
    assert "28.6%" in html  # the overall failure rate


def test_segment_link_opens_the_table_with_exactly_that_day_and_status(client, reviewer, known):
    client.force_login(reviewer)
    html = client.get(URL).content.decode()
    d1 = known["d1"].isoformat()
    link = next(
        a.replace("&amp;", "&")
        for a in re.findall(r'<a href="([^"]+)" aria-label=', html)
        if f"date_from={d1}" in a and "status=failed" in a
    )
    table = client.get(link).content.decode()
    expected = {
        r.sid
        for r in known["rows"]
        if r.status == "failed" and timezone.localdate(r.date_created) == known["d1"]
    }
    assert len(expected) == 2
    assert set(re.findall(r'<tr data-sid="(TR[0-9a-f]+)"', table)) == expected


def test_page_has_a_data_table_fallback(client, viewer, known):
    client.force_login(viewer)
    html = client.get(URL).content.decode()
    assert "<details" in html and "<summary>Data table</summary>" in html
    row = re.search(rf'<tr data-day="{known["d1"].isoformat()}">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
    text = [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
    # completed, in progress, failed, total, failure rate (Twilio's order of statuses)
    assert text == ["0", "2", "2", "4", "50.0%"]


def test_page_shows_ninety_days_when_asked(client, viewer, known):
    client.force_login(viewer)
    html = client.get(URL, {"days": "90"}).content.decode()
    assert len(re.findall(r'<g class="chart-day"', html)) == 90
    assert 'href="?days=90" aria-current="page"' in html


@pytest.mark.parametrize("days", ["7", "abc", "-30", "99999999999999999999", ""])
def test_page_falls_back_to_30_days_on_bad_input(client, viewer, known, days):
    client.force_login(viewer)
    response = client.get(URL, {"days": days})
    assert response.status_code == 200
    assert len(re.findall(r'<g class="chart-day"', response.content.decode())) == 30


def test_page_needs_login_and_the_table_permission(client, nobody):
    response = client.get(URL)
    assert response.status_code == 302 and reverse("login") in response["Location"]
    client.force_login(nobody)
    assert client.get(URL).status_code == 403


def test_the_status_bar_links_to_the_overview(client, viewer, known):
    client.force_login(viewer)
    html = client.get(reverse("transcriptions:list")).content.decode()
    assert f'href="{URL}" data-overview-link' in html
