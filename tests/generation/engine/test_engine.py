"""The generation engine on the tiny pipeline: every line of the real engine, tiny random weights."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from generation.engine import Engine, create_engine
from generation.engine.tiny import TINY_LABEL, tiny_motion_adapter
from generation.errors import BadOutputError, GenerationCancelled, GenerationError, ModelLoadError, OutOfMemoryError
from generation.params import GenerationParams, MotionSpec
from tests.generation.engine.frames import pixels, same

# Small clips keep the module fast; sizes stay the real ones (512x512 -> 64x64 latents).
BASE = GenerationParams(prompt="a red fox in the snow", steps=1, frames=8, seed=11)


@pytest.fixture(scope="module")
def engine():
    eng = Engine(pipeline="tiny")
    eng.load()
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def baseline(engine):
    return engine.generate(BASE)


@pytest.fixture(scope="module")
def zoom(engine):
    return engine.generate(BASE.with_changes(motions=(MotionSpec("zoom-in", 0.8),)))


def test_defaults_and_label():
    eng = Engine(pipeline="tiny")
    assert eng.steps == 4
    assert eng.active_model == "epicrealism"
    assert eng.is_tiny
    assert eng.label == TINY_LABEL
    assert "random weights" in eng.label
    defaults = GenerationParams(prompt="x")
    assert (defaults.steps, defaults.frames, defaults.size, defaults.fps, defaults.guidance) == (
        4,
        16,
        (512, 512),
        8,
        1.0,
    )
    assert defaults.motions == ()


def test_result_describes_the_clip(baseline):
    assert baseline.seed == 11
    assert len(baseline.frames) == 8
    assert all(f.size == (512, 512) and f.mode == "RGB" for f in baseline.frames)
    assert (baseline.model, baseline.steps, baseline.fps, baseline.motions) == ("epicrealism", 1, 8, ())
    assert (baseline.width, baseline.height) == (512, 512)
    assert baseline.tiny is True
    assert any("tiny test model" in note for note in baseline.notes)
    t = baseline.timings
    assert t.denoise_s > 0 and t.decode_s > 0 and t.load_s >= 0
    assert t.total == pytest.approx(t.load_s + t.denoise_s + t.decode_s)
    # Noise, but not a flat image: the frames carry content and change over time.
    frames = pixels(baseline).astype(int)
    assert frames.std() > 5
    assert np.abs(frames[0] - frames[-1]).mean() > 1


def test_same_seed_same_frames_other_seed_other_frames(engine, baseline):
    assert same(engine.generate(BASE), baseline)
    assert not same(engine.generate(BASE.with_changes(seed=12)), baseline)


def test_random_seed_is_reported_and_reproduces(engine):
    params = BASE.with_changes(seed=None, aspect="16:9")
    first = engine.generate(params)
    assert 0 <= first.seed <= 2**32 - 1
    assert all(f.size == (680, 384) for f in first.frames)
    again = engine.generate(params.with_changes(seed=first.seed))
    assert again.seed == first.seed
    assert same(first, again)


def test_progress_is_called_after_every_step(engine):
    calls: list[tuple[int, int]] = []
    result = engine.generate(BASE.with_changes(steps=2), progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 2), (2, 2)]
    assert result.steps == 2


def test_cancel_stops_between_steps(engine):
    calls: list[tuple[int, int]] = []
    with pytest.raises(GenerationCancelled, match="after step 1 of 4"):
        engine.generate(
            BASE.with_changes(steps=4),
            progress=lambda i, n: calls.append((i, n)),
            should_cancel=lambda: bool(calls),
        )
    assert calls == [(1, 4)]  # the other three steps never ran
    with pytest.raises(GenerationCancelled, match="before the first step"):
        engine.generate(BASE, progress=lambda i, n: calls.append((i, n)), should_cancel=lambda: True)
    assert calls == [(1, 4)]


def test_negative_prompt_needs_guidance(engine, baseline):
    ignored = engine.generate(BASE.with_changes(negative_prompt="blurry"))
    assert "negative prompt ignored: it only acts when guidance > 1" in ignored.notes
    assert same(ignored, baseline)

    guided = engine.generate(BASE.with_changes(negative_prompt="blurry", guidance=3.0))
    assert not any("negative prompt" in note for note in guided.notes)
    unguided_negative = engine.generate(BASE.with_changes(guidance=3.0))
    assert not same(guided, unguided_negative)  # the negative prompt acted


def test_lora_strength_zero_is_exactly_no_lora(engine, baseline, zoom):
    assert zoom.motions == (MotionSpec("zoom-in", 0.8),)
    assert not same(zoom, baseline)
    zero = engine.generate(BASE.with_changes(motions=(MotionSpec("zoom-in", 0.0),)))
    assert same(zero, baseline)
    # Back to no motion with the LoRA still loaded: disabled, bit for bit.
    assert same(engine.generate(BASE), baseline)


def test_two_motions_combine(engine, baseline, zoom):
    pan = engine.generate(BASE.with_changes(motions=(MotionSpec("pan-left", 0.8),)))
    both = engine.generate(BASE.with_changes(motions=(MotionSpec("zoomin", 0.8), MotionSpec("pan-left", 0.8))))
    assert both.motions == (MotionSpec("zoom-in", 0.8), MotionSpec("pan-left", 0.8))  # alias resolved
    assert not same(both, zoom) and not same(both, pan) and not same(zoom, pan)
    assert not same(both, baseline)


def test_steps_switch_changes_the_adapter_weights(engine):
    unet = engine.pipeline.unet
    key = "down_blocks.0.motion_modules.0.proj_in.weight"
    engine.generate(BASE.with_changes(steps=2))
    assert torch.equal(unet.state_dict()[key], tiny_motion_adapter(2).state_dict()[key])
    assert engine.label == TINY_LABEL and engine.steps == 2
    engine.generate(BASE)
    assert torch.equal(unet.state_dict()[key], tiny_motion_adapter(1).state_dict()[key])
    assert not torch.equal(tiny_motion_adapter(1).state_dict()[key], tiny_motion_adapter(2).state_dict()[key])


def test_steps_switch_keeps_loaded_loras(engine, zoom):
    params = BASE.with_changes(motions=(MotionSpec("zoom-in", 0.8),))
    engine.generate(params.with_changes(steps=2))
    assert same(engine.generate(params), zoom)


def test_failed_model_switch_keeps_the_old_model(engine, baseline):
    with pytest.raises(ModelLoadError, match="not found: no such directory"):
        engine.switch_model("/nonexistent/models/sd15")
    with pytest.raises(ModelLoadError, match="unknown model 'nosuchmodel'"):
        engine.generate(BASE.with_changes(model="nosuchmodel"))
    with pytest.raises(ModelLoadError, match="cannot fetch 'someone/some-model'"):
        engine.switch_model("someone/some-model")
    assert engine.active_model == "epicrealism"
    assert same(engine.generate(BASE), baseline)


def test_switch_model_by_alias_and_back(engine, baseline):
    engine.generate(BASE.with_changes(motions=(MotionSpec("tilt-up", 0.5),)))  # LoRA layers wrap the weights
    other = engine.generate(BASE.with_changes(model="dream"))
    assert other.model == "dreamshaper" and engine.active_model == "dreamshaper"
    assert not same(other, baseline)
    # The new model got the motion weights already loaded (1 step), not the engine's default (4).
    key = "up_blocks.0.motion_modules.1.transformer_blocks.0.attn1.to_q.weight"
    assert torch.equal(engine.pipeline.unet.state_dict()[key], tiny_motion_adapter(1).state_dict()[key])
    assert engine.switch_model("emilianJR/epiCRealism") == "epicrealism"
    assert same(engine.generate(BASE), baseline)


def test_out_of_memory_frees_and_next_call_works(engine, baseline):
    def run_out(i: int, n: int) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(OutOfMemoryError, match="out of GPU memory making 8 frames at 512x512; try fewer frames"):
        engine.generate(BASE, progress=run_out)
    assert same(engine.generate(BASE), baseline)


def test_nan_output_is_detected(engine):
    bias = engine.pipeline.unet.conv_out.bias
    saved = bias.detach().clone()
    with torch.no_grad():
        bias.fill_(float("nan"))
    try:
        with pytest.raises(BadOutputError, match="NaN"):
            engine.generate(BASE)
    finally:
        with torch.no_grad():
            bias.copy_(saved)


def test_black_output_is_detected(engine, baseline):
    conv = engine.pipeline.vae.decoder.conv_out
    saved = conv.weight.detach().clone(), conv.bias.detach().clone()
    with torch.no_grad():  # every pixel decodes to -1, i.e. black
        conv.weight.zero_()
        conv.bias.fill_(-1.0)
    try:
        with pytest.raises(BadOutputError, match="all black"):
            engine.generate(BASE)
    finally:
        with torch.no_grad():
            conv.weight.copy_(saved[0])
            conv.bias.copy_(saved[1])
    assert same(engine.generate(BASE), baseline)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"frames": 65}, "frames must be between 8 and 64, got 65"),
        ({"loop": "spin"}, "loop must be one of none, pingpong, got 'spin'"),
        ({"strength": 0.05}, "strength must be between 0.1 and 1, got 0.05"),
        ({"prompt": "a | | b"}, "the prompt's scenes must be 1 to 8 non-empty texts"),
        ({"steps": 3}, "steps must be one of 1, 2, 4, 8, got 3"),
        ({"aspect": "2:1"}, "aspect must be one of 1:1, 16:9, 9:16, 4:3, 3:4, got '2:1'"),
        ({"guidance": 25.0}, "guidance must be between 0 and 20, got 25.0"),
        ({"fps": 0}, "fps must be between 1 and 30, got 0"),
        ({"prompt": "  "}, "the prompt is empty"),
        ({"motions": (MotionSpec("spin"),)}, "unknown motion 'spin'; known: zoom-in, zoom-out"),
        ({"motions": (MotionSpec("zoom-in", 1.5),)}, "motion strength must be between 0 and 1"),
        ({"motions": (MotionSpec("zoom-in"), MotionSpec("zoomin"))}, "motion zoom-in given twice"),
        (
            {"motions": (MotionSpec("zoom-in"), MotionSpec("pan-left"), MotionSpec("tilt-up"))},
            "at most 2 motions at once, got 3",
        ),
    ],
)
def test_bad_params_are_refused_with_a_clear_message(engine, changes, message):
    with pytest.raises(GenerationError) as caught:
        engine.generate(BASE.with_changes(**changes))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_tiny_load_is_logged_and_create_engine_takes_the_pipeline_it_is_given(monkeypatch, caplog):
    monkeypatch.setenv("ANIMATEBOT_PIPELINE", "real")  # ignored: only bot/settings.py reads the environment
    eng = create_engine("tiny", steps=2)
    assert eng.is_tiny and eng.steps == 2
    with caplog.at_level(logging.INFO, logger="animatebot.pipeline"):
        eng.load()
    assert any("tiny test model" in r.getMessage() for r in caplog.records if r.name == "animatebot.pipeline")
    eng.close()
    monkeypatch.setenv("ANIMATEBOT_PIPELINE", "tiny")
    assert not create_engine("real").is_tiny  # nothing loads until asked
    with pytest.raises(ValueError, match="pipeline must be 'real' or 'tiny', got 'fake'"):
        create_engine("fake")
