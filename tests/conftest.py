"""Shared test setup: tiny pipeline, few CPU threads, nothing from the network."""

from __future__ import annotations

import os

os.environ.setdefault("ANIMATEBOT_PIPELINE", "tiny")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a hard dependency, but parsing tests need none
    pass

import pytest

from storage import loopguard
from tests.postgres import database_url, postgres_instance, postgres_server  # noqa: F401  (fixtures)

# The event loop never waits on the database: with the guard on, a database call that the bot's own async code
# makes on an event loop's thread raises (storage/loopguard.py) and the test that made it fails below, even where
# the call's caller swallowed the error. KNOWN_LOOP_BLOCKERS would let a file or function through while it is being
# moved to the database thread; none is left (the whole suite passes with it empty). ANIMATEBOT_TEST_LOOP_GUARD=0
# turns the guard off.
KNOWN_LOOP_BLOCKERS: frozenset[str] = frozenset()
LOOP_GUARD = os.environ.get("ANIMATEBOT_TEST_LOOP_GUARD", "1") != "0"
loopguard.guard(LOOP_GUARD, known=KNOWN_LOOP_BLOCKERS)


@pytest.fixture(autouse=True)
def _no_database_call_on_the_event_loop() -> object:
    loopguard.take_offences()
    yield
    caught = loopguard.take_offences()
    assert not caught, "database calls on the event loop's thread:\n" + "\n".join(dict.fromkeys(caught))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``) every test that runs Ray (the session's instance, or a head of its
    own) runs in one worker, so that two Ray instances never start side by side; the rest spread over the workers."""
    for item in items:
        if {"ray_cluster", "ray_head"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("ray"))
