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

from tests.postgres import database_url, postgres_server  # noqa: F401  (fixtures: SQLite and PostgreSQL)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``) every test that runs Ray (the session's instance, or a head of its
    own) runs in one worker, so that two Ray instances never start side by side; the rest spread over the workers."""
    for item in items:
        if {"ray_cluster", "ray_head"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("ray"))
