"""Nothing accepted is ever lost: SIGKILL a real ``animatebot run`` mid-job, start it again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROMPTS = ["a red fox", "a lighthouse", "a sailing boat", "a snowy owl"]


def bot_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANIMATEBOT_PIPELINE="tiny",
        ANIMATEBOT_DATABASE_URL=f"sqlite:///{tmp_path}/animatebot.db",
        ANIMATEBOT_MEDIA_DIR=str(tmp_path / "clips"),
        ANIMATEBOT_MAX_ACTIVE_PER_USER="10",
        ANIMATEBOT_LOG_LEVEL="INFO",
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
    )
    return env


def rows(db: Path) -> list[tuple[int, str, int, str | None, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, status, attempts, output_path, prompt FROM jobs ORDER BY id").fetchall()


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
    command = [sys.executable, "-m", "bot.cli", "run"]
    first = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert first.stdin is not None
    for prompt in PROMPTS:
        first.stdin.write(f"/animate {prompt} frames:8 steps:4\n".encode())
    first.stdin.flush()  # stdin stays open: the bot keeps running until it is killed

    def killable() -> bool:
        if not db.exists():
            return False
        statuses = [r[1] for r in rows(db)]
        return len(statuses) == len(PROMPTS) and "running" in statuses and "queued" in statuses

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
