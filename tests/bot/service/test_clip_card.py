"""The clip card tells the loop, the image and the scenes of a clip."""

from __future__ import annotations

from bot.service import replies
from generation.params import GenerationParams
from storage.models import Job


def job(params: GenerationParams) -> Job:
    return Job(
        id=7,
        platform="console",
        user_key="console:ann",
        prompt=params.prompt,
        params=params.to_dict(),
        steps=params.steps,
        frames=params.frames,
        format=params.format,
        max_bytes=1,
    )


def fields(params: GenerationParams) -> dict[str, str]:
    return {f.name: f.value for f in replies.describe(job(params))}


def test_the_card_says_loop_and_shows_the_scenes() -> None:
    shown = fields(GenerationParams("a calm sea | a storm at sea", frames=48, loop="pingpong"))
    assert shown["Frames"] == "48, ping-pong loop of 94 @ 8 fps"
    assert "ping-pong" in shown["Loop"]
    assert shown["Scenes"] == "a calm sea → a storm at sea"


def test_an_image_clip_shows_its_strength_and_a_plain_clip_shows_nothing_new() -> None:
    assert fields(GenerationParams("a lighthouse", image="/m/inputs/x.png", strength=0.5))["Image"].endswith(
        "strength 0.5"
    )
    plain = fields(GenerationParams("a lighthouse"))
    assert not {"Loop", "Image", "Scenes"} & set(plain)
    assert plain["Frames"] == "16 @ 8 fps"
