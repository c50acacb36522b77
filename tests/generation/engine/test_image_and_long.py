"""Long clips (FreeNoise), prompt travel and image to video, on the tiny pipeline (real diffusers classes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers.pipelines.free_noise_utils import SplitInferenceModule
from PIL import Image

from generation.engine import Engine
from generation.errors import GenerationError
from generation.params import GenerationParams, MotionSpec

BASE = GenerationParams(prompt="a red fox in the snow", steps=1, frames=16, seed=5)


@pytest.fixture(scope="module")
def engine():
    eng = Engine(pipeline="tiny")
    eng.load()
    yield eng
    eng.close()


def split_layers(engine: Engine) -> bool:
    return isinstance(engine.pipeline.unet.down_blocks[0].resnets[0], SplitInferenceModule)


def test_48_frames_come_out_as_48_with_free_noise_and_16_without(engine: Engine) -> None:
    short = engine.generate(BASE)
    assert len(short.frames) == 16
    assert not engine.pipeline.free_noise_enabled and not split_layers(engine)

    # A motion LoRA is loaded while FreeNoise is switched on: the blocks are swapped under it.
    long = engine.generate(BASE.with_changes(frames=48, motions=(MotionSpec("zoom-in", 0.8),)))
    assert len(long.frames) == 48
    assert all(frame.size == (512, 512) for frame in long.frames)
    pipe = engine.pipeline
    assert pipe.free_noise_enabled
    assert (pipe._free_noise_context_length, pipe._free_noise_context_stride) == (16, 4)
    assert split_layers(engine)  # spatial layers run 16 frames at a time: memory stays flat
    assert long.motions == (MotionSpec("zoom-in", 0.8),)

    again = engine.generate(BASE)
    assert not engine.pipeline.free_noise_enabled and not split_layers(engine)
    # Off again means exactly as before: same seed, same clip.
    assert np.array_equal(
        np.stack([np.asarray(f) for f in again.frames]), np.stack([np.asarray(f) for f in short.frames])
    )


def test_prompt_travel_reaches_the_pipeline_as_per_frame_prompts(engine: Engine) -> None:
    seen: list[list[str]] = []
    tokenizer = engine.pipeline.tokenizer

    def record(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = args[0] if args else kwargs["input_ids"]
        seen.append([tokenizer.decode(row, skip_special_tokens=True) for row in ids])

    handle = engine.pipeline.text_encoder.register_forward_pre_hook(record, with_kwargs=True)
    try:
        result = engine.generate(BASE.with_changes(prompt="a calm sea | a storm at sea | a rainbow", frames=24))
    finally:
        handle.remove()
    assert len(result.frames) == 24
    # One encoder batch with every scene (FreeNoise repeats the last one for the final frame).
    texts = [" ".join(t.split()) for t in seen[0]]
    assert texts[:3] == ["a calm sea", "a storm at sea", "a rainbow"]
    pipe = engine.pipeline
    assert pipe.free_noise_enabled and pipe._free_noise_context_length == 24  # one window: plain AnimateDiff


def still(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (300, 200)) -> str:
    Image.new("RGB", size, colour).save(path)
    return str(path)


def test_the_video_pipeline_shares_the_warm_pipelines_modules(engine: Engine) -> None:
    v2v, t2v = engine.video_pipeline, engine.pipeline
    for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert getattr(v2v, name) is getattr(t2v, name), name
    assert engine.video_pipeline is v2v  # built once


def test_an_image_becomes_the_clip_with_strength_motion_and_seed(engine: Engine, tmp_path: Path) -> None:
    red = still(tmp_path / "red.png", (220, 20, 20))
    blue = still(tmp_path / "blue.png", (20, 20, 220))
    params = BASE.with_changes(steps=4, frames=8, image=red, strength=0.5, motions=(MotionSpec("pan-left"),))
    steps: list[tuple[int, int]] = []
    from_red = engine.generate(params, progress=lambda i, n: steps.append((i, n)))
    assert len(from_red.frames) == 8 and from_red.frames[0].size == (512, 512)
    assert steps == [(1, 2), (2, 2)]  # strength 0.5 of 4 Lightning steps: the last 2 of them
    assert any("runs 2 denoising step" in note for note in from_red.notes)
    assert engine.pipeline.vae.dtype == torch.float32
    same_again = engine.generate(params)
    assert np.array_equal(np.asarray(same_again.frames[3]), np.asarray(from_red.frames[3]))
    from_blue = engine.generate(params.with_changes(image=blue))
    assert not np.array_equal(np.asarray(from_blue.frames[3]), np.asarray(from_red.frames[3]))  # the still counts


def test_a_missing_image_is_a_generation_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(GenerationError, match="cannot be read"):
        engine.generate(BASE.with_changes(image=str(tmp_path / "gone.png")))
