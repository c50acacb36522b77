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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``) every test on the session's Ray instance runs in one worker,
    so that only one Ray instance starts; the other tests spread over the workers."""
    for item in items:
        if "ray_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("ray"))
