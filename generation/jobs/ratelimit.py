"""Per-user limits as a pure function of time and counts: no I/O, no clock of its own.

Three limits, checked in this order: the global queue cap, the user's queued+running jobs,
and the user's submissions per hour (GCRA: an even rate with a burst of the whole hour's
allowance). Admins are exempt from all three. A refusal says when to try again.

The hourly rate and the daily quotas count clip length, not jobs: a job counts one per 16 frames
started (``generation.params.clip_units``), so a 64-frame clip uses the share of four 16-frame
ones. A submission is either a time (one unit) or a ``(time, units)`` pair. A job bigger than the
whole allowance is let through when nothing else is in the window, so no length is refused forever.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from generation.params import clip_units

Submission = float | tuple[float, int]  # an accepted job's time (one unit), or (time, units)

HOUR_S = 3600.0


@dataclass(frozen=True)
class Limits:
    max_active_per_user: int = 2
    max_per_hour: int = 20
    queue_cap: int = 100

    def describe(self) -> str:
        return (
            f"at most {self.max_active_per_user} queued or running per person, "
            f"{self.max_per_hour} per hour per person (a clip counts once per 16 frames), "
            f"{self.queue_cap} waiting in all"
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    message: str = ""
    retry_after_s: float | None = None  # None: retry when something finishes (no fixed time)


def by_length(jobs: Iterable[tuple[datetime, int, int]]) -> list[tuple[float, int]]:
    """Accepted jobs as stored, ``(created_at, frames, variants)``, as the limiters' ``(seconds, units)``
    submissions."""
    return [(at.timestamp(), clip_units(frames, variants)) for at, frames, variants in jobs]


def _weighted(submissions: Iterable[Submission]) -> list[tuple[float, int]]:
    return sorted(
        (item, 1) if isinstance(item, float | int) else (float(item[0]), int(item[1])) for item in submissions
    )


def _arrival(tat: float, t: float, weight: int, per_hour: int) -> float:
    """GCRA's theoretical arrival time after a submission of ``weight`` units at ``t``."""
    return max(tat, t) + HOUR_S / per_hour * min(weight, per_hour)


def _retry_after(tat: float, now: float, per_hour: int, units: int) -> float:
    return max(0.0, _arrival(tat, now, units, per_hour) - HOUR_S - now)


def gcra_retry_after(submissions: Iterable[Submission], now: float, per_hour: int, units: int = 1) -> float:
    """Seconds until a job of ``units`` fits the hourly rate (0 when it fits now).

    ``submissions`` are the user's accepted jobs, as times or ``(time, units)``; order does not matter.
    Submissions older than two hours cannot affect the answer and may be left out.
    """
    tat = -math.inf  # theoretical arrival time
    for t, weight in _weighted(submissions):
        tat = _arrival(tat, t, weight, per_hour)
    return _retry_after(tat, now, per_hour, units)


class History:
    """One user's recent submissions, in time order, with GCRA's arrival time kept as they come:
    a check folds only the submissions added since the last one (``gcra_retry_after`` walks them all).
    When old ones leave (``drop_before``) the next check folds the window again, since the arrival time
    cannot take a submission back out.

    Same answers as ``gcra_retry_after`` over the same submissions.
    """

    def __init__(self, submissions: Iterable[Submission] = ()) -> None:
        self._items: deque[tuple[float, int]] = deque(_weighted(submissions))
        self._per_hour = 0  # the rate ``_tat`` was folded for (0: nothing folded yet)
        self._folded = 0  # how many of the oldest items ``_tat`` holds
        self._tat = -math.inf

    def __iter__(self) -> Iterator[tuple[float, int]]:
        return iter(self._items)

    def add(self, t: float, units: int) -> None:
        if self._items and t < self._items[-1][0]:  # the clock went back: keep the order, fold again
            items = list(self._items)
            bisect.insort(items, (t, units))
            self._items = deque(items)
            self._per_hour = 0
        else:
            self._items.append((t, units))

    def drop_before(self, cutoff: float) -> None:
        """Forget the submissions made before ``cutoff``."""
        if self._items and self._items[0][0] < cutoff:
            while self._items and self._items[0][0] < cutoff:
                self._items.popleft()
            self._per_hour = 0

    def retry_after(self, now: float, per_hour: int, units: int = 1) -> float:
        """``gcra_retry_after`` of these submissions."""
        if per_hour != self._per_hour:
            self._per_hour, self._folded, self._tat = per_hour, 0, -math.inf
        tat, items = self._tat, self._items
        for i in range(self._folded, len(items)):
            t, weight = items[i]
            tat = _arrival(tat, t, weight, per_hour)
        self._tat, self._folded = tat, len(items)
        return _retry_after(tat, now, per_hour, units)


DAY_S = 24 * HOUR_S


def window_retry_after(
    times: Iterable[Submission], now: float, limit: int, window_s: float = DAY_S, units: int = 1
) -> float:
    """Seconds until a job of ``units`` fits ``limit`` units per rolling ``window_s`` (0 when it fits now).

    ``times`` are the accepted jobs, as times or ``(time, units)``; those older than the window do not count.
    """
    recent = [(t, w) for t, w in _weighted(times) if t > now - window_s]
    room = limit - min(units, limit)  # what the window may still hold for this job to fit
    used = sum(w for _, w in recent)
    if used <= room:
        return 0.0
    for t, w in recent:  # the oldest leave the window first
        used -= w
        if used <= room:
            return max(0.0, t + window_s - now)
    return 0.0  # not reached: used falls to 0 <= room


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
    submissions: Iterable[Submission] | History,
    active_for_user: int,
    queue_size: int,
    exempt: bool = False,
    units: int = 1,
) -> Decision:
    """May this user submit one more job of ``units`` now? Never changes anything; the caller records the job."""
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
    if isinstance(submissions, History):
        wait = submissions.retry_after(now, limits.max_per_hour, units)
    else:
        wait = gcra_retry_after(submissions, now, limits.max_per_hour, units)
    if wait > 0:
        counts = f" (this one counts as {units}: one per 16 frames)" if units > 1 else ""
        return Decision(
            False,
            f"you have reached {limits.max_per_hour} clips per hour{counts}; try again in {_when(wait)}",
            retry_after_s=wait,
        )
    return Decision(True)
