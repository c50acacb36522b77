"""The review board's queries: a server's finished clips page by page (keyset, newest first or most
approved), the values its filters offer, a clip's votes, children and reports, sign-in links used,
board sessions, and the counts health and metrics report. Every clip query takes a ``Scope``.

Each call is its own short transaction on the database thread; rows come back detached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models import BoardLink, BoardSession, DeliveryState, Job, JobStatus, Report, SafetyDecision, Vote
from storage.repository import Tally, detached
from storage.scope import Scope

JOBS = cast(Table, Job.__table__)
VOTES = cast(Table, Vote.__table__)
STATES = ("waiting", "approved", "rejected")
ORDERS = ("new", "top")


@dataclass(frozen=True)
class ClipQuery:
    """What the grid asks for; every field narrows it. ``after``: the keyset cursor of the last clip seen
    (``(approvals, id)``; approvals only matter for ``order="top"``)."""

    channel_id: str | None = None
    user_key: str | None = None
    state: str | None = None  # waiting | approved | rejected
    model: str | None = None
    motion: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    words: str | None = None
    order: str = "new"  # new | top
    after: tuple[int, int] | None = None
    limit: int = 24


@dataclass(frozen=True)
class ClipRow:
    job: Job
    tally: Tally


def _count(value: str) -> Any:
    return (
        select(func.count())
        .select_from(VOTES)
        .where(VOTES.c.job_id == JOBS.c.id, VOTES.c.value == value)
        .scalar_subquery()
    )


def shown(scope: Scope) -> list[Any]:
    """The conditions of a clip the board shows in ``scope``: finished, not deleted, not withheld by the
    safety check (a flagged clip not yet decided counts as withheld)."""
    return [
        *scope.conditions(),
        JOBS.c.status == JobStatus.SUCCEEDED.value,
        JOBS.c.deleted.is_(False),
        or_(JOBS.c.safety_decision.is_(None), JOBS.c.safety_decision != SafetyDecision.BLOCK.value),
        or_(JOBS.c.safety_flagged.is_not(True), JOBS.c.safety_decision.is_not(None)),
    ]


def _like_words(column: Any, words: str) -> list[Any]:
    conditions = []
    for word in words.split():
        escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(func.lower(column).like(f"%{escaped}%", escape="\\"))
    return conditions


class BoardStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- clips ---------------------------------------------------------------------------------------
    def clips(self, scope: Scope, query: ClipQuery) -> list[ClipRow]:
        """One page of ``scope``'s shown clips matching ``query``, in its order, after its cursor."""
        approvals, rejections = _count("approve").label("a"), _count("reject").label("r")
        where = shown(scope)
        if query.channel_id:
            where.append(JOBS.c.channel_id == query.channel_id)
        if query.user_key:
            where.append(JOBS.c.user_key == query.user_key)
        if query.model:
            where.append(JOBS.c.model_used == query.model)
        if query.motion:
            where += _like_words(JOBS.c.motions_used, query.motion)
        if query.since:
            where.append(JOBS.c.created_at >= query.since)
        if query.until:
            where.append(JOBS.c.created_at < query.until)
        if query.words:
            where += _like_words(JOBS.c.prompt, query.words)
        a, r = _count("approve"), _count("reject")
        if query.state == "waiting":
            where.append(~select(VOTES.c.id).where(VOTES.c.job_id == JOBS.c.id).exists())
        elif query.state == "approved":
            where.append(and_(a > 0, a > r))
        elif query.state == "rejected":
            where.append(and_(r > 0, r >= a))
        order: tuple[Any, ...]
        if query.order == "top":
            if query.after is not None:
                last_a, last_id = query.after
                where.append(or_(a < last_a, and_(a == last_a, JOBS.c.id < last_id)))
            order = (approvals.desc(), JOBS.c.id.desc())
        else:
            if query.after is not None:
                where.append(JOBS.c.id < query.after[1])
            order = (JOBS.c.id.desc(),)
        stmt = select(JOBS, approvals, rejections).where(*where).order_by(*order).limit(query.limit)
        with self.db.reading() as c:
            rows = c.execute(stmt).mappings().all()
        return [ClipRow(_job(row), Tally(approve=row["a"], reject=row["r"])) for row in rows]

    def clip(self, scope: Scope, job_id: int) -> ClipRow | None:
        """Clip ``job_id`` if the board shows it in ``scope``; None otherwise (another server's reads as missing)."""
        stmt = select(JOBS, _count("approve").label("a"), _count("reject").label("r")).where(
            JOBS.c.id == job_id, *shown(scope)
        )
        with self.db.reading() as c:
            row = c.execute(stmt).mappings().first()
        return ClipRow(_job(row), Tally(approve=row["a"], reject=row["r"])) if row else None

    def facets(self, scope: Scope) -> tuple[list[str], list[tuple[str, str]], list[str]]:
        """The channels, people (key, name) and models ``scope``'s shown clips have, for the filters."""
        where = shown(scope)
        with self.db.reading() as c:
            channels = [r[0] for r in c.execute(select(JOBS.c.channel_id).where(*where).distinct()) if r[0]]
            people = c.execute(
                select(JOBS.c.user_key, func.max(JOBS.c.user_name)).where(*where).group_by(JOBS.c.user_key)
            ).all()
            models = [r[0] for r in c.execute(select(JOBS.c.model_used).where(*where).distinct()) if r[0]]
        return sorted(channels), sorted(((k, n or k) for k, n in people), key=lambda p: p[1].lower()), sorted(models)

    def latest(self, scope: Scope) -> int:
        """The newest job id ``scope`` has (0: none): the facets change only when it does (or a clip is deleted)."""
        with self.db.reading() as c:
            return int(c.scalar(select(func.max(JOBS.c.id)).where(*scope.conditions())) or 0)

    def votes(self, job_id: int) -> list[Vote]:
        with self.db.session() as s:
            return list(s.scalars(select(Vote).where(Vote.job_id == job_id).order_by(Vote.updated_at, Vote.id)))

    def children(self, scope: Scope, job_id: int) -> list[Job]:
        """The clips made from ``job_id`` (rerolls, remixes, variants, extensions) that ``scope`` shows."""
        stmt = select(JOBS).where(JOBS.c.parent_id == job_id, *shown(scope)).order_by(JOBS.c.id)
        with self.db.reading() as c:
            return [_job(row) for row in c.execute(stmt).mappings()]

    def reports(self, job_id: int) -> list[Report]:
        with self.db.session() as s:
            return list(s.scalars(select(Report).where(Report.job_id == job_id).order_by(Report.id)))

    def servers(self) -> list[tuple[str, str]]:
        """Every server that has clips (what an owner may switch to)."""
        stmt = select(JOBS.c.platform, JOBS.c.workspace_id).where(JOBS.c.workspace_id != "").distinct()
        with self.db.reading() as c:
            return sorted((p, w) for p, w in c.execute(stmt))

    # --- sign-in ----------------------------------------------------------------------------------------
    def use_link(self, nonce: str) -> bool:
        """Mark a sign-in link used; False when it was used before (one statement: two tabs cannot both win)."""
        try:
            with self.db.session() as s:
                s.add(BoardLink(nonce=nonce))
        except IntegrityError:
            return False
        return True

    def add_session(self, session: BoardSession) -> None:
        with self.db.session() as s:
            s.add(session)

    def session(self, session_id: str, now: datetime) -> BoardSession | None:
        with self.db.session() as s:
            row = s.get(BoardSession, session_id)
            return row if row is not None and row.expires_at > now else None

    def switch_session(self, session_id: str, platform: str, workspace_id: str) -> None:
        with self.db.session() as s:
            s.execute(
                update(BoardSession)
                .where(BoardSession.id == session_id)
                .values(platform=platform, workspace_id=workspace_id, is_dm=False)
            )

    def end_session(self, session_id: str) -> None:
        with self.db.session() as s:
            s.execute(delete(BoardSession).where(BoardSession.id == session_id))

    def end_expired(self, now: datetime) -> int:
        with self.db.session() as s:
            return s.execute(delete(BoardSession).where(BoardSession.expires_at <= now)).rowcount or 0  # type: ignore[attr-defined]

    # --- health and metrics ---------------------------------------------------------------------------
    def job_counts(self) -> list[dict[str, Any]]:
        """Jobs grouped by state, worker and model: how many, their generation and encode seconds, uploads."""
        uploaded = JOBS.c.delivery.in_([DeliveryState.CLIP.value, DeliveryState.CLIP_REENCODED.value])
        stmt = select(
            JOBS.c.status,
            func.coalesce(JOBS.c.worker, "").label("worker"),
            func.coalesce(JOBS.c.model_used, JOBS.c.requested_model, "").label("model"),
            func.count().label("jobs"),
            func.coalesce(func.sum(JOBS.c.denoise_s + func.coalesce(JOBS.c.decode_s, 0)), 0).label("generate_s"),
            func.count(JOBS.c.denoise_s).label("generated"),
            func.coalesce(func.sum(JOBS.c.encode_s), 0).label("encode_s"),
            func.count(JOBS.c.encode_s).label("encoded"),
            func.sum(func.cast(uploaded, JOBS.c.attempts.type)).label("uploads"),
        ).group_by(JOBS.c.status, "worker", "model")
        with self.db.reading() as c:
            return [dict(row) for row in c.execute(stmt).mappings()]


def _job(row: Any) -> Job:
    return detached(Job, {column.key: row[column.key] for column in JOBS.columns})
