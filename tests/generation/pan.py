"""A known camera pan over a smooth random texture: the truth every interpolator is measured against."""

from __future__ import annotations

import numpy as np
from PIL import Image


def texture(size: int = 320, seed: int = 0) -> Image.Image:
    """A photo-like texture: coarse random colour blobs plus finer detail (edges for motion search to find)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
    fine = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
    return Image.blend(coarse, fine, 0.35)


def pan(count: int, size: int = 128, step: int = 6, seed: int = 0) -> list[Image.Image]:
    """``count`` frames of ``size`` px, the camera moving ``step`` px right per frame."""
    image = texture(size + step * count + 8, seed)
    return [image.crop((i * step, 4, i * step + size, 4 + size)) for i in range(count)]


def mse(a: Image.Image, b: Image.Image) -> float:
    return float(((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2).mean())
