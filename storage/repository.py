"""The queries the use cases need, each in its own short transaction.

Returned ORM objects are detached snapshots (sessions never expire on commit): read them
freely, change rows only through these methods. The statements on the job path (insert, read,
update, claim, a clip's tally, a setting, a ban) are compiled once and run on the driver's cursor
(``Database.run``): a fraction of a Core statement's cost, which is a tenth of an ORM session's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import configure_mappers

from storage.db import Database
from storage.models import (
    GLOBAL,
    AuditEntry,
    Ban,
    Base,
    DeliveryState,
    Job,
    JobStatus,
    Repost,
    SafetyDecision,
    ServerRules,
    Setting,
    Tenant,
    Vote,
    utcnow,
)
from storage.scope import Scope

ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
JOBS = cast(Table, Job.__table__)
BANS = cast(Table, Ban.__table__)
SETTINGS = cast(Table, Setting.__table__)

VOTES = cast(Table, Vote.__table__)
_JOB_KEYS = tuple(column.key for column in JOBS.columns)


# The job path's statements: compiled once per dialect and run on the driver's cursor (``Database.run``),
# one statement per call, so that no call pays SQLAlchemy's per-statement machinery. A statement that
# depends on which columns change is compiled once per set of columns.
def _values(keys: Sequence[str]) -> dict[str, Any]:
    return {key: bindparam(key, type_=JOBS.c[key].type) for key in keys}


def _insert_job(keys: tuple[str, ...]) -> Any:
    return insert(JOBS).values(_values(keys)).returning(JOBS.c.id)


def _job_by(column: str) -> Any:
    return select(JOBS).where(JOBS.c[column] == bindparam("key_", type_=JOBS.c[column].type))


def _change_job(keys: tuple[str, ...], statuses: int, attempt: bool, returning: bool = False) -> Any:
    """UPDATE jobs SET keys WHERE id = :job_id_ [AND status IN (:from_0..)] [AND attempts = :attempt_]
    [RETURNING the changed row]."""
    where = [JOBS.c.id == bindparam("job_id_", type_=JOBS.c.id.type)]
    if statuses:
        where.append(JOBS.c.status.in_([bindparam(f"from_{i}", type_=JOBS.c.status.type) for i in range(statuses)]))
    if attempt:
        where.append(JOBS.c.attempts == bindparam("attempt_", type_=JOBS.c.attempts.type))
    statement = update(JOBS).where(*where).values(_values(keys))
    return statement.returning(*JOBS.c) if returning else statement


def _claim() -> Any:
    """Queued -> running, attempts + 1, the seed fixed unless the job has one; the claimed row comes back."""
    return (
        update(JOBS)
        .where(JOBS.c.id == bindparam("job_id_", type_=JOBS.c.id.type), JOBS.c.status == JobStatus.QUEUED.value)
        .values(
            status=JobStatus.RUNNING.value,
            attempts=JOBS.c.attempts + 1,
            started_at=bindparam("started_", type_=JOBS.c.started_at.type),
            progress_step=0,
            seed=func.coalesce(JOBS.c.seed, bindparam("seed_", type_=JOBS.c.seed.type)),
        )
        .returning(*JOBS.c)
    )


def _tally() -> Any:
    return (
        select(VOTES.c.value, func.count().label("n"))
        .where(VOTES.c.job_id == bindparam("job_id_", type_=VOTES.c.job_id.type))
        .group_by(VOTES.c.value)
    )


def _setting() -> Any:
    return select(SETTINGS.c.value).where(SETTINGS.c.key == bindparam("key_", type_=SETTINGS.c.key.type))


def _ban() -> Any:
    """The ban of a user in one server and the global one, the global first."""
    return (
        select(BANS)
        .where(
            BANS.c.user_key == bindparam("key_", type_=BANS.c.user_key.type),
            BANS.c.platform.in_(["", bindparam("platform_", type_=BANS.c.platform.type)]),
            BANS.c.workspace_id.in_(["", bindparam("workspace_", type_=BANS.c.workspace_id.type)]),
        )
        .order_by(BANS.c.platform)
    )


class DuplicateRequest(Exception):
    """A job for this platform request id exists already (a retried delivery)."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"request already accepted as job #{job.id}")
        self.job = job


@dataclass(frozen=True)
class Tally:
    approve: int = 0
    reject: int = 0

    @property
    def decided(self) -> bool:
        return self.approve + self.reject > 0


@dataclass(frozen=True)
class Stats:
    mean_seconds_per_step: float | None
    mean_overhead_s: float | None


class Repository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- jobs --------------------------------------------------------------------------------
    def add_job(self, job: Job) -> Job:
        """Insert a job (its defaults filled in, its id set); raises DuplicateRequest when its request_key was seen before."""
        values = {column.key: getattr(job, column.key) for column in JOBS.columns}
        stored = self.insert_job({key: value for key, value in values.items() if value is not None})
        for key, value in stored.__dict__.items():
            if key in values:
                setattr(job, key, value)
        return job

    def insert_pick(self, parent: Job, user_key: str, user_name: str, params: Any, path: str, take: int) -> Job:
        """A finished job for take ``take`` (from 1) of the set ``parent``, its file at ``path``: it posts that
        take as a clip of its own in the set's thread. It made nothing new: it counts nothing in the limits
        (``variant_count`` 0). ``params``: the take's GenerationParams."""
        chosen = (parent.variants or [])[take - 1]
        now = utcnow()
        flagged = chosen.get("safety_flagged")
        return self.insert_job(
            {
                "parent_id": parent.id,
                "lineage": "pick",
                "platform": parent.platform,
                "workspace_id": parent.workspace_id,
                "channel_id": parent.channel_id,
                "thread_id": parent.thread_id,
                "private_channel": parent.private_channel,
                "user_key": user_key,
                "user_name": user_name,
                "prompt": parent.prompt,
                "negative_prompt": parent.negative_prompt,
                "params": params.to_dict(),
                "steps": parent.steps,
                "frames": parent.frames,
                "requested_model": parent.requested_model,
                "format": parent.format,
                "max_bytes": parent.max_bytes,
                "input_image": parent.input_image,
                "status": JobStatus.SUCCEEDED.value,
                "seed": chosen.get("seed"),
                "model_used": parent.model_used,
                "steps_used": parent.steps_used,
                "motions_used": parent.motions_used,
                "notes": parent.notes,
                "output_path": path,
                "output_format": chosen.get("format"),
                "output_bytes": chosen.get("bytes"),
                "tiny": parent.tiny,
                "worker": parent.worker,
                "age_restricted": parent.age_restricted,
                "safety_score": chosen.get("safety_score"),
                "safety_flagged": flagged,
                "safety_decision": SafetyDecision.PASSED.value if not flagged else None,
                "variant_count": 0,
                "created_at": now,
                "started_at": now,
                "finished_at": now,
            }
        )

    def insert_job(self, values: dict[str, Any]) -> Job:
        """Insert a job from its column values (defaults filled in); returns it with its id.

        Raises DuplicateRequest when its request_key was seen before.
        """
        row = {**{key: make() for key, make in _JOB_DEFAULTS.items() if key not in values}, **values}
        keys = tuple(sorted(row))
        try:
            _, returned = self.db.run(self.db.prepare(("jobs.insert", keys), lambda: _insert_job(keys)), row)
            row["id"] = returned[0]["id"]
        except IntegrityError:
            key = values.get("request_key")
            existing = self.job_by_request_key(key) if key else None
            if existing is None:
                raise
            raise DuplicateRequest(existing) from None
        return _job_of({key: row.get(key) for key in _JOB_KEYS})

    def job(self, job_id: int) -> Job | None:
        return self._job_by("id", job_id)

    def job_by_request_key(self, key: str) -> Job | None:
        return self._job_by("request_key", key)

    def _job_by(self, column: str, key: object) -> Job | None:
        _, rows = self.db.run(self.db.prepare(("jobs.by", column), lambda: _job_by(column)), {"key_": key})
        return _job_of(rows[0]) if rows else None

    def update_job(self, job_id: int, **values: Any) -> None:
        self._change_job(job_id, (), None, values)

    def transition(self, job_id: int, from_status: Sequence[str], **values: Any) -> bool:
        """Change a job only if it is still in one of ``from_status``; True when it was."""
        return self._change_job(job_id, from_status, None, values)

    def claim(self, job_id: int, started_at: datetime, seed: int) -> Job | None:
        """Move a queued job to running (attempts + 1, ``seed`` unless it has one), in one statement.

        Returns the claimed job, or None when it was no longer queued.
        """
        values = {"job_id_": job_id, "started_": started_at, "seed_": seed}
        _, rows = self.db.run(self.db.prepare("jobs.claim", _claim), values)
        return _job_of(rows[0]) if rows else None

    def transition_attempt(self, job_id: int, from_status: Sequence[str], attempt: int, **values: Any) -> bool:
        """``transition``, but only while the job is still on attempt ``attempt``; True when it was.

        A worker presumed dead may answer late; its attempt number no longer matches and nothing changes.
        """
        return self._change_job(job_id, from_status, attempt, values)

    def end_job(self, job_id: int, from_status: Sequence[str], attempt: int | None, **values: Any) -> Job | None:
        """``transition_attempt`` (``attempt`` None: any attempt) that returns the changed job, or None
        when nothing changed: one statement, no read after it."""
        _, rows = self._run_change(job_id, from_status, attempt, values, returning=True)
        return _job_of(rows[0]) if rows else None

    def _change_job(self, job_id: int, from_status: Sequence[str], attempt: int | None, values: dict[str, Any]) -> bool:
        count, _ = self._run_change(job_id, from_status, attempt, values, returning=False)
        return count > 0

    def _run_change(
        self, job_id: int, from_status: Sequence[str], attempt: int | None, values: dict[str, Any], *, returning: bool
    ) -> tuple[int, list[dict[str, Any]]]:
        keys, statuses = tuple(sorted(values)), len(from_status)
        prepared = self.db.prepare(
            ("jobs.change", keys, statuses, attempt is not None, returning),
            lambda: _change_job(keys, statuses, attempt is not None, returning),
        )
        parameters = {**values, "job_id_": job_id, "attempt_": attempt}
        parameters.update((f"from_{i}", status) for i, status in enumerate(from_status))
        return self.db.run(prepared, parameters)

    def jobs_with_status(self, *statuses: str) -> list[Job]:
        with self.db.session() as s:
            return list(s.scalars(select(Job).where(Job.status.in_(statuses)).order_by(Job.id)))

    def count_status(self, *statuses: str) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(Job).where(Job.status.in_(statuses))) or 0

    def active_count(self, user_key: str) -> int:
        with self.db.session() as s:
            stmt = select(func.count()).select_from(Job).where(Job.user_key == user_key, Job.status.in_(ACTIVE))
            return s.scalar(stmt) or 0

    def submission_times(self, user_key: str, since: datetime) -> list[tuple[datetime, int, int]]:
        """When ``user_key``'s jobs were accepted since ``since``, each with its frame count and takes (the limits
        weigh length and sets)."""
        with self.db.connection() as c:
            stmt = select(JOBS.c.created_at, JOBS.c.frames, JOBS.c.variant_count).where(
                JOBS.c.user_key == user_key, JOBS.c.created_at >= since
            )
            return [(row[0], row[1], row[2]) for row in c.execute(stmt)]

    def last_started_of(self, user_key: str) -> datetime | None:
        """When any job of ``user_key`` last started; None if none ever did (one indexed lookup)."""
        with self.db.connection() as c:
            stmt = select(func.max(JOBS.c.started_at)).where(JOBS.c.user_key == user_key)
            return c.scalar(stmt)

    def last_started(self) -> dict[str, datetime]:
        """For each user with waiting jobs, when any of their jobs last started (absent: never)."""
        with self.db.session() as s:
            waiting = select(Job.user_key).where(Job.status == JobStatus.QUEUED.value).distinct()
            stmt = (
                select(Job.user_key, func.max(Job.started_at))
                .where(Job.user_key.in_(waiting), Job.started_at.is_not(None))
                .group_by(Job.user_key)
            )
            return {user: started for user, started in s.execute(stmt) if started is not None}

    def waiting_brief(self, status: str = JobStatus.QUEUED.value) -> list[Any]:
        """Jobs with ``status`` (waiting ones by default) as light rows (id, user_key, steps, frames), oldest first."""
        with self.db.connection() as c:
            stmt = select(JOBS.c.id, JOBS.c.user_key, JOBS.c.steps, JOBS.c.frames).where(JOBS.c.status == status)
            return list(c.execute(stmt.order_by(JOBS.c.id)).all())

    def waiting_heads(self) -> dict[str, int]:
        """For each user with waiting jobs, the id of their oldest waiting job."""
        with self.db.session() as s:
            stmt = (
                select(Job.user_key, func.min(Job.id))
                .where(Job.status == JobStatus.QUEUED.value)
                .group_by(Job.user_key)
            )
            return {user: job_id for user, job_id in s.execute(stmt)}

    def latest_active_job(self, user_key: str) -> Job | None:
        with self.db.session() as s:
            stmt = select(Job).where(Job.user_key == user_key, Job.status.in_(ACTIVE)).order_by(Job.id.desc())
            return s.scalars(stmt).first()

    def visible_job(self, scope: Scope, job_id: int) -> Job | None:
        """Job ``job_id`` if ``scope`` may see it, else None: another server's job reads as a missing one."""
        with self.db.session() as s:
            return s.scalars(select(Job).where(Job.id == job_id, *scope.conditions())).first()

    def history(
        self,
        scope: Scope,
        *,
        user_key: str | None = None,
        channel_id: str | None = None,
        search: str | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[Job]:
        """``scope``'s clips, newest first; ``search`` matches words of the prompt (case-insensitive, all
        words must match)."""
        stmt = select(Job).where(Job.deleted.is_(False), *scope.conditions())
        if user_key:
            stmt = stmt.where(or_(Job.user_key == user_key, Job.user_name == user_key.split(":", 1)[-1]))
        if channel_id:
            stmt = stmt.where(Job.channel_id == channel_id)
        for word in (search or "").split():
            escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(func.lower(Job.prompt).like(f"%{escaped}%", escape="\\"))
        stmt = stmt.order_by(Job.id.desc()).limit(limit).offset(offset)
        with self.db.session() as s:
            return list(s.scalars(stmt))

    def awaiting_review(self, scope: Scope, channel_id: str, limit: int = 10) -> list[Job]:
        """``scope``'s succeeded, undeleted clips in a channel that nobody has voted on yet, oldest first."""
        voted = select(Vote.job_id)
        stmt = (
            select(Job)
            .where(
                *scope.conditions(),
                Job.channel_id == channel_id,
                Job.status == JobStatus.SUCCEEDED.value,
                Job.deleted.is_(False),
                Job.id.not_in(voted),
            )
            .order_by(Job.id)
            .limit(limit)
        )
        with self.db.session() as s:
            return list(s.scalars(stmt))

    def active_jobs(self, scope: Scope) -> list[Job]:
        """``scope``'s queued and running jobs, oldest first (the queue as one server sees it)."""
        with self.db.session() as s:
            stmt = select(Job).where(Job.status.in_(ACTIVE), *scope.conditions()).order_by(Job.id)
            return list(s.scalars(stmt))

    # --- re-posts ---------------------------------------------------------------------------------------
    def add_repost(self, job_id: int, where: dict[str, str | None], message_id: str, by: str) -> Repost:
        """Record that clip ``job_id`` was posted again (``where``: platform, workspace_id, channel_id, thread_id)."""
        repost = Repost(job_id=job_id, message_id=message_id, by=by, **where)
        with self.db.session() as s:
            s.add(repost)
        return repost

    def reposts(self, job_id: int) -> list[Repost]:
        with self.db.session() as s:
            return list(s.scalars(select(Repost).where(Repost.job_id == job_id).order_by(Repost.id)))

    def drop_reposts(self, job_id: int) -> None:
        with self.db.session() as s:
            s.execute(delete(Repost).where(Repost.job_id == job_id))

    def undelivered(self) -> list[Job]:
        """Finished jobs whose outcome never reached the chat (the process stopped in between)."""
        terminal = [s.value for s in JobStatus if s.terminal]
        with self.db.session() as s:
            stmt = (
                select(Job)
                .where(Job.status.in_(terminal), Job.delivery == DeliveryState.PENDING.value)
                .order_by(Job.id)
            )
            return list(s.scalars(stmt))

    def stats(self, recent: int = 20) -> Stats:
        with self.db.session() as s:
            rows = s.execute(
                select(Job.denoise_s, Job.steps_used, Job.frames, Job.load_s, Job.decode_s, Job.encode_s)
                .where(Job.status == JobStatus.SUCCEEDED.value, Job.denoise_s.is_not(None))
                .order_by(Job.id.desc())
                .limit(recent)
            ).all()
        per_step = [d / max(1, st or 1) / max(1, fr or 1) * 16 for d, st, fr, *_ in rows if d is not None]
        overhead = [(dec or 0) + (enc or 0) for *_, _load, dec, enc in rows]
        return Stats(
            mean_seconds_per_step=sum(per_step) / len(per_step) if per_step else None,
            mean_overhead_s=sum(overhead) / len(overhead) if overhead else None,
        )

    # --- votes -----------------------------------------------------------------------------------
    def vote(self, job_id: int, user_key: str, user_name: str, value: str) -> Tally:
        """One vote per person per job; voting again changes it. Returns the new tally."""
        with self.db.session() as s:
            existing = s.scalars(select(Vote).where(Vote.job_id == job_id, Vote.user_key == user_key)).first()
            if existing is None:
                s.add(Vote(job_id=job_id, user_key=user_key, user_name=user_name, value=value))
            else:
                existing.value = value
                existing.updated_at = utcnow()
        return self.tally(job_id)

    def tally(self, job_id: int) -> Tally:
        _, rows = self.db.run(self.db.prepare("votes.tally", _tally), {"job_id_": job_id})
        counts = {row["value"]: row["n"] for row in rows}
        return Tally(approve=int(counts.get("approve", 0)), reject=int(counts.get("reject", 0)))

    # --- settings -------------------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        _, rows = self.db.run(self.db.prepare("settings.get", _setting), {"key_": key})
        return rows[0]["value"] if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.db.session() as s:
            row = s.get(Setting, key)
            if row is None:
                s.add(Setting(key=key, value=value))
            else:
                row.value = value
                row.updated_at = utcnow()

    # --- audit and bans ---------------------------------------------------------------------------------
    def audit(
        self, actor_key: str, actor_name: str, action: str, detail: str, *, allowed: bool, tenant: Tenant = GLOBAL
    ) -> None:
        """One audit row; ``tenant``: the server the action was taken in."""
        with self.db.session() as s:
            s.add(AuditEntry(actor_key=actor_key, actor_name=actor_name, action=action, detail=detail, allowed=allowed,
                             platform=tenant.platform, workspace_id=tenant.workspace_id))  # fmt: skip

    def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        with self.db.session() as s:
            return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))

    def ban(self, user_key: str, reason: str, by: str, tenant: Tenant) -> None:
        """Ban ``user_key`` in ``tenant``'s server (``GLOBAL``: everywhere)."""
        key = (user_key, tenant.platform, tenant.workspace_id)
        with self.db.changing(), self.db.session() as s:  # ``ban_of`` is remembered
            row = s.get(Ban, key)
            if row is None:
                s.add(Ban(user_key=user_key, platform=tenant.platform, workspace_id=tenant.workspace_id,
                          reason=reason, banned_by=by))  # fmt: skip
            else:
                row.reason, row.banned_by, row.at = reason, by, utcnow()

    def unban(self, user_key: str, tenant: Tenant) -> bool:
        """Lift ``user_key``'s ban in ``tenant`` (only there: a global ban stays unless ``tenant`` is ``GLOBAL``)."""
        with self.db.changing(), self.db.session() as s:
            row = s.get(Ban, (user_key, tenant.platform, tenant.workspace_id))
            if row is None:
                return False
            s.delete(row)
            return True

    def ban_of(self, user_key: str, tenant: Tenant) -> Ban | None:
        """The ban that keeps ``user_key`` from making clips in ``tenant`` (a global ban before the server's),
        or None; read once, then remembered until a ban or unban (every /animate asks)."""
        key = ("ban", user_key, tenant.platform, tenant.workspace_id)
        return self.db.remembered(key, lambda: self._ban_of(user_key, tenant))

    def _ban_of(self, user_key: str, tenant: Tenant) -> Ban | None:
        params = {"key_": user_key, "platform_": tenant.platform, "workspace_": tenant.workspace_id}
        _, rows = self.db.run(self.db.prepare("bans.of", _ban), params)
        # Only the server's own row or the global one: a ban in the same platform's other server has both
        # columns set, and the IN pairs above would also take ("", workspace) which no row has.
        for row in rows:
            if (row["platform"], row["workspace_id"]) in (("", ""), (tenant.platform, tenant.workspace_id)):
                return Ban(**row)
        return None

    # --- servers the owners' pause does not cover: each server's own -------------------------------------------
    def paused_servers(self) -> set[Tenant]:
        with self.db.session() as s:
            stmt = select(ServerRules.platform, ServerRules.workspace_id).where(ServerRules.paused.is_(True))
            return {Tenant(p, w) for p, w in s.execute(stmt)}

    def set_server_paused(self, tenant: Tenant, paused: bool) -> None:
        with self.db.changing(), self.db.session() as s:  # the moderation store remembers server rows
            row = s.get(ServerRules, (tenant.platform, tenant.workspace_id))
            if row is None:
                row = ServerRules(platform=tenant.platform, workspace_id=tenant.workspace_id, roles=[])
                s.add(row)
            row.paused, row.at = paused, utcnow()


_Mapped = TypeVar("_Mapped", bound=Base)


def detached(cls: type[_Mapped], row: RowMapping | dict[str, Any]) -> _Mapped:
    """A detached ``cls`` instance holding ``row`` (every column), made without the cost of the ORM constructor."""
    mapper = cls.__mapper__
    if mapper.configured is False:  # the constructor would have configured the mappers
        configure_mappers()
    instance: _Mapped = mapper.class_manager.new_instance()
    instance.__dict__.update(row)
    return instance


def _job_of(row: RowMapping | dict[str, Any]) -> Job:
    return detached(Job, row)


def columns_of(job: Job) -> dict[str, Any]:
    """Every column value of ``job``, as a plain dict (what ``as_claimed`` starts from)."""
    held = job.__dict__  # a detached snapshot holds every column there: no attribute machinery per column
    try:
        return {key: held[key] for key in _JOB_KEYS}
    except KeyError:  # a column not loaded (an expired ORM object): the attributes load it
        return {key: getattr(job, key) for key in _JOB_KEYS}


def as_claimed(row: dict[str, Any], started_at: datetime, seed: int) -> Job:
    """The job ``row`` as ``Repository.claim`` leaves it (running, attempts + 1, started, its seed fixed),
    made in memory: the claim's write can then follow while the job already runs."""
    return _job_of(
        {
            **row,
            "status": JobStatus.RUNNING.value,
            "attempts": (row.get("attempts") or 0) + 1,
            "started_at": started_at,
            "progress_step": 0,
            "seed": row["seed"] if row.get("seed") is not None else seed,
        }
    )


def _default_maker(column: Any) -> Any:
    default = column.default
    if default.is_callable:
        return lambda: default.arg(None)
    return lambda: default.arg


_JOB_DEFAULTS = {
    column.key: _default_maker(column)
    for column in JOBS.columns
    if column.default is not None and not column.primary_key
}


def hours_ago(hours: float) -> datetime:
    return utcnow() - timedelta(hours=hours)
