"""The Ray worker actor: one warm engine on one GPU (or none), streaming progress, encoding on its own host.

This module imports neither Ray nor torch: ``generation.jobs.pool`` wraps ``EngineActor`` with
``ray.remote`` when a pool starts, and the engine is built from an ``EngineSpec`` (a dotted path)
inside the actor's own process, so the bot never loads a model itself.

``EngineActor.run`` is a generator (a Ray streaming generator on the pool side): it yields plain
tuples, never raises for a job's own failure, and ends with exactly one terminal item:

- ``("progress", step, total)`` after each denoising step;
- ``("done", ClipReply)`` the encoded clip bytes and timings;
- ``("cancelled", reason)`` with reason ``"cancel"``, ``"shutdown"`` or ``"timeout"``;
- ``("failed", message)`` a message for people.
"""

from __future__ import annotations

import importlib
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from generation.errors import GenerationCancelled, GenerationError
from generation.params import GenerationParams

ACTOR_PREFIX = "animatebot-worker-"


@dataclass(frozen=True)
class EngineSpec:
    """How an actor builds its engine: ``target`` ("module:callable") called with ``kwargs``."""

    target: str = "generation.engine:create_engine"
    kwargs: dict[str, Any] = field(default_factory=dict)
    is_tiny: bool = False

    def build(self) -> Any:
        module, _, name = self.target.partition(":")
        if not module or not name:
            raise ValueError(f"engine target {self.target!r} is not of the form 'module:callable'")
        return getattr(importlib.import_module(module), name)(**self.kwargs)


@dataclass(frozen=True)
class RunRequest:
    """One job for an actor, as plain data (the actor never sees the database)."""

    job_id: int
    attempt: int
    params: dict[str, Any]  # GenerationParams.to_dict(), seed and model filled in
    max_bytes: int
    timeout_s: float


@dataclass(frozen=True)
class ClipReply:
    """What an actor hands back for a finished job: the encoded clip and how it was made."""

    data: bytes
    extension: str
    format: str
    encode_s: float
    changes: tuple[str, ...]
    seed: int
    model: str
    steps: int
    frames: int
    motions: str
    load_s: float
    denoise_s: float
    decode_s: float
    notes: tuple[str, ...]
    tiny: bool


class EngineActor:
    """A long-lived worker holding one engine, loaded once when the actor (re)starts."""

    def __init__(self, name: str, spec: EngineSpec) -> None:
        self.name = name
        self.engine = spec.build()
        self.engine.load()
        self.loads = 1
        self.jobs_done = 0
        self.last_error: str | None = None
        self.job_id: int | None = None
        self._cancel: dict[int, str] = {}  # job id -> reason
        self._lock = threading.Lock()

    # --- state, for the pool and the admins -----------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Who and where this actor is and what it is doing (plain data)."""
        import ray

        context = ray.get_runtime_context()
        return {
            "name": self.name,
            "host": socket.gethostname(),
            "node_ip": ray.util.get_node_ip_address(),
            "pid": os.getpid(),
            "gpus": [str(g) for g in context.get_accelerator_ids().get("GPU", [])],
            "model": self.engine.active_model,
            "job_id": self.job_id,
            "jobs_done": self.jobs_done,
            "last_error": self.last_error,
            "loads": self.loads,
        }

    def switch_model(self, name: str) -> str:
        """Load base model ``name`` (between jobs); raises the engine's ModelLoadError."""
        with self._lock:
            return str(self.engine.switch_model(name))

    def cancel(self, job_id: int, reason: str = "cancel") -> bool:
        """Ask the running job ``job_id`` to stop at its next denoising step; False if it is not running here."""
        if self.job_id != job_id:
            return False
        self._cancel[job_id] = reason
        return True

    def engine_call(self, method: str, *args: Any) -> Any:
        """Call a public method of the engine (a stand-in engine's test controls, e.g. ``release``)."""
        if method.startswith("_"):
            raise ValueError(f"{method!r} is not a public engine method")
        return getattr(self.engine, method)(*args)

    # --- one job ----------------------------------------------------------------------------------------------
    def run(self, request: RunRequest) -> Iterator[tuple[Any, ...]]:
        """Generate and encode one clip; see the module docstring for what is yielded."""
        with self._lock:
            self.job_id = request.job_id
            try:
                yield from self._run(request)
            finally:
                self.job_id = None
                self._cancel.pop(request.job_id, None)

    def _run(self, request: RunRequest) -> Iterator[tuple[Any, ...]]:
        params = GenerationParams.from_dict(request.params)
        deadline = time.monotonic() + request.timeout_s
        try:
            if params.model and params.model != self.engine.active_model:
                self.engine.switch_model(params.model)
        except Exception as exc:
            self.last_error = f"could not load {params.model}: {exc}"
            yield ("failed", self.last_error)
            return

        def should_cancel() -> bool:
            return request.job_id in self._cancel or time.monotonic() > deadline

        events: queue.Queue[tuple[Any, ...]] = queue.Queue()

        def generate() -> None:
            try:
                result = self.engine.generate(
                    params,
                    progress=lambda step, total: events.put(("progress", step, total)),
                    should_cancel=should_cancel,
                )
                events.put(("result", result))
            except BaseException as exc:
                events.put(("error", exc))

        thread = threading.Thread(target=generate, name=f"{self.name}-job-{request.job_id}", daemon=True)
        thread.start()
        while True:
            item = events.get()
            if item[0] == "progress":
                yield item
                continue
            break
        thread.join()
        if item[0] == "error":
            error: BaseException = item[1]
            if isinstance(error, GenerationCancelled):
                reason = "timeout" if time.monotonic() > deadline else self._cancel.get(request.job_id, "cancel")
                yield ("cancelled", reason)
            elif isinstance(error, GenerationError):
                yield ("failed", str(error))
            else:
                self.last_error = f"{type(error).__name__}: {error}"
                yield ("failed", f"generation failed ({self.last_error})")
            return
        yield self._encode(item[1], params, request)

    def _encode(self, result: Any, params: GenerationParams, request: RunRequest) -> tuple[Any, ...]:
        from generation.media.encode import encode_clip

        try:
            clip = encode_clip(result.frames, format=params.format, fps=params.fps, max_bytes=request.max_bytes)
        except Exception as exc:
            self.last_error = f"encoding: {exc}"
            return ("failed", f"could not encode the clip: {exc}")
        self.jobs_done += 1
        reply = ClipReply(
            data=clip.data,
            extension=clip.extension,
            format=clip.format,
            encode_s=clip.encode_s,
            changes=tuple(clip.changes),
            seed=result.seed,
            model=result.model,
            steps=result.steps,
            frames=len(result.frames),
            motions="+".join(str(m) for m in result.motions) or "none",
            load_s=result.timings.load_s,
            denoise_s=result.timings.denoise_s,
            decode_s=result.timings.decode_s,
            notes=tuple(result.notes),
            tiny=result.tiny,
        )
        return ("done", reply)
