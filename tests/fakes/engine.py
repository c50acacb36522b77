"""The one fake engine (tests and benchmarks): the real engine's face, no torch, controllable.

``FakeEngine()`` returns small frames at once (what is left is the bot's own overhead).
``FakeEngine(seconds_per_job=0.5)`` sleeps instead of computing (pool scaling benchmarks).
``FakeEngine(gated=True)`` waits before every denoising step until the test calls ``release()``:
progress, cancel and ordering are then driven by the test, never by how fast the machine is.
``FakeEngine(gated=True, decode_gate=True)`` also waits after the last step (where the real engine
decodes) until ``release_decode()``: what the bot does while a clip decodes is then observable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from generation.errors import GenerationCancelled
from generation.params import GenerationParams
from generation.result import GenerationResult, Timings

NO_TIME = Timings(0.0, 0.0, 0.0)


class FakeEngine:
    is_tiny = True
    label = "fake engine"

    def __init__(
        self,
        *,
        seconds_per_job: float = 0.0,
        gated: bool = False,
        decode_gate: bool = False,
        size: int = 64,
        frames: int = 8,
    ) -> None:
        self.active_model = "fake"
        self.seconds_per_job = seconds_per_job
        self.gated = gated
        self.loads = 0
        self.generated: list[GenerationParams] = []
        self._steps = threading.Semaphore(0)
        self._in_step = threading.Condition()
        self._waiting = 0
        self.decode_gate = decode_gate
        self._decodes = threading.Semaphore(0)
        self._decoding = 0
        rng = np.random.default_rng(0)
        self.frames = [Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)) for _ in range(frames)]

    # --- what the test controls -----------------------------------------------------------------
    def release(self, steps: int = 1) -> None:
        """Let ``steps`` more denoising steps run (gated engines only)."""
        for _ in range(steps):
            self._steps.release()

    def wait_for_step(self, timeout: float = 30.0) -> bool:
        """Block until a generation is waiting at a step gate; False on timeout (a test failure, not a race)."""
        with self._in_step:
            return self._in_step.wait_for(lambda: self._waiting > 0, timeout)

    def release_decode(self) -> None:
        """Let one generation waiting at its decode gate return (``decode_gate`` engines only)."""
        self._decodes.release()

    def open_gates(self) -> None:
        """From now on no gate holds a generation (a test's teardown: nothing is left waiting forever)."""
        self.gated = self.decode_gate = False
        for _ in range(1000):
            self._steps.release()
            self._decodes.release()

    def wait_for_decode(self, timeout: float = 30.0) -> bool:
        """Block until a generation has done its last step and waits at the decode gate; False on timeout."""
        with self._in_step:
            return self._in_step.wait_for(lambda: self._decoding > 0, timeout)

    # --- the engine's face -------------------------------------------------------------------------
    def load(self) -> None:
        self.loads += 1

    def close(self) -> None: ...

    def switch_model(self, name: str) -> str:
        self.active_model = name
        return name

    def generate(
        self,
        params: GenerationParams,
        *,
        progress: Callable[[int, int], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> GenerationResult:
        self.generated.append(params)
        if self.seconds_per_job:
            time.sleep(self.seconds_per_job)
        for step in range(1, params.steps + 1):
            if self.gated:
                with self._in_step:
                    self._waiting += 1
                    self._in_step.notify_all()
                self._steps.acquire()
                with self._in_step:
                    self._waiting -= 1
            if should_cancel is not None and should_cancel():
                raise GenerationCancelled("cancelled")
            if progress is not None:
                progress(step, params.steps)
        if self.decode_gate:
            with self._in_step:
                self._decoding += 1
                self._in_step.notify_all()
            self._decodes.acquire()
            with self._in_step:
                self._decoding -= 1
        return GenerationResult(
            self.frames,
            params.seed or 0,
            params.model or self.active_model,
            params.steps,
            params.motions,
            self.frames[0].width,
            self.frames[0].height,
            params.fps,
            NO_TIME,
            tiny=True,
        )
