"""Admin use cases: the base model, pause / resume, limits, bans. Every attempt is audited,
allowed or not; the decision who is an admin is the service's (``Service.is_admin``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import render
from bot.chat import Invocation
from bot.commands import Command
from generation.catalog import BASE_MODELS, find_base_model

if TYPE_CHECKING:
    from bot.service import Service

log = logging.getLogger("animatebot.admin")

_LIMIT_FIELDS = {"per_user": "max_active_per_user", "per_hour": "max_per_hour", "queue_cap": "queue_cap"}


async def run_admin(service: Service, inv: Invocation, command: Command) -> None:
    actor = inv.actor
    action = command.admin_action or ""
    detail = " ".join(f"{k}={v}" for k, v in sorted(command.admin_args.items()))
    if command.user:
        detail = f"user={command.user} {detail}".strip()
    if not service.is_admin(actor):
        service.repo.audit(actor.key, actor.name, action, detail, allowed=False)
        log.warning("refused /animate-admin %s from %s", action, actor.key)
        await inv.responder.reply(render.error("only admins can use /animate-admin"), ephemeral=True)
        return

    if action == "models":
        await inv.responder.reply(render.models(service.active_model, service.worker.engine.is_tiny), ephemeral=True)
        return
    if action == "limits" and not command.admin_args:
        await inv.responder.reply(render.limits(service.queue.limits), ephemeral=True)
        return

    if action == "model":
        message, public = await _switch_model(service, command.admin_args["model"], actor.name)
        service.repo.audit(actor.key, actor.name, action, detail, allowed=public)
        await inv.responder.reply(message, ephemeral=not public)
        return

    if action in ("pause", "resume"):
        service.queue.set_paused(action == "pause")
        text = (
            f"the queue is paused by {actor.name}: jobs already queued wait, the running one finishes"
            if action == "pause"
            else f"the queue is running again (resumed by {actor.name})"
        )
        service.repo.audit(actor.key, actor.name, action, detail, allowed=True)
        await inv.responder.reply(render.info(text))
        return

    if action == "limits":
        values = {_LIMIT_FIELDS[k]: int(v) for k, v in command.admin_args.items()}
        current = service.queue.set_limits(**values)
        service.repo.audit(actor.key, actor.name, action, detail, allowed=True)
        await inv.responder.reply(render.limits(current), ephemeral=True)
        return

    target = f"{inv.place.platform}:{command.user}"
    if action == "ban":
        reason = command.admin_args.get("reason", "")
        service.repo.ban(target, reason, actor.key)
        service.repo.audit(actor.key, actor.name, action, detail, allowed=True)
        await inv.responder.reply(render.info(f"{command.user} can no longer make clips here"), ephemeral=True)
    elif action == "unban":
        removed = service.repo.unban(target)
        service.repo.audit(actor.key, actor.name, action, detail, allowed=True)
        text = f"{command.user} can make clips again" if removed else f"{command.user} was not banned"
        await inv.responder.reply(render.info(text), ephemeral=True)


async def _switch_model(service: Service, name: str, by: str) -> tuple[render.Message, bool]:
    """Persist a new base model; a name outside the catalog is validated by loading it first."""
    entry = find_base_model(name)
    if entry is None:
        if "/" not in name and not name.startswith((".", "~")):
            allowed = ", ".join(m.alias for m in BASE_MODELS)
            return render.error(f"unknown model {name!r}; known: {allowed}, or a repo id / local path"), False
        try:
            await service.worker.validate_model(name)
        except Exception as exc:
            return render.error(f"could not switch to {name}: {exc}; {service.active_model} stays active"), False
    chosen = entry.alias if entry else name
    service.repo.set_setting("base_model", chosen)
    title = f" ({entry.title})" if entry else ""
    return render.info(f"base model switched to {chosen}{title} by {by}; it applies from the next job"), True
