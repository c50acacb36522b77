import pytest

from generation.media.smooth import blend, minterpolate, unloop
from generation.params import GenerationParams, smoothed_length
from tests.generation.pan import mse, pan


@pytest.mark.parametrize(("frames", "factor", "count"), [(16, 2, 31), (16, 4, 61), (8, 2, 15), (1, 2, 1)])
def test_counts(frames, factor, count):
    assert smoothed_length(frames, factor) == count
    clip = pan(frames, size=32)
    assert len(blend(clip, factor)) == count
    assert len(minterpolate(clip, factor)) == count


def test_params_report_the_smoothed_file():
    params = GenerationParams("a kite", frames=16, smooth=2)
    assert (params.output_frames, params.output_fps) == (31, 16)
    assert GenerationParams("a kite", frames=16, smooth=4, loop="pingpong").output_frames == 2 * 61 - 2
    assert GenerationParams("a", upscale=1.5).output_size == (768, 768)
    assert GenerationParams("a", aspect="16:9", upscale=2).output_size == (1360, 768)


def test_originals_stay_in_place_and_minterpolate_beats_a_blend_on_a_pan():
    truth = pan(9, size=96)
    kept = truth[::2]
    for smooth in (blend, minterpolate):
        out = smooth(kept, 2)
        assert all(out[2 * i].tobytes() == frame.tobytes() for i, frame in enumerate(kept))
    motion = sum(mse(minterpolate(kept, 2)[k], truth[k]) for k in (1, 3, 5, 7))
    ghost = sum(mse(blend(kept, 2)[k], truth[k]) for k in (1, 3, 5, 7))
    assert motion < ghost / 3, (motion, ghost)


def test_unloop_takes_the_forward_half_of_a_pingpong():
    clip = pan(6, size=16)
    looped = clip + clip[-2:0:-1]
    assert [f.tobytes() for f in unloop(looped, "pingpong")] == [f.tobytes() for f in clip]
    assert len(unloop(clip, "none")) == 6
