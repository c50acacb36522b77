"""``animatebot`` as a real process whose tiny engine holds every job after its first denoising step
until the test opens a gate: a job stays ``running`` for exactly as long as the test wants, on a
fast machine or a slow one, so killing or stopping the bot mid-job is never a race.

    python -m tests.fakes.gated_bot GATE_DIR run [options]

The engine writes ``GATE_DIR/waiting`` when a job is held, and goes on when ``GATE_DIR/open``
exists or the worker asks the job to stop (shutdown, cancel).

With ``ANIMATEBOT_WORKERS=ray`` every Ray actor builds the same gated engine in its own process
(``gated_engine``, an ``EngineSpec`` target). Each held job also writes ``GATE_DIR/waiting-<pid>``
(the holding process, its file naming the prompt), removed when the job goes on: a test sees which
actor holds which job, and whom to kill.

    python -m tests.fakes.gated_bot GATE_DIR --light run [options]

puts the fake engine (``tests.fakes.engine.FakeEngine``) behind the gate instead of the configured one: noise frames, no torch, so an
actor holding it starts in about a second (for tests about the workers, not the pipeline).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generation.params import GenerationParams
from tests.fakes.engine import FakeEngine

POLL_S = 0.01  # how often a held step looks at the gate (a condition wait, not a guess at speed)


class GatedEngine:
    """The configured engine, with a gate after the first step of every job."""

    def __init__(self, inner: Any, gate: Path) -> None:
        self._inner = inner
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _hold(self, params: GenerationParams, should_cancel: Callable[[], bool] | None) -> None:
        mine = self._gate / f"waiting-{os.getpid()}"
        writing = self._gate / f"writing-{os.getpid()}"  # not "waiting-*": the test reads only whole files
        writing.write_text(params.prompt)
        writing.replace(mine)  # a test that sees the file reads the prompt, never an empty file mid-write
        (self._gate / "waiting").touch()
        try:
            while not (self._gate / "open").exists():
                if should_cancel is not None and should_cancel():
                    return  # the engine's own check between steps takes it from here
                time.sleep(POLL_S)
        finally:
            mine.unlink(missing_ok=True)

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
                self._hold(params, should_cancel)

        return self._inner.generate(params, progress=gated, should_cancel=should_cancel)


def gated_light_engine(gate: str) -> GatedEngine:
    """The fake engine behind the gate in folder ``gate`` (built inside a Ray actor)."""
    return GatedEngine(FakeEngine(), Path(gate))


def gated_engine(gate: str, **engine_kwargs: Any) -> GatedEngine:
    """``create_engine(**engine_kwargs)`` behind the gate in folder ``gate`` (built inside a Ray actor)."""
    from generation.engine import create_engine

    return GatedEngine(create_engine(**engine_kwargs), Path(gate))


def _engine(gate: Path, light: bool) -> Any:
    from bot.app import engine_arguments, make_engine
    from bot.settings import load_settings
    from generation.jobs.ray import EngineSpec

    settings = load_settings()
    if settings.workers == "ray":  # the actors build it; the bot only says how
        if light:
            return EngineSpec("tests.fakes.gated_bot:gated_light_engine", {"gate": str(gate)}, is_tiny=True)
        kwargs = {"gate": str(gate), **engine_arguments(settings)}
        return EngineSpec("tests.fakes.gated_bot:gated_engine", kwargs, is_tiny=settings.pipeline == "tiny")
    return GatedEngine(FakeEngine() if light else make_engine(settings), gate)


if __name__ == "__main__":
    from bot.cli import main

    gate_dir = Path(sys.argv[1])
    gate_dir.mkdir(parents=True, exist_ok=True)
    light = sys.argv[2:3] == ["--light"]
    sys.exit(main(sys.argv[3 if light else 2 :], engine=_engine(gate_dir, light)))
