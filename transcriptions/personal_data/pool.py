"""Detection for a long sync in a process of its own, so that it runs beside the writing
rather than taking turns with it under the interpreter's lock (in one process detection
took the sync of 100,000 rows from 9,600 to 5,800 rows a second).

A page's texts go to the detecting process as soon as the page is read; its columns come back
while the next page is fetched. Should the process fail, the page is detected here: a sync
never stops for it."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol, TypeVar

from . import hash_key, personal_data_columns

logger = logging.getLogger(__name__)


class _HasSid(Protocol):
    @property
    def sid(self) -> str: ...


_Item = TypeVar("_Item", bound=_HasSid)


def _columns_of(texts: Sequence[str | None], key: bytes) -> list[dict]:
    """In the detecting process: no settings there, the key comes with the texts."""
    return [personal_data_columns(text, key=key) for text in texts]


class Detection:
    """Columns for pages of texts, detected in a separate process when the machine has a
    core to spare (else here, when asked for)."""

    def __init__(self, *, elsewhere: bool = True) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._key = hash_key()
        self._usable = elsewhere and (os.cpu_count() or 1) > 1

    def submit(self, texts: Sequence[str | None]) -> Future | None:
        """Start detecting `texts` elsewhere; None when this process will do it."""
        if not self._usable:
            return None
        try:
            if self._pool is None:
                # "spawn": a fresh interpreter, nothing of this process's threads, database
                # connections or locks carried over.
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
            return self._pool.submit(_columns_of, list(texts), self._key)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            self._give_up(exc)
            return None

    def result(self, future: Future | None, texts: Sequence[str | None]) -> list[dict]:
        """The columns for `texts`, from the future when there is one."""
        if future is not None:
            try:
                return future.result()
            except (BrokenProcessPool, OSError, RuntimeError) as exc:
                self._give_up(exc)
        return [personal_data_columns(text, key=self._key) for text in texts]

    def _give_up(self, exc: BaseException) -> None:
        logger.warning("Personal-data detection goes on in this process (%s)", type(exc).__name__)
        self._usable = False
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def pages_detected(
    pages: Iterator[list[_Item]],
    detection: Detection,
    *,
    text_of: Callable[[_Item], str | None],
) -> Iterator[tuple[list[_Item], dict[str, dict]]]:
    """The pages with their personal-data columns by SID. From the second page on, a page's
    texts go to the detecting process as soon as it is read, and it is handed on once the
    next page has been read: detection runs while the next page is fetched and the one
    before is written. The first page is detected here and handed on at once (a one-page pass
    starts no process, and a head sync that stops there reads no page more), as is every page
    when the detection cannot run elsewhere. Should reading a page fail, the pages read
    before it are handed on first."""
    pending: deque[tuple[list[_Item], list[str | None], Future | None]] = deque()
    try:
        for number, page in enumerate(pages):
            texts = [text_of(item) for item in page]
            pending.append((page, texts, detection.submit(texts) if number else None))
            while pending and (pending[0][2] is None or len(pending) > 1):
                yield _with_columns(detection, *pending.popleft())
    except Exception:
        # Reading the next page failed: the page read before it is handed on (and written)
        # before the error goes on.
        while pending:
            yield _with_columns(detection, *pending.popleft())
        raise
    while pending:
        yield _with_columns(detection, *pending.popleft())


def _with_columns(
    detection: Detection,
    page: list[_Item],
    texts: list[str | None],
    future: Future | None,
) -> tuple[list[_Item], dict[str, dict]]:
    columns = detection.result(future, texts)
    return page, {item.sid: c for item, c in zip(page, columns, strict=True)}
