"""The one face of a worker back end (the local in-process worker, the Ray pool) and what the two share:
the engine they drive, the state each worker shows the admins, and the supervisor that keeps their
long-running tasks alive.

A back end takes claimed jobs from the ``JobQueue``, turns each into frames wherever its engine lives,
and hands them to the one finishing path (``generation.jobs.finish``). The bot sees nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from generation.jobs.queue import CancelOutcome
from generation.params import GenerationParams
from generation.result import GenerationResult

log = logging.getLogger("animatebot.workers")

RESTART_DELAY_MAX_S = 5.0  # a task that keeps dying is restarted at most this often


class Engine(Protocol):
    """What a back end needs from generation.engine.engine.Engine (a fake in tests and benchmarks)."""

    @property
    def active_model(self) -> str: ...
    @property
    def is_tiny(self) -> bool: ...
    def load(self) -> None: ...
    def switch_model(self, name: str) -> str: ...
    def generate(
        self,
        params: GenerationParams,
        *,
        progress: Callable[[int, int], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> GenerationResult: ...
    def close(self) -> None: ...


@dataclass
class WorkerState:
    """One worker (the local one, or a Ray actor) as the dispatcher and the admins see it."""

    name: str
    host: str = "?"
    gpus: tuple[str, ...] = ()
    model: str | None = None
    job_id: int | None = None
    jobs_done: int = 0
    last_error: str | None = None
    loads: int = 0
    pid: int | None = None
    alive: bool = False
    idle_since: float | None = None  # monotonic; None while busy, dead or reserved
    restarts: int = 0  # times the supervisor restarted this worker's task after it died
    version: str | None = None  # the generation code it runs (a Ray actor's; see generation.jobs.ray.actor)

    @property
    def busy(self) -> bool:
        return self.job_id is not None


class Backend(Protocol):
    """What the bot calls on a worker back end; ``generation.jobs.local.Worker`` and
    ``generation.jobs.ray.RayPool`` implement it, and the parity test holds them to the same results."""

    @property
    def media_dir(self) -> Path: ...
    @property
    def is_tiny(self) -> bool: ...
    @property
    def busy(self) -> bool: ...
    async def start(self) -> None:
        """Load the engine(s) and start running jobs from the queue."""

    async def stop(self, grace_s: float = 30.0) -> None:
        """Take no more jobs; running ones get ``grace_s`` to end, then go back in line."""

    async def cancel(self, job_id: int) -> CancelOutcome:
        """Cancel a queued job, or stop a running one at its next step."""

    async def validate_model(self, name: str) -> str:
        """Load base model ``name`` on a worker; raises the engine's ModelLoadError."""

    async def workers(self) -> Sequence[WorkerState]:
        """Each worker as it stands now (for ``/animate-admin workers``)."""

    async def wait_idle(self) -> None:
        """Return once nothing is queued, running or being finished."""


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    stopping: Callable[[], bool],
    crashed: Callable[[BaseException], Awaitable[None]],
    delay_s: float = 0.1,
) -> None:
    """Run ``run()`` until it returns; when it dies, log the traceback, let ``crashed`` put its work back
    in line (and count the restart), and run it again, with a growing pause while it keeps dying.

    A back end's loop that dies would otherwise leave the bot accepting jobs that never run.
    """
    delay = delay_s
    while True:
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("the %s task died; restarting it", name)
            try:
                await crashed(exc)
            except Exception:
                log.exception("the %s task's clean-up after its death failed", name)
        if stopping():
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, RESTART_DELAY_MAX_S)
