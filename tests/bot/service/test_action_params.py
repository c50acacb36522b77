"""What a Smooth, Upscale or Extend click asks for, and what it refuses (pure: no bot needed)."""

import pytest

from bot.service.actions import ActionRefused, action_params
from generation.params import GenerationParams

PARENT = GenerationParams("a kite", frames=16, seed=3)


def act(parent: GenerationParams, action: str, **kwargs: object) -> GenerationParams:
    return action_params(parent, action=action, source="/media/000001-a-kite.gif", seed=3, **kwargs)  # type: ignore[arg-type]


def test_smooth_takes_the_clip_as_posted_and_doubles_it():
    smoothed = act(PARENT.with_changes(smooth=2), "smooth")  # a clip smoothed already: 31 frames at 16 fps
    assert (smoothed.frames, smoothed.fps, smoothed.smooth) == (31, 16, 2)
    assert (smoothed.output_frames, smoothed.output_fps) == (61, 32)
    assert (smoothed.action, smoothed.source, smoothed.seed) == ("smooth", "/media/000001-a-kite.gif", 3)
    with pytest.raises(ActionRefused, match="already plays at 32 fps; smoothing it again would make 64"):
        act(smoothed, "smooth")


def test_upscale_once_and_the_card_size_follows():
    upscaled = act(PARENT, "upscale")
    assert upscaled.output_size == (1024, 1024) and upscaled.smooth == 1
    with pytest.raises(ActionRefused, match="already upscaled x2"):
        act(upscaled, "upscale")
    with pytest.raises(ActionRefused, match="already upscaled x2"):
        act(upscaled, "extend")
    assert act(upscaled, "smooth").output_size == (1024, 1024)  # smoothing keeps the size


def test_extend_adds_frames_up_to_128_and_4_times():
    extended = act(PARENT, "extend", prompt="the kite flies away", frames=24)
    assert (extended.frames, extended.extend, extended.prompt) == (40, 24, "the kite flies away")
    assert act(PARENT, "extend").frames == 32  # 16 more by default, the prompt kept
    with pytest.raises(ActionRefused, match=r"would make 136, above the 128 allowed in all \(at most frames:8\)"):
        act(PARENT.with_changes(frames=120, action="extend", extend=16), "extend")  # an extended line of 120
    with pytest.raises(ActionRefused, match="extended 4 times; at most 4"):
        act(PARENT, "extend", extensions=4)
    assert act(PARENT, "extend", extensions=3).extend == 16
