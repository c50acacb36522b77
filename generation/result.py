"""What an engine hands back: the frames of one clip and everything needed to reproduce it.

Plain data (PIL frames, numbers, names; no torch): the engine makes it, the job back ends and the one
finishing path read it, and a Ray actor can send it to the bot.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from generation.params import MotionSpec


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
