"""The parameters of one clip, shared by the command parser, the queue and the engine.

Kept apart from pipeline.py so that parsing and queueing never import torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

FRAMES_MIN, FRAMES_MAX = 8, 64
# AnimateDiff's motion modules see at most 32 frames at once; longer clips are made with FreeNoise:
# overlapping windows of FREENOISE_CONTEXT frames, FREENOISE_STRIDE apart, averaged.
FREENOISE_ABOVE = 32
UNIT_FRAMES = 16  # a clip of up to this many frames counts once against the limits (clip_units)
FREENOISE_CONTEXT, FREENOISE_STRIDE = 16, 4
STRENGTH_MIN, STRENGTH_MAX, DEFAULT_STRENGTH = 0.1, 1.0, 0.6
LOOPS: tuple[str, ...] = ("none", "pingpong")
SCENE_SEPARATOR = "|"
MAX_SCENES = 8
FPS_MIN, FPS_MAX = 1, 30
PLAY_FPS_MAX = 50  # a smoothed clip's rate: GIF's shortest delay that players honour is 2 cs
GUIDANCE_MIN, GUIDANCE_MAX = 0.0, 20.0
SEED_MAX = 2**32 - 1
MAX_MOTIONS = 2
DEFAULT_MOTION_STRENGTH = 0.75
FORMATS: tuple[str, ...] = ("gif", "mp4", "webp")
# Takes of one prompt made in one batched pass (seeds seed..seed+n-1), and how far Vary moves from a take:
# the share of a new seed's noise slerped into the parent's starting noise (docs/PERFORMANCE.md, "Vary").
VARIANTS: tuple[int, ...] = (1, 2, 4)
VARY_BLENDS: dict[str, float] = {"subtle": 0.15, "strong": 0.5}
# After the clip (issue 22): learned in-betweens multiplying the frame rate, and a hi-res refining pass.
SMOOTH_FACTORS: tuple[int, ...] = (1, 2, 4)
UPSCALE_FACTORS: tuple[float, ...] = (1.0, 1.5, 2.0)
# The hi-res pass keeps this last share of the Lightning steps (4 steps: the last 2): enough to redraw the
# detail the resize could not, too little to change what is in the frame.
UPSCALE_STRENGTH = 0.5
# Extend: the last EXTEND_OVERLAP frames seed the continuation and are cross-faded into it; a clip line is
# extended at most EXTEND_TIMES times and to at most SOURCE_FRAMES_MAX frames.
EXTEND_OVERLAP, EXTEND_STRENGTH, EXTEND_TIMES = 4, 0.75, 4
SOURCE_FRAMES_MAX = 128
ACTIONS: tuple[str, ...] = ("smooth", "upscale", "extend")

# About 512x512 pixels each, both sides multiples of 8 (the VAE downsamples by 8).
ASPECTS: dict[str, tuple[int, int]] = {
    "1:1": (512, 512),
    "16:9": (680, 384),
    "9:16": (384, 680),
    "4:3": (576, 432),
    "3:4": (432, 576),
}


@dataclass(frozen=True)
class MotionSpec:
    """One motion LoRA by catalog name with its strength (0..1)."""

    name: str
    strength: float = DEFAULT_MOTION_STRENGTH

    def __str__(self) -> str:
        return f"{self.name}@{self.strength:g}"


@dataclass(frozen=True)
class GenerationParams:
    """Everything that decides a clip. ``seed=None`` means "pick one"; ``model=None`` the active model."""

    prompt: str
    negative_prompt: str = ""
    motions: tuple[MotionSpec, ...] = ()
    steps: int = 4
    frames: int = 16
    seed: int | None = None
    guidance: float = 1.0
    model: str | None = None
    aspect: str = "1:1"
    fps: int = 8
    format: str = "gif"
    loop: str = "none"
    # Image to video: the still's stored path (set by the service or the CLI, never by chat text),
    # and how far the clip may move away from it (0.1 stays close, 1 nearly ignores it).
    image: str | None = None
    strength: float = DEFAULT_STRENGTH
    # Takes made in one batched pass: variant i (from 0) has seed ``variant_seed(seed, i)``.
    variants: int = 1
    # Vary: the starting noise is ``seed``'s slerped towards ``vary_seed``'s by ``vary_blend`` (0 keeps the parent's).
    vary_seed: int | None = None
    vary_blend: float = 0.0
    # After the clip: in-betweens per frame (``smooth:2`` makes 16 frames at 8 fps 31 at 16 fps) and the
    # hi-res pass's scale (``upscale:2`` makes 512 px 1024 px).
    smooth: int = 1
    upscale: float = 1.0
    # A job on an earlier clip (the Smooth, Upscale and Extend buttons): ``action`` says which; ``source`` is
    # that clip's file on the bot's host (set by the service, never by chat text); ``extend`` the frames the
    # Extend adds. Such a job starts from the clip's frames instead of generating; ``smooth`` and the hi-res
    # pass then apply to them, and ``upscale`` stays the clip's scale over its aspect size.
    action: str | None = None
    source: str | None = None
    extend: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return ASPECTS[self.aspect]

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the finished frames: the hi-res pass's, multiples of 8 like every size."""
        return upscaled_size(self.size, self.upscale)

    @property
    def output_fps(self) -> int:
        """Frames per second the file plays at: smoothing multiplies the rate with the frames."""
        return self.fps * self.smooth

    @property
    def motion_text(self) -> str:
        return "+".join(str(m) for m in self.motions) or "none"

    @property
    def scenes(self) -> tuple[str, ...]:
        """The prompt's scenes for prompt travel (``a calm sea | a storm``); one scene without ``|``."""
        return tuple(part.strip() for part in self.prompt.split(SCENE_SEPARATOR))

    @property
    def free_noise(self) -> bool:
        """Whether the clip is long enough to need FreeNoise's sliding windows."""
        return self.frames > FREENOISE_ABOVE

    @property
    def output_frames(self) -> int:
        """Frames in the file: smoothed, then a ping-pong loop plays forward then back without repeating the
        turns."""
        return loop_length(smoothed_length(self.frames, self.smooth), self.loop)

    @property
    def denoise_frames(self) -> int:
        """Frames the UNet's motion modules process per step: FreeNoise windows overlap, so more than ``frames``."""
        return denoise_frames(self.frames)

    def with_changes(self, **changes: Any) -> GenerationParams:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_dict`` reads it back."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}  # every other field is a plain value
        data["motions"] = [[m.name, m.strength] for m in self.motions]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationParams:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["motions"] = tuple(MotionSpec(str(n), float(s)) for n, s in known.get("motions", ()))
        return cls(**known)


def loop_length(frames: int, loop: str) -> int:
    """Frames after looping: ``pingpong`` turns n frames into 2n - 2 (48 -> 94); ``none`` keeps n."""
    return 2 * frames - 2 if loop == "pingpong" and frames > 2 else frames


def smoothed_length(frames: int, factor: int) -> int:
    """Frames after putting ``factor - 1`` in-betweens between each pair: 16 -> 31 (x2), 61 (x4)."""
    return (frames - 1) * factor + 1 if frames > 1 else frames


def upscaled_size(size: tuple[int, int], factor: float) -> tuple[int, int]:
    """``size`` times ``factor``, each side rounded to a multiple of 8 (the VAE's)."""
    return (round(size[0] * factor / 8) * 8, round(size[1] * factor / 8) * 8)


def denoise_frames(frames: int) -> int:
    """Frame evaluations per denoising step (FreeNoise: every window of 16, 4 apart, counts whole)."""
    if frames <= FREENOISE_ABOVE:
        return frames
    windows = math.ceil((frames - FREENOISE_CONTEXT) / FREENOISE_STRIDE) + 1
    return windows * FREENOISE_CONTEXT


def clip_units(frames: int, variants: int = 1) -> int:
    """How many clips a job counts as for the hourly limit and the daily quotas: one per 16 frames started,
    times its variants (a set of four counts four times).

    8-16 frames count 1, 17-32 count 2, 33-48 count 3, 49-64 count 4. A ping-pong loop adds no count: it
    replays the frames made, at no GPU cost.
    """
    # A picked take (variants 0) made nothing new: it counts nothing.
    return max(1, math.ceil(frames / UNIT_FRAMES)) * max(0, variants)


def variant_seed(seed: int, index: int) -> int:
    """The seed of variant ``index`` (from 0) of a set made from ``seed``: seed, seed+1, ... (wrapping past SEED_MAX)."""
    return (seed + index) % (SEED_MAX + 1)


def scene_starts(frames: int, scenes: int) -> list[int]:
    """The first frame of each of ``scenes`` scenes spread evenly over ``frames`` (the first is 0)."""
    return [(i * frames) // scenes for i in range(scenes)]


DEFAULTS = GenerationParams(prompt="")
