"""New transcriptions arriving while the sandbox runs, as calls end at a support line: each
appears `in-progress` (newest first in the list), and a little later is `completed` with its
text, or `failed`, as Twilio does; at that moment Twilio's transcription callback is POSTed to
the callback URL, signed with the account's auth token exactly as Twilio signs it (some
dropped, as callbacks that never arrive)."""

from __future__ import annotations

import base64
import collections
import hashlib
import heapq
import hmac
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from sandbox.store import TranscriptionStore, _seeded_text

CALLBACK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Delivery:
    """One callback POSTed: when it left and when the answer came (Unix time), and the
    answer's status (0: no answer)."""

    sid: str
    status: str
    sent_at: float
    answered_at: float
    answer: int


def twilio_signature(url: str, params: dict[str, str], auth_token: str) -> str:
    """X-Twilio-Signature as Twilio computes it: HMAC-SHA1 over the URL and the parameters
    sorted by name, each name followed by its value, keyed with the auth token, base64."""
    data = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class Arrivals:
    """A thread adding `per_minute` transcriptions a minute, each finished `finish_after`
    seconds after it appears (about 85 % completed with text, the rest failed)."""

    def __init__(
        self,
        *,
        store: TranscriptionStore,
        per_minute: float,
        auth_token: str,
        api_base_url: str = "https://api.twilio.com",
        callback_url: str = "",
        drop_rate: float = 0.0,
        finish_after: float = 5.0,
        seed: int = 0,
    ) -> None:
        self.store = store
        self.interval = 60.0 / per_minute
        self.auth_token = auth_token
        self.api_base_url = api_base_url.rstrip("/")
        self.callback_url = callback_url
        self.drop_rate = drop_rate
        self.finish_after = finish_after
        self.rng = random.Random(f"arrivals-{seed}")
        self.callbacks_sent = 0
        self.callbacks_dropped = 0
        self.callback_failures = 0
        self.finished = 0  # transcriptions completed or failed, their callbacks sent or not
        # The latest callbacks sent, kept within bounds for a sandbox that runs for days.
        self.deliveries: collections.deque[Delivery] = collections.deque(maxlen=100_000)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-arrivals", daemon=True)
        self._session = requests.Session()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=CALLBACK_TIMEOUT_SECONDS + 1)
        self._session.close()

    def _run(self) -> None:
        due: list[tuple[float, str]] = []
        next_arrival = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_arrival:
                item = self.store.add(
                    status="in-progress",
                    duration=self.rng.randrange(5, 600),
                    date_created=datetime.now(UTC),
                )
                heapq.heappush(due, (now + self.finish_after, item.sid))
                next_arrival += self.interval
            while due and due[0][0] <= now:
                _, sid = heapq.heappop(due)
                self._finish(sid)
            wake = min([next_arrival, *(d for d, _ in due[:1])])
            self._stop.wait(max(0.0, min(wake - time.monotonic(), 0.5)))

    def _finish(self, sid: str) -> None:
        completed = self.rng.random() < 0.85
        try:
            item = self.store.update(
                sid,
                status="completed" if completed else "failed",
                transcription_text=_seeded_text(self.rng) if completed else None,
            )
        except KeyError:
            return  # deleted meanwhile
        self.finished += 1
        if not self.callback_url:
            return
        if self.rng.random() < self.drop_rate:
            self.callbacks_dropped += 1
            return
        self._callback(item)

    def _callback(self, item) -> None:
        account = item.account_sid
        recording_url = (
            f"{self.api_base_url}/2010-04-01/Accounts/{account}/Recordings/{item.recording_sid}"
        )
        params = {
            "AccountSid": account,
            "ApiVersion": "2010-04-01",
            "TranscriptionSid": item.sid,
            "TranscriptionStatus": item.status,
            "TranscriptionText": item.transcription_text or "",
            "TranscriptionUrl": f"{recording_url}/Transcriptions/{item.sid}",
            "TranscriptionType": "fast",
            "RecordingSid": item.recording_sid,
            "RecordingUrl": recording_url,
            "CallSid": "CA" + hashlib.md5(item.sid.encode()).hexdigest(),  # noqa: S324 - an id
        }
        signature = twilio_signature(self.callback_url, params, self.auth_token)
        sent_at = time.time()
        answer = 0
        try:
            response = self._session.post(
                self.callback_url,
                data=params,
                headers={"X-Twilio-Signature": signature},
                timeout=CALLBACK_TIMEOUT_SECONDS,
            )
            answer = response.status_code
        except requests.RequestException:
            pass
        self.deliveries.append(Delivery(item.sid, item.status, sent_at, time.time(), answer))
        if 200 <= answer < 300:
            self.callbacks_sent += 1
        else:
            self.callback_failures += 1
