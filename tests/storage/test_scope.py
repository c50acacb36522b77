"""Every clip query takes a scope: one server's clips, a private channel's only there, a person's own in a DM."""

from __future__ import annotations

from storage.models import Job, JobStatus
from storage.repository import Repository
from storage.scope import EVERYWHERE, Scope


def job(workspace: str, channel: str, prompt: str, *, user: str = "u1", private: bool = False, **values: object) -> Job:
    fields: dict[str, object] = {
        "platform": "discord",
        "workspace_id": workspace,
        "channel_id": channel,
        "private_channel": channel if private else None,
        "user_key": f"discord:{user}",
        "user_name": user,
        "prompt": prompt,
        "params": {"prompt": prompt},
        "steps": 1,
        "frames": 8,
        "max_bytes": 1000,
    }
    fields.update(values)
    return Job(**fields)


def ids(jobs: list[Job]) -> list[int]:
    return [j.id for j in jobs]


def test_a_server_sees_its_own_clips_and_a_private_channel_only_its_own(repo: Repository) -> None:
    public_a = repo.add_job(job("A", "a-general", "red fox in the snow"))
    private_a = repo.add_job(job("A", "a-secret", "red fox secret plan", private=True))
    b = repo.add_job(job("B", "b-general", "red fox of server b", user="u2"))
    slack = repo.add_job(job("A", "a-general", "red fox on slack", platform="slack"))
    in_a = Scope.server("discord", "A", "a-general")
    in_secret = Scope.server("discord", "A", "a-thread", "a-secret")  # a thread of the private channel
    in_b = Scope.server("discord", "B", "b-general")

    assert ids(repo.history(in_a, search="red fox")) == [public_a.id]
    assert ids(repo.history(in_secret, search="red fox")) == [private_a.id, public_a.id]
    assert ids(repo.history(in_b, search="red fox")) == [b.id]
    assert ids(repo.history(in_b, user_key="discord:u1")) == []  # @user of another server: nothing
    assert ids(repo.history(EVERYWHERE, search="red fox")) == [slack.id, b.id, private_a.id, public_a.id]

    assert repo.visible_job(in_a, public_a.id) is not None
    assert repo.visible_job(in_a, private_a.id) is None and repo.visible_job(in_secret, private_a.id) is not None
    assert repo.visible_job(in_b, public_a.id) is None and repo.visible_job(in_a, slack.id) is None
    assert repo.visible_job(in_a, 10_000) is None

    for j in (public_a, private_a, b):
        repo.update_job(j.id, status=JobStatus.SUCCEEDED.value)
    assert ids(repo.awaiting_review(in_a, "a-secret")) == []
    assert ids(repo.awaiting_review(in_secret, "a-secret")) == [private_a.id]
    assert ids(repo.active_jobs(in_a)) == [] and ids(repo.active_jobs(Scope.server("slack", "A"))) == [slack.id]


def test_a_direct_message_sees_only_the_persons_own_clips(repo: Repository) -> None:
    mine = repo.add_job(job("A", "a-general", "my fox"))
    repo.add_job(job("A", "a-general", "their fox", user="u2"))
    dm = repo.add_job(job("", "dm-1", "fox in my dm", private=True))
    assert ids(repo.history(Scope.person("discord:u1"))) == [dm.id, mine.id]
    assert ids(repo.history(Scope.person("slack:u1"))) == []


def test_reposts_are_kept_apart_from_the_clip_and_dropped_with_it(repo: Repository) -> None:
    clip = repo.add_job(job("A", "a-general", "a fox", clip_message_id="m1"))
    where = {"platform": "discord", "workspace_id": "A", "channel_id": "a-other", "thread_id": None}
    repo.add_repost(clip.id, where, "m2", "discord:u2")
    repo.add_repost(clip.id, {**where, "thread_id": "t1"}, "m3", "discord:u2")
    assert [(r.channel_id, r.thread_id, r.message_id) for r in repo.reposts(clip.id)] == [
        ("a-other", None, "m2"),
        ("a-other", "t1", "m3"),
    ]
    assert repo.job(clip.id).clip_message_id == "m1"
    repo.drop_reposts(clip.id)
    assert repo.reposts(clip.id) == []
