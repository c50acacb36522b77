"""Per-user limits as a pure function of time and counts: no I/O, no clock of its own.

Three limits, checked in this order: the global queue cap, the user's queued+running jobs,
and the user's submissions per hour (GCRA: an even rate with a burst of the whole hour's
allowance). Admins are exempt from all three. A refusal says when to try again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

HOUR_S = 3600.0


@dataclass(frozen=True)
class Limits:
    max_active_per_user: int = 2
    max_per_hour: int = 20
    queue_cap: int = 100

    def describe(self) -> str:
        return (
            f"at most {self.max_active_per_user} queued or running per person, "
            f"{self.max_per_hour} per hour per person, {self.queue_cap} waiting in all"
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    message: str = ""
    retry_after_s: float | None = None  # None: retry when something finishes (no fixed time)


def gcra_retry_after(submissions: Iterable[float], now: float, per_hour: int) -> float:
    """Seconds until one more submission fits the hourly rate (0 when it fits now).

    ``submissions`` are the user's accepted submission times (seconds); order does not matter.
    Submissions older than two hours cannot affect the answer and may be left out.
    """
    interval = HOUR_S / per_hour
    tat = -math.inf  # theoretical arrival time
    for t in sorted(submissions):
        tat = max(tat, t) + interval
    new_tat = max(tat, now) + interval
    return max(0.0, new_tat - HOUR_S - now)


DAY_S = 24 * HOUR_S


def window_retry_after(times: Iterable[float], now: float, limit: int, window_s: float = DAY_S) -> float:
    """Seconds until one more event fits ``limit`` per rolling ``window_s`` (0 when it fits now).

    ``times`` are the accepted events (seconds); those older than the window do not count.
    """
    recent = sorted(t for t in times if t > now - window_s)
    if len(recent) < limit:
        return 0.0
    # The oldest events must leave the window until only limit - 1 remain.
    return max(0.0, recent[len(recent) - limit] + window_s - now)


def when(seconds: float) -> str:
    """A wait as people say it: ``40 s``, ``12 min``, ``3 h 20 min``."""
    seconds = math.ceil(seconds)
    if seconds < 90:
        return f"{seconds} s"
    minutes = math.ceil(seconds / 60)
    if minutes <= 90:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


_when = when


def check(
    limits: Limits,
    *,
    now: float,
    submissions: Iterable[float],
    active_for_user: int,
    queue_size: int,
    exempt: bool = False,
) -> Decision:
    """May this user submit one more job now? Never changes anything; the caller records the job."""
    if exempt:
        return Decision(True)
    if queue_size >= limits.queue_cap:
        return Decision(
            False,
            f"the queue is full ({queue_size} of {limits.queue_cap} jobs waiting); "
            "try again in a few minutes, when it has drained a little",
        )
    if active_for_user >= limits.max_active_per_user:
        return Decision(
            False,
            f"you already have {active_for_user} jobs queued or running (the limit is "
            f"{limits.max_active_per_user}); try again when one finishes, or cancel one with /animate-cancel",
        )
    wait = gcra_retry_after(submissions, now, limits.max_per_hour)
    if wait > 0:
        return Decision(
            False,
            f"you have reached {limits.max_per_hour} clips per hour; try again in {_when(wait)}",
            retry_after_s=wait,
        )
    return Decision(True)
