"""Wiring: settings -> database -> queue -> engine -> worker -> service. One place builds it all.

``build_app`` is what ``animatebot run`` and the end-to-end tests use; pass ``engine=`` to
run the whole bot on a stand-in generator (benchmarks, fault tests): an engine for the local
worker, or with ``ANIMATEBOT_WORKERS=ray`` an ``EngineSpec`` that every actor builds instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.service import Access, Admin, Delivery, Service, Where
from bot.service.admin import ModelSetting
from bot.service.board import Board
from bot.service.showcase import Showcase
from bot.settings import Settings
from generation.jobs import Backend, Engine, JobQueue, Limits, SafetyCheck
from generation.jobs.local import Worker
from generation.jobs.ray import EngineSpec, RayOptions, RayPool
from generation.media.space import DiskSpace
from storage import loopguard
from storage.db import Database
from storage.models import utcnow
from storage.repository import Repository
from storage.retention import Pruned, prune

log = logging.getLogger("animatebot.app")

PRUNE_EVERY_S = 24 * 3600.0  # ANIMATEBOT_KEEP_DAYS counts days: once a day is soon enough


_frozen = False


def _freeze_startup_objects() -> None:
    """Once a process: what exists when the bot has started (the libraries' modules and classes, the model,
    the recovered queue) lives as long as the process, so the garbage collector stops walking it. A full
    collection otherwise visits hundreds of thousands of objects once torch and diffusers are imported,
    a pause of the event loop (and of every command) that grows with them."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


def engine_arguments(settings: Settings, steps: int = 4) -> dict[str, Any]:
    """``create_engine``'s arguments from the settings: the local worker and every Ray actor build the same engine."""
    return {
        "pipeline": settings.pipeline,
        "base_model": settings.base_model,
        "steps": steps,
        "device": settings.device,
        "dtype": settings.dtype,
        "compile": settings.compile,
        "vae_dtype": settings.vae_dtype,
        "cache_dir": settings.cache_dir,
        "lightning_source": settings.lightning_source,
        "motion_lora_source": settings.motion_lora_source,
    }


def make_engine(settings: Settings, steps: int = 4) -> Engine:
    """The generation engine the settings ask for (imports torch and diffusers), warm for ``steps``."""
    from generation.engine import create_engine

    return create_engine(**engine_arguments(settings, steps))


def engine_spec(settings: Settings, steps: int = 4) -> EngineSpec:
    """How each Ray actor builds its engine: ``make_engine``'s arguments, built in the actor's own process."""
    return EngineSpec(
        "generation.engine:create_engine", engine_arguments(settings, steps), is_tiny=settings.pipeline == "tiny"
    )


def ray_options(settings: Settings) -> RayOptions:
    token = settings.ray_auth_token.get_secret_value() if settings.ray_auth_token else None
    return RayOptions(
        address=settings.ray_address,
        workers=settings.ray_workers,
        gpus_per_worker=settings.ray_gpus_per_worker,
        token=token or None,
        namespace=settings.ray_namespace,
    )


def make_safety(settings: Settings) -> tuple[SafetyCheck | None, str]:
    """The NSFW check the settings ask for (imports torch and transformers) and a line saying its state.

    When the classifier cannot be loaded the bot says so and follows ANIMATEBOT_SAFETY_UNAVAILABLE:
    every clip counts as flagged (block) or none does (allow).
    """
    if not settings.safety:
        return None, "off (ANIMATEBOT_SAFETY=off)"
    from generation.engine.safety import TINY_LABEL, SafetyUnavailable, load_classifier

    tiny = settings.pipeline == "tiny"
    try:
        classifier = load_classifier(
            settings.safety_model,
            tiny=tiny,
            threshold=settings.safety_threshold,
            cache_dir=settings.cache_dir,
            device=settings.device,
        )
    except SafetyUnavailable as exc:
        flag = settings.safety_unavailable == "block"
        what = "every clip is withheld or hidden per channel" if flag else "clips are posted unchecked"
        status = f"UNAVAILABLE ({exc}); {what} (ANIMATEBOT_SAFETY_UNAVAILABLE={settings.safety_unavailable})"
        log.error("safety check %s", status)
        return (lambda frames: (None, flag)), status
    name = TINY_LABEL if tiny else settings.safety_model
    status = f"on: {name}, flagged at {settings.safety_threshold:g} and above"
    log.info("safety check %s", status)
    return classifier, status


@dataclass
class App:
    settings: Settings
    db: Database
    repo: Repository
    queue: JobQueue
    worker: Backend
    service: Service
    pruned: asyncio.Event = field(default_factory=asyncio.Event)  # set after each prune (ANIMATEBOT_KEEP_DAYS)
    _pruning: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.service.start()
        _freeze_startup_objects()
        if self.settings.keep_days > 0:
            self._pruning = asyncio.create_task(self._prune_daily(), name="animatebot-retention")

    async def stop(self, grace_s: float = 30.0) -> None:
        if self._pruning is not None:
            self._pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruning
        await self.service.stop(grace_s)
        self.db.close()

    async def prune(self, older_than: timedelta) -> Pruned:
        """Remove the clips and stills of jobs made more than ``older_than`` ago (off the loop); what went."""
        pruned = await asyncio.to_thread(prune, self.db, utcnow() - older_than, self.settings.media_dir)
        if pruned.jobs:
            log.info("retention (ANIMATEBOT_KEEP_DAYS=%d): %s", self.settings.keep_days, pruned.line())
        return pruned

    async def _prune_daily(self) -> None:
        while True:
            try:
                await self.prune(timedelta(days=self.settings.keep_days))
            except Exception as exc:  # a failing prune must not stop the bot; it is tried again tomorrow
                log.warning("pruning old clips failed: %s", exc)
            self.pruned.set()
            await asyncio.sleep(PRUNE_EVERY_S)


def build_app(settings: Settings, *, engine: Engine | EngineSpec | None = None) -> App:
    """Everything but the chat adapters, ready to ``start()``. Runs database migrations.

    Its parts read their state from the database once as they are made, before any event loop serves a
    command, so those reads may run on the loop's thread (``loopguard.permitted``)."""
    with loopguard.permitted():
        return _build_app(settings, engine)


def _build_app(settings: Settings, engine: Engine | EngineSpec | None) -> App:
    db = Database(settings.database_url)
    repo = Repository(db)
    queue = JobQueue(
        repo,
        default_limits=Limits(settings.max_active_per_user, settings.max_per_hour, settings.queue_cap),
        max_attempts=settings.max_attempts,
        space=DiskSpace(settings.media_dir, settings.min_free_mb).refusal,
    )
    model = ModelSetting(repo, settings.base_model)
    access = Access(
        repo,
        queue,
        settings.owner_user_keys(),
        settings.admin_role_keys(),
        default_user_daily=settings.daily_per_user,
        default_server_daily=settings.daily_per_server,
        dm_daily_per_user=settings.dm_daily_per_user,
    )
    delivery = Delivery(repo, {}, progress_every_s=settings.progress_every_s, safety_policy=access.safety_policy)
    safety, safety_status = make_safety(settings)
    worker: Backend
    if settings.workers == "ray" and (engine is None or isinstance(engine, EngineSpec)):
        worker = RayPool(
            queue,
            engine if engine is not None else engine_spec(settings),
            ray_options(settings),
            media_dir=settings.media_dir,
            on_event=delivery.on_event,
            job_timeout_s=settings.job_timeout_s,
            active_model=model.get,
            safety=safety,
        )
    else:
        if isinstance(engine, EngineSpec):
            raise ValueError("an EngineSpec describes Ray actors' engine: it needs ANIMATEBOT_WORKERS=ray")
        worker = Worker(
            queue,
            engine if engine is not None else make_engine(settings),
            media_dir=settings.media_dir,
            on_event=delivery.on_event,
            job_timeout_s=settings.job_timeout_s,
            active_model=model.get,
            safety=safety,
            device=settings.device,
        )
    showcase = Showcase(repo, delivery, access.moderation)
    admin = Admin(
        repo,
        queue,
        access,
        model,
        worker.validate_model,
        tiny=worker.is_tiny,
        workers=worker.workers,
        delivery=delivery,
        safety_status=safety_status,
        showcase=showcase,
    )
    service = Service(
        repo=repo,
        queue=queue,
        worker=worker,
        access=access,
        admin=admin,
        delivery=delivery,
        upload_limit_bytes=settings.upload_limit_bytes,
        report_channels=settings.report_channels(),
        where=Where(frozenset(settings.allowed_servers), settings.direct_messages),
    )
    service.vote_listeners.append(showcase.on_vote)
    if settings.web_enabled:
        secret = settings.web_secret.get_secret_value() if settings.web_secret else None
        service.board = Board(
            service,
            settings.web_public_url,
            secret=secret,
            session_hours=settings.web_session_hours,
            backend=settings.workers,
        )
    return App(settings, db, repo, queue, worker, service)
