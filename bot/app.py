"""Wiring: settings -> database -> queue -> engine -> worker -> service. One place builds it all.

``build_app`` is what ``animatebot run`` and the end-to-end tests use; pass ``engine=`` to
run the whole bot on a stand-in generator (benchmarks, fault tests).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.service import Access, Admin, Delivery, Service
from bot.service.admin import ModelSetting
from bot.settings import Settings
from generation.jobs import Engine, JobQueue, Limits, Worker
from storage.db import Database
from storage.repository import Repository

log = logging.getLogger("animatebot.app")


def make_engine(settings: Settings, steps: int = 4) -> Engine:
    """The generation engine the settings ask for (imports torch and diffusers), warm for ``steps``."""
    from generation.engine import create_engine

    engine: Any = create_engine(
        settings.pipeline,
        base_model=settings.base_model,
        steps=steps,
        device=settings.device,
        dtype=settings.dtype,
        compile=settings.compile,
        vae_dtype=settings.vae_dtype,
        cache_dir=settings.cache_dir,
        lightning_source=settings.lightning_source,
        motion_lora_source=settings.motion_lora_source,
    )
    return engine  # type: ignore[no-any-return]


@dataclass
class App:
    settings: Settings
    db: Database
    repo: Repository
    queue: JobQueue
    worker: Worker
    service: Service

    async def start(self) -> None:
        await self.service.start()

    async def stop(self, grace_s: float = 30.0) -> None:
        await self.service.stop(grace_s)
        self.db.close()


def build_app(settings: Settings, *, engine: Engine | None = None) -> App:
    """Everything but the chat adapters, ready to ``start()``. Runs database migrations."""
    db = Database(settings.database_url)
    repo = Repository(db)
    queue = JobQueue(
        repo,
        default_limits=Limits(settings.max_active_per_user, settings.max_per_hour, settings.queue_cap),
        max_attempts=settings.max_attempts,
    )
    model = ModelSetting(repo, settings.base_model)
    delivery = Delivery(repo, {}, progress_every_s=settings.progress_every_s)
    worker = Worker(
        queue,
        engine if engine is not None else make_engine(settings),
        media_dir=settings.media_dir,
        on_event=delivery.on_event,
        job_timeout_s=settings.job_timeout_s,
        active_model=model.get,
    )
    access = Access(repo, queue, settings.admin_user_keys(), settings.admin_role_keys())
    admin = Admin(repo, queue, access, model, worker.validate_model, tiny=worker.engine.is_tiny)
    service = Service(
        repo=repo,
        queue=queue,
        worker=worker,
        access=access,
        admin=admin,
        delivery=delivery,
        upload_limit_bytes=settings.upload_limit_bytes,
    )
    return App(settings, db, repo, queue, worker, service)
