"""The Ray worker actor: one warm engine on one GPU (or none), streaming progress, encoding on its own host
through the one finishing path's ``encode`` (the same loop and byte budget as the local worker).

Ray is imported only inside ``info`` and torch never: ``generation.jobs.ray.cluster`` wraps ``EngineActor``
with ``ray.remote`` when a pool starts, and the engine is built from an ``EngineSpec`` (a dotted path)
inside the actor's own process, so the bot never loads a model itself. An image job brings its still's
bytes (the actor's host shares no disk with the bot); the actor keeps them in a folder on its host.

``EngineActor.run`` is a generator (a Ray streaming generator on the pool side): it yields plain
tuples, never raises for a job's own failure, and ends with exactly one terminal item:

- ``("progress", step, total)`` after each denoising step;
- ``("done", Made)`` the encoded clip and the generation's result (its raw frames when the request asks
  for them, for the bot's safety check; none otherwise);
- ``("cancelled", reason)`` with reason ``"cancel"``, ``"shutdown"`` or ``"timeout"``;
- ``("failed", message)`` a message for people.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import json
import os
import queue
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from generation.errors import GenerationCancelled, GenerationError
from generation.jobs.finish import encode_made
from generation.media.files import write_atomically
from generation.params import GenerationParams

ACTOR_PREFIX = "animatebot-worker-"


@dataclass(frozen=True)
class EngineSpec:
    """How an actor builds its engine: ``target`` ("module:callable") called with ``kwargs``."""

    target: str = "generation.engine:create_engine"
    kwargs: dict[str, Any] = field(default_factory=dict)
    is_tiny: bool = False

    @property
    def fingerprint(self) -> str:
        """A short hash of what the engine is built from: an actor built from other settings is replaced."""
        text = json.dumps([self.target, self.kwargs, self.is_tiny], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

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
    image: bytes | None = None  # the still of an image job (params["image"] names it on the bot's host only)
    want_frames: bool = False  # send the raw frames back (the bot's safety check reads them)
    source: bytes | None = None  # the earlier clip a Smooth/Upscale/Extend job starts from (its file's bytes)


@functools.cache
def code_version() -> str:
    """This process's version of the generation code: the package version and a hash of every source file of
    ``generation`` (an actor left by a bot on other code reports another one and is replaced)."""
    try:
        version = metadata.version("animatebot")
    except metadata.PackageNotFoundError:
        version = "unknown"
    digest = hashlib.sha256(version.encode())
    root = Path(__file__).resolve().parents[2]  # the generation package
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return f"{version}+{digest.hexdigest()[:12]}"


class EngineActor:
    """A long-lived worker holding one engine, loaded once when the actor (re)starts."""

    def __init__(self, name: str, spec: EngineSpec) -> None:
        self.name = name
        self.code_version = code_version()
        self.spec_fingerprint = spec.fingerprint
        # Content-addressed, written whole: actors on one host may share it, and a reroll finds its still there.
        self._stills = Path(tempfile.gettempdir()) / "animatebot-stills"
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
            "code_version": self.code_version,
            "spec": self.spec_fingerprint,
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
        if request.image is not None:
            params = params.with_changes(image=str(self._keep_still(request.image)))
        if request.source is not None and params.source is not None:
            params = params.with_changes(source=str(self._keep_still(request.source, Path(params.source).suffix)))
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

    def _keep_still(self, data: bytes, suffix: str = ".png") -> Path:
        """The still's (or source clip's) bytes in a folder on this actor's host, named by content (a reroll
        finds it there)."""
        path = self._stills / f"{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
        if not path.exists():
            self._stills.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
        return path

    def _encode(self, result: Any, params: GenerationParams, request: RunRequest) -> tuple[Any, ...]:
        try:
            made = encode_made(result, params, request.max_bytes)
        except Exception as exc:
            self.last_error = f"encoding: {exc}"
            return ("failed", f"could not encode the clip: {exc}")
        self.jobs_done += 1
        if not request.want_frames:
            made = dataclasses.replace(made, result=dataclasses.replace(result, frames=[], more=()))
        return ("done", made)
