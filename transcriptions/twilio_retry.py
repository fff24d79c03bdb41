"""urllib3's Retry as the Twilio client uses it: full jitter, a deadline for the whole call,
and each retry logged by method and path (never credentials, never a body)."""

from __future__ import annotations

import logging
import random
import time
from types import TracebackType
from typing import Any, Self

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

# The client's retries are logged under its name.
logger = logging.getLogger("transcriptions.twilio_client")


def network_failure_text(exc: BaseException | None) -> str:
    if isinstance(exc, ConnectTimeoutError):
        return "connect timed out"
    if isinstance(exc, ReadTimeoutError):
        return "read timed out"
    if isinstance(exc, ResponseError):
        return str(exc)
    return "connection failed or was dropped"


class TwilioRetry(Retry):
    """urllib3's Retry, which decides what is retried and counts the tries, waiting with full
    jitter (a random wait within a doubling window) rather than a fixed ladder, so that many
    workers backing off from one rate limit do not come back together; and logging each retry
    by method and path (never credentials, never a body)."""

    # A monotonic time by which the whole call must be over, and the longest one try can
    # take: a retry is made only if a whole try still fits before the deadline.
    deadline: float | None = None
    try_seconds: float = 0.0

    def new(self, **kw: Any) -> TwilioRetry:
        retry = super().new(**kw)
        retry.deadline, retry.try_seconds = self.deadline, self.try_seconds
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.deadline is not None and time.monotonic() + self.try_seconds > self.deadline:
            # No time left for another whole try: give up now, as when the tries run out.
            if error is None and response is not None:
                error = ResponseError(f"answered {response.status} each try")
            raise MaxRetryError(_pool, url, error)  # type: ignore[arg-type]
        return retry

    def get_backoff_time(self) -> float:
        window = min(self.backoff_max, self.backoff_factor * 2 ** (len(self.history) - 1))
        return random.uniform(0, window)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        retry_after = self.get_retry_after(response) if response is not None else None
        if retry_after is not None:
            delay = min(retry_after, self.backoff_max)
        else:
            delay = self.get_backoff_time()
        last = self.history[-1]
        what = (
            f"answered {last.status}"
            if last.status
            else f"failed ({network_failure_text(last.error)})"
        )
        tries = len(self.history) + (self.total if isinstance(self.total, int) else 0) + 1
        logger.warning(
            "Twilio %s %s %s; try %d of %d, retrying in %.2fs",
            last.method,
            last.url,
            what,
            len(self.history),
            tries,
            delay,
        )
        time.sleep(delay)
