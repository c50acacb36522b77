"""After the clip: the parameters of a Smooth, Upscale or Extend job on an earlier clip.

Pure: the service reads the parent job and how many Extends led to it, this module says what the new job is
or why it cannot be (one line, what was wrong and what is allowed).
"""

from __future__ import annotations

from generation.params import (
    EXTEND_TIMES,
    MAX_SCENES,
    PLAY_FPS_MAX,
    SOURCE_FRAMES_MAX,
    UNIT_FRAMES,
    GenerationParams,
    smoothed_length,
)

BUTTON_SMOOTH, BUTTON_UPSCALE = 2, 2.0  # what a click asks for (the grammar offers x4 and x1.5 too)
DEFAULT_EXTEND = UNIT_FRAMES


class ActionRefused(ValueError):
    """The action cannot apply to this clip; the message says why and what would."""


def action_params(
    parent: GenerationParams,
    *,
    action: str,
    source: str,
    seed: int | None,
    prompt: str | None = None,
    frames: int | None = None,
    extensions: int = 0,
) -> GenerationParams:
    """The new job's parameters: it starts from the parent's file ``source`` (made with ``parent``, ``seed``).

    ``extensions``: how many Extends made the parent (its line's, for the limit of ``EXTEND_TIMES``).
    Raises ActionRefused.
    """
    made = smoothed_length(parent.frames, parent.smooth)  # the forward frames in the parent's file
    child = parent.with_changes(
        action=action,
        source=source,
        seed=seed,
        frames=made,
        fps=parent.output_fps,
        smooth=1,
        extend=0,
        image=None,
        variants=1,  # it starts from one clip (a set's: its first take), made once
        vary_seed=None,
        vary_blend=0.0,
    )
    if made > SOURCE_FRAMES_MAX:
        raise ActionRefused(f"the clip has {made} frames; {action} works on clips of up to {SOURCE_FRAMES_MAX}")
    if action == "smooth":
        if child.fps * BUTTON_SMOOTH > PLAY_FPS_MAX:
            raise ActionRefused(
                f"the clip already plays at {child.fps} fps; smoothing it again would make "
                f"{child.fps * BUTTON_SMOOTH}, above the {PLAY_FPS_MAX} fps that play everywhere"
            )
        return child.with_changes(smooth=BUTTON_SMOOTH)
    if parent.upscale > 1:
        raise ActionRefused(f"the clip is already upscaled x{parent.upscale:g}; smooth it, or {action} its parent")
    if action == "upscale":
        return child.with_changes(upscale=BUTTON_UPSCALE)
    if action != "extend":
        raise ActionRefused(f"unknown action {action!r}; allowed: smooth, upscale, extend")
    if extensions >= EXTEND_TIMES:
        raise ActionRefused(f"this clip has been extended {extensions} times; at most {EXTEND_TIMES} are allowed")
    added = frames if frames is not None else DEFAULT_EXTEND
    if made + added > SOURCE_FRAMES_MAX:
        raise ActionRefused(
            f"the clip has {made} frames; extending it by {added} would make {made + added}, "
            f"above the {SOURCE_FRAMES_MAX} allowed in all (at most frames:{max(0, SOURCE_FRAMES_MAX - made)})"
        )
    if made + added < 2 or added < 1:
        raise ActionRefused("Extend adds at least one frame")
    child = child.with_changes(frames=made + added, extend=added)
    if prompt:
        child = child.with_changes(prompt=prompt)
        if len(child.scenes) > MAX_SCENES or not all(child.scenes):
            raise ActionRefused(f"the new prompt needs 1 to {MAX_SCENES} non-empty scenes separated by |")
    return child
