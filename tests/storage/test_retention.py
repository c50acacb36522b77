"""Pruning on SQLite and PostgreSQL: old clips and stills leave the disk, their rows stay and say expired; new
clips, a still a newer job shares, and anything outside the media folder are left alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from storage.models import utcnow
from storage.repository import Repository
from storage.retention import prune

NOW = utcnow()


def clip(
    repo: Repository, media: Path, name: str, *, days_old: float, still: Path | None = None, status: str = "succeeded"
) -> int:
    media.mkdir(parents=True, exist_ok=True)
    path = media / f"{name}.gif"
    path.write_bytes(b"GIF89a" + b"x" * 100)
    job = repo.insert_job(
        {
            "platform": "console",
            "user_key": "console:alice",
            "prompt": name,
            "params": {"prompt": name},
            "steps": 1,
            "frames": 8,
            "max_bytes": 1 << 20,
            "status": status,
            "output_path": str(path),
            "input_image": str(still) if still else None,
            "created_at": NOW - timedelta(days=days_old),
        }
    )
    return job.id


def test_old_clips_and_their_stills_go_the_rows_stay_expired(repo: Repository, tmp_path: Path) -> None:
    media = tmp_path / "clips"
    media.mkdir()
    lone_still, shared_still = media / "lone.png", media / "shared.png"
    lone_still.write_bytes(b"png")
    shared_still.write_bytes(b"png")
    outside = tmp_path / "elsewhere.gif"
    outside.write_bytes(b"GIF89a")

    old = clip(repo, media, "old", days_old=40, still=lone_still)
    old_shared = clip(repo, media, "old-shared", days_old=40, still=shared_still)
    reroll = clip(repo, media, "reroll", days_old=1, still=shared_still)  # a newer job animates the same still
    fresh = clip(repo, media, "fresh", days_old=2)
    waiting = clip(repo, media, "waiting", days_old=40, status="queued")  # not ended: never pruned
    stray = clip(repo, media, "stray", days_old=40)
    repo.update_job(stray, output_path=str(outside))  # a row naming a file outside the media folder

    pruned = prune(repo.db, NOW - timedelta(days=30), media, now=lambda: NOW)

    assert (pruned.jobs, pruned.files) == (3, 3)  # old: clip + still; old-shared: clip; stray: nothing removed
    assert not (media / "old.gif").exists() and not lone_still.exists() and not (media / "old-shared.gif").exists()
    assert shared_still.exists() and outside.exists()
    assert (media / "reroll.gif").exists() and (media / "fresh.gif").exists() and (media / "waiting.gif").exists()
    rows = [repo.job(job_id) for job_id in (old, old_shared, reroll, fresh, waiting, stray)]
    expired = {job.id for job in rows if job is not None and job.expired_at is not None}
    assert expired == {old, old_shared, stray}
    kept = repo.job(old)
    assert kept is not None and kept.prompt == "old" and kept.params == {"prompt": "old"}  # the recipe stays

    again = prune(repo.db, NOW - timedelta(days=30), media)
    assert (again.jobs, again.files) == (0, 0)  # expired rows are not pruned twice
