"""Recordings through the desk, and erased with their transcriptions.

`stream`: a 60-minute WAV (57.6 MB) at the Twilio sandbox (in this process), the desk served by
gunicorn (gunicorn.conf.py, two workers). A listening session is started over HTTP as a
browser does; then the audio is read through the desk as a player reads it (ranges from the
start to the end, as the desk answers them) and, in the same run, straight from the sandbox.
Printed: time to the first byte through the desk against the sandbox directly, the time to read
the whole file both ways, a seek (a range in the middle), and the peak memory (VmHWM) of the
gunicorn workers before and after, against the file's size.

`bulk`: 1,000 transcriptions (--count) at the sandbox answering each request after
--latency-ms (100); a bulk deletion of all of them with their recordings, against the same
bulk deletion of text only, each on a fresh copy of the account, run in this process by the
product's worker (`bulk_deletion_run`). Printed: each job's wall time, its phases from the
times it recorded (text, recordings, the verification pass), and the verification's answer.

    python bench/recordings.py [stream] [bulk] [--count 1000] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from freshness import desk, django_setup, sandbox, sync  # noqa: E402 - the sibling bench
from sync_throughput import ACCOUNT_SID, AUTH_TOKEN, cache_empty, manage  # noqa: E402
from table_live import log_in  # noqa: E402

from sandbox.store import TranscriptionStore  # noqa: E402

PASSWORD = "bench-" + secrets.token_urlsafe(12)
USERNAME = "bench-listen"
LONG_RECORDING = "RE" + "6" * 32


def _mb(kib: int) -> float:
    return kib / 1024


def worker_peaks(master_pid: int) -> list[int]:
    """VmHWM (KiB) of each gunicorn worker: the children of the master."""
    peaks = []
    for child in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split():
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]))
    return peaks


def read_in_ranges(
    session: requests.Session, url: str, chunk: int = 0, **kwargs
) -> tuple[float, float, int]:
    """Read the file as a player does: `bytes=N-` until its end, taking what each answer
    gives (with `chunk`, asking for that much at a time). Time to the first byte, to the
    last, and the bytes read."""
    started = time.perf_counter()
    first_byte = 0.0
    position, size = 0, None
    while size is None or position < size:
        end = f"{position + chunk - 1}" if chunk else ""
        with session.get(
            url, headers={"Range": f"bytes={position}-{end}"}, stream=True, timeout=60, **kwargs
        ) as answer:
            assert answer.status_code == 206, (answer.status_code, answer.text[:200])
            size = int(answer.headers["Content-Range"].rsplit("/", 1)[1])
            for data in answer.iter_content(64 * 1024):
                if not first_byte:
                    first_byte = time.perf_counter() - started
                position += len(data)
    return first_byte, time.perf_counter() - started, position


def seek(session: requests.Session, url: str, size: int, **kwargs) -> float:
    started = time.perf_counter()
    middle = size // 2
    answer = session.get(url, headers={"Range": f"bytes={middle}-"}, timeout=60, **kwargs)
    assert answer.status_code == 206 and answer.headers["Content-Range"].startswith(
        f"bytes {middle}-"
    )
    return time.perf_counter() - started


def bench_stream(args: argparse.Namespace, database_url: str, workdir: Path) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from transcriptions.listening import MEDIA_CHUNK_BYTES

    store = TranscriptionStore(account_sid=ACCOUNT_SID)
    created = datetime.now(UTC) - timedelta(hours=2)
    store.recordings.add(LONG_RECORDING, duration=3600, date_created=created)
    item = store.add(recording_sid=LONG_RECORDING, duration=120, transcription_text="A long call.")
    cache_empty(database_url)
    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name="Reviewers"))
    with sandbox(store) as server:
        sync(database_url=database_url, server=server)
        with desk(database_url, server, workdir, {}) as base:
            master = int(
                subprocess.run(
                    ["pgrep", "-f", f"gunicorn dashboard.wsgi --bind {base[7:]}"],
                    capture_output=True,
                    text=True,
                ).stdout.split()[0]
            )
            session = log_in(base, USERNAME, PASSWORD)
            listen = session.get(f"{base}/t/{item.sid}/", timeout=30)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', listen.text)
            player = session.post(
                f"{base}/t/{item.sid}/listen/",
                headers={"HX-Request": "true", "X-CSRFToken": token[1] if token else ""},
                timeout=30,
            )
            audio = re.search(r'<audio[^>]* src="([^"]+)"', player.text)
            assert audio, player.text[:500]
            through_desk = base + audio.group(1).replace(".mp3", ".wav")
            direct = f"{server.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{LONG_RECORDING}"
            before = worker_peaks(master)
            desk_first, desk_all, desk_bytes = read_in_ranges(session, through_desk)
            desk_seek = seek(session, through_desk, desk_bytes)
            after = worker_peaks(master)
            plain = requests.Session()
            # The same ranges as the desk asks for, then the whole file in one answer.
            direct_first, direct_all, direct_bytes = read_in_ranges(
                plain, direct, MEDIA_CHUNK_BYTES, auth=(ACCOUNT_SID, AUTH_TOKEN)
            )
            whole_first, whole_all, _ = read_in_ranges(
                plain, direct, auth=(ACCOUNT_SID, AUTH_TOKEN)
            )
            direct_seek = seek(plain, direct, direct_bytes, auth=(ACCOUNT_SID, AUTH_TOKEN))
    assert desk_bytes == direct_bytes
    print(f"[stream] a 60-minute WAV, {desk_bytes / 1e6:.1f} MB, read as a player reads it:")
    print(
        f"  first byte: {desk_first * 1000:.1f} ms through the desk, "
        f"{direct_first * 1000:.1f} ms from the sandbox directly for the same range "
        f"({desk_first / direct_first:.1f}x); {whole_first * 1000:.0f} ms for the whole file"
    )
    print(
        f"  whole file: {desk_all:.2f} s through the desk, {direct_all:.2f} s directly "
        f"(both in ranges of 1 MiB); {whole_all:.2f} s directly in one answer"
    )
    print(
        f"  seek to the middle: {desk_seek * 1000:.1f} ms through the desk, "
        f"{direct_seek * 1000:.1f} ms directly"
    )
    print(
        f"  gunicorn worker's peak memory: {', '.join(f'{_mb(p):.0f}' for p in before)} MB "
        f"before, {', '.join(f'{_mb(p):.0f}' for p in after)} MB after "
        f"(the file: {desk_bytes / 2**20:.0f} MiB)"
    )


def bench_bulk(args: argparse.Namespace, database_url: str, workdir: Path) -> None:
    from transcriptions import bulk_deletion
    from transcriptions.models import BulkDeletionItem

    results = {}
    for with_recordings in (False, True):
        store = TranscriptionStore(account_sid=ACCOUNT_SID)
        # Another account's worth of SIDs each time: a SID deleted once stays deleted.
        store.seed(count=args.count, seed=31 + with_recordings)
        cache_empty(database_url)
        with sandbox(store, latency_ms=0) as server:
            sync(database_url=database_url, server=server)
            server.faults.latency_ms = args.latency_ms
            os.environ.update(
                TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                TWILIO_API_BASE_URL=server.url,
            )
            from django.conf import settings

            settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
            settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
            settings.TWILIO_API_BASE_URL = server.url
            sids = [item.sid for item in store.all()]
            recordings = len({item.recording_sid for item in store.all()})
            bulk = bulk_deletion.bulk_deletion_start(
                actor=None, sids=sids, reason="bench", with_recordings=with_recordings
            )
            started = time.perf_counter()
            bulk = bulk_deletion.bulk_deletion_run(bulk_deletion_id=bulk.pk)
            wall = time.perf_counter() - started
            items = BulkDeletionItem.objects.filter(bulk_deletion=bulk)
            last_text = max(items.values_list("finished_at", flat=True))
            last_audio = max(
                (t for t in items.values_list("recording_finished_at", flat=True) if t),
                default=last_text,
            )
            gone = items.filter(verified="gone").count()
            audio_gone = items.filter(recording_verified="gone").count()
            results[with_recordings] = (
                wall,
                (last_text - bulk.started_at).total_seconds(),
                (last_audio - last_text).total_seconds(),
                (bulk.verified_at - last_audio).total_seconds(),
                gone,
                audio_gone,
                recordings,
                bulk.state,
            )
    for with_recordings, (
        wall,
        text,
        audio,
        verify,
        gone,
        audio_gone,
        recs,
        state,
    ) in results.items():
        what = f"with their {recs} recordings" if with_recordings else "text only"
        print(
            f"[bulk] {args.count:,} transcriptions {what} at {args.latency_ms} ms a request: "
            f"{wall:.1f} s ({state}): text {text:.1f} s, recordings {audio:.1f} s, "
            f"verification {verify:.1f} s; verified gone {gone:,}"
            + (f", recordings verified gone {audio_gone:,}" if with_recordings else "")
        )
    ratio = results[True][0] / results[False][0]
    print(f"[bulk] with recordings: {ratio:.2f}x the text-only job")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", default=["stream", "bulk"])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recordings-") as tmp:
        workdir = Path(tmp)
        database_url = args.database_url or f"sqlite:///{workdir / 'rec.sqlite3'}"
        manage("migrate", "--no-input", database_url=database_url)
        django_setup(database_url)
        print(f"database: {database_url.split(':', 1)[0]}", flush=True)
        if "stream" in args.parts:
            bench_stream(args, database_url, workdir)
        if "bulk" in args.parts:
            bench_bulk(args, database_url, workdir)
        cache_empty(database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
