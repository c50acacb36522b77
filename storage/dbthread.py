"""The database thread: one thread that runs every database call of the bot's async code, so none
runs on the event loop, holding one connection open for its life.

Work is taken by urgency (a claim the GPU waits for, then commands, then delivery's bookkeeping),
first come first served within each. Answers go back to the event loop in batches: one wake-up for
all the answers that finished while the loop was busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from enum import IntEnum
from typing import Any, TypeVar

log = logging.getLogger("animatebot.storage")

_T = TypeVar("_T")


class Urgency(IntEnum):
    """Which work the database thread takes first: a claim the GPU waits for, then what a person waits
    for (accepting a command), then bookkeeping nobody waits on."""

    FIRST = 0
    NORMAL = 1
    LATER = 2


class _Answers:
    """Results of database work for one event loop, handed over in batches: the loop is woken once for
    all the answers that finished while it was busy, not once per answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._done: list[tuple[asyncio.Future[Any], bool, Any]] = []
        self._scheduled = False  # a hand-over is on its way to the loop

    def put(self, future: asyncio.Future[Any], ok: bool, value: Any) -> None:
        """From the database thread: ``future`` gets ``value`` (a result when ``ok``, else an error)."""
        with self._lock:
            self._done.append((future, ok, value))
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits for these
            self.loop.call_soon_threadsafe(self._hand_over)

    def _hand_over(self) -> None:
        """On the loop."""
        with self._lock:
            done, self._done, self._scheduled = self._done, [], False
        for future, ok, value in done:
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


class DatabaseThread:
    """One thread running database work in order of ``Urgency``, first come first served within each."""

    def __init__(self, initializer: Callable[[], None]) -> None:
        # each item: the work, and what to do with its outcome (ok, result or error)
        self._queues: tuple[deque[tuple[Callable[[], Any], Callable[[bool, Any], None]]], ...] = tuple(
            deque() for _ in Urgency
        )
        self._ready = threading.Condition()
        self._closed = False
        self._answers: dict[asyncio.AbstractEventLoop, _Answers] = {}
        self._thread = threading.Thread(target=self._run, args=(initializer,), name="animatebot-db", daemon=True)
        self._thread.start()

    def _put(self, urgency: Urgency, call: Callable[[], Any], settle: Callable[[bool, Any], None]) -> None:
        with self._ready:
            if self._closed:
                raise RuntimeError("the database is closed")
            self._queues[urgency].append((call, settle))
            self._ready.notify()

    def submit(self, urgency: Urgency, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> Future[_T]:
        """From any thread: a concurrent future of ``fn(*args, **kwargs)``."""
        future: Future[_T] = Future()

        def settle(ok: bool, value: Any) -> None:
            if future.set_running_or_notify_cancel():
                future.set_result(value) if ok else future.set_exception(value)

        self._put(urgency, functools.partial(fn, *args, **kwargs), settle)
        return future

    async def call(self, urgency: Urgency, call: Callable[[], _T]) -> _T:
        """From the running loop: ``call()``'s result (or its error)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_T] = loop.create_future()
        self.answer(waiter, urgency, call)
        return await waiter

    def answer(self, waiter: asyncio.Future[Any], urgency: Urgency, call: Callable[[], Any]) -> None:
        """From any thread: ``waiter`` (a future of a running loop) gets ``call()``'s result or error,
        handed over with the loop's other answers; work on another thread can go on to the database
        this way without a hop back through the loop."""
        loop = waiter.get_loop()
        answers = self._answers.get(loop)
        if answers is None:
            for old in [old for old in self._answers if old.is_closed()]:
                self._answers.pop(old, None)
            answers = self._answers.setdefault(loop, _Answers(loop))
        self._put(urgency, call, functools.partial(answers.put, waiter))

    def _next(self) -> tuple[Callable[[], Any], Callable[[bool, Any], None]] | None:
        with self._ready:
            while True:
                for queue in self._queues:
                    if queue:
                        return queue.popleft()
                if self._closed:
                    return None
                self._ready.wait()

    def _run(self, initializer: Callable[[], None]) -> None:
        broken: BaseException | None = None
        try:
            initializer()
        except BaseException as exc:  # every call fails with it rather than waiting forever
            log.exception("the database thread could not start")
            broken = exc
        while (item := self._next()) is not None:
            call, settle = item
            try:
                if broken is not None:
                    raise RuntimeError(f"the database thread could not start: {broken}") from broken
                result = call()
            except BaseException as exc:
                settle(False, exc)
            else:
                settle(True, result)

    def shutdown(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join()
