"""The review board's use cases (``bot.board.BoardHandler``): one-time sign-in links, sessions, a server's
clips and their recipes, votes through the chat buttons' own path, tally changes as they happen, health
and metrics. Every clip read takes the session's scope (``storage.board``), so another server's clip
answers exactly as a missing one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer

from bot.board import (
    EXPORT_MAX,
    ClipCard,
    ClipDetail,
    ClipFilter,
    ClipPage,
    ExportItem,
    Facets,
    Health,
    Media,
    Relative,
    ReportLine,
    SignIn,
    TallyChange,
    Viewer,
    VoteLine,
)
from bot.chat import Actor, MessageRef, Place
from bot.commands import format_animate
from bot.service.access import Authority
from bot.service.delivery import place_of
from bot.service.metrics import exposition
from generation.media import write_poster
from generation.params import GenerationParams
from storage.board import BoardStore, ClipQuery, ClipRow
from storage.models import BoardSession, Job, JobStatus, SafetyDecision, utcnow
from storage.repository import Tally
from storage.scope import Scope

if TYPE_CHECKING:
    from bot.service.clips import Service

log = logging.getLogger("animatebot.board")

LINK_TTL_S = 600  # a sign-in link works once, for ten minutes
SECRET_KEY = "board_secret"  # the settings-table row holding the generated secret
LINKS_PER_PERSON = 5  # sign-in links one person may ask for in LINK_WINDOW_S
SIGN_INS_PER_CLIENT = 20  # sign-in attempts (good or bad) one address may make in LINK_WINDOW_S
LINK_WINDOW_S = 600.0
_MIME = {".gif": "image/gif", ".mp4": "video/mp4", ".webp": "image/webp"}


class Window:
    """At most ``limit`` events per key in any ``seconds``; time comes from ``clock`` (tests pass their own)."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.seconds, self.clock = limit, seconds, clock
        self._events: defaultdict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        now, events = self.clock(), self._events[key]
        while events and events[0] <= now - self.seconds:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def server_label(platform: str, workspace_id: str) -> str:
    return f"{platform} {workspace_id}".strip() if workspace_id else platform


@dataclass
class Board:
    """Built by ``bot.app`` beside the ``Service`` whose vote path and adapters it uses."""

    service: Service
    base_url: str
    secret: str | None = None  # None: generated once and kept in the settings table
    session_hours: float = 12.0
    backend: str = "local"  # the worker back end (local or ray), for the metrics' labels
    clock: Callable[[], float] = time.monotonic  # the rate limits' time
    wall: Callable[[], float] = time.time  # a link's age (tests move it on)
    _serializer: URLSafeTimedSerializer | None = None
    _facets: dict[Scope, tuple[int, Facets]] = field(default_factory=dict)
    _listeners: defaultdict[tuple[str, str], set[asyncio.Queue[TallyChange]]] = field(
        default_factory=lambda: defaultdict(set)
    )

    def __post_init__(self) -> None:
        self.store = BoardStore(self.service.repo.db)
        self.links = Window(LINKS_PER_PERSON, LINK_WINDOW_S, self.clock)
        self.sign_ins = Window(SIGN_INS_PER_CLIENT, LINK_WINDOW_S, self.clock)
        self.service.vote_listeners.append(self._tally_changed)

    @property
    def media_dir(self) -> Path:
        return Path(self.service.worker.media_dir)

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.service.repo.db.offload(fn, *args, **kwargs)

    async def _signer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:
            secret = self.secret or await self._db(self._stored_secret)
            self._serializer = URLSafeTimedSerializer(secret, salt="animatebot-board-link")
        return self._serializer

    def _stored_secret(self) -> str:
        """The secret in the settings table, made on first use (on the database thread)."""
        repo = self.service.repo
        secret = repo.get_setting(SECRET_KEY)
        if not secret:
            secret = secrets.token_urlsafe(32)
            repo.set_setting(SECRET_KEY, secret)
        return str(secret)

    # --- sign-in -----------------------------------------------------------------------------------------
    async def link(self, actor: Actor, place: Place) -> str | None:
        """A one-time sign-in link for ``actor`` in ``place``'s server; None when they asked too often."""
        if not self.links.allow(actor.key):
            return None
        authority = self.service.access.authority(actor, place)
        claims = {
            "u": actor.key,
            "n": actor.name,
            "p": place.platform,
            "w": place.workspace_id,
            "dm": place.is_dm,
            "o": authority >= Authority.OWNER,
            "a": authority >= Authority.SERVER_ADMIN,
            "x": secrets.token_urlsafe(12),
        }
        token = (await self._signer()).dumps(claims)
        return f"{self.base_url.rstrip('/')}/signin?t={token}"

    async def sign_in(self, token: str, client: str) -> SignIn:
        if not self.sign_ins.allow(client):
            return SignIn(None, None, "too many sign-in attempts; wait a few minutes and ask for a new link")
        try:
            claims, signed_at = (await self._signer()).loads(token, return_timestamp=True)
        except BadSignature:
            return SignIn(None, None, "this is not a sign-in link of this bot; type /animate-board in chat")
        if self.wall() - signed_at.timestamp() > LINK_TTL_S:
            return SignIn(
                None, None, "this sign-in link has expired (links last 10 minutes); type /animate-board again"
            )
        if not isinstance(claims, dict) or not await self._db(self.store.use_link, str(claims.get("x"))):
            return SignIn(None, None, "this sign-in link was used already; type /animate-board again for a new one")
        cookie = secrets.token_urlsafe(32)
        row = BoardSession(
            id=_hash(cookie),
            user_key=str(claims["u"]),
            user_name=str(claims["n"]),
            platform=str(claims["p"]),
            workspace_id=str(claims["w"]),
            is_dm=bool(claims["dm"]),
            owner=bool(claims["o"]),
            admin=bool(claims["a"]),
            csrf=secrets.token_urlsafe(24),
            expires_at=utcnow() + timedelta(hours=self.session_hours),
        )
        await self._db(self.store.add_session, row)
        log.info("%s signed in to the board for %s", row.user_key, server_label(row.platform, row.workspace_id))
        return SignIn(cookie, _viewer(row))

    async def viewer(self, cookie: str) -> Viewer | None:
        if not cookie:
            return None
        row = await self._db(self.store.session, _hash(cookie), utcnow())
        return _viewer(row) if row is not None else None

    async def sign_out(self, viewer: Viewer) -> None:
        await self._db(self.store.end_session, viewer.session_id)

    async def servers(self, viewer: Viewer) -> Sequence[tuple[str, str, str]]:
        if not viewer.owner:
            return []
        found = await self._db(self.store.servers)
        return [(p, w, server_label(p, w)) for p, w in found]

    async def switch(self, viewer: Viewer, platform: str, workspace_id: str) -> bool:
        if not viewer.owner:
            return False
        await self._db(self.store.switch_session, viewer.session_id, platform, workspace_id)
        return True

    # --- clips --------------------------------------------------------------------------------------------
    async def clips(self, viewer: Viewer, wanted: ClipFilter) -> ClipPage:
        query = ClipQuery(
            channel_id=wanted.channel or None,
            user_key=wanted.person or None,
            state=wanted.state,
            model=wanted.model or None,
            motion=wanted.motion or None,
            since=_day(wanted.since),
            until=_day(wanted.until + timedelta(days=1)) if wanted.until else None,
            words=wanted.words or None,
            order=wanted.order,
            after=_cursor(wanted.after),
            limit=max(1, min(wanted.limit, 100)),
        )
        rows: list[ClipRow] = await self._db(self.store.clips, _scope(viewer), query)
        cards = tuple(_card(row) for row in rows)
        last = rows[-1] if len(rows) == query.limit else None
        return ClipPage(cards, f"{last.tally.approve}.{last.job.id}" if last else None)

    async def facets(self, viewer: Viewer) -> Facets:
        """The filters' values, read again only when the server has a new job (three scans of its clips)."""
        scope = _scope(viewer)

        def read() -> Facets:
            latest = self.store.latest(scope)
            kept = self._facets.get(scope)
            if kept is not None and kept[0] == latest:
                return kept[1]
            channels, people, models = self.store.facets(scope)
            facets = Facets(tuple(channels), tuple(people), tuple(models))
            if len(self._facets) > 1000:
                self._facets.clear()
            self._facets[scope] = (latest, facets)
            return facets

        return await self._db(read)

    async def clip(self, viewer: Viewer, job_id: int) -> ClipDetail | None:
        scope = _scope(viewer)

        def read() -> tuple[Any, ...] | None:
            row = self.store.clip(scope, job_id)
            if row is None:
                return None
            parent = self.store.clip(scope, row.job.parent_id) if row.job.parent_id else None
            reports = self.store.reports(job_id) if viewer.admin else []
            return row, self.store.votes(job_id), parent, self.store.children(scope, job_id), reports

        found = await self._db(read)
        if found is None:
            return None
        row, votes, parent, children, reports = found
        job: Job = row.job
        params = GenerationParams.from_dict(job.params).with_changes(seed=job.seed, model=job.model_used or None)
        try:
            recipe = "/animate " + format_animate(params)
        except ValueError:
            recipe = "/animate " + params.prompt
        adapter = self.service.adapters.get(job.platform)
        link = None
        if adapter is not None and job.clip_message_id:
            with contextlib.suppress(Exception):
                link = adapter.link(MessageRef(place_of(job, thread=True), job.clip_message_id))
        mine = next((v.value for v in votes if v.user_key == viewer.user_key), None)
        return ClipDetail(
            card=_card(row),
            recipe=recipe,
            recipe_fields=_recipe_fields(job, params),
            votes=tuple(VoteLine(v.user_name or v.user_key, v.value, v.updated_at) for v in votes),
            parent=Relative(parent.job.id, job.lineage or "parent", parent.job.prompt) if parent else None,
            children=tuple(Relative(c.id, c.lineage or "child", c.prompt) for c in children),
            reports=tuple(
                ReportLine(r.id, r.reporter_name or r.reporter_key, r.reason, r.status, r.at) for r in reports
            ),
            thread_link=link,
            my_vote=mine,
        )

    async def media(self, viewer: Viewer, job_id: int, kind: Literal["clip", "poster"]) -> Media | None:
        row = await self._db(self.store.clip, _scope(viewer), job_id)
        if row is None or not row.job.output_path:
            return None
        path = Path(row.job.output_path)
        if kind == "clip":
            return Media(path, _MIME.get(path.suffix, "application/octet-stream")) if path.exists() else None
        poster = self.media_dir / "posters" / f"{job_id}.jpg"
        if not poster.exists():
            try:
                await asyncio.to_thread(write_poster, path, poster)
            except Exception:
                log.warning("no poster for #%s", job_id, exc_info=True)
                return None
        return Media(poster, "image/jpeg")

    async def vote(self, viewer: Viewer, job_id: int, value: str) -> TallyChange | None:
        if value not in ("approve", "reject"):
            return None
        row = await self._db(self.store.clip, _scope(viewer), job_id)
        if row is None or row.job.status != JobStatus.SUCCEEDED.value:
            return None
        tally = await self.service.record_vote(viewer.user_key, viewer.name, row.job, value)
        return TallyChange(job_id, tally.approve, tally.reject)

    async def export(self, viewer: Viewer, job_ids: Sequence[int]) -> list[ExportItem]:
        items = []
        for job_id in list(dict.fromkeys(job_ids))[:EXPORT_MAX]:
            detail = await self.clip(viewer, job_id)
            media = await self.media(viewer, job_id, "clip") if detail else None
            if detail is None or media is None:
                continue
            recipe: dict[str, object] = {"id": job_id, "animate": detail.recipe, **dict(detail.recipe_fields)}
            recipe["approvals"], recipe["rejections"] = detail.card.approvals, detail.card.rejections
            items.append(ExportItem(job_id, media, recipe))
        return items

    # --- tally changes as they happen -----------------------------------------------------------------------
    async def _tally_changed(self, job: Job, tally: Tally) -> None:
        change = TallyChange(job.id, tally.approve, tally.reject)
        for queue in list(self._listeners.get((job.platform, job.workspace_id), ())):
            queue.put_nowait(change)

    def changes(self, viewer: Viewer) -> Changes:
        return Changes(self._listeners[(viewer.platform, viewer.workspace_id)])

    # --- health and metrics ---------------------------------------------------------------------------------------
    async def health(self) -> Health:
        service = self.service
        try:
            counts = await self._db(
                lambda: (service.repo.count_status(JobStatus.QUEUED.value), service.repo.count_status("running"))
            )
            database = True
        except Exception:
            log.warning("health: the database did not answer", exc_info=True)
            counts, database = (0, 0), False
        workers: list[dict[str, object]] = []
        reader = service.admin.workers
        if reader is not None and database:
            try:
                for state in await reader():
                    workers.append({"name": state.name, "alive": state.alive, "busy": state.job_id is not None,
                                    "model": state.model, "jobs_done": state.jobs_done})  # fmt: skip
            except Exception:
                log.warning("health: the workers did not answer", exc_info=True)
        alive = all(bool(w["alive"]) for w in workers)
        return Health(database and alive, database, counts[0], counts[1], service.queue.paused, tuple(workers))

    async def metrics(self) -> bytes:
        rows = await self._db(self.store.job_counts)
        return exposition(rows, self.backend)


class Changes:
    """One listener's tally changes: registered when made (nothing voted after that is missed), gone at ``aclose``."""

    def __init__(self, listeners: set[asyncio.Queue[TallyChange]]) -> None:
        self._queue: asyncio.Queue[TallyChange] = asyncio.Queue()
        self._listeners = listeners
        listeners.add(self._queue)

    def __aiter__(self) -> Changes:
        return self

    async def __anext__(self) -> TallyChange:
        return await self._queue.get()

    async def aclose(self) -> None:
        self._listeners.discard(self._queue)


def _viewer(row: BoardSession) -> Viewer:
    return Viewer(
        session_id=row.id,
        user_key=row.user_key,
        name=row.user_name or row.user_key,
        platform=row.platform,
        workspace_id=row.workspace_id,
        server_label="your direct messages" if row.is_dm else server_label(row.platform, row.workspace_id),
        owner=row.owner,
        admin=row.admin,
        csrf=row.csrf,
        own_only=row.is_dm,
    )


def _scope(viewer: Viewer) -> Scope:
    """A board session sees what its person sees in the server's public channels (in a DM: their own clips)."""
    if viewer.own_only:
        return Scope.person(viewer.user_key)
    return Scope.server(viewer.platform, viewer.workspace_id)


def _day(day: date | None) -> datetime | None:
    return datetime.combine(day, dtime(0), UTC) if day else None


def _cursor(text: str | None) -> tuple[int, int] | None:
    """A page cursor (``approvals.id``); anything else starts at the first page."""
    if not text:
        return None
    approvals, _, job_id = text.partition(".")
    if approvals.isdigit() and job_id.isdigit() and len(text) < 40:
        return int(approvals), int(job_id)
    return None


def _card(row: ClipRow) -> ClipCard:
    job = row.job
    path = Path(job.output_path or "")
    return ClipCard(
        job_id=job.id,
        prompt=job.prompt,
        person=job.user_name or job.user_key,
        channel=job.channel_id,
        created_at=job.created_at,
        model=job.model_used or job.requested_model or "",
        motions="" if job.motions_used in (None, "none") else job.motions_used,
        media_type=_MIME.get(path.suffix, "application/octet-stream"),
        approvals=row.tally.approve,
        rejections=row.tally.reject,
        hidden=job.safety_decision == SafetyDecision.SPOILER.value,
        tiny=job.tiny,
    )


def _recipe_fields(job: Job, params: GenerationParams) -> tuple[tuple[str, str], ...]:
    fields = [
        ("prompt", params.prompt),
        ("negative", params.negative_prompt),
        ("model", job.model_used or job.requested_model or ""),
        ("motions", job.motions_used or params.motion_text),
        ("steps", str(job.steps_used or job.steps)),
        ("frames", str(job.frames)),
        ("fps", str(params.fps)),
        ("seed", str(job.seed) if job.seed is not None else ""),
        ("guidance", f"{params.guidance:g}"),
        ("aspect", f"{params.aspect} ({params.width}x{params.height})"),
        ("loop", params.loop),
        ("format", job.output_format or params.format),
        ("made", f"{job.created_at:%Y-%m-%d %H:%M} UTC"),
        ("by", job.user_name or job.user_key),
    ]
    return tuple((k, v) for k, v in fields if v)
