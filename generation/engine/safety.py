"""The NSFW check on finished clips: an image classifier loaded through transformers scores a few frames.

The default is ``Falconsai/nsfw_image_detection`` (a ViT fine-tuned to two classes, ``normal`` and
``nsfw``), loaded as ``ViTForImageClassification`` with its ``ViTImageProcessor``, safetensors only.
In tests and with ``ANIMATEBOT_PIPELINE=tiny`` a tiny random-weight twin of the same classes is built
in code, so every line of the check runs offline; its scores hover near 0.5, so the threshold decides
(0 flags everything, the default lets everything through).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

from generation.engine.sources import hub_unreachable

log = logging.getLogger("animatebot.safety")

DEFAULT_SAFETY_MODEL = "Falconsai/nsfw_image_detection"
DEFAULT_THRESHOLD = 0.7
FRAMES_CHECKED = 3  # first, middle and last: a clip is one scene, a few frames stand for it
LABELS = {0: "normal", 1: "nsfw"}
TINY_LABEL = "tiny random NSFW classifier"


class SafetyUnavailable(RuntimeError):
    """The classifier could not be loaded; the message says which and why."""


def pick_frames(frames: Sequence[Any], count: int = FRAMES_CHECKED) -> list[Any]:
    """Up to ``count`` frames spread over the clip (first and last included)."""
    if len(frames) <= count:
        return list(frames)
    step = (len(frames) - 1) / (count - 1)
    return [frames[round(i * step)] for i in range(count)]


class SafetyClassifier:
    """Callable on a clip's frames: ``(highest NSFW probability, flagged)``, flagged at ``threshold`` and above."""

    def __init__(
        self,
        model: ViTForImageClassification,
        processor: ViTImageProcessor,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        label: str = DEFAULT_SAFETY_MODEL,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"the safety threshold must be from 0 to 1 (got {threshold})")
        labels = {int(i): str(name).lower() for i, name in model.config.id2label.items()}
        nsfw = [i for i, name in labels.items() if "nsfw" in name or "porn" in name or "sexy" in name]
        if not nsfw:
            raise SafetyUnavailable(f"{label} has no NSFW class (its classes: {', '.join(labels.values())})")
        self.model = model.eval()
        self.processor = processor
        self.threshold = threshold
        self.label = label
        self._nsfw = nsfw

    def score(self, frames: Sequence[Any]) -> float:
        """The highest NSFW probability among a few of ``frames`` (PIL images or HxWx3 uint8 arrays)."""
        images = [f if isinstance(f, Image.Image) else Image.fromarray(f) for f in pick_frames(frames)]
        if not images:
            return 0.0
        inputs = self.processor(images=[i.convert("RGB") for i in images], return_tensors="pt")
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            logits = self.model(pixel_values=inputs["pixel_values"].to(device, self.model.dtype)).logits
        probabilities = logits.float().softmax(dim=-1)[:, self._nsfw].sum(dim=-1)
        return float(probabilities.max())

    def __call__(self, frames: Sequence[Any]) -> tuple[float | None, bool]:
        value = self.score(frames)
        return value, value >= self.threshold


def tiny_classifier(threshold: float = DEFAULT_THRESHOLD, seed: int = 0) -> SafetyClassifier:
    """The same classes and classes of objects as the real model, tiny and random (no download)."""
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ViTForImageClassification(config)
    processor = ViTImageProcessor(size={"height": 32, "width": 32})
    return SafetyClassifier(model, processor, threshold=threshold, label=TINY_LABEL)


def load_classifier(
    name: str = DEFAULT_SAFETY_MODEL,
    *,
    tiny: bool = False,
    threshold: float = DEFAULT_THRESHOLD,
    cache_dir: str | None = None,
    device: str | None = None,
) -> SafetyClassifier:
    """The classifier for ``name`` (a Hub id or a local folder), or the tiny twin; raises SafetyUnavailable."""
    if tiny:
        return tiny_classifier(threshold)
    unreachable = None if Path(name).expanduser().is_dir() else hub_unreachable()
    try:
        model = ViTForImageClassification.from_pretrained(name, cache_dir=cache_dir, use_safetensors=True)
        processor = ViTImageProcessor.from_pretrained(name, cache_dir=cache_dir)
    except Exception as exc:  # offline, unknown id, no safetensors: all mean "cannot check"
        if unreachable is not None:
            raise SafetyUnavailable(
                f"the safety classifier {name} is not in the Hugging Face cache and the Hub is unreachable"
            ) from exc
        raise SafetyUnavailable(f"could not load the safety classifier {name}: {exc}") from exc
    if device:
        model = model.to(device)
    elif torch.cuda.is_available():
        model = model.to("cuda")
    return SafetyClassifier(model, processor, threshold=threshold, label=name)
