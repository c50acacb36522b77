"""The parameters of one clip, shared by the command parser, the queue and the engine.

Kept apart from pipeline.py so that parsing and queueing never import torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

FRAMES_MIN, FRAMES_MAX = 8, 32
FPS_MIN, FPS_MAX = 1, 30
GUIDANCE_MIN, GUIDANCE_MAX = 0.0, 20.0
SEED_MAX = 2**32 - 1
MAX_MOTIONS = 2
DEFAULT_MOTION_STRENGTH = 0.75
FORMATS: tuple[str, ...] = ("gif", "mp4", "webp")

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
    def motion_text(self) -> str:
        return "+".join(str(m) for m in self.motions) or "none"

    def with_changes(self, **changes: Any) -> GenerationParams:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_dict`` reads it back."""
        data = asdict(self)
        data["motions"] = [[m.name, m.strength] for m in self.motions]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationParams:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["motions"] = tuple(MotionSpec(str(n), float(s)) for n, s in known.get("motions", ()))
        return cls(**known)


DEFAULTS = GenerationParams(prompt="")
