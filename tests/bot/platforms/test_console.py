"""The embedded default: `animatebot run` with no chat tokens reads slash commands from stdin."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # real processes importing torch

SCRIPT = (
    "/animate a smiling girl motion:zoom-in frames:8\n"
    "/animate a prancing horse motion:pan-left steps:2 frames:8\n"
    "/animate-history\n"
)


def test_piped_console_run_handles_every_line_waits_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "ANIMATEBOT_"))}
    # Progress edits on every step, so a bar is printed however fast the machine makes the tiny clip.
    env.update(ANIMATEBOT_PIPELINE="tiny", OMP_NUM_THREADS="1", ANIMATEBOT_PROGRESS_EVERY_S="0")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, input=SCRIPT, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    # #2 is second in line if #1 still waited when it came, else next in line: the worker starts #1 as soon
    # as it is accepted, and database calls no longer hold the event loop, so either can happen first.
    assert "queued #1, next in line" in out and re.search(r"queued #2, (position 2|next in line)", out)
    assert re.search(r"#1 generating: step \d/4", out) and "█" in out  # progress, with its bar
    clips = re.findall(r"^clip: (\S+)", out, re.M)
    assert len(clips) == 2 and all((tmp_path / c).is_file() for c in clips)
    history = out[out.index("Recent clips in this channel") :]
    assert "#2" in history and "#1" in history and "a prancing horse" in history
    # Defaults live under ./data: the database holds both jobs as succeeded.
    with sqlite3.connect(tmp_path / "data" / "animatebot.db") as db:
        rows = db.execute("SELECT id, status, steps_used, motions_used FROM jobs ORDER BY id").fetchall()
    assert rows == [(1, "succeeded", 4, "zoom-in@0.75"), (2, "succeeded", 2, "pan-left@0.75")]
