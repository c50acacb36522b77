"""Re-encoding a stored clip smaller keeps its frames and the rate it actually plays at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.delivery import read_clip
from generation.encode import encode_clip


@pytest.mark.parametrize("fmt", ["gif", "webp", "mp4"])
def test_read_clip_gives_frames_and_the_played_rate(fmt: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(12)]
    clip = encode_clip(frames, format=fmt, fps=6)
    path = tmp_path / f"clip{clip.extension}"
    path.write_bytes(clip.data)
    decoded, fps = read_clip(path)
    assert len(decoded) == 12 and decoded[0].shape == (64, 96, 3)
    assert fps == 6  # not the request's default 8: a clip slowed by the budget ladder stays slowed
