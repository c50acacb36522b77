"""Variants in one batched pass and Vary's blended noise, on the tiny pipeline (real diffusers classes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from generation.engine import Engine
from generation.errors import GenerationError
from generation.params import VARY_BLENDS, GenerationParams

BASE = GenerationParams(prompt="a kite in the wind", steps=2, frames=8, seed=41)


class CountingEngine(Engine):
    """The tiny engine, with every denoising call it makes recorded (batch size of its starting noise)."""

    def __init__(self) -> None:
        super().__init__(pipeline="tiny")
        self.calls: list[dict[str, Any]] = []

    def _denoise(self, pipe: Any, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return super()._denoise(pipe, **kwargs)


@pytest.fixture(scope="module")
def engine():
    eng = CountingEngine()
    eng.load()
    yield eng
    eng.close()


def pixels(frames: list[Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(f) for f in frames])


def test_four_variants_are_one_pipeline_call_with_a_batch_of_four_and_four_seeds(engine: CountingEngine) -> None:
    engine.calls.clear()
    steps: list[tuple[int, int]] = []
    result = engine.generate(BASE.with_changes(variants=4), progress=lambda i, n: steps.append((i, n)))
    assert len(engine.calls) == 1
    (call,) = engine.calls
    assert call["latents"].shape[0] == 4 and call["prompt"] == ["a kite in the wind"] * 4
    assert [g.initial_seed() for g in call["generator"]] == [41, 42, 43, 44]
    assert steps == [(1, 2), (2, 2)]  # one progress bar for the set, not one per take
    assert result.seeds == (41, 42, 43, 44)
    assert len(result.clips) == 4 and all(len(c) == 8 for c in result.clips)
    takes = [pixels(c) for c in result.clips]
    assert not any(np.array_equal(takes[0], t) for t in takes[1:])

    # Take 3 of the set starts from exactly the noise of seed 43 alone, and comes out as that clip.
    alone = engine.generate(BASE.with_changes(seed=43))
    assert torch.equal(call["latents"][2:3], engine.start_latents(BASE.with_changes(seed=43)))
    assert np.abs(takes[2].astype(int) - pixels(alone.frames).astype(int)).max() <= 2


def test_variants_of_an_image_are_one_batched_call(engine: CountingEngine, tmp_path) -> None:
    engine.calls.clear()
    still = tmp_path / "still.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(still)
    image = engine.generate(BASE.with_changes(image=str(still), variants=2, steps=1, strength=1.0))
    assert len(image.clips) == 2 and not np.array_equal(pixels(image.clips[0]), pixels(image.clips[1]))
    assert len(engine.calls) == 1
    assert len(engine.calls[0]["video"]) == 2 and len(engine.calls[0]["generator"]) == 2


def distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def test_subtle_moves_the_starting_noise_less_than_strong(engine: CountingEngine) -> None:
    parent = engine.start_latents(BASE)
    subtle = engine.start_latents(BASE.with_changes(vary_seed=900, vary_blend=VARY_BLENDS["subtle"]))
    strong = engine.start_latents(BASE.with_changes(vary_seed=900, vary_blend=VARY_BLENDS["strong"]))
    again = engine.start_latents(BASE.with_changes(vary_seed=900, vary_blend=VARY_BLENDS["subtle"]))
    assert torch.equal(subtle, again)  # deterministic with fixed seeds
    assert 0 < distance(subtle, parent) < distance(strong, parent)
    # The blend stays noise of the right size (slerp, not a straight line that would shrink it).
    assert abs(float(strong.norm() / parent.norm()) - 1) < 0.05

    engine.calls.clear()
    varied = engine.generate(BASE.with_changes(vary_seed=900, vary_blend=VARY_BLENDS["subtle"]))
    assert torch.equal(engine.calls[0]["latents"], subtle)
    assert varied.seed == 41 and any("towards seed 900" in n for n in varied.notes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"variants": 3}, "variants must be one of 1, 2, 4, got 3"),
        ({"vary_seed": 5, "vary_blend": 1.5}, "the vary blend must be between 0 and 1"),
        ({"vary_seed": 5, "variants": 2}, "a varied clip is one take"),
        ({"vary_seed": 5, "image": "x.png"}, "vary works on text clips"),
        ({"variants": 2, "prompt": "a calm sea | a storm"}, "variants take clips of up to 32 frames of one scene"),
        ({"variants": 2, "frames": 36}, "got 36 frames, 1 scene"),
    ],
)
def test_bad_variants_or_vary_are_refused_before_any_work(engine: CountingEngine, changes, message) -> None:
    engine.calls.clear()
    with pytest.raises(GenerationError, match=message):
        engine.generate(BASE.with_changes(**changes))
    assert engine.calls == []
