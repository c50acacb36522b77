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
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.service import Access, Admin, Delivery, Service
from bot.service.admin import ModelSetting
from bot.settings import Settings
from generation.jobs import Engine, JobQueue, Limits, SafetyCheck, Worker
from generation.jobs.actor import EngineSpec
from generation.jobs.pool import RayOptions, RayPool, WorkerState
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

    engine: Any = create_engine(**engine_arguments(settings, steps))
    return engine  # type: ignore[no-any-return]


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
    worker: Worker | RayPool
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
        settings.admin_user_keys(),
        settings.admin_role_keys(),
        default_user_daily=settings.daily_per_user,
        default_server_daily=settings.daily_per_server,
    )
    delivery = Delivery(repo, {}, progress_every_s=settings.progress_every_s, safety_policy=access.safety_policy)
    safety, safety_status = make_safety(settings)
    worker: Worker | RayPool
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
        )
    admin = Admin(
        repo,
        queue,
        access,
        model,
        worker.validate_model,
        tiny=worker.engine.is_tiny,
        workers=_workers_reader(worker, settings, repo, model),
        delivery=delivery,
        safety_status=safety_status,
    )
    service = Service(
        repo=repo,
        queue=queue,
        worker=worker,  # type: ignore[arg-type]  # RayPool has the Worker's face
        access=access,
        admin=admin,
        delivery=delivery,
        upload_limit_bytes=settings.upload_limit_bytes,
        report_channels=settings.report_channels(),
    )
    return App(settings, db, repo, queue, worker, service)


def _workers_reader(worker: Worker | RayPool, settings: Settings, repo: Repository, model: ModelSetting) -> Any:
    """What ``/animate-admin workers`` shows: each Ray actor, or the one in-process worker."""
    if isinstance(worker, RayPool):
        return worker.refresh_workers

    def read() -> Sequence[WorkerState]:
        running = repo.jobs_with_status("running")
        return [
            WorkerState(
                "local",
                host=socket.gethostname(),
                gpus=(settings.device or "auto",),
                model=model.get(),
                job_id=running[0].id if running else None,
                jobs_done=repo.count_status("succeeded"),
                alive=True,
            )
        ]

    async def local() -> Sequence[WorkerState]:
        return await repo.db.offload(read)

    return local
