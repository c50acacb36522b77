"""``/animate-admin workers`` and ``animatebot workers``: who makes the clips, for admins only."""

from __future__ import annotations

import socket
from pathlib import Path

from bot.cli import main
from bot.commands import ADMIN_ACTIONS
from bot.commands.command import parse_line
from bot.service.replies import worker_line, workers
from generation.jobs.backend import WorkerState
from tests.fakes.engine import FakeEngine
from tests.harness import make_settings, start_bot


def test_workers_is_an_admin_action_without_arguments() -> None:
    assert "workers" in ADMIN_ACTIONS
    command = parse_line("/animate-admin workers")
    assert command.admin_action == "workers"


def test_each_worker_is_one_line_with_host_gpu_model_state_jobs_and_error() -> None:
    busy = WorkerState("animatebot-worker-0", host="gpu1", gpus=("0",), model="epicrealism", job_id=7, jobs_done=3)
    busy.alive = True
    down = WorkerState("animatebot-worker-1", last_error="lost while making job #5: ActorDiedError")
    text = workers([busy, down]).text
    assert "animatebot-worker-0 on gpu1, GPU 0, model epicrealism: busy (#7), 3 jobs done" in text
    assert "animatebot-worker-1" in text and "down" in text and "ActorDiedError" in text
    assert worker_line(WorkerState("w", alive=True)).endswith("idle, 0 jobs done")


async def test_admins_see_the_local_worker(tmp_path: Path) -> None:
    bot = await start_bot(make_settings(tmp_path, ANIMATEBOT_MAX_ACTIVE_PER_USER="5"), FakeEngine())
    try:
        await bot.say("/animate a red fox steps:2")
        await bot.idle()
        assert "only admins" in await bot.say("/animate-admin workers", user="mallory")
        shown = await bot.say("/animate-admin workers", user="boss")
        assert f"local on {socket.gethostname()}" in shown and "idle, 1 jobs done" in shown
    finally:
        await bot.app.stop()


def test_cli_workers_with_the_local_worker(capsys: object, monkeypatch: object) -> None:
    monkeypatch.setenv("ANIMATEBOT_WORKERS", "local")  # type: ignore[attr-defined]
    assert main(["workers"]) == 0
    assert "one worker inside the bot process" in capsys.readouterr().out  # type: ignore[attr-defined]


def test_cli_workers_needs_the_cluster_address(capsys: object, monkeypatch: object) -> None:
    monkeypatch.setenv("ANIMATEBOT_WORKERS", "ray")  # type: ignore[attr-defined]
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # type: ignore[attr-defined]
    assert main(["workers"]) == 2
    assert "set RAY_ADDRESS" in capsys.readouterr().err  # type: ignore[attr-defined]
