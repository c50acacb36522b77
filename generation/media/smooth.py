"""Frame interpolation without learned weights, and the frame arithmetic every smoothing shares.

``minterpolate`` is FFmpeg's motion-compensated interpolation filter, run through PyAV (already a dependency):
the fallback when the learned model's weights are not installed. ``blend`` is the plain cross-fade both are
measured against (benchmarks/bench_smooth.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction

import av
from PIL import Image

from generation.params import smoothed_length


def blend(frames: Sequence[Image.Image], factor: int) -> list[Image.Image]:
    """In-betweens as weighted averages of their two neighbours (ghosting wherever something moves)."""
    if factor < 2 or len(frames) < 2:
        return list(frames)
    out = [frames[0]]
    for before, after in itertools.pairwise(frames):
        out.extend(Image.blend(before, after, i / factor) for i in range(1, factor))
        out.append(after)
    return out


def minterpolate(frames: Sequence[Image.Image], factor: int) -> list[Image.Image]:
    """In-betweens by FFmpeg's ``minterpolate`` (motion-compensated, bidirectional motion estimation).

    The filter works on timestamps, so its output is cut or padded to exactly ``smoothed_length`` frames, the
    original frames kept in their places (the filter reproduces them only approximately).
    """
    if factor < 2 or len(frames) < 2:
        return list(frames)
    width, height = frames[0].size
    rate = 8  # any rate: only the ratio matters
    graph = av.filter.Graph()
    source = graph.add_buffer(width=width, height=height, format="rgb24", time_base=Fraction(1, rate))
    # The filter needs even sides in yuv420p; interpolating in rgb24 directly is not supported by it.
    chain = [
        graph.add("format", "yuv444p"),
        graph.add("minterpolate", f"fps={rate * factor}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1:scd=none"),
        graph.add("format", "rgb24"),
    ]
    sink = graph.add("buffersink")
    source.link_to(chain[0])
    for a, b in itertools.pairwise(chain):
        a.link_to(b)
    chain[-1].link_to(sink)
    graph.configure()
    made: list[Image.Image] = []
    # The first and last frames pushed twice: the filter repeats its first frame instead of interpolating
    # after it, and emits nothing after its last. Its scene-change detection stays off: the still start
    # followed by motion would count as a cut, and a cut is filled by repeating a frame.
    for i, frame in enumerate([frames[0], *frames, frames[-1]]):
        video = av.VideoFrame.from_image(frame.convert("RGB"))
        video.pts = i
        video.time_base = Fraction(1, rate)
        graph.push(video)
        made.extend(_pull(graph))
    graph.push(None)
    made.extend(_pull(graph))
    wanted = smoothed_length(len(frames), factor)
    made = (made[factor:] + [frames[-1]] * wanted)[:wanted]
    for i, frame in enumerate(frames):  # the originals stay exactly as they were
        made[i * factor] = frame
    return made


def _pull(graph: av.filter.Graph) -> list[Image.Image]:
    out: list[Image.Image] = []
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return out
        out.append(frame.to_image())


def unloop(frames: Sequence[Image.Image], loop: str) -> list[Image.Image]:
    """The frames a looped clip was made from: a ping-pong file (n forward, n - 2 back) gives its first n."""
    if loop == "pingpong" and len(frames) > 2:
        return list(frames[: (len(frames) + 2) // 2])
    return list(frames)
