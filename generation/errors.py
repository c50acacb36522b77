"""What the generation engine raises: one family of errors, each one line a person can read.

Weight sources (``generation.engine.sources``) and the engine (``generation.engine.engine``) both raise
these, so they live apart from either and neither imports the other for them. The engine
module re-exports them; callers import them from there.
"""

from __future__ import annotations

__all__ = [
    "BadOutputError",
    "GenerationCancelled",
    "GenerationError",
    "ModelLoadError",
    "OutOfMemoryError",
    "first_line",
]


class GenerationError(Exception):
    """Something a person should read: ``str(error)`` is one line saying what went wrong."""


class ModelLoadError(GenerationError):
    """A base model, Lightning checkpoint or motion LoRA failed to load; the previous model still works."""


class OutOfMemoryError(GenerationError):
    """CUDA ran out of memory; the memory has been released and the next call works."""


class GenerationCancelled(GenerationError):
    """Cancellation was requested; generation stopped between denoising steps."""


class BadOutputError(GenerationError):
    """The clip came out all-black or with NaN values."""


def first_line(exc: BaseException) -> str:
    """The first line of ``str(exc)`` (its type name if empty), cut to 240 characters for a one-line message."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 240 else text[:237] + "..."
