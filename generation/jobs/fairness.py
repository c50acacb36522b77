"""The fairness order: round-robin across users with waiting jobs, FIFO within one user.

Two implementations of one rule. ``fair_order`` derives the order from rows (what a restart
sees); ``FairOrder`` keeps it in memory as jobs come and go, so placing one job never walks the
queue. A test drives both through random sequences and checks they agree.

The rule: each user with waiting jobs has a key (when they were last served: never first, then
longest ago; ties by their oldest waiting job id). Jobs run in rounds: round ``L`` takes the
``L``-th waiting job of every user who has that many, users in key order. So a job that is its
user's ``k``-th (0-based) has ``sum(min(n_v, k))`` jobs of earlier rounds before it, plus one for
every user ahead in key order with more than ``k`` jobs.

``FairOrder`` keeps the users sorted by key in blocks of at most ``2 * block`` users, with, per
block and round, how many users take part and the sum of their jobs' weights (steps x frames, for
the ETA). Placing a job costs O(users / block + block + k), not O(queue).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

NEVER_SERVED = (0, 0.0)  # sorts before (1, start time): a user never served goes first

Served = tuple[int, float]
_Key = tuple[Served, int, str]  # (last served, oldest waiting job id, user)


class _Queued(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def user_key(self) -> str: ...


_J = TypeVar("_J", bound=_Queued)


def served_key(started_timestamp: float | None) -> Served:
    """The fairness key of a user whose job last started at ``started_timestamp`` (None: never)."""
    return NEVER_SERVED if started_timestamp is None else (1, started_timestamp)


def fair_order(queued: Sequence[_J], served: Mapping[str, Served]) -> list[_J]:
    """``queued`` (oldest first) in the order they will run, from the rows alone.

    ``served``: each user's ``served_key``; a user missing from it was never served.
    """
    per_user: dict[str, deque[_J]] = {}
    for job in queued:
        per_user.setdefault(job.user_key, deque()).append(job)
    # Sort key per user: never served (0, ...), served before (1, start time), served in this
    # simulation (2, turn): whoever was served longest ago goes next; ties by oldest job.
    heap = [(served.get(user, NEVER_SERVED), jobs[0].id, user) for user, jobs in per_user.items()]
    heapq.heapify(heap)
    order: list[_J] = []
    while heap:
        _, _, user = heapq.heappop(heap)
        jobs = per_user[user]
        order.append(jobs.popleft())
        if jobs:
            heapq.heappush(heap, ((2, float(len(order))), jobs[0].id, user))
    return order


@dataclass
class _Line:
    """One user's waiting jobs, oldest first, with their weights."""

    served: Served
    ids: list[int] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)

    def key(self, user: str) -> _Key:
        return (self.served, self.ids[0], user)


@dataclass
class _Block:
    keys: list[_Key] = field(default_factory=list)
    count: list[int] = field(default_factory=list)  # per round: users with a job in it
    weight: list[int] = field(default_factory=list)  # per round: the sum of those jobs' weights


class FairOrder:
    """The waiting jobs in fairness order, kept up to date by ``add``/``remove``/``serve``.

    Not thread-safe: the queue holds its lock around every call.
    """

    def __init__(self, block: int = 32) -> None:
        self._block = block
        self._lines: dict[str, _Line] = {}
        self._user_of: dict[int, str] = {}
        self._served: dict[str, Served] = {}  # users known to this process, with or without waiting jobs
        self._blocks: list[_Block] = []
        self._maxes: list[_Key] = []
        self._count: list[int] = []  # per round, over all users
        self._weight: list[int] = []

    # --- what the queue asks -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._user_of)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._user_of

    def user_of(self, job_id: int) -> str | None:
        return self._user_of.get(job_id)

    def knows(self, user: str) -> bool:
        """Whether this order knows when ``user`` was last served (else the caller must tell it)."""
        return user in self._served

    def waiting(self, user: str) -> int:
        line = self._lines.get(user)
        return len(line.ids) if line else 0

    def first(self) -> int | None:
        """The job that runs next, or None when nothing waits."""
        if not self._blocks:
            return None
        user = self._blocks[0].keys[0][2]
        return self._lines[user].ids[0]

    def place(self, job_id: int) -> tuple[int, int] | None:
        """(1-based position, sum of the weights up to and including this job), or None if not waiting."""
        user = self._user_of.get(job_id)
        if user is None:
            return None
        line = self._lines[user]
        k = line.ids.index(job_id)
        position = sum(self._count[:k]) + 1
        weight = sum(self._weight[:k]) + line.weights[k]
        key = line.key(user)
        b = self._find(key)
        for block in self._blocks[:b]:
            if len(block.count) > k:
                position += block.count[k]
                weight += block.weight[k]
        keys = self._blocks[b].keys
        for i in range(bisect_left(keys, key)):
            ahead = self._lines[keys[i][2]]
            if len(ahead.ids) > k:
                position += 1
                weight += ahead.weights[k]
        return position, weight

    def order(self) -> list[int]:
        """Every waiting job id in the order they will run."""
        lines = [self._lines[key[2]] for block in self._blocks for key in block.keys]
        out: list[int] = []
        for k in range(len(self._count)):
            out.extend(line.ids[k] for line in lines if len(line.ids) > k)
        return out

    # --- changes ------------------------------------------------------------------------------------------
    def learn(self, user: str, served: Served) -> None:
        """Tell the order when ``user`` was last served (from the rows), before their first ``add``."""
        if user in self._lines:
            self.serve(user, served)
        else:
            self._served[user] = served

    def add(self, job_id: int, user: str, weight: int) -> None:
        """A job starts waiting (new, or put back in line). Ask ``knows(user)`` first."""
        line = self._lines.get(user)
        self._user_of[job_id] = user
        if line is None:
            line = _Line(self._served.get(user, NEVER_SERVED), [job_id], [weight])
            self._lines[user] = line
            self._attach(user, line)
            return
        if job_id > line.ids[-1]:  # the usual case: the user's newest job goes last
            line.ids.append(job_id)
            line.weights.append(weight)
            self._level(self._blocks[self._find(line.key(user))], len(line.ids) - 1, 1, weight)
            return
        self._detach(user, line)
        i = bisect_left(line.ids, job_id)
        line.ids.insert(i, job_id)
        line.weights.insert(i, weight)
        self._attach(user, line)

    def remove(self, job_id: int) -> bool:
        """A waiting job leaves (claimed, cancelled); False when it was not waiting."""
        user = self._user_of.pop(job_id, None)
        if user is None:
            return False
        line = self._lines[user]
        self._detach(user, line)
        i = line.ids.index(job_id)
        del line.ids[i]
        del line.weights[i]
        if line.ids:
            self._attach(user, line)
        else:
            del self._lines[user]
        return True

    def take_first(self, served: Served) -> int | None:
        """The job that runs next leaves the order and its user is served at ``served`` (``remove`` and
        ``serve`` in one move of the user's line); None when nothing waits."""
        if not self._blocks:
            return None
        user = self._blocks[0].keys[0][2]
        line = self._lines[user]
        self._detach(user, line)
        job_id = line.ids.pop(0)
        line.weights.pop(0)
        del self._user_of[job_id]
        line.served = self._served[user] = max(served, self._served.get(user, NEVER_SERVED))
        if line.ids:
            self._attach(user, line)
        else:
            del self._lines[user]
        return job_id

    def serve(self, user: str, served: Served) -> None:
        """``user`` was served at ``served`` (a job of theirs started); keys only ever move forward."""
        served = max(served, self._served.get(user, NEVER_SERVED))
        self._served[user] = served
        line = self._lines.get(user)
        if line is not None and line.served != served:
            self._detach(user, line)
            line.served = served
            self._attach(user, line)

    # --- the blocks -----------------------------------------------------------------------------------------
    def _find(self, key: _Key) -> int:
        return min(bisect_left(self._maxes, key), len(self._maxes) - 1)

    def _level(self, block: _Block, k: int, count: int, weight: int) -> None:
        for totals, value in (
            (block.count, count),
            (block.weight, weight),
            (self._count, count),
            (self._weight, weight),
        ):
            while len(totals) <= k:
                totals.append(0)
            totals[k] += value

    def _apply(self, block: _Block, weights: list[int], sign: int) -> None:
        """Add (sign 1) or take away (-1) a line's jobs, one per round, to the block's and the order's totals."""
        n = len(weights)
        for totals in (block.count, block.weight, self._count, self._weight):
            if len(totals) < n:
                totals.extend([0] * (n - len(totals)))
        bc, bw, oc, ow = block.count, block.weight, self._count, self._weight
        for k, weight in enumerate(weights):
            bc[k] += sign
            oc[k] += sign
            bw[k] += sign * weight
            ow[k] += sign * weight

    def _attach(self, user: str, line: _Line) -> None:
        key = line.key(user)
        if not self._blocks:
            self._blocks.append(_Block())
            self._maxes.append(key)
        b = self._find(key)
        block = self._blocks[b]
        insort(block.keys, key)
        self._maxes[b] = block.keys[-1]
        self._apply(block, line.weights, 1)
        if len(block.keys) > 2 * self._block:
            self._split(b)

    def _detach(self, user: str, line: _Line) -> None:
        key = line.key(user)
        b = self._find(key)
        block = self._blocks[b]
        del block.keys[bisect_left(block.keys, key)]
        self._apply(block, line.weights, -1)
        if block.keys:
            self._maxes[b] = block.keys[-1]
        else:
            del self._blocks[b]
            del self._maxes[b]
        while self._count and self._count[-1] == 0:
            self._count.pop()
            self._weight.pop()

    def _split(self, b: int) -> None:
        old = self._blocks[b]
        halves = (old.keys[: self._block], old.keys[self._block :])
        blocks = []
        for keys in halves:
            block = _Block(keys)
            for key in keys:
                for k, weight in enumerate(self._lines[key[2]].weights):
                    for totals, value in ((block.count, 1), (block.weight, weight)):
                        while len(totals) <= k:
                            totals.append(0)
                        totals[k] += value
            blocks.append(block)
        self._blocks[b : b + 1] = blocks
        self._maxes[b : b + 1] = [block.keys[-1] for block in blocks]
