"""The durable fair queue (accept, claim, finish, recover), its rate limiter and ETA, job events, the
one back-end protocol and the one finishing path. The local back end is ``generation.jobs.local``; the
Ray pool, cluster and actor live in ``generation.jobs.ray`` (the only room that imports Ray). No torch
at import: the engine is handed in.
"""

from generation.jobs.backend import Backend, Engine, WorkerState
from generation.jobs.events import EventKind, EventSink, JobEvent
from generation.jobs.finish import Finisher, Made, SafetyCheck, clip_filename, encode
from generation.jobs.queue import Accepted, CancelOutcome, JobQueue, Refused, Submission
from generation.jobs.ratelimit import Decision, Limits

__all__ = [
    "Accepted",
    "Backend",
    "CancelOutcome",
    "Decision",
    "Engine",
    "EventKind",
    "EventSink",
    "Finisher",
    "JobEvent",
    "JobQueue",
    "Limits",
    "Made",
    "Refused",
    "SafetyCheck",
    "Submission",
    "WorkerState",
    "clip_filename",
    "encode",
]
