"""Admin use cases: the base model, pause / resume, limits, bans, and the moderation actions (in
``moderation_admin``). Every attempt is audited, allowed or not, with the server it was made in.

Who may do what is decided by ``Access`` on every call. Owners act for every server: the whole
queue, the global caps, the model catalogue (any Hub repo or local folder), global rules and bans,
the workers. A server admin acts for the server the command is typed in: its model from the
catalogue, its limits within the caps, its pause, its bans. Storage is reached through the database
thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.chat import Invocation
from bot.commands import Command
from bot.commands.moderation import MODERATION_ACTIONS
from bot.service import replies as render
from bot.service.access import Access, Authority, tenant_of
from bot.service.moderation_admin import run_moderation
from generation.catalog import BASE_MODELS, find_base_model
from generation.jobs import JobQueue
from generation.jobs.backend import WorkerState
from generation.jobs.ratelimit import Limits
from storage.models import GLOBAL, Tenant
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
    showcase: Any = None  # bot.service.showcase.Showcase: /animate-admin showcase

    async def run(self, inv: Invocation, command: Command) -> None:
        await run_admin(self, inv, command)


OWNER_ONLY = frozenset({"workers"})  # every other action has a server's own meaning for its admins


async def run_admin(admin: Admin, inv: Invocation, command: Command) -> None:
    actor, place = inv.actor, inv.place
    action = command.admin_action or ""
    detail = " ".join(f"{k}={v}" for k, v in sorted(command.admin_args.items()))
    if command.user:
        detail = f"user={command.user} {detail}".strip()
    tenant = tenant_of(place)
    authority = admin.access.authority(actor, place)
    db = admin.repo.db.offload

    async def audit(allowed: bool) -> None:
        await db(admin.repo.audit, actor.key, actor.name, action, detail, allowed=allowed, tenant=tenant)

    if authority < Authority.SERVER_ADMIN or (action in OWNER_ONLY and authority < Authority.OWNER):
        await audit(False)
        log.warning("refused /animate-admin %s from %s in %s", action, actor.key, tenant)
        text = "only admins can use /animate-admin" if authority < Authority.SERVER_ADMIN else (
            f"only the bot's owners can use /animate-admin {action}")  # fmt: skip
        await inv.responder.reply(render.error(text), ephemeral=True)
        return
    owner = authority >= Authority.OWNER

    if action in MODERATION_ACTIONS:
        await run_moderation(admin, inv, command, detail, owner)
        return
    if action == "showcase" and admin.showcase is not None:
        message = await admin.showcase.command(inv, command)
        if command.admin_args:
            await audit(True)
        await inv.responder.reply(message, ephemeral=True)
        return
    if action == "models":
        active = await db(_model_of, admin, tenant)
        await inv.responder.reply(render.models(active, admin.tiny), ephemeral=True)
        return
    if action == "workers":
        states = await admin.workers() if admin.workers is not None else []
        await inv.responder.reply(render.workers(states), ephemeral=True)
        return
    if action == "limits" and not command.admin_args:
        message = await db(_show_limits, admin, tenant, owner)
        await inv.responder.reply(message, ephemeral=True)
        return

    if action == "model":
        name = command.admin_args["model"]
        if owner:
            message, public = await _switch_model(admin, name, actor.name)
        else:
            message, public = await db(_server_model, admin, tenant, name, actor.name)
        await audit(public)
        await inv.responder.reply(message, ephemeral=not public)
        return

    if action == "variants":
        value = command.admin_args.get("variants")
        message = await db(_server_variants, admin, tenant, int(value) if value else None)
        if value:
            await audit(True)
        await inv.responder.reply(message, ephemeral=True)
        return

    if action in ("pause", "resume"):
        message = await db(_pause, admin, tenant, owner, action == "pause", actor.name)
        await audit(True)
        await inv.responder.reply(message)
        return

    if action == "limits":
        values = {_LIMIT_FIELDS[k]: int(v) for k, v in command.admin_args.items()}
        message, changed = await db(_set_limits, admin, tenant, owner, values)
        await audit(changed)
        await inv.responder.reply(message, ephemeral=True)
        return

    # A ban by an owner holds everywhere; a server admin's only in that server. The user is named as
    # the platform knows them: whether they are in this server or another, the answer is the same.
    target = f"{place.platform}:{command.user}"
    scope = GLOBAL if owner else tenant
    if action == "ban":
        reason = command.admin_args.get("reason", "")
        await db(admin.repo.ban, target, reason, actor.key, scope)
        await audit(True)
        where = "anywhere" if owner else "here"
        await inv.responder.reply(render.info(f"{command.user} can no longer make clips {where}"), ephemeral=True)
    elif action == "unban":
        removed = await db(_unban, admin, target, tenant, owner)
        await audit(removed)
        text = f"{command.user} can make clips again" if removed else f"{command.user} was not banned"
        await inv.responder.reply(render.info(text), ephemeral=True)


def _unban(admin: Admin, user_key: str, tenant: Tenant, owner: bool) -> bool:
    """A server admin lifts their server's ban; an owner the global one, else this server's."""
    if owner and admin.repo.unban(user_key, GLOBAL):
        return True
    return admin.repo.unban(user_key, tenant)


def _server_variants(admin: Admin, tenant: Tenant, value: int | None) -> render.Message:
    """Show, or set, how many takes an /animate here makes when it asks for none (variants:)."""
    if value is None:
        current = admin.access.server_variants(tenant)
        return render.info(f"/animate makes {current} take{'s' if current > 1 else ''} here unless variants: says")
    admin.access.moderation.update_server_rules(tenant.platform, tenant.workspace_id, default_variants=value)
    return render.info(f"/animate now makes {value} take{'s' if value > 1 else ''} here unless variants: says")


def _model_of(admin: Admin, tenant: Tenant) -> str:
    """The base model a job in ``tenant`` runs on when it names none."""
    return admin.access.server_model(tenant) or admin.model.get()


def _server_model(admin: Admin, tenant: Tenant, name: str, by: str) -> tuple[render.Message, bool]:
    """A server admin chooses their server's base model, from the catalogue only. Nothing else is looked
    up (no Hub, no disk): the answer to a name outside it says nothing about what exists."""
    entry = find_base_model(name)
    if entry is None:
        allowed = ", ".join(m.alias for m in BASE_MODELS)
        return render.error(f"unknown model {name!r}; a server's model is one of: {allowed}"), False
    admin.access.moderation.update_server_rules(tenant.platform, tenant.workspace_id, base_model=entry.alias)
    text = f"this server's base model is now {entry.alias} ({entry.title}), set by {by}; it applies from the next job"
    return render.info(text), True


def _pause(admin: Admin, tenant: Tenant, owner: bool, pause: bool, by: str) -> render.Message:
    if owner:
        admin.queue.set_paused(pause)
        return render.info(
            f"the queue is paused by {by}: jobs already queued wait, the running one finishes"
            if pause
            else f"the queue is running again (resumed by {by})"
        )
    waiting = admin.queue.set_server_paused(tenant, pause)
    if pause:
        return render.info(
            f"this server's jobs are paused by {by}: its {waiting} queued wait, the running one finishes"
        )
    return render.info(f"this server's jobs run again (resumed by {by})")


def _show_limits(admin: Admin, tenant: Tenant, owner: bool) -> render.Message:
    caps = admin.queue.limits
    if owner:
        return render.limits(caps)
    own = admin.access.server_limits(tenant)
    return _server_limits_view(own or caps, caps)


def _server_limits_view(current: Limits, caps: Limits) -> render.Message:
    return render.info(
        f"per_user:{current.max_active_per_user} per_hour:{current.max_per_hour} queue_cap:{current.queue_cap}\n"
        f"({current.describe()} from this server; the bot's owners cap them at per_user:"
        f"{caps.max_active_per_user} per_hour:{caps.max_per_hour} queue_cap:{caps.queue_cap}; admins are exempt)",
        "Limits",
    )


def _set_limits(admin: Admin, tenant: Tenant, owner: bool, values: dict[str, int]) -> tuple[render.Message, bool]:
    if owner:
        return render.limits(admin.queue.set_limits(**values)), True
    caps = admin.queue.limits
    names = {v: k for k, v in _LIMIT_FIELDS.items()}
    for field_name, value in values.items():
        cap = getattr(caps, field_name)
        if value > cap:
            return render.error(f"{names[field_name]} can be at most {cap} here (the bot's owners' cap)"), False
    row = admin.access.moderation.server_rules(tenant.platform, tenant.workspace_id)
    merged = {**(row.limits if row is not None and row.limits else {}), **values}
    admin.access.moderation.update_server_rules(tenant.platform, tenant.workspace_id, limits=merged)
    current = admin.access.server_limits(tenant)
    assert current is not None  # just stored
    return _server_limits_view(current, caps), True


async def _switch_model(admin: Admin, name: str, by: str) -> tuple[render.Message, bool]:
    """An owner's switch of the default base model; a name outside the catalog is validated by loading it first."""
    entry = find_base_model(name)
    if entry is None:
        if "/" not in name and not name.startswith((".", "~")):
            allowed = ", ".join(m.alias for m in BASE_MODELS)
            return render.error(f"unknown model {name!r}; known: {allowed}, or a repo id / local path"), False
        try:
            await admin.validate_model(name)
        except Exception as exc:
            active = await admin.repo.db.offload(admin.model.get)
            return render.error(f"could not switch to {name}: {exc}; {active} stays active"), False
    chosen = entry.alias if entry else name
    await admin.repo.db.offload(admin.model.set, chosen)
    title = f" ({entry.title})" if entry else ""
    text = f"base model switched to {chosen}{title} by {by}; it applies from the next job in every server"
    return render.info(f"{text} that has not chosen its own"), True
