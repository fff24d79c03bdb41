"""The review table at 1,000,000 cached transcriptions, against Django admin on the same rows.

Builds the cache through the product's own sync write path (`transcriptions_sync`, its pages
generated from the sandbox's generator rather than fetched) into the database named by
DATABASE_URL (default: a throwaway SQLite file under var/bench/, never the dev database), with
marker words planted in exact numbers of rows: a rare word, a common word and a very frequent
word. It runs no maintenance of its own: the table is measured as the product leaves it after
a sync (--stats manual adds an ANALYZE for reference; --stats none removes the statistics).
Then times each case through the real view (Django's test client, logged in, DEBUG off), full
page and htmx partial, 50 rows, and in the same run a stock ModelAdmin changelist
(search_fields on the text and the SIDs, list_filter on status) on a separate AdminSite, and
prints p50, p95 and the ratio per case, with the build's time and the sizes on disk.

    python bench/table_at_scale.py [--rows 1000000] [--reuse] [--runs 15] [--admin-runs 7]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_scale python bench/table_at_scale.py \
        --rows 10000000 --target-ms 100 --no-admin

--reuse keeps a cache of the right size from an earlier run (building takes minutes).
Targets: p95 <= 50 ms (--target-ms) for every case; search cases >= 20x faster than admin.
The view's user may read text: every page audits the snippets it shows and the search, as
the product does.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SQLITE = ROOT / "var" / "bench" / "table_at_scale.sqlite3"
ACCOUNT_SID = "AC" + "5" * 32
RARE, COMMON, FREQUENT = "ombudsman", "warranty", "voicemail"
PLANTED = {RARE: 10, COMMON: 50_000, FREQUENT: 220_000}
# One person's phone number, written and spoken, and a card number, in a few rows each: what
# a mentions search and a search by digits look for (the generator's own personal data is
# in about a seventh of the rows).
PHONE = "+1 415 555 2671"
PLANTED_PHRASES = {
    "Call me back on (415) 555-2671.": 3,
    "my number is four one five five five five two six seven one": 3,
    "The card is 4111 1111 1111 1111.": 2,
}
PER_PAGE = 50
TARGET_P95_MS = 50.0
TARGET_RATIO = 20.0
STATS_MODES = {
    "product": "as the product left them",
    "manual": "as the product left them, then a manual ANALYZE (VACUUM ANALYZE), for reference",
    "none": "none (removed before measuring)",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep a cache of --rows rows")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per case (view)")
    parser.add_argument("--admin-runs", type=int, default=7, help="timed runs per admin case")
    parser.add_argument("--no-admin", action="store_true")
    parser.add_argument("--target-ms", type=float, default=TARGET_P95_MS, help="p95 target")
    parser.add_argument("--build-only", action="store_true", help="build the cache and stop")
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument(
        "--stats",
        choices=sorted(STATS_MODES),
        default="product",
        help="planner statistics: as the product left them (default), plus a manual "
        "ANALYZE for reference, or none at all",
    )
    return parser.parse_args()


def django_setup() -> None:
    DEFAULT_SQLITE.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE}")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.ROOT_URLCONF = __name__


# ---- The admin baseline, on its own AdminSite ----


def admin_site():
    from django.contrib import admin

    from transcriptions.models import Transcription

    site = admin.AdminSite(name="bench_admin")

    class TranscriptionBenchAdmin(admin.ModelAdmin):
        list_display = (
            "sid",
            "recording_sid",
            "status",
            "duration",
            "price",
            "date_created",
            "transcription_text",
        )
        list_filter = ("status", "date_created")
        search_fields = ("transcription_text", "^sid", "^recording_sid")
        list_per_page = PER_PAGE

    site.register(Transcription, TranscriptionBenchAdmin)
    return site


urlpatterns: list = []


def urls_install() -> None:
    from django.urls import include, path

    urlpatterns[:] = [
        path("bench-admin/", admin_site().urls),
        path("", include("dashboard.urls")),
    ]


# ---- Building the cache ----


def cache_size() -> int:
    from transcriptions.table import status_totals

    return sum(status_totals().values())


def cache_build(rows: int) -> float:
    """Fill the cache through the product's own write path (`transcriptions_sync`: pages
    upserted as a sync writes them, then the unseen rows removed and whatever maintenance the
    product does after a large write), from the sandbox's generator with the marker words
    planted. No HTTP: at ten million rows the sandbox would not hold the account. Returns
    the seconds it took."""
    from sandbox.store import _seeded_items  # the generator behind TranscriptionStore.seed
    from transcriptions.models import SyncRun, Transcription
    from transcriptions.sync import PAGE_SIZE, transcriptions_sync
    from transcriptions.twilio_client import TwilioClient, TwilioTranscription

    started = time.perf_counter()
    Transcription.objects.all().delete()
    SyncRun.objects.all().delete()
    rng = random.Random(20250501)
    marked: dict[int, list[str]] = {}
    for word, count in PLANTED.items():
        # Scaled with the rows: exact at a million, ten times as many at ten million.
        count = max(1, count * rows // 1_000_000) if word != RARE else count
        for index in rng.sample(range(rows), count):
            marked.setdefault(index, []).append(word)
    for phrase, count in PLANTED_PHRASES.items():
        for index in rng.sample(range(rows), count):
            marked.setdefault(index, []).append(phrase)
    anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    from sandbox.store import SEED_DAYS

    # Newest first, as Twilio lists them and a real sync writes them (on PostgreSQL the heap
    # then follows the date, as it does after a sync): each row's date is set by its place,
    # spread over the sandbox's days, keeping the generator's gap between created and updated.
    step = timedelta(seconds=(SEED_DAYS - 1) * 86400 / rows)

    def items():
        generated = _seeded_items(ACCOUNT_SID, rows, random.Random(7), anchor)
        for index, item in enumerate(generated):
            text = item.transcription_text
            if index in marked:
                # Planted in any row, failed ones included, so a word + status has matches.
                text = " ".join([text or "", *marked[index]]).strip()
            created = anchor - step * (index + 1)
            yield TwilioTranscription(
                sid=item.sid,
                account_sid=ACCOUNT_SID,
                recording_sid=item.recording_sid,
                status=item.status,
                transcription_text=text,
                duration=item.duration,
                price=None if item.price is None else Decimal(item.price),
                price_unit="USD",
                type="fast",
                api_version="2010-04-01",
                date_created=created,
                date_updated=created + (item.date_updated - item.date_created),
                uri=f"/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/{item.sid}.json",
            )

    class GeneratedAccount(TwilioClient):
        """Twilio's pages, made here instead of fetched."""

        def iter_transcription_pages(self, page_size: int = PAGE_SIZE):
            page: list[TwilioTranscription] = []
            for item in items():
                page.append(item)
                if len(page) == page_size:
                    yield page
                    page = []
            if page:
                yield page

    done = 0

    def progress(run: SyncRun) -> None:
        nonlocal done
        done = run.rows_seen
        if run.pages % 100 == 0:
            _progress(done, rows, started)

    account = GeneratedAccount(account_sid=ACCOUNT_SID, auth_token="bench")
    transcriptions_sync(client=account, progress=progress, started_by="bench")
    seconds = time.perf_counter() - started
    print(
        f"built {done:,} rows in {seconds:.1f} s ({done / seconds:,.0f} rows/s) through the "
        "sync's write path, with the maintenance the product does after it",
        flush=True,
    )
    return seconds


def statistics_set(mode: str) -> None:
    """--stats: `product` leaves the cache as the product left it; `manual` adds the ANALYZE
    (VACUUM ANALYZE) a bench used to run, for reference; `none` removes every statistic, to
    show which plans depend on them."""
    from django.db import connection

    table = "transcriptions_transcription"
    with connection.cursor() as cursor:
        if mode == "manual":
            manual = "ANALYZE" if connection.vendor == "sqlite" else f"VACUUM ANALYZE {table}"
            cursor.execute(manual)
        elif mode == "none":
            if connection.vendor == "sqlite":
                cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
                if cursor.fetchone():
                    cursor.execute("DELETE FROM sqlite_stat1")
                    cursor.execute("ANALYZE sqlite_schema")  # makes SQLite reload them
            else:
                cursor.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [table])
                cursor.execute(
                    "UPDATE pg_class SET reltuples = -1, relpages = 0, relallvisible = 0 "
                    "WHERE oid = %s::regclass",
                    [table],
                )
    if mode == "none":
        connection.close()  # a new connection plans without cached statistics


def _progress(done: int, rows: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    print(f"  {done:,}/{rows:,} rows, {elapsed:.0f} s", flush=True)


def size_report() -> None:
    """The disk size of the table and of each of its indexes (and the word index's tables on
    SQLite), as the build left them."""
    from django.db import connection

    table = "transcriptions_transcription"
    print("\nSizes on disk:")
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE 'tr\\_%' ESCAPE '\\' "
                "OR name LIKE ? OR name LIKE 'sqlite_autoindex_transcriptions_transcription%' "
                "GROUP BY name ORDER BY name",
                [f"{table}%"],
            )
            sizes = cursor.fetchall()
        else:
            cursor.execute(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_index i ON i.indexrelid = c.oid "
                "WHERE i.indrelid = %s::regclass ORDER BY c.relname",
                [table],
            )
            sizes = cursor.fetchall()
            cursor.execute(
                "SELECT pg_relation_size(%s::regclass), "
                "pg_total_relation_size(%s::regclass) - pg_indexes_size(%s::regclass) "
                "- pg_relation_size(%s::regclass)",
                [table] * 4,
            )
            heap, toast = cursor.fetchone()
            sizes = [(f"{table} (heap)", heap), (f"{table} (TOAST)", toast), *sizes]
    for name, size in sizes:
        print(f"  {name:<52} {size / 1e6:9.1f} MB")
    print(f"  {'in all':<52} {sum(size for _, size in sizes) / 1e6:9.1f} MB")


# ---- Cases ----


def cases() -> list[tuple[str, dict, dict, bool]]:
    """(name, view params, admin params, is a search case)."""
    from django.utils import timezone

    from transcriptions.models import Transcription
    from transcriptions.table.paging import Cursor

    sample = Transcription.objects.order_by("-date_created", "-id")[
        min(12345, Transcription.objects.count() // 3)
    ]
    # A recording with several transcriptions, as support staff click on.
    recording = sample.recording_sid
    prefix = sample.sid[:8]
    # The 500th page of newest first: the cursor after row 499 * 50.
    total = Transcription.objects.count()
    deep_row = Transcription.objects.order_by("-date_created", "-id")[
        min(499 * PER_PAGE, total // 2) - 1
    ]
    deep = Cursor.of(deep_row, sort="-created").encode()
    last_page = (total + PER_PAGE - 1) // PER_PAGE
    day = sample.date_created.date()
    date_to = day.isoformat()
    date_from = day.replace(day=1).isoformat()

    def local_midnight(when: date) -> str:
        # Aware, as the view's whole days are: a bare date would reach the admin's filter naive.
        return timezone.make_aware(datetime.combine(when, datetime.min.time())).isoformat()

    return [
        ("no filter", {}, {}, False),
        ("status=failed", {"status": "failed"}, {"status__exact": "failed"}, False),
        (f"q={RARE} (10)", {"q": RARE}, {"q": RARE}, True),
        (f"q={COMMON} (50k)", {"q": COMMON}, {"q": COMMON}, True),
        (f"q={FREQUENT} (220k)", {"q": FREQUENT}, {"q": FREQUENT}, True),
        (
            f"q={COMMON} + failed",
            {"q": COMMON, "status": "failed"},
            {"q": COMMON, "status__exact": "failed"},
            True,
        ),
        (
            f"q={RARE} + failed",
            {"q": RARE, "status": "failed"},
            {"q": RARE, "status__exact": "failed"},
            True,
        ),
        ("q=<recording SID>", {"q": recording}, {"q": recording}, True),
        ("recording filter", {"recording": recording}, {"q": recording}, False),
        (
            "recording + completed",
            {"recording": recording, "status": "completed"},
            {"q": recording, "status__exact": "completed"},
            False,
        ),
        ("q=<SID prefix, 8>", {"q": prefix}, {"q": prefix}, True),
        (
            "date range (month)",
            {"date_from": date_from, "date_to": date_to},
            {
                "date_created__gte": local_midnight(day.replace(day=1)),
                "date_created__lt": local_midnight(day + timedelta(days=1)),
            },
            False,
        ),
        (
            "date range + failed",
            {"date_from": date_from, "date_to": date_to, "status": "failed"},
            {
                "date_created__gte": local_midnight(day.replace(day=1)),
                "date_created__lt": local_midnight(day + timedelta(days=1)),
                "status__exact": "failed",
            },
            False,
        ),
        ("sort=created (oldest)", {"sort": "created"}, {"o": "6"}, False),
        ("sort=duration", {"sort": "duration"}, {"o": "4"}, False),
        ("sort=-duration", {"sort": "-duration"}, {"o": "-4"}, False),
        ("sort=status", {"sort": "status"}, {"o": "3"}, False),
        ("sort=-status", {"sort": "-status"}, {"o": "-3"}, False),
        ("page 500", {"after": deep}, {"p": "500"}, False),
        ("personal data: any", {"personal_data": "any"}, {}, False),
        ("personal data: ssn", {"personal_data": "ssn"}, {}, False),
        ("personal data: iban", {"personal_data": "iban"}, {}, False),
        (
            "card number + failed",
            {"personal_data": "card_number", "status": "failed"},
            {"status__exact": "failed"},
            False,
        ),
        (
            "phone + date range",
            {"personal_data": "phone_number", "date_from": date_from, "date_to": date_to},
            {
                "date_created__gte": local_midnight(day.replace(day=1)),
                "date_created__lt": local_midnight(day + timedelta(days=1)),
            },
            False,
        ),
        ("mentions=<phone> (6)", {"mentions": PHONE}, {"q": "2671"}, True),
        ("q=<16 digits> (2)", {"q": "4111111111111111"}, {"q": "4111111111111111"}, True),
        ("last page", {"last": "1"}, {"p": str(last_page)}, False),
    ]


def timed(client, url: str, params: dict, runs: int, headers: dict | None = None) -> list[float]:
    headers = headers or {}
    response = client.get(url, params, **headers)  # warm-up
    assert response.status_code == 200, (url, params, response.status_code)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url, params, **headers)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return samples


def p50_p95(samples: list[float]) -> tuple[float, float]:
    if len(samples) == 1:
        return samples[0], samples[0]
    q = statistics.quantiles(samples, n=20, method="inclusive")
    return statistics.median(samples), q[18]


def shown(response_html: str) -> str:
    import re

    match = re.search(r"data-result-count><strong>([^<]+)</strong>", response_html)
    rows = len(re.findall(r'<tr data-sid="', response_html))
    if "data-counts-pending" in response_html:
        return f"{rows} rows, counts deferred"
    return f"{rows} rows, {match.group(1) if match else '0'}"


def main() -> int:
    args = parse_args()
    django_setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    urls_install()
    call_command("migrate", verbosity=0)
    where = connection.settings_dict["NAME"]
    print(f"database: {connection.vendor} {where}", flush=True)
    if not (args.reuse and cache_size() == args.rows):
        cache_build(args.rows)
        size_report()
    else:
        print(f"reusing {args.rows:,} cached rows", flush=True)
    if args.build_only:
        return 0
    statistics_set(args.stats)
    print(f"planner statistics: {STATS_MODES[args.stats]}", flush=True)

    User = get_user_model()
    user, _ = User.objects.get_or_create(username="bench-admin")
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    htmx = {"HTTP_HX_REQUEST": "true"}

    only = {name.strip() for name in args.only.split(",") if name.strip()}
    print(
        f"\n{'case':<26} {'view p50/p95 ms':>17} {'partial p50/p95':>17} "
        f"{'admin p50/p95 ms':>19} {'ratio':>7}  shown",
        flush=True,
    )
    failures = []
    deferred: list[str] = []
    for name, params, admin_params, is_search in cases():
        if only and name not in only:
            continue
        full = p50_p95(timed(client, "/", {**params, "per_page": PER_PAGE}, args.runs))
        partial = p50_p95(timed(client, "/", {**params, "per_page": PER_PAGE}, args.runs, htmx))
        html = client.get("/", {**params, "per_page": PER_PAGE}).content.decode()
        if "data-counts-pending" in html:
            # The page left its counts to a second htmx request: timed apart, and not held
            # to the page's target (the page is complete without it).
            counts_htmx = {**htmx, "HTTP_HX_TARGET": "result-counts"}
            counts = p50_p95(timed(client, "/", {**params, "counts": "1"}, args.runs, counts_htmx))
            deferred.append(f"{name}: counts request {counts[0]:.1f} / {counts[1]:.1f} ms")
        admin_cell, ratio_cell = "-", "-"
        if not args.no_admin:
            admin = p50_p95(
                timed(
                    client,
                    "/bench-admin/transcriptions/transcription/",
                    admin_params,
                    args.admin_runs,
                )
            )
            ratio = admin[0] / full[0]
            admin_cell = f"{admin[0]:8.1f} /{admin[1]:8.1f}"
            ratio_cell = f"{ratio:6.1f}x"
            if is_search and ratio < TARGET_RATIO:
                failures.append(f"{name}: {ratio:.1f}x faster than admin, target {TARGET_RATIO}x")
        worst = max(full[1], partial[1])
        if worst > args.target_ms:
            failures.append(f"{name}: p95 {worst:.1f} ms, target {args.target_ms} ms")
        print(
            f"{name:<26} {full[0]:7.1f} /{full[1]:7.1f} {partial[0]:7.1f} /{partial[1]:7.1f} "
            f"{admin_cell:>19} {ratio_cell:>7}  {shown(html)}",
            flush=True,
        )
    print(
        f"\nratio = admin p50 / view p50 (full page); targets: p95 <= {args.target_ms:g} ms, "
        "search >= 20x"
    )
    for line in deferred:
        print(f"deferred {line} (p50 / p95)")
    if args.stats == "none":
        from transcriptions.planner_stats import planner_stats_take

        planner_stats_take()  # back as the product leaves them, for a later --reuse
    for failure in failures:
        print(f"MISSED {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
