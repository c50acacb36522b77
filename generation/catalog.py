"""What the bot knows how to load: base models, Lightning step checkpoints, motion LoRAs.

Everything here is plain data; nothing imports torch or diffusers, so the command parser
and the chat adapters can use the catalog without paying for the model libraries.
"""

from __future__ import annotations

from dataclasses import dataclass

LIGHTNING_REPO = "ByteDance/AnimateDiff-Lightning"


@dataclass(frozen=True)
class StepCheckpoint:
    """One distilled AnimateDiff-Lightning checkpoint (a MotionAdapter in diffusers format)."""

    steps: int
    filename: str
    note: str = ""

    @property
    def repo_id(self) -> str:
        return LIGHTNING_REPO


def _checkpoint(steps: int, note: str = "") -> StepCheckpoint:
    return StepCheckpoint(steps, f"animatediff_lightning_{steps}step_diffusers.safetensors", note)


STEP_CHECKPOINTS: dict[int, StepCheckpoint] = {
    1: _checkpoint(1, "research only (the model card's words): lowest quality"),
    2: _checkpoint(2, "fast"),
    4: _checkpoint(4, "recommended"),
    8: _checkpoint(8, "best quality"),
}
ALLOWED_STEPS: tuple[int, ...] = tuple(STEP_CHECKPOINTS)


@dataclass(frozen=True)
class BaseModel:
    """A Stable Diffusion 1.5 base model in diffusers format on the Hugging Face Hub."""

    alias: str
    repo_id: str
    title: str
    style: str
    aliases: tuple[str, ...] = ()


BASE_MODELS: tuple[BaseModel, ...] = (
    BaseModel("epicrealism", "emilianJR/epiCRealism", "epiCRealism", "realistic", ("epic",)),
    BaseModel("dreamshaper", "Lykon/DreamShaper", "DreamShaper", "versatile / illustrative", ("dream",)),
    BaseModel(
        "realisticvision",
        "SG161222/Realistic_Vision_V5.1_noVAE",
        "Realistic Vision 5.1",
        "photographic",
        ("rv", "realistic-vision"),
    ),
    BaseModel(
        "sd15",
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "Stable Diffusion 1.5",
        "general (the original)",
        ("sd1.5", "stable-diffusion-1.5"),
    ),
)
DEFAULT_BASE_MODEL = "epicrealism"


@dataclass(frozen=True)
class MotionLora:
    """A MotionLoRA camera movement (guoyww/animatediff-motion-lora-*)."""

    name: str
    repo_suffix: str
    description: str
    aliases: tuple[str, ...] = ()

    @property
    def repo_id(self) -> str:
        return f"guoyww/animatediff-motion-lora-{self.repo_suffix}"

    @property
    def adapter_name(self) -> str:
        # peft adapter names become attribute names: no dashes.
        return "motion_" + self.name.replace("-", "_")


MOTIONS: tuple[MotionLora, ...] = (
    MotionLora("zoom-in", "zoom-in", "camera moves towards the subject", ("zoomin",)),
    MotionLora("zoom-out", "zoom-out", "camera moves away from the subject", ("zoomout",)),
    MotionLora("pan-left", "pan-left", "camera pans to the left", ("panleft",)),
    MotionLora("pan-right", "pan-right", "camera pans to the right", ("panright",)),
    MotionLora("tilt-up", "tilt-up", "camera tilts upwards", ("tiltup",)),
    MotionLora("tilt-down", "tilt-down", "camera tilts downwards", ("tiltdown",)),
    MotionLora("roll-cw", "rolling-clockwise", "camera rolls clockwise", ("rolling-clockwise", "rollcw")),
    MotionLora("roll-ccw", "rolling-anticlockwise", "camera rolls anticlockwise", ("rolling-anticlockwise", "rollccw")),
)
MOTION_NAMES: tuple[str, ...] = tuple(m.name for m in MOTIONS)


def _index(items, key):  # type: ignore[no-untyped-def]
    table = {}
    for item in items:
        for name in (key(item), *item.aliases):
            table[name.lower()] = item
    return table


_BASE_BY_NAME: dict[str, BaseModel] = _index(BASE_MODELS, lambda m: m.alias)
_BASE_BY_NAME.update({m.repo_id.lower(): m for m in BASE_MODELS})
_MOTION_BY_NAME: dict[str, MotionLora] = _index(MOTIONS, lambda m: m.name)


def find_base_model(name: str) -> BaseModel | None:
    """The catalog entry for an alias, extra alias or repo id (case-insensitive), else None."""
    return _BASE_BY_NAME.get(name.strip().lower())


def find_motion(name: str) -> MotionLora | None:
    """The motion LoRA for a short name or alias (case-insensitive), else None."""
    return _MOTION_BY_NAME.get(name.strip().lower())


def step_checkpoint(steps: int) -> StepCheckpoint:
    """The Lightning checkpoint for 1, 2, 4 or 8 steps; KeyError names the allowed values."""
    try:
        return STEP_CHECKPOINTS[steps]
    except KeyError:
        raise KeyError(f"no Lightning checkpoint for {steps} steps; allowed: 1, 2, 4, 8") from None
