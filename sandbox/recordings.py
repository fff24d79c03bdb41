"""The sandbox's Recording resources: one for every recording its transcriptions name, kept when
they are deleted (Twilio keeps a recording when its transcription goes), with audio made from
the SID (the same SID, the same bytes) and a delete that removes the audio and leaves the
metadata listable as `deleted`, as Twilio keeps it for 40 days.

What a recording's delete does to its transcriptions Twilio does not say: here they stay, each
deleted on its own (the desk deletes both, each by its own request)."""

from __future__ import annotations

import functools
import hashlib
import math
import random
import struct
import threading
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SAMPLE_RATE = 8000  # Twilio's recordings: 8 kHz, 16-bit, mono
WAV_HEADER_BYTES = 44
MP3_KBPS = 32
_BLOCK_SAMPLES = SAMPLE_RATE // 4  # a quarter of a second: a syllable, or a pause
_VOICED_BLOCKS = 7


@dataclass(slots=True)
class SandboxRecording:
    sid: str
    account_sid: str
    date_created: datetime
    date_updated: datetime
    start_time: datetime
    duration: int  # seconds
    status: str = "completed"
    channels: int = 1
    source: str = "RecordVerb"

    @property
    def call_sid(self) -> str:
        return "CA" + hashlib.blake2b(self.sid.encode(), digest_size=16).hexdigest()

    @property
    def sort_key(self) -> tuple[int, str]:
        return (-int(self.date_created.timestamp()), self.sid)

    @property
    def deleted(self) -> bool:
        return self.status == "deleted"


class RecordingBook:
    """Thread-safe: the account's recordings, newest first (date created, then SID)."""

    def __init__(self, *, account_sid: str) -> None:
        self.account_sid = account_sid
        self._lock = threading.RLock()
        self._items: dict[str, SandboxRecording] = {}
        # Recordings of a seeded account, made into SandboxRecording when first asked for:
        # (creation as Unix seconds, duration) by SID.
        self._noted: dict[str, tuple[int, int]] = {}
        self._keys: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._items) + len(self._noted)

    def __contains__(self, sid: object) -> bool:
        return sid in self._items or sid in self._noted

    def get(self, sid: str) -> SandboxRecording | None:
        recording = self._items.get(sid)
        if recording is None and sid in self._noted:
            with self._lock:
                noted = self._noted.pop(sid, None)
                if noted is not None:
                    created, duration = noted
                    self._items[sid] = self._made(
                        sid, created=datetime.fromtimestamp(created, UTC), duration=duration
                    )
                recording = self._items.get(sid)
        return recording

    def _made(self, sid: str, *, created: datetime, duration: int) -> SandboxRecording:
        created = created.astimezone(UTC).replace(microsecond=0)
        return SandboxRecording(
            sid=sid,
            account_sid=self.account_sid,
            date_created=created,
            date_updated=created,
            start_time=created - timedelta(seconds=duration),
            duration=duration,
        )

    def note(self, sid: str, *, transcribed_at: datetime, duration: int | None) -> None:
        """A transcription names this recording: the recording exists from a moment before."""
        if sid in self:
            return
        with self._lock:
            if sid not in self:
                recording = self._made(
                    sid, created=transcribed_at - timedelta(seconds=1), duration=duration or 1
                )
                self._items[sid] = recording
                insort(self._keys, recording.sort_key)

    def note_many(self, items: Iterable[tuple[str, datetime, int | None]]) -> None:
        """`note` for many at once (a seeded account), sorted once."""
        with self._lock:
            noted = self._noted
            for sid, transcribed_at, duration in items:
                if sid not in noted and sid not in self._items:
                    noted[sid] = (int(transcribed_at.timestamp()) - 1, duration or 1)
            self._keys = sorted(
                [r.sort_key for r in self._items.values()]
                + [(-created, sid) for sid, (created, _) in noted.items()]
            )

    def add(self, sid: str, *, duration: int, date_created: datetime) -> SandboxRecording:
        """A recording of its own (no transcription names it), e.g. a long call."""
        with self._lock:
            old = self.get(sid)
            if old is not None:
                del self._items[sid]
                del self._keys[bisect_left(self._keys, old.sort_key)]
            recording = self._made(sid, created=date_created, duration=duration)
            self._items[sid] = recording
            insort(self._keys, recording.sort_key)
            return recording

    def delete(self, sid: str) -> bool:
        """Delete the audio; the metadata stays, as `deleted`. False if none or deleted."""
        with self._lock:
            recording = self.get(sid)
            if recording is None or recording.deleted:
                return False
            recording.status = "deleted"
            recording.date_updated = datetime.now(UTC).replace(microsecond=0)
            return True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._noted.clear()
            self._keys.clear()

    def listed(
        self,
        *,
        size: int,
        after: str | None = None,
        offset: int = 0,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        call_sid: str | None = None,
        include_deleted: bool = False,
    ) -> tuple[list[SandboxRecording], bool]:
        """A page of the list (newest first), created in [created_from, created_to), after the
        recording `after` (a page token's SID) or `offset` items in; and whether more follow."""
        with self._lock:
            keys = self._keys
            start = 0 if created_to is None else bisect_left(keys, (-_ceil_ts(created_to) + 1, ""))
            stop = (
                len(keys)
                if created_from is None
                else bisect_right(keys, (-_ceil_ts(created_from), "\uffff"))
            )
            if after is not None:
                anchor = self.get(after)
                if anchor is None:
                    raise LookupError(after)
                start = max(start, bisect_right(keys, anchor.sort_key))
            page: list[SandboxRecording] = []
            skipped = 0
            for index in range(start, stop):
                recording = self.get(keys[index][1])
                assert recording is not None
                if (recording.deleted and not include_deleted) or (
                    call_sid is not None and recording.call_sid != call_sid
                ):
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                if len(page) == size:
                    return page, True
                page.append(recording)
            return page, False


def _ceil_ts(value: datetime) -> int:
    return math.ceil(value.timestamp())


# -- audio --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _voice(sid: str) -> tuple[bytes, ...]:
    """A recording's quarter-second blocks: a few syllables of speech-like tones (a pitch with
    harmonics under a rising and falling envelope), and a pause. From the SID alone."""
    rng = random.Random(f"voice-{sid}")
    base = rng.uniform(95, 230)  # a speaker's pitch
    blocks = []
    for _ in range(_VOICED_BLOCKS):
        pitch = base * rng.uniform(0.85, 1.2)
        loudness = rng.uniform(0.25, 0.5)
        samples = array("h")
        for n in range(_BLOCK_SAMPLES):
            t = n / SAMPLE_RATE
            envelope = math.sin(math.pi * n / _BLOCK_SAMPLES) ** 2
            value = sum(math.sin(2 * math.pi * pitch * k * t) / k for k in (1, 2, 3, 4))
            samples.append(int(32767 * loudness * envelope * value / 2.1))
        blocks.append(samples.tobytes())
    blocks.append(bytes(_BLOCK_SAMPLES * 2))  # a pause
    return tuple(blocks)


@functools.lru_cache(maxsize=64)
def _sequence(sid: str, blocks: int) -> bytes:
    """Which block each quarter-second plays: syllables with a pause now and then."""
    rng = random.Random(f"sequence-{sid}")
    return bytes(
        _VOICED_BLOCKS if rng.random() < 0.25 else rng.randrange(_VOICED_BLOCKS)
        for _ in range(blocks)
    )


def wav_size(recording: SandboxRecording) -> int:
    return WAV_HEADER_BYTES + recording.duration * SAMPLE_RATE * 2


def _wav_header(data_bytes: int) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def wav_bytes(recording: SandboxRecording, start: int = 0, end: int | None = None) -> bytes:
    """Bytes [start, end) of the recording as a WAV file, made for that range only."""
    size = wav_size(recording)
    end = size if end is None else min(end, size)
    if start >= end:
        return b""
    data_bytes = size - WAV_HEADER_BYTES
    block_bytes = _BLOCK_SAMPLES * 2
    blocks_total = -(-data_bytes // block_bytes)
    voice, sequence = _voice(recording.sid), _sequence(recording.sid, blocks_total)
    parts = []
    if start < WAV_HEADER_BYTES:
        parts.append(_wav_header(data_bytes)[start:end])
    data_start = max(start, WAV_HEADER_BYTES) - WAV_HEADER_BYTES
    data_end = end - WAV_HEADER_BYTES
    if data_end > data_start:
        first, last = data_start // block_bytes, (data_end - 1) // block_bytes
        chunk = b"".join(voice[sequence[i]] for i in range(first, last + 1))
        offset = data_start - first * block_bytes
        parts.append(chunk[offset : offset + (data_end - data_start)])
    return b"".join(parts)


@functools.lru_cache(maxsize=8)
def mp3_bytes(sid: str, duration: int) -> bytes:
    """The recording as an MP3 (mono, 32 kbps, as Twilio's), encoded once and kept."""
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(MP3_KBPS)
    encoder.set_in_sample_rate(SAMPLE_RATE)
    encoder.set_channels(1)
    encoder.set_quality(7)
    recording = SandboxRecording(
        sid=sid,
        account_sid="",
        date_created=datetime.now(UTC),
        date_updated=datetime.now(UTC),
        start_time=datetime.now(UTC),
        duration=duration,
    )
    pcm = wav_bytes(recording, WAV_HEADER_BYTES)
    return bytes(encoder.encode(pcm) + encoder.flush())
