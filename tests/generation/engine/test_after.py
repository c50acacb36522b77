"""After the clip on the tiny pipeline: smoothing multiplies frames and rate (issue 22)."""

from __future__ import annotations

import numpy as np
import pytest

from generation.engine import Engine
from generation.errors import GenerationCancelled, GenerationError
from generation.jobs.finish import encode
from generation.params import GenerationParams, MotionSpec
from tests.generation.engine.frames import same


def pixels(frames: list) -> np.ndarray:
    return np.stack([np.asarray(f) for f in frames]).astype(int)


BASE = GenerationParams(prompt="a kite over a beach", steps=1, frames=8, seed=5)


@pytest.fixture(scope="module")
def engine():
    eng = Engine(pipeline="tiny")
    eng.load()
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def plain(engine):
    return engine.generate(BASE)


def test_smooth_two_doubles_the_rate_and_keeps_the_frames_made(engine, plain):
    smoothed = engine.generate(BASE.with_changes(smooth=2))
    assert (len(smoothed.frames), smoothed.fps) == (15, 16)
    assert [f.tobytes() for f in smoothed.frames[::2]] == [f.tobytes() for f in plain.frames]
    assert not same(smoothed, plain)
    clip = encode(smoothed, BASE.with_changes(smooth=2, format="mp4"), 50_000_000)
    assert (clip.frames, clip.fps) == (15, 16)


def test_smooth_four_with_pingpong(engine, plain):
    params = BASE.with_changes(smooth=4, loop="pingpong")
    result = engine.generate(params)
    assert (len(result.frames), result.fps) == (29, 32)
    clip = encode(result, params, 50_000_000)
    assert (clip.frames, clip.fps) == (params.output_frames, 32) == (56, 32)


def test_cancel_while_smoothing(engine):
    calls = {"n": 0}

    def cancel_after_denoising() -> bool:
        calls["n"] += 1
        return calls["n"] > 3  # before the first step, after the one step, then inside the smoothing

    with pytest.raises(GenerationCancelled):
        engine.generate(BASE.with_changes(smooth=2), should_cancel=cancel_after_denoising)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"smooth": 3}, "smooth must be one of 1, 2, 4, got 3"),
        ({"smooth": 4, "fps": 24}, "would play at 96 fps; at most 50"),
        ({"upscale": 3.0}, "upscale must be one of 1, 1.5, 2, got 3.0"),
    ],
)
def test_bad_after_options_are_refused(engine, changes, message):
    with pytest.raises(GenerationError, match=message):
        engine.generate(BASE.with_changes(**changes))


def test_upscale_refines_at_the_new_size_with_the_clips_motion(engine):
    params = BASE.with_changes(upscale=1.5, motions=(MotionSpec("zoom-in", 0.6),))
    steps: list[tuple[int, int]] = []
    result = engine.generate(params, progress=lambda i, n: steps.append((i, n)))
    assert (result.width, result.height) == (768, 768) and result.frames[0].size == (768, 768)
    assert len(result.frames) == 8 and result.motions == (MotionSpec("zoom-in", 0.6),)
    assert steps[-1] == (1, 1)  # the hi-res pass ran (its share of the one step: at least one)
    assert not engine.pipeline.vae.use_tiling  # tiling is only for the pass


def test_a_set_of_takes_is_smoothed_and_upscaled_take_by_take(engine):
    """variants (issue 21) with smooth and upscale (issue 22): every take gets the passes, and every file plays at
    the smoothed rate at the upscaled size."""
    from generation.jobs.finish import encode_made

    params = BASE.with_changes(variants=2, smooth=2, upscale=1.5, format="mp4")
    single = engine.generate(BASE.with_changes(seed=BASE.seed + 1, smooth=2, upscale=1.5))
    result = engine.generate(params)
    assert len(result.clips) == 2 and result.fps == 16
    assert all(len(take) == 15 and take[0].size == params.output_size for take in result.clips)
    # take 2 is seed+1's clip: a batch's kernels differ from one clip's in the last bit, which the hi-res pass and
    # the in-betweens carry on to a few levels here and there (another seed's clip differs everywhere)
    diff = np.abs(pixels(result.more[0]) - pixels(single.frames))
    assert diff.max() <= 8 and diff.mean() < 0.5
    made = encode_made(result, params, 50_000_000)
    assert [(c.frames, c.fps) for c in made.clips] == [(15, 16), (15, 16)]
