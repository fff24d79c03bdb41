"""The next page fetched and prepared in a thread while this one is written."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

_Page = TypeVar("_Page")


class ReadAhead(Generic[_Page]):
    """The same pages, with the next one fetched from Twilio and prepared (in a thread) while
    this one is written: the wait for Twilio and the Python work of the next page overlap the
    database's work. One page ahead at most, so memory stays flat. An error while fetching
    is raised here, in the caller's thread. `close()` stops the thread."""

    def __init__(self, pages: Iterator[_Page]) -> None:
        self._handoff: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._finished = False
        # A daemon: when the caller stops early, a request in flight must not keep the process.
        self._thread = threading.Thread(
            target=self._fetch, args=(pages,), name="sync-read-ahead", daemon=True
        )
        self._thread.start()

    def _hand_over(self, kind: str, value: object) -> bool:
        while not self._stop.is_set():
            try:
                self._handoff.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fetch(self, pages: Iterator[_Page]) -> None:
        try:
            for page in pages:
                if not self._hand_over("page", page):
                    return
            self._hand_over("done", None)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            self._hand_over("error", exc)

    def __iter__(self) -> ReadAhead[_Page]:
        return self

    def __next__(self) -> _Page:
        if self._finished:
            raise StopIteration
        kind, value = self._handoff.get()
        if kind == "page":
            return value  # type: ignore[return-value]
        self._finished = True
        self.close()
        if kind == "error":
            raise value  # type: ignore[misc]
        raise StopIteration

    def ready(self) -> bool:
        """Whether the next page (or the end) is here already: taking it will not wait."""
        return self._finished or not self._handoff.empty()

    def close(self) -> None:
        self._stop.set()
