"""Admin use cases: the base model, pause / resume, limits, bans, and the moderation actions (in
``moderation_admin``). Every attempt is audited,
allowed or not; who is an admin is decided by ``Access`` on every call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.chat import Invocation
from bot.commands import Command
from bot.commands.moderation import MODERATION_ACTIONS
from bot.service import replies as render
from bot.service.access import Access
from bot.service.moderation_admin import run_moderation
from generation.catalog import BASE_MODELS, find_base_model
from generation.jobs import JobQueue
from generation.jobs.backend import WorkerState
from storage.repository import Repository

if TYPE_CHECKING:
    from bot.service.delivery import Delivery

log = logging.getLogger("animatebot.admin")

_LIMIT_FIELDS = {"per_user": "max_active_per_user", "per_hour": "max_per_hour", "queue_cap": "queue_cap"}
BASE_MODEL_KEY = "base_model"


@dataclass
class ModelSetting:
    """The base model admins chose (stored, so it survives restarts), else the configured default.

    Read from the database once, then from memory: every change goes through ``set`` in this process,
    and the worker asks before every job (on the generation thread, which never waits for the database).
    """

    repo: Repository
    default: str
    _value: str | None = field(default=None, repr=False)

    def get(self) -> str:
        if self._value is None:
            self._value = str(self.repo.get_setting(BASE_MODEL_KEY) or self.default)
        return self._value

    def set(self, name: str) -> None:
        self.repo.set_setting(BASE_MODEL_KEY, name)
        self._value = name


@dataclass(frozen=True)
class Admin:
    """``/animate-admin``: built from the parts it acts on, never from the admin."""

    repo: Repository
    queue: JobQueue
    access: Access
    model: ModelSetting
    validate_model: Callable[[str], Awaitable[object]]
    tiny: bool = False
    workers: Callable[[], Awaitable[Sequence[WorkerState]]] | None = None  # the worker back end's actors
    delivery: Delivery | None = None  # releases withheld clips
    safety_status: str = "off"  # what /animate-admin safety show says about the NSFW check

    async def run(self, inv: Invocation, command: Command) -> None:
        await run_admin(self, inv, command)


async def run_admin(admin: Admin, inv: Invocation, command: Command) -> None:
    actor = inv.actor
    action = command.admin_action or ""
    detail = " ".join(f"{k}={v}" for k, v in sorted(command.admin_args.items()))
    if command.user:
        detail = f"user={command.user} {detail}".strip()
    if not admin.access.is_admin(actor):
        admin.repo.audit(actor.key, actor.name, action, detail, allowed=False)
        log.warning("refused /animate-admin %s from %s", action, actor.key)
        await inv.responder.reply(render.error("only admins can use /animate-admin"), ephemeral=True)
        return

    if action in MODERATION_ACTIONS:
        await run_moderation(admin, inv, command, detail)
        return
    if action == "models":
        await inv.responder.reply(render.models(admin.model.get(), admin.tiny), ephemeral=True)
        return
    if action == "workers":
        states = await admin.workers() if admin.workers is not None else []
        await inv.responder.reply(render.workers(states), ephemeral=True)
        return
    if action == "limits" and not command.admin_args:
        await inv.responder.reply(render.limits(admin.queue.limits), ephemeral=True)
        return

    if action == "model":
        message, public = await _switch_model(admin, command.admin_args["model"], actor.name)
        admin.repo.audit(actor.key, actor.name, action, detail, allowed=public)
        await inv.responder.reply(message, ephemeral=not public)
        return

    if action in ("pause", "resume"):
        admin.queue.set_paused(action == "pause")
        text = (
            f"the queue is paused by {actor.name}: jobs already queued wait, the running one finishes"
            if action == "pause"
            else f"the queue is running again (resumed by {actor.name})"
        )
        admin.repo.audit(actor.key, actor.name, action, detail, allowed=True)
        await inv.responder.reply(render.info(text))
        return

    if action == "limits":
        values = {_LIMIT_FIELDS[k]: int(v) for k, v in command.admin_args.items()}
        current = admin.queue.set_limits(**values)
        admin.repo.audit(actor.key, actor.name, action, detail, allowed=True)
        await inv.responder.reply(render.limits(current), ephemeral=True)
        return

    target = f"{inv.place.platform}:{command.user}"
    if action == "ban":
        reason = command.admin_args.get("reason", "")
        admin.repo.ban(target, reason, actor.key)
        admin.repo.audit(actor.key, actor.name, action, detail, allowed=True)
        await inv.responder.reply(render.info(f"{command.user} can no longer make clips here"), ephemeral=True)
    elif action == "unban":
        removed = admin.repo.unban(target)
        admin.repo.audit(actor.key, actor.name, action, detail, allowed=True)
        text = f"{command.user} can make clips again" if removed else f"{command.user} was not banned"
        await inv.responder.reply(render.info(text), ephemeral=True)


async def _switch_model(admin: Admin, name: str, by: str) -> tuple[render.Message, bool]:
    """Persist a new base model; a name outside the catalog is validated by loading it first."""
    entry = find_base_model(name)
    if entry is None:
        if "/" not in name and not name.startswith((".", "~")):
            allowed = ", ".join(m.alias for m in BASE_MODELS)
            return render.error(f"unknown model {name!r}; known: {allowed}, or a repo id / local path"), False
        try:
            await admin.validate_model(name)
        except Exception as exc:
            return render.error(f"could not switch to {name}: {exc}; {admin.model.get()} stays active"), False
    chosen = entry.alias if entry else name
    admin.model.set(chosen)
    title = f" ({entry.title})" if entry else ""
    return render.info(f"base model switched to {chosen}{title} by {by}; it applies from the next job"), True
