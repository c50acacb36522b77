"""The event-loop guard: a database call that the bot's async code makes on the loop's thread raises and is
recorded; the same call through the database thread, or from a test's own async body, goes through."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from storage import loopguard
from storage.repository import Repository
from tests.harness import REPO

# An async function of the bot's own, as the guard sees one: code whose file is in bot/ (the real offenders get
# fixed, so the test brings its own).
_OFFENDER = """
async def show(repo, job_id):
    return repo.job(job_id)
"""


def bot_coroutine() -> Callable[..., Any]:
    namespace: dict[str, Any] = {}
    exec(compile(_OFFENDER, str(REPO / "bot" / "service" / "offender.py"), "exec"), namespace)
    return namespace["show"]  # type: ignore[no-any-return]


@pytest.fixture
def guarded() -> Iterator[None]:
    was, known = loopguard.enabled, loopguard._known
    loopguard.guard(True)
    yield
    loopguard.guard(was, known=known)


async def test_the_bots_async_code_calling_the_database_on_the_loop_raises_and_is_recorded(
    repo: Repository, guarded: None
) -> None:
    show = bot_coroutine()
    with pytest.raises(loopguard.LoopBlocked, match=r"bot/service/offender.py:3 in show.*db.offload"):
        await show(repo, 1)
    assert loopguard.take_offences() == ["bot/service/offender.py:3 in show (bot/service/offender.py:show)"]


async def test_the_database_thread_a_tests_own_body_and_start_up_go_through(repo: Repository, guarded: None) -> None:
    show = bot_coroutine()
    assert await repo.db.offload(repo.job, 1) is None  # on the database thread: no loop runs there
    assert repo.job(1) is None  # the test's own async body
    with loopguard.permitted():
        assert await show(repo, 1) is None  # building the app, before the loop serves anything
    assert loopguard.take_offences() == []


async def test_a_known_offender_is_let_through_and_noted(repo: Repository, guarded: None) -> None:
    loopguard.guard(True, known=frozenset({"bot/service/offender.py:show"}))
    assert await bot_coroutine()(repo, 1) is None
    assert loopguard.take_offences() == [] and "bot/service/offender.py:show" in loopguard.tolerated


async def test_off_lets_everything_through(repo: Repository, guarded: None) -> None:
    loopguard.guard(False)
    assert await bot_coroutine()(repo, 1) is None
    assert loopguard.take_offences() == []
