"""The Ray actor's own code, run in this process (no Ray needed for a job): an image job brings its still's
bytes, kept in the actor's own folder (the bot's path need not exist on the actor's host); the clip is
encoded with the one finishing path's loop; raw frames come back only when the bot checks safety."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from generation.jobs.finish import Made
from generation.jobs.ray.actor import EngineActor, EngineSpec, RunRequest, code_version
from generation.params import GenerationParams


def _png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


def _run(actor: EngineActor, request: RunRequest) -> tuple[object, ...]:
    items = list(actor.run(request))
    assert [item[0] for item in items[:-1]] == ["progress"] * (len(items) - 1)
    return items[-1]


def test_an_image_job_carries_its_still_and_ping_pong_is_encoded_on_the_actor() -> None:
    actor = EngineActor("test-actor", EngineSpec("tests.fakes.engine:FakeEngine", {}, is_tiny=True))
    still = _png()
    params = GenerationParams(prompt="a fox", steps=2, frames=8, seed=5, loop="pingpong", image="/bot/only/x.png")
    kind, made = _run(actor, RunRequest(1, 1, params.to_dict(), 2**30, 60, image=still, want_frames=True))
    assert kind == "done" and isinstance(made, Made)
    seen = actor.engine.generated[-1].image
    assert seen is not None and seen != "/bot/only/x.png" and Path(seen).read_bytes() == still
    Path(seen).unlink()  # named by content: this test's own still
    assert made.clip.frames == 14  # 8 frames, forward then back
    assert len(made.result.frames) == 8  # the raw frames, for the bot's safety check

    kind, made = _run(actor, RunRequest(2, 1, params.with_changes(image=None).to_dict(), 2**30, 60))
    assert kind == "done" and made.result.frames == [] and made.clip.frames == 14  # no check: no frames sent
    assert actor.code_version == code_version()


def test_the_fingerprint_follows_the_engine_settings() -> None:
    one = EngineSpec("generation.engine:create_engine", {"pipeline": "tiny", "steps": 4})
    assert (
        one.fingerprint == EngineSpec("generation.engine:create_engine", {"steps": 4, "pipeline": "tiny"}).fingerprint
    )
    assert (
        one.fingerprint != EngineSpec("generation.engine:create_engine", {"pipeline": "real", "steps": 4}).fingerprint
    )
