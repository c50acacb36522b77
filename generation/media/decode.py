"""Reading an encoded clip back into frames, to encode it again smaller."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageSequence

from generation.params import FPS_MIN, PLAY_FPS_MAX


def read_clip(path: Path) -> tuple[list[np.ndarray], int]:
    """The frames of an encoded clip and the frame rate it plays at, for re-encoding it smaller.

    The rate comes from the file, not the request: the first encode may already have lowered it.
    """
    frames: list[np.ndarray] = []
    if path.suffix == ".mp4":
        frames = list(iio.imread(path, index=None, plugin="pyav"))
        fps = float(iio.immeta(path, plugin="pyav").get("fps") or 8)
    else:
        durations: list[int] = []
        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                frames.append(np.asarray(frame.convert("RGB")))
                durations.append(frame.info.get("duration") or 125)
        fps = 1000 * len(durations) / max(1, sum(durations))
    return [frame[..., :3] for frame in frames], min(PLAY_FPS_MAX, max(FPS_MIN, round(fps)))
