"""The next page fetched and prepared in a thread while this one is written."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

_Page = TypeVar("_Page")


def read_ahead(pages: Iterator[_Page]) -> Generator[_Page, None, None]:
    """The same pages, with the next one fetched from Twilio and prepared (in a thread) while
    this one is written: the wait for Twilio and the Python work of the next page overlap the
    database's work. One page ahead at most, so memory stays flat. An error while fetching
    is raised here, in the caller's thread."""
    handoff: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(kind: str, value: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not hand_over("page", page):
                    return
            hand_over("done", None)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            hand_over("error", exc)

    # A daemon: when the caller stops early, a request in flight must not keep the process.
    thread = threading.Thread(target=fetch, name="sync-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "page":
                yield value  # type: ignore[misc]
            elif kind == "error":
                raise value  # type: ignore[misc]
            else:
                return
    finally:
        stop.set()
