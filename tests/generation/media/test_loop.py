"""Ping-pong loops: frame order, length, and every format playing that order."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from generation.media.decode import read_clip
from generation.media.encode import encode_clip
from generation.media.loop import apply_loop
from generation.params import loop_length


def test_pingpong_goes_forward_then_back_without_repeating_the_turns() -> None:
    assert apply_loop(list("abcd"), "pingpong") == list("abcdcb")
    assert apply_loop(list("abcd"), "none") == list("abcd")
    assert len(apply_loop(list(range(48)), "pingpong")) == 94 == loop_length(48, "pingpong")
    looped = apply_loop(list(range(48)), "pingpong")
    # Played in a loop, neighbours always differ by one: no stutter at either turn.
    assert all(abs(a - b) == 1 for a, b in zip(looped, [*looped[1:], looped[0]], strict=True))


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="pingpong"):
        apply_loop([1, 2, 3], "spin")


def ramp(count: int) -> list[Image.Image]:
    # Each frame a flat grey a step brighter than the last, so the order can be read back.
    return [Image.new("RGB", (64, 64), (v, v, v)) for v in np.linspace(20, 230, count).astype(int)]


@pytest.mark.parametrize("format", ["gif", "webp", "mp4"])
def test_every_format_plays_the_pingpong_order(format: str, tmp_path) -> None:
    frames = apply_loop(ramp(10), "pingpong")
    clip = encode_clip(frames, format=format, fps=8)
    path = tmp_path / f"clip.{format}"
    path.write_bytes(clip.data)
    decoded, _fps = read_clip(path)
    assert len(decoded) == 18
    levels = [int(np.asarray(f).mean()) for f in decoded]
    peak = levels.index(max(levels))
    assert peak == 9
    assert all(b > a for a, b in itertools.pairwise(levels[: peak + 1]))
    assert all(b < a for a, b in itertools.pairwise(levels[peak:]))
