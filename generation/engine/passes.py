"""A clip in passes: generate (or start from an earlier clip's frames), extend, refine at a higher resolution.

Each pass is one call of the warm pipeline (``Engine.denoise``); smoothing comes after them all
(``generation.engine.smoothing``). The Smooth, Upscale and Extend buttons make jobs whose ``source`` is the
clip they act on: the frames are read back from its file, the forward half of a ping-pong loop, at the size the
clip was made (the upload ladder may have shrunk the file).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from PIL import Image

from generation.catalog import MotionLora
from generation.errors import GenerationError
from generation.media.decode import read_clip
from generation.media.smooth import unloop
from generation.params import (
    EXTEND_OVERLAP,
    EXTEND_STRENGTH,
    UPSCALE_STRENGTH,
    GenerationParams,
    MotionSpec,
    variant_seed,
)
from generation.result import GenerationResult, Timings

Motions = tuple[tuple[MotionLora, float], ...]
Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None


class Engine(Protocol):
    """What the passes use of ``generation.engine.engine.Engine`` (which calls them: no import back)."""

    @property
    def active_model(self) -> str: ...
    @property
    def is_tiny(self) -> bool: ...
    def tiled_vae(self) -> AbstractContextManager[None]: ...
    def denoise(
        self,
        params: GenerationParams,
        motions: Motions,
        *,
        video: list[Image.Image] | None = None,
        size: tuple[int, int] | None = None,
        progress: Progress = None,
        should_cancel: Cancel = None,
    ) -> GenerationResult: ...


def make_clip(
    engine: Engine, params: GenerationParams, motions: Motions, progress: Progress, should_cancel: Cancel
) -> GenerationResult:
    """The clip ``params`` asks for, before smoothing: generated or read from ``params.source``, extended by
    ``params.extend`` frames, refined at ``params.output_size`` when it is upscaled now."""
    if params.source is None:
        result = engine.denoise(params, motions, progress=progress, should_cancel=should_cancel)
    else:
        result = _from_source(engine, params, motions)
        if params.action == "extend":
            result = _extend(engine, params, motions, result, progress, should_cancel)
    if params.upscale > 1 and (params.source is None or params.action == "upscale"):
        result = _upscale(engine, params, motions, result, progress, should_cancel)
    return result


def _pass_params(params: GenerationParams, frames: int, strength: float) -> GenerationParams:
    """``params`` for one video-to-video pass over ``frames`` frames (nothing after the clip: that is ours)."""
    # One take, no Vary: a set's takes each get a pass of their own, and a video pass draws no starting noise.
    return params.with_changes(
        frames=frames,
        strength=strength,
        image=None,
        source=None,
        action=None,
        extend=0,
        smooth=1,
        upscale=1.0,
        variants=1,
        vary_seed=None,
        vary_blend=0.0,
    )


def _from_source(engine: Engine, params: GenerationParams, motions: Motions) -> GenerationResult:
    """The earlier clip's frames in making order, at the size it was made, as a result with no passes yet."""
    assert params.source is not None
    started = time.perf_counter()
    try:
        arrays, file_fps = read_clip(Path(params.source))
    except Exception as exc:
        raise GenerationError(f"the clip to start from cannot be read: {exc}") from None
    frames = unloop([Image.fromarray(a) for a in arrays], params.loop)
    if len(frames) < 2:
        raise GenerationError("the clip to start from has fewer than 2 frames")
    size = params.size if params.action == "upscale" else params.output_size
    frames = [f if f.size == size else f.resize(size, Image.Resampling.LANCZOS) for f in frames]
    # The clip's own rate, unless the upload ladder dropped frames (its file then plays slower).
    made = params.frames - params.extend
    fps = params.fps if len(frames) >= made else max(1, min(params.fps, round(file_fps)))
    return GenerationResult(
        frames=frames,
        seed=params.seed if params.seed is not None else 0,
        model=engine.active_model,
        steps=params.steps,
        motions=tuple(MotionSpec(m.name, s) for m, s in motions),
        width=size[0],
        height=size[1],
        fps=fps,
        timings=Timings(load_s=0.0, denoise_s=0.0, decode_s=time.perf_counter() - started),
        tiny=engine.is_tiny,
    )


def _joined(first: GenerationResult, second: GenerationResult, frames: list[Image.Image]) -> GenerationResult:
    t, u = first.timings, second.timings
    timings = Timings(t.load_s + u.load_s, t.denoise_s + u.denoise_s, t.decode_s + u.decode_s)
    notes = first.notes + tuple(n for n in second.notes if n not in first.notes and not n.startswith("strength "))
    size = frames[0].size
    return replace(first, frames=frames, width=size[0], height=size[1], timings=timings, notes=notes)


def _extend(
    engine: Engine,
    params: GenerationParams,
    motions: Motions,
    result: GenerationResult,
    progress: Progress,
    should_cancel: Cancel,
) -> GenerationResult:
    """``params.extend`` more frames after the clip: video-to-video seeded from its last frames (the rest held
    on its last frame), the overlap cross-faded from the old frames into the new so the seam does not show."""
    if params.upscale > 1:
        raise GenerationError("an upscaled clip cannot be extended; extend the clip before upscaling it")
    old = result.frames
    overlap = min(EXTEND_OVERLAP, len(old) - 1)
    seed = old[-overlap:] + [old[-1]] * params.extend
    made = engine.denoise(
        _pass_params(params, len(seed), EXTEND_STRENGTH),
        motions,
        video=seed,
        size=old[0].size,
        progress=progress,
        should_cancel=should_cancel,
    )
    new = made.frames
    faded = [Image.blend(old[len(old) - overlap + i], new[i], (i + 1) / (overlap + 1)) for i in range(overlap)]
    return _joined(result, made, old[:-overlap] + faded + new[overlap:])


def _upscale(
    engine: Engine,
    params: GenerationParams,
    motions: Motions,
    result: GenerationResult,
    progress: Progress,
    should_cancel: Cancel,
) -> GenerationResult:
    """The frames resized to ``params.output_size`` and redrawn at low strength (the last Lightning steps),
    the clip's motion LoRAs applied, the VAE in tiles so that 1024 px fits."""
    size = params.output_size
    takes: list[list[Image.Image]] = []
    for index, frames in enumerate((result.frames, *result.more)):  # a set's takes one after the other
        video = [f.resize(size, Image.Resampling.LANCZOS) for f in frames]
        with engine.tiled_vae():
            made = engine.denoise(
                _pass_params(params, len(video), UPSCALE_STRENGTH).with_changes(seed=variant_seed(result.seed, index)),
                motions,
                video=video,
                size=size,
                progress=progress,
                should_cancel=should_cancel,
            )
        result = _joined(result, made, made.frames if index == 0 else result.frames)
        takes.append(made.frames)
    return replace(result, more=tuple(takes[1:]))
