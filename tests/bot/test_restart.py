"""Nothing accepted is ever lost: SIGKILL a real ``animatebot run`` mid-job, start it again.

The first process runs with a gated engine (tests/fakes/gated_bot.py): its job is held after one
denoising step until the test says otherwise, so "kill it while a job runs" never races the clock.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness import REPO
from tests.harness import bot_env as harness_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # real processes importing torch

PROMPTS = ["a red fox", "a lighthouse", "a sailing boat", "a snowy owl"]


def bot_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        harness_env(tmp_path),
        PYTHONPATH=str(REPO),
        ANIMATEBOT_MAX_ACTIVE_PER_USER="10",
        ANIMATEBOT_LOG_LEVEL="INFO",
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
    )
    return env


def rows(db: Path) -> list[tuple[int, str, int, str | None, str]]:
    """The jobs table; empty while the starting bot has created the file but not yet its tables."""
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT id, status, attempts, output_path, prompt FROM jobs ORDER BY id").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_while_running_then_restart_finishes_every_job_once(tmp_path: Path) -> None:
    env = bot_env(tmp_path)
    db = tmp_path / "animatebot.db"
    gate = tmp_path / "gate"
    command = [sys.executable, "-m", "bot.cli", "run"]
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.gated_bot", str(gate), "run"],
        cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert first.stdin is not None
    for prompt in PROMPTS:
        first.stdin.write(f"/animate {prompt} frames:8 steps:4\n".encode())
    first.stdin.flush()  # stdin stays open: the bot keeps running until it is killed

    def killable() -> bool:
        if not db.exists() or not (gate / "waiting").exists():
            return False
        statuses = [r[1] for r in rows(db)]  # the held job stays running until the kill
        return len(statuses) == len(PROMPTS) and statuses.count("running") == 1 and "queued" in statuses

    try:
        wait_for(killable, 180, "all jobs accepted and one running")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    before = rows(db)
    killed_while_running = [r[0] for r in before if r[1] == "running"]
    assert killed_while_running

    second = subprocess.run(command, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=400)
    output = second.stdout.decode() + second.stderr.decode()
    assert second.returncode == 0, output[-3000:]
    assert "requeued" in output

    after = rows(db)
    assert [r[0] for r in after] == [r[0] for r in before]  # no duplicate rows, none lost
    assert [r[4] for r in after] == PROMPTS
    for job_id, status, attempts, output_path, _prompt in after:
        assert status in ("succeeded", "failed", "cancelled"), (job_id, status)
        if status == "succeeded":
            assert (
                output_path
                and Path(output_path if Path(output_path).is_absolute() else tmp_path / output_path).is_file()
            )
        if job_id in killed_while_running:
            assert attempts == 2
    assert all(r[1] == "succeeded" for r in after)
    assert not list((tmp_path / "clips").glob("*.part"))


def test_sigterm_puts_the_running_job_back_and_exits_cleanly(tmp_path: Path) -> None:
    env = bot_env(tmp_path)
    db = tmp_path / "animatebot.db"
    gate = tmp_path / "gate"
    bot = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.gated_bot", str(gate), "run", "--grace", "0"],
        cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert bot.stdin is not None
    bot.stdin.write(b"/animate a long clip frames:32 steps:8\n")
    bot.stdin.flush()
    try:
        held = lambda: (gate / "waiting").exists() and [r[1] for r in rows(db)] == ["running"]  # noqa: E731
        wait_for(held, 180, "the job to start and be held mid-generation")
    finally:
        bot.send_signal(signal.SIGTERM)
    output, _ = bot.communicate(timeout=120)
    assert bot.returncode == 0, output.decode()[-3000:]
    (job,) = rows(db)
    assert job[1] == "queued" and job[2] == 0  # back in line; the interrupted attempt is not held against it
    assert "put back in line" in output.decode()

    history = subprocess.run(
        [sys.executable, "-m", "bot.cli", "history", "--json"], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert history.returncode == 0
    (entry,) = json.loads(history.stdout)
    assert entry["prompt"] == "a long clip" and entry["status"] == "queued" and entry["frames"] == 32
