"""``animatebot`` as a real process whose tiny engine holds every job after its first denoising step
until the test opens a gate: a job stays ``running`` for exactly as long as the test wants, on a
fast machine or a slow one, so killing or stopping the bot mid-job is never a race.

    python -m tests.fakes.gated_bot GATE_DIR run [options]

The engine writes ``GATE_DIR/waiting`` when a job is held, and goes on when ``GATE_DIR/open``
exists or the worker asks the job to stop (shutdown, cancel).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.app import make_engine
from bot.cli import main
from bot.settings import load_settings
from generation.params import GenerationParams

POLL_S = 0.01  # how often a held step looks at the gate (a condition wait, not a guess at speed)


class GatedEngine:
    """The configured engine, with a gate after the first step of every job."""

    def __init__(self, inner: Any, gate: Path) -> None:
        self._inner = inner
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _hold(self, should_cancel: Callable[[], bool] | None) -> None:
        (self._gate / "waiting").touch()
        while not (self._gate / "open").exists():
            if should_cancel is not None and should_cancel():
                return  # the engine's own check between steps takes it from here
            time.sleep(POLL_S)

    def generate(
        self,
        params: GenerationParams,
        *,
        progress: Callable[[int, int], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> Any:
        def gated(step: int, total: int) -> None:
            if progress is not None:
                progress(step, total)
            if step == 1:
                self._hold(should_cancel)

        return self._inner.generate(params, progress=gated, should_cancel=should_cancel)


if __name__ == "__main__":
    gate = Path(sys.argv[1])
    gate.mkdir(parents=True, exist_ok=True)
    sys.exit(main(sys.argv[2:], engine=GatedEngine(make_engine(load_settings()), gate)))
