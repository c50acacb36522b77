"""A clip's poster frame: its first frame as a small JPEG, for grids that play the clip only on demand."""

from __future__ import annotations

import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image

POSTER_MAX_SIDE = 512


def write_poster(clip: Path, poster: Path, max_side: int = POSTER_MAX_SIDE) -> Path:
    """Write the first frame of ``clip`` (GIF, WebP or MP4) to ``poster`` as a JPEG, atomically; returns ``poster``.

    Raises OSError (or the decoder's error) when the clip cannot be read.
    """
    if clip.suffix == ".mp4":
        frame = np.asarray(iio.imread(clip, index=0, plugin="pyav"))
        image = Image.fromarray(frame)
    else:
        with Image.open(clip) as opened:
            opened.seek(0)
            image = opened.convert("RGB")
    image.thumbnail((max_side, max_side))
    poster.parent.mkdir(parents=True, exist_ok=True)
    partial = poster.with_name(f".{poster.name}.{os.getpid()}.part")
    image.convert("RGB").save(partial, "JPEG", quality=85)
    partial.replace(poster)
    return poster
