"""A guard that makes a database call from an event loop's thread fail, for tests and debugging.

The bot's async code must never wait on the database on its event loop (one slow query stops every
command and every upload); it goes through the database thread (``Database.offload``). Timing cannot
prove that a call is missing its ``await db.offload(...)``; this guard can: while it is on, every
transaction ``Database`` opens first asks whether an event loop is running in the calling thread,
and if one is and the call comes from the bot's own packages, raises ``LoopBlocked`` naming the
caller, and remembers it in ``offences`` (a caller may swallow the error; a test fixture reads
them). Off by default: production pays one boolean test per transaction.

Tests may read the database from their own async bodies (checking what a use case stored, pausing the
queue), so only a call that an async function of ``bot`` or ``generation`` waits on is caught.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import FrameType

_ROOT = Path(__file__).resolve().parent.parent
_ASYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_GUARDED = tuple(str(_ROOT / package) + "/" for package in ("bot", "generation"))

enabled = False
offences: list[str] = []  # "file:line in function (async function waiting)" of each caller caught, oldest first
tolerated: set[str] = set()  # known offenders met (see ``guard``'s ``known``)
_known: frozenset[str] = frozenset()
_lock = threading.Lock()
_permitted: ContextVar[bool] = ContextVar("animatebot_loop_guard_permitted", default=False)


class LoopBlocked(RuntimeError):
    """A database call was made on an event loop's thread (see ``storage.loopguard``)."""


def guard(on: bool = True, *, known: frozenset[str] = frozenset()) -> None:
    """Turn the guard on (tests) or off. ``known``: offenders let through until they are fixed, each the async
    function that waits, as ``"bot/service/admin.py:run_admin"``, or a whole file, as ``"bot/service/admin.py"``."""
    global enabled, _known
    enabled, _known = on, known


@contextmanager
def permitted() -> Iterator[None]:
    """Database calls made inside are let through: building the bot, which reads its state once before the loop
    serves anything (nothing can be waiting yet)."""
    token = _permitted.set(True)
    try:
        yield
    finally:
        _permitted.reset(token)


def check() -> None:
    """Raise ``LoopBlocked`` when the guard is on, an event loop runs in this thread, and the bot's own code
    is on the stack; called by ``Database`` as a transaction opens."""
    if _permitted.get():
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # the database thread, a worker thread, a script: waiting is fine there
    found = _bot_caller()
    if found is None:
        return
    caller, waiter = found
    with _lock:
        if waiter in _known or waiter.partition(":")[0] in _known:
            tolerated.add(waiter)
            return
        offences.append(f"{caller} ({waiter})")
    raise LoopBlocked(
        f"a database call on the event loop's thread, from {caller}, awaited by {waiter}: use `await db.offload(...)`"
    )


def take_offences() -> list[str]:
    """The offences caught since the last call, and forget them."""
    with _lock:
        caught = offences[:]
        offences.clear()
    return caught


def _bot_caller() -> tuple[str, str] | None:
    """Where the bot's code called ("file:line in function") and the async function waiting on it ("file:function"),
    when that async function is the bot's (a test's own async body may call the bot's synchronous methods: that
    wait is the test's); None when it is not the bot's."""
    nearest: str | None = None
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        guarded = code.co_filename.startswith(_GUARDED)
        where = str(Path(code.co_filename).relative_to(_ROOT)) if guarded else ""
        if guarded and nearest is None:
            nearest = f"{where}:{frame.f_lineno} in {code.co_name}"
        if code.co_flags & _ASYNC:
            return (nearest, f"{where}:{code.co_name}") if guarded and nearest else None
        frame = frame.f_back
    if nearest is None:
        return None
    return nearest, nearest.split(":")[0] + ":" + nearest.rsplit(" in ", 1)[1]  # a plain callback the loop runs
