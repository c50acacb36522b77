"""Job events: what the worker back ends report about a job, for the bot to deliver to chat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from storage.models import Job, JobStatus


class EventKind(StrEnum):
    STARTED = "started"
    PROGRESS = "progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self not in (EventKind.STARTED, EventKind.PROGRESS)

    @classmethod
    def ended(cls, status: JobStatus | str) -> EventKind:
        """The terminal event for a job that ended with ``status`` (succeeded, failed or cancelled)."""
        kind = cls(str(status))
        if not kind.terminal:
            raise ValueError(f"{status!r} is not a terminal job status")
        return kind


@dataclass(frozen=True)
class JobEvent:
    """What happened to a job; ``step``/``total`` for progress, ``message`` for failures.

    ``job``: the job's row as it stood right then, when the back end has it (the claimed job for
    ``started``, the ended one for ``succeeded``): delivery then needs no read. A detached snapshot:
    read it, never change it.
    """

    kind: EventKind
    job_id: int
    step: int = 0
    total: int = 0
    message: str = ""
    output_path: str | None = None
    job: Job | None = None


EventSink = Callable[[JobEvent], Awaitable[None]]
