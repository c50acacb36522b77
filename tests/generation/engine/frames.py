"""Looking at what an engine made: its frames as one array, and whether two results are identical."""

from __future__ import annotations

from typing import Any

import numpy as np


def pixels(result: Any) -> np.ndarray:
    return np.stack([np.asarray(frame) for frame in result.frames])


def same(a: Any, b: Any) -> bool:
    return bool(np.array_equal(pixels(a), pixels(b)))
