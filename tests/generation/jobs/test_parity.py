"""Parity: every option of the grammar gives the same clip on the local worker and on the Ray pool.

Both back ends run the tiny pipeline (the local one in this process, the Ray one in an actor of the
session's Ray instance on 127.0.0.1, no GPU) and end through the one finishing path. Each case runs on
one, then the other, and what a person gets must be equal: the decoded clip's frame count, frame size
and format, the recorded seed, steps, motions and model, the safety verdict on the raw frames, the
terminal status and the events. One Ray instance, one actor and one pool serve every case.

A cancel during encoding is driven through a gated safety check (it runs after the clip's file is
written, before the row's end): the job must end cancelled, never "clip posted".
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from generation.jobs.backend import Backend
from generation.jobs.events import EventKind
from generation.jobs.local import Worker
from generation.jobs.queue import JobQueue, Submission
from generation.jobs.ratelimit import Limits
from generation.media import read_clip
from generation.media.image import check_image, store_image
from generation.params import GenerationParams, MotionSpec
from storage.db import Database
from storage.models import JobStatus
from storage.repository import Repository
from tests.generation.jobs.conftest import Events, RayCluster, until

pytestmark = [pytest.mark.timeout(600), pytest.mark.asyncio(loop_scope="module")]

ENGINE = {"pipeline": "tiny", "steps": 2, "device": "cpu"}
NO_BUDGET = 2**40
FLAG_AT = 0.5


class GatedSafety:
    """The tiny NSFW classifier on the raw frames, with a gate the test can close: a clip then waits,
    written but not yet ended, until the test opens it again."""

    def __init__(self) -> None:
        from generation.engine.safety import tiny_classifier

        self.check = tiny_classifier()
        self.threshold = FLAG_AT  # a case may lower it: its clip is then flagged on both back ends
        self.opened = threading.Event()
        self.opened.set()
        self.entered = threading.Event()
        self.seen: list[int] = []  # how many raw frames each check was given

    def __call__(self, frames: Sequence[Any]) -> tuple[float | None, bool]:
        self.seen.append(len(frames))
        self.entered.set()
        if not self.opened.wait(120):
            raise AssertionError("the test never opened the safety gate")
        score = self.check.score(frames)
        return score, score >= self.threshold


@dataclass
class Side:
    name: str
    db: Database
    queue: JobQueue
    backend: Backend
    events: Events


@dataclass
class Sides:
    local: Side
    ray: Side
    safety: GatedSafety
    still: str


def _queue(path: Path) -> tuple[Database, JobQueue]:
    db = Database(f"sqlite:///{path}")
    return db, JobQueue(Repository(db), Limits(max_active_per_user=50, max_per_hour=500, queue_cap=500))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sides(ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sides]:
    import ray

    from generation.engine import create_engine
    from generation.jobs.ray import EngineSpec, RayOptions, RayPool, ensure_actors

    root = tmp_path_factory.mktemp("parity")
    safety = GatedSafety()
    # Built off the event loop: a queue reads its rows when made.
    local_db, local_queue = await asyncio.to_thread(_queue, root / "local.db")
    ray_db, ray_queue = await asyncio.to_thread(_queue, root / "ray.db")
    local_events, ray_events = Events(), Events()
    worker = Worker(
        local_queue, create_engine(**ENGINE), media_dir=root / "local", on_event=local_events, safety=safety
    )
    spec = EngineSpec("generation.engine:create_engine", ENGINE, is_tiny=True)
    options = RayOptions(workers=1, gpus_per_worker=0, namespace=f"parity-{os.getpid()}")
    handles = await asyncio.to_thread(ensure_actors, spec, options, 1)
    pool = RayPool(ray_queue, spec, options, media_dir=root / "ray", on_event=ray_events, safety=safety)
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(7).integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(png, "PNG")
    still = str(await asyncio.to_thread(store_image, check_image(png.getvalue(), "still.png"), root / "inputs"))
    await asyncio.gather(worker.start(), pool.start())
    try:
        yield Sides(
            Side("local", local_db, local_queue, worker, local_events),
            Side("ray", ray_db, ray_queue, pool, ray_events),
            safety,
            still,
        )
    finally:
        safety.opened.set()
        await asyncio.gather(worker.stop(30), pool.stop(30))
        for handle in handles.values():
            ray.kill(handle, no_restart=True)
        local_db.close()
        ray_db.close()


@dataclass(frozen=True)
class Outcome:
    status: str
    events: tuple[str, ...]
    frames: int | None = None
    fps: int | None = None
    size: tuple[int, int] | None = None
    format: str | None = None
    seed: int | None = None
    steps: int | None = None
    motions: str | None = None
    model: str | None = None
    flagged: bool | None = None
    score: float | None = None
    checked_frames: int | None = None
    takes: tuple[tuple[Any, ...], ...] = ()  # a set's takes: (seed, frames decoded, format, flagged) each


async def _run(side: Side, sides: Sides, params: GenerationParams, *, max_bytes: int, cancel: bool) -> Outcome:
    sub = Submission(params, "console:alice", "alice", "console", max_bytes=max_bytes)
    if cancel:
        sides.safety.entered.clear()
        sides.safety.opened.clear()
    job_id = (await side.db.offload(side.queue.accept, sub)).job.id
    if cancel:
        await asyncio.to_thread(sides.safety.entered.wait, 120)  # the clip is written; its row not yet ended
        assert str(await side.backend.cancel(job_id)) == "stopping"
        sides.safety.opened.set()
    await until(lambda: any(e.kind.terminal for e in side.events.of_job(job_id)), 300, f"{side.name} job {job_id}")
    await until(lambda: not side.backend.busy, 60, f"{side.name} idle")
    row = await side.db.offload(side.queue.repo.job, job_id)
    assert row is not None
    kinds = tuple(str(e.kind) for e in side.events.of_job(job_id) if e.kind != EventKind.PROGRESS)
    if row.status != JobStatus.SUCCEEDED:
        assert row.output_path is None or not Path(row.output_path).exists()
        leftovers = [p for p in Path(side.backend.media_dir).glob(f"{job_id:06d}-*") if p.is_file()]
        assert not leftovers, f"{side.name}: the clip of an unfinished job was left behind: {leftovers}"
        return Outcome(row.status, kinds)
    decoded, fps = await asyncio.to_thread(read_clip, Path(row.output_path))
    takes = []
    for take in row.variants or ():
        frames, _ = await asyncio.to_thread(read_clip, Path(take["path"]))
        takes.append((take["seed"], len(frames), take["format"], take["safety_flagged"]))
    return Outcome(
        row.status,
        kinds,
        frames=len(decoded),
        fps=fps,
        size=(decoded[0].shape[1], decoded[0].shape[0]),
        format=row.output_format,
        seed=row.seed,
        steps=row.steps_used,
        motions=row.motions_used,
        model=row.model_used,
        flagged=row.safety_flagged,
        score=round(row.safety_score, 3) if row.safety_score is not None else None,
        checked_frames=sides.safety.seen[-1],
        takes=tuple(takes),
    )


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # id, params, expected (beyond equality of the two sides)
    ("pingpong-gif", {"frames": 8, "loop": "pingpong", "format": "gif", "seed": 11}, {"frames": 14}),
    ("no-loop-webp-fps", {"frames": 8, "loop": "none", "format": "webp", "fps": 12, "seed": 12}, {"frames": 8}),
    (
        "mp4-motion-steps1",
        {"frames": 8, "format": "mp4", "steps": 1, "seed": 17, "motion": ("zoom-in", 0.6)},
        {"frames": 8},
    ),
    ("image-job", {"frames": 8, "format": "gif", "seed": 13, "image": "STILL", "strength": 0.7}, {"frames": 8}),
    (
        "prompt-travel",
        {"prompt": "a calm sea | a storm at sea", "frames": 16, "format": "gif", "seed": 18},
        {"frames": 16},
    ),
    ("long-freenoise", {"frames": 40, "format": "gif", "steps": 1, "seed": 14, "aspect": "16:9"}, {"frames": 40}),
    ("budget", {"frames": 8, "format": "gif", "seed": 15, "max_bytes": 400_000}, {}),
    ("safety-flagged", {"frames": 8, "format": "gif", "seed": 19, "flag_at": 0.01}, {"flagged": True}),
    ("variants-4", {"frames": 8, "format": "gif", "seed": 21, "variants": 4}, {"frames": 8, "takes": 4}),
    ("vary-subtle", {"frames": 8, "format": "gif", "seed": 22, "vary_seed": 900, "vary_blend": 0.15}, {"frames": 8}),
    ("cancel-while-encoding", {"frames": 8, "format": "gif", "seed": 16, "cancel": True}, {"status": "cancelled"}),
]


def _params(raw: dict[str, Any], still: str) -> tuple[GenerationParams, int, bool]:
    raw = dict(raw)
    max_bytes = raw.pop("max_bytes", NO_BUDGET)
    cancel = raw.pop("cancel", False)
    raw.pop("flag_at", None)
    motion = raw.pop("motion", None)
    if raw.get("image") == "STILL":
        raw["image"] = still
    if motion:
        raw["motions"] = (MotionSpec(*motion),)
    return GenerationParams(**{"prompt": "a pendulum swinging", "steps": 2, **raw}), max_bytes, cancel


@pytest.mark.parametrize(("case", "raw", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_both_back_ends_make_the_same_clip(
    sides: Sides, case: str, raw: dict[str, Any], expected: dict[str, Any]
) -> None:
    params, max_bytes, cancel = _params(raw, sides.still)
    sides.safety.threshold = raw.get("flag_at", FLAG_AT)
    local = await _run(sides.local, sides, params, max_bytes=max_bytes, cancel=cancel)
    remote = await _run(sides.ray, sides, params, max_bytes=max_bytes, cancel=cancel)
    assert local == remote, f"{case}: local {local} != ray {remote}"
    status = expected.get("status", "succeeded")
    assert local.status == status
    if status == "cancelled":
        assert local.events == ("started", "cancelled") and "succeeded" not in remote.events
        return
    assert local.events == ("started", "succeeded")
    if "frames" in expected:
        assert local.frames == expected["frames"]
    assert local.checked_frames == params.frames  # the check read the raw frames, not the looped clip
    assert local.format == params.format and local.steps == params.steps
    assert local.fps == params.fps or max_bytes != NO_BUDGET
    assert local.size == (params.width, params.height) or max_bytes != NO_BUDGET
    assert local.seed == params.seed
    assert local.flagged is expected.get("flagged", False) and local.score is not None
    if "takes" in expected:  # each take judged on its own raw frames, on both back ends
        assert [t[0] for t in local.takes] == [params.seed + i for i in range(expected["takes"])]
        assert all(t[1:] == (local.frames, params.format, False) for t in local.takes)


# --- issue 22 (helper t9): after the clip. NOT run by t9 (no Ray tests on that branch); the lead runs them. ---
# Smooth and Upscale as options, and the Smooth / Upscale / Extend jobs that start from an earlier clip's file
# (``SOURCE``: an 8-frame 512 px mp4 on the bot's host; the Ray pool sends its bytes to the actor).
AFTER_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("smooth-2-option", {"frames": 8, "format": "mp4", "seed": 21, "smooth": 2}, {"frames": 15, "fps": 16}),
    (
        "smooth-4-pingpong",
        {"frames": 8, "format": "gif", "seed": 22, "smooth": 4, "loop": "pingpong"},
        {"frames": 56, "raw": 29, "fps": 32},
    ),
    (
        "upscale-1.5-option",
        {"frames": 8, "format": "mp4", "seed": 23, "upscale": 1.5},
        {"frames": 8, "size": (768, 768)},
    ),
    (
        "smooth-action",
        {"frames": 8, "format": "mp4", "seed": 24, "action": "smooth", "source": "SOURCE", "smooth": 2},
        {"frames": 15, "fps": 16},
    ),
    (
        "upscale-action",
        {"frames": 8, "format": "mp4", "seed": 25, "action": "upscale", "source": "SOURCE", "upscale": 2.0},
        {"frames": 8, "size": (1024, 1024)},
    ),
    (
        "extend-action",
        {"frames": 16, "format": "mp4", "seed": 26, "action": "extend", "source": "SOURCE", "extend": 8},
        {"frames": 16},
    ),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def source_clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    from generation.media.encode import encode_clip

    rng = np.random.default_rng(3)
    frames = [Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)) for _ in range(8)]
    clip = await asyncio.to_thread(encode_clip, frames, format="mp4", fps=8, max_bytes=NO_BUDGET)
    path = tmp_path_factory.mktemp("parity-source") / "000001-parent.mp4"
    path.write_bytes(clip.data)
    return str(path)


@pytest.mark.parametrize(("case", "raw", "expected"), AFTER_CASES, ids=[c[0] for c in AFTER_CASES])
async def test_after_the_clip_is_the_same_on_both_back_ends(
    sides: Sides, source_clip: str, case: str, raw: dict[str, Any], expected: dict[str, Any]
) -> None:
    raw = {**raw, "source": source_clip} if raw.get("source") == "SOURCE" else raw
    params, max_bytes, cancel = _params(raw, sides.still)
    sides.safety.threshold = FLAG_AT
    local = await _run(sides.local, sides, params, max_bytes=max_bytes, cancel=cancel)
    remote = await _run(sides.ray, sides, params, max_bytes=max_bytes, cancel=cancel)
    assert local == remote, f"{case}: local {local} != ray {remote}"
    assert local.status == "succeeded" and local.events == ("started", "succeeded")
    assert local.frames == expected["frames"]
    assert local.checked_frames == expected.get("raw", expected["frames"])  # the raw frames, before the loop
    assert local.fps == expected.get("fps", params.fps)
    assert local.size == expected.get("size", (params.width, params.height))
