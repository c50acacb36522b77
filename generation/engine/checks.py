"""The engine's input checks: fail early, with the bad value in the message (diffusers' ``check_inputs``).

Plain data only (no torch), so the checks cost nothing before a model is touched.
"""

from __future__ import annotations

import math

from generation.catalog import ALLOWED_STEPS, MOTION_NAMES, MotionLora, find_motion
from generation.errors import GenerationError
from generation.params import (
    ACTIONS,
    ASPECTS,
    FPS_MAX,
    FPS_MIN,
    FRAMES_MAX,
    FRAMES_MIN,
    FREENOISE_ABOVE,
    GUIDANCE_MAX,
    GUIDANCE_MIN,
    LOOPS,
    MAX_MOTIONS,
    MAX_SCENES,
    PLAY_FPS_MAX,
    SEED_MAX,
    SMOOTH_FACTORS,
    SOURCE_FRAMES_MAX,
    STRENGTH_MAX,
    STRENGTH_MIN,
    UPSCALE_FACTORS,
    VARIANTS,
    GenerationParams,
)


def check_inputs(params: GenerationParams) -> tuple[tuple[MotionLora, float], ...]:
    """The motions of ``params`` resolved to catalog entries; GenerationError names any bad value."""
    if not params.prompt.strip():
        raise GenerationError("the prompt is empty; describe what to animate")
    if params.steps not in ALLOWED_STEPS:
        raise GenerationError(f"steps must be one of 1, 2, 4, 8, got {params.steps}")
    # A job on an earlier clip takes that clip's length and rate, which smoothing and Extend raise.
    frames_max, fps_max = (SOURCE_FRAMES_MAX, PLAY_FPS_MAX) if params.source is not None else (FRAMES_MAX, FPS_MAX)
    if not FRAMES_MIN <= params.frames <= frames_max:
        raise GenerationError(f"frames must be between {FRAMES_MIN} and {frames_max}, got {params.frames}")
    if params.aspect not in ASPECTS:
        raise GenerationError(f"aspect must be one of {', '.join(ASPECTS)}, got {params.aspect!r}")
    if not FPS_MIN <= params.fps <= fps_max:
        raise GenerationError(f"fps must be between {FPS_MIN} and {fps_max}, got {params.fps}")
    if not (math.isfinite(params.guidance) and GUIDANCE_MIN <= params.guidance <= GUIDANCE_MAX):
        raise GenerationError(f"guidance must be between {GUIDANCE_MIN:g} and {GUIDANCE_MAX:g}, got {params.guidance}")
    if params.seed is not None and not 0 <= params.seed <= SEED_MAX:
        raise GenerationError(f"seed must be between 0 and {SEED_MAX}, got {params.seed}")
    if params.loop not in LOOPS:
        raise GenerationError(f"loop must be one of {', '.join(LOOPS)}, got {params.loop!r}")
    if not (math.isfinite(params.strength) and STRENGTH_MIN <= params.strength <= STRENGTH_MAX):
        raise GenerationError(f"strength must be between {STRENGTH_MIN:g} and {STRENGTH_MAX:g}, got {params.strength}")
    _check_variants(params)
    _check_after(params)
    scenes = params.scenes
    if len(scenes) > 1 and (not all(scenes) or len(scenes) > min(MAX_SCENES, params.frames)):
        raise GenerationError(
            f"the prompt's scenes must be 1 to {min(MAX_SCENES, params.frames)} non-empty texts, got {list(scenes)}"
        )
    if len(params.motions) > MAX_MOTIONS:
        raise GenerationError(f"at most {MAX_MOTIONS} motions at once, got {len(params.motions)}")
    resolved: list[tuple[MotionLora, float]] = []
    for spec in params.motions:
        motion = find_motion(spec.name)
        if motion is None:
            raise GenerationError(f"unknown motion {spec.name!r}; known: {', '.join(MOTION_NAMES)}")
        if not (math.isfinite(spec.strength) and 0.0 <= spec.strength <= 1.0):
            raise GenerationError(f"motion strength must be between 0 and 1, got {spec.name}@{spec.strength}")
        if any(m is motion for m, _ in resolved):
            raise GenerationError(f"motion {motion.name} given twice")
        resolved.append((motion, float(spec.strength)))
    return tuple(resolved)


def _check_variants(params: GenerationParams) -> None:
    if params.variants not in VARIANTS:
        raise GenerationError(f"variants must be one of {', '.join(map(str, VARIANTS))}, got {params.variants}")
    if params.variants > 1 and (len(params.scenes) > 1 or params.free_noise):
        # A batch is a list of prompts; diffusers' FreeNoise (long clips, prompt travel) takes one prompt only.
        raise GenerationError(
            f"variants take clips of up to {FREENOISE_ABOVE} frames of one scene (no '|'); "
            f"got {params.frames} frames, {len(params.scenes)} scene(s): ask for variants:1"
        )
    if params.vary_seed is None:
        return
    if not 0 <= params.vary_seed <= SEED_MAX:
        raise GenerationError(f"the vary seed must be between 0 and {SEED_MAX}, got {params.vary_seed}")
    if not (math.isfinite(params.vary_blend) and 0.0 <= params.vary_blend <= 1.0):
        raise GenerationError(f"the vary blend must be between 0 and 1, got {params.vary_blend}")
    if params.seed is None:
        raise GenerationError("a varied clip needs its parent's seed")
    if params.variants != 1:
        raise GenerationError(f"a varied clip is one take, got variants {params.variants}")
    if params.image is not None:
        # Video-to-video starts from the still plus noise the pipeline draws itself: there is no starting noise
        # of the parent's to blend.
        raise GenerationError("vary works on text clips; reroll an image clip instead")


def _check_after(params: GenerationParams) -> None:
    """The after-the-clip options: smoothing and the hi-res pass."""
    if params.smooth not in SMOOTH_FACTORS:
        raise GenerationError(f"smooth must be one of {', '.join(map(str, SMOOTH_FACTORS))}, got {params.smooth}")
    if params.output_fps > PLAY_FPS_MAX:
        raise GenerationError(
            f"smooth:{params.smooth} at {params.fps} fps would play at {params.output_fps} fps; "
            f"at most {PLAY_FPS_MAX} fps plays everywhere"
        )
    if params.upscale not in UPSCALE_FACTORS:
        raise GenerationError(
            f"upscale must be one of {', '.join(f'{f:g}' for f in UPSCALE_FACTORS)}, got {params.upscale}"
        )
    if (params.action is None) != (params.source is None) or (
        params.action is not None and params.action not in ACTIONS
    ):
        raise GenerationError(
            f"a job on an earlier clip needs both its action ({', '.join(ACTIONS)}) and the clip, "
            f"got action {params.action!r}"
        )
    if (params.action == "extend") != (params.extend > 0) or not 0 <= params.extend <= FRAMES_MAX:
        raise GenerationError(f"extend must add 1 to {FRAMES_MAX} frames to a clip being extended, got {params.extend}")
