"""The two background threads of ``graphkd-predict``: pages are read (PDFs rendered) ahead of the
model by :func:`prefetch`, and the drawn pages are written behind it by :class:`BackgroundCalls`,
so that on a multi-core CPU the model is the only work left on the main thread.

Both are bounded (a long PDF is never all in memory) and keep errors in place: a failure in the
background is raised in the caller, where the sequence reached it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TypeVar

__all__ = ["BackgroundCalls", "QUEUE_SIZE", "prefetch"]

QUEUE_SIZE = 4  # pages in flight per thread

Item = TypeVar("Item")


class _End:
    """The producer's last item: the end of the pages, or the error that ended them."""

    def __init__(self, error: BaseException | None = None):
        self.error = error


def prefetch(items: Iterable[Item], size: int = QUEUE_SIZE) -> Iterator[Item]:
    """``items`` in order, produced by a background thread at most ``size`` ahead (e.g. PDF pages
    rendered while the model runs on the previous ones). An error of the producer is raised here,
    at its place in the sequence; closing this iterator early stops the producer."""
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put(item):
                    return
            put(_End())
        except BaseException as e:  # handed to the consumer, raised there
            put(_End(e))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # in the thread that used it (PDFium: one thread at a time)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        thread.join()


class BackgroundCalls:
    """``fn(*args)`` for each :meth:`submit`, in order, in one background thread, at most
    ``size`` calls waiting (``submit`` blocks beyond that, so memory stays bounded).

    Use as a context manager: leaving the block waits for the calls submitted so far and raises
    the first error of ``fn``; leaving it on an error skips the calls still waiting. An error of
    ``fn`` is also raised by the next ``submit`` (the calls after it are skipped).
    """

    _STOP = object()

    def __init__(self, fn: Callable[..., object], size: int = QUEUE_SIZE, name: str = "writer"):
        self._fn = fn
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._error: BaseException | None = None
        self._skip = threading.Event()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            args = self._queue.get()
            if args is self._STOP:
                return
            if self._skip.is_set():
                continue  # keep draining, so a blocked submit / close never waits forever
            try:
                self._fn(*args)
            except BaseException as e:  # raised in the caller
                self._error = e
                self._skip.set()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, *args: object) -> None:
        """Queue ``fn(*args)``; raises an earlier call's error instead, if there was one."""
        self._raise()
        self._queue.put(args)

    def close(self, skip: bool = False) -> None:
        """Wait for the submitted calls (``skip``: drop those not started) and stop the thread."""
        if skip:
            self._skip.set()
        if self._thread.is_alive():
            self._queue.put(self._STOP)
            self._thread.join()

    def __enter__(self) -> BackgroundCalls:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(skip=exc is not None)
        if exc is None:
            self._raise()
