"""Seamless loops: the frame order a clip is encoded in.

Applied to the frames before encoding, whatever the format (GIF, WebP and MP4 all play the
returned order), so the encoder and its byte-budget ladder never need to know about loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from generation.params import LOOPS

T = TypeVar("T")


def apply_loop(frames: Sequence[T], loop: str) -> list[T]:
    """``frames`` in playing order for ``loop``.

    ``none`` keeps them; ``pingpong`` plays forward then backward without showing the two turning
    frames twice (a b c d -> a b c d c b), so a player looping the file never stutters: n frames
    become 2n - 2. Raises ValueError for an unknown loop.
    """
    if loop not in LOOPS:
        raise ValueError(f"loop must be one of {', '.join(LOOPS)}, got {loop!r}")
    if loop == "none" or len(frames) <= 2:
        return list(frames)
    return [*frames, *frames[-2:0:-1]]
