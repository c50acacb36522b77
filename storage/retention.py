"""Retention: clips and input stills older than a cutoff are removed from disk; their rows stay, marked expired.

A row keeps the recipe (prompt, parameters, seed), so history still lists the clip and a reroll still works; only
the files go. A still is removed only when no job newer than the cutoff animates it too (a reroll shares its
parent's still). Only files inside the media folder are removed: a row never makes this delete anything else.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Table, or_, select, update

from storage.db import Database
from storage.models import Job, JobStatus, utcnow

log = logging.getLogger("animatebot.storage")

_JOBS: Table = Job.__table__  # type: ignore[assignment]
_ENDED = [status.value for status in JobStatus if status.terminal]
_BATCH = 500  # rows marked per statement


@dataclass(frozen=True)
class Pruned:
    """What one prune removed."""

    jobs: int = 0  # rows marked expired
    files: int = 0  # clips and stills removed from disk
    bytes: int = 0

    def line(self) -> str:
        return f"{self.jobs} clip{'s' if self.jobs != 1 else ''} expired, {self.files} files ({self.bytes / 1e6:.1f} MB) removed"


def prune(db: Database, before: datetime, media_dir: Path, *, now: Callable[[], datetime] = utcnow) -> Pruned:
    """Remove the clips and stills of jobs that ended and were made before ``before``, and mark those rows expired.

    Synchronous (disk and database): call it from a thread, never on an event loop. Files that are already gone
    count as removed; a file that cannot be removed leaves its row unmarked (tried again next time).
    """
    with db.reading() as connection:
        old = connection.execute(
            select(_JOBS.c.id, _JOBS.c.output_path, _JOBS.c.input_image).where(
                _JOBS.c.created_at < before, _JOBS.c.status.in_(_ENDED), _JOBS.c.expired_at.is_(None)
            )
        ).all()
        stills = {row.input_image for row in old if row.input_image}
        shared = (
            set(
                connection.scalars(
                    select(_JOBS.c.input_image).where(
                        _JOBS.c.input_image.in_(stills),
                        or_(_JOBS.c.created_at >= before, _JOBS.c.status.not_in(_ENDED)),
                    )
                )
            )
            if stills
            else set()
        )
    root = os.path.realpath(media_dir)
    expired: list[int] = []
    files = size = 0
    removed: set[str] = set()
    for row in old:
        paths = [row.output_path] + ([row.input_image] if row.input_image not in shared else [])
        ok = True
        for path in paths:
            if not path or path in removed:
                continue
            freed = _remove(path, root)
            if freed is None:
                ok = False
                continue
            removed.add(path)
            files, size = files + (freed > 0), size + max(freed, 0)
        if ok:
            expired.append(row.id)
    at = now()
    for start in range(0, len(expired), _BATCH):
        with db.connection() as connection:
            batch = expired[start : start + _BATCH]
            connection.execute(update(_JOBS).where(_JOBS.c.id.in_(batch)).values(expired_at=at))
    return Pruned(len(expired), files, size)


def _remove(path: str, root: str) -> int | None:
    """Remove ``path`` if it lies inside ``root``: its size (0: it was gone already, or lies outside), or None when it
    could not be removed."""
    real = os.path.realpath(path)
    if os.path.commonpath([real, root]) != root:
        log.warning("not removing %s: it is outside the media folder %s", path, root)
        return 0
    try:
        size = os.stat(real).st_size
        os.unlink(real)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)
        return None
    return size
