"""The durable fair queue (accept, claim, finish, recover), its rate limiter and ETA, job events,
and the worker back end that runs jobs on an engine. No torch at import: the engine is handed in.
"""

from generation.jobs.events import EventKind, EventSink, JobEvent
from generation.jobs.queue import Accepted, CancelOutcome, JobQueue, Refused, Submission
from generation.jobs.ratelimit import Decision, Limits
from generation.jobs.worker import Engine, SafetyCheck, Worker, clip_filename

__all__ = [
    "Accepted",
    "CancelOutcome",
    "Decision",
    "Engine",
    "EventKind",
    "EventSink",
    "JobEvent",
    "JobQueue",
    "Limits",
    "Refused",
    "SafetyCheck",
    "Submission",
    "Worker",
    "clip_filename",
]
