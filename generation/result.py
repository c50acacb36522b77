"""What an engine hands back: the frames of one clip and everything needed to reproduce it.

Plain data (PIL frames, numbers, names; no torch): the engine makes it, the job back ends and the one
finishing path read it, and a Ray actor can send it to the bot.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from generation.params import MotionSpec, variant_seed


@dataclass(frozen=True)
class Timings:
    """Seconds spent loading (this call only), denoising and decoding."""

    load_s: float
    denoise_s: float
    decode_s: float

    @property
    def total(self) -> float:
        return self.load_s + self.denoise_s + self.decode_s


@dataclass(frozen=True)
class GenerationResult:
    """One finished clip and everything needed to reproduce it."""

    frames: list[Image.Image]
    seed: int
    model: str
    steps: int
    motions: tuple[MotionSpec, ...]
    width: int
    height: int
    fps: int
    timings: Timings
    tiny: bool
    notes: tuple[str, ...] = ()
    # A set made in one batched pass: how many takes, and the frames of every take after the first (``frames``).
    variants: int = 1
    more: tuple[list[Image.Image], ...] = ()

    @property
    def seeds(self) -> tuple[int, ...]:
        """Each take's seed: seed, seed+1, ..."""
        return tuple(variant_seed(self.seed, i) for i in range(self.variants))

    @property
    def clips(self) -> tuple[list[Image.Image], ...]:
        """Each take's frames, the first one's first (empty where the frames were not sent back)."""
        return (self.frames, *self.more)
