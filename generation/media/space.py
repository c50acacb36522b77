"""Room on the media disk: new jobs are refused while it has less free than a floor, instead of failing to write."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MB = 1024 * 1024


@dataclass(frozen=True)
class DiskSpace:
    """``refusal()`` says, in one line, why no new job can be accepted while the disk holding ``media_dir`` has less
    than ``min_free_mb`` free; None while it has room, or when ``min_free_mb`` is 0 (no floor).

    ``usage`` is how free space is read (``shutil.disk_usage``'s face): tests give one they control.
    """

    media_dir: Path
    min_free_mb: int
    usage: Callable[[str], Any] = shutil.disk_usage

    def refusal(self) -> str | None:
        if self.min_free_mb <= 0:
            return None
        free = self.usage(str(_existing(self.media_dir))).free
        if free >= self.min_free_mb * MB:
            return None
        return (
            f"the bot's disk is almost full ({free // MB} MB free, {self.min_free_mb} MB needed): "
            "no new clips until space is freed; try again later"
        )


def _existing(path: Path) -> Path:
    """``path`` or its nearest folder that exists (the media folder is made with the first clip)."""
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path
