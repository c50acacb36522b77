"""The moderation actions of ``/animate-admin``: block rules, channel rules, safety policies, quotas,
roles, releasing a withheld clip and the open reports. Called by ``Admin`` after it has checked,
on this very call, that the actor is an admin of the server the command is typed in (or an owner).
Every change is audited with its server; listings are not.

Each acts on that server only: its rules, its clips, its reports. An owner's block rule holds in
every server, and an owner may release or close what belongs to any server. A rule, clip or report of
another server is answered exactly as a missing one. The rows are read and written on the database thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.chat import Invocation, Message
from bot.commands import Command
from bot.commands.moderation import HERE
from bot.service import replies as render
from bot.service.access import Access, tenant_of
from bot.service.delivery import Delivery
from bot.service.moderation import RuleError, check_pattern, is_regex
from storage.models import GLOBAL, JobStatus, SafetyDecision, SafetyPolicy, Tenant
from storage.repository import Repository


class Parts(Protocol):
    """What the moderation actions act on (``Admin`` has them): no import of the admin module, no cycle."""

    @property
    def repo(self) -> Repository: ...
    @property
    def access(self) -> Access: ...
    @property
    def delivery(self) -> Delivery | None: ...
    @property
    def safety_status(self) -> str: ...


@dataclass(frozen=True)
class Scope:
    """Where a moderation action acts: the server it is typed in, and whether an owner typed it."""

    tenant: Tenant
    owner: bool

    @property
    def rules_tenant(self) -> Tenant:
        """Where a new block rule goes: an owner's holds in every server."""
        return GLOBAL if self.owner else self.tenant

    @property
    def reports_tenant(self) -> Tenant | None:
        return None if self.owner else self.tenant


async def run_moderation(admin: Parts, inv: Invocation, command: Command, detail: str, owner: bool) -> None:
    action = command.admin_action or ""
    scope = Scope(tenant_of(inv.place), owner)
    detail = detail.replace("channel=here", f"channel={inv.place.rules_channel_id}")
    if command.job_id is not None:
        detail = f"job={command.job_id} {detail}".strip()
    if action == "release":
        message, changed = await _release(admin, inv, command)
    else:
        handler = {
            "block": _block,
            "channels": _channels,
            "safety": _safety,
            "quota": _quota,
            "roles": _roles,
            "reports": _reports,
        }[action]
        message, changed = await admin.repo.db.offload(handler, admin, inv, command, scope)
    if changed:
        await admin.repo.db.offload(
            admin.repo.audit, inv.actor.key, inv.actor.name, action, detail, allowed=True, tenant=scope.tenant
        )
    await inv.responder.reply(message, ephemeral=True)


def _channels_of(inv: Invocation, command: Command) -> list[str]:
    here = inv.place.rules_channel_id
    return [here if c == HERE else c for c in command.admin_args.get("channel", HERE).split()]


def _block(admin: Parts, inv: Invocation, command: Command, scope: Scope) -> tuple[Message, bool]:
    store = admin.access.moderation
    op, text = command.admin_args["op"], command.admin_args.get("text", "")
    if op == "list":
        # Owners see the rules of every server and this one's; a server admin this server's own.
        rules = store.block_rules(scope.tenant, with_global=scope.owner)
        if not rules:
            return render.info("No block rules: every prompt passes the content rules.", "Block rules"), False
        lines = [
            f"#{r.id} {r.pattern}"
            + (" (regular expression)" if is_regex(r.pattern) else "")
            + (" (every server)" if scope.owner and not r.platform else "")
            for r in rules
        ]
        return render.info("\n".join(lines), f"Block rules: {len(rules)}"), False
    if op == "test":
        match = admin.access.rules(scope.tenant).first_match(text)
        if match is None:
            return render.info(f"accepted: no rule matches {render.excerpt(text, 100)!r}"), False
        return render.info(f"refused by rule #{match.id} {match.pattern}"), False
    try:
        pattern = check_pattern(text)
    except RuleError as exc:
        return render.error(str(exc)), False
    if op == "add":
        rule, created = store.add_block_rule(pattern, inv.actor.key, scope.rules_tenant)
        if not created:
            return render.info(f"{pattern} is already blocked (rule #{rule.id})"), False
        where = "in every server" if scope.owner else "on this server"
        return render.info(f"blocked {pattern} (rule #{rule.id}); prompts matching it are refused {where}"), True
    removed = store.remove_block_rule(pattern, scope.rules_tenant) or (
        scope.owner and store.remove_block_rule(pattern, scope.tenant)
    )
    return (
        (render.info(f"{pattern} is no longer blocked"), True)
        if removed
        else (
            render.error(f"{pattern} is not a block rule; /animate-admin block list shows them"),
            False,
        )
    )


def _channel_list(admin: Parts, inv: Invocation) -> Message:
    place = inv.place
    rules = admin.access.moderation.channel_rules(place.platform, place.workspace_id)
    if not rules:
        return render.info("/animate works in every channel on this server.", "Channels")
    mode = rules[0].mode
    names = ", ".join(render.channel_mention(place.platform, r.channel_id) for r in rules)
    text = f"/animate works only in {names}" if mode == "allow" else f"/animate works everywhere except {names}"
    return render.info(text, "Channels")


def _channels(admin: Parts, inv: Invocation, command: Command, scope: Scope) -> tuple[Message, bool]:
    store = admin.access.moderation
    op, place = command.admin_args["op"], inv.place
    if op == "list":
        return _channel_list(admin, inv), False
    if op == "clear":
        store.clear_channel_rules(place.platform, place.workspace_id)
        return render.info("/animate works in every channel on this server again.", "Channels"), True
    dropped = store.add_channel_rules(place.platform, place.workspace_id, op, _channels_of(inv, command), inv.actor.key)
    message = _channel_list(admin, inv)
    if dropped:
        other = "deny" if op == "allow" else "allow"
        message = render.info(f"{message.text} (the {other} list was replaced)", "Channels")
    return message, True


def _safety(admin: Parts, inv: Invocation, command: Command, scope: Scope) -> tuple[Message, bool]:
    store = admin.access.moderation
    op, place = command.admin_args["op"], inv.place
    if op == "show":
        lines = [f"safety check: {admin.safety_status}"]
        for row in store.channel_policies(place.platform, place.workspace_id):
            lines.append(f"{render.channel_mention(place.platform, row.channel_id)}: {row.policy}")
        default = (
            "allow in age-restricted channels, block elsewhere" if place.platform == "discord" else "block everywhere"
        )
        lines.append(f"other channels: the default ({default})")
        return render.info("\n".join(lines), "Safety"), False
    (channel,) = _channels_of(inv, command)
    policy = None if op == "default" else SafetyPolicy(op)
    store.set_channel_policy(place.platform, place.workspace_id, channel, policy, inv.actor.key)
    where = render.channel_mention(place.platform, channel)
    text = f"{where} uses the default policy again" if policy is None else f"flagged clips in {where}: {policy}"
    return render.info(text, "Safety"), True


def _quota(admin: Parts, inv: Invocation, command: Command, scope: Scope) -> tuple[Message, bool]:
    place = inv.place
    values = {key: int(value) for key, value in command.admin_args.items()}
    if values:
        admin.access.moderation.update_server_rules(place.platform, place.workspace_id, **values)
    quotas = admin.access.quotas(place.platform, place.workspace_id)
    user = f"{quotas.user_daily} per person" if quotas.user_daily else "no quota per person"
    server = f"{quotas.server_daily} for the server" if quotas.server_daily else "no cap for the server"
    return render.info(f"clips per 24 h: {user}, {server} (admins are exempt)", "Quotas"), bool(values)


def _roles(admin: Parts, inv: Invocation, command: Command, scope: Scope) -> tuple[Message, bool]:
    place = inv.place
    op = command.admin_args["op"]
    if place.platform != "discord":
        return render.error("role gating is for Discord servers; use channels or bans here"), False
    current = list(admin.access.quotas(place.platform, place.workspace_id).roles)
    given = command.admin_args.get("role", "").split()
    if op == "add":
        current += [r for r in given if r not in current]
    elif op == "remove":
        current = [r for r in current if r not in given]
    elif op == "clear":
        current = []
    if op != "list":
        admin.access.moderation.update_server_rules(place.platform, place.workspace_id, roles=current)
    if not current:
        return render.info("everyone may use /animate on this server", "Roles"), op != "list"
    names = ", ".join(render.role_mention(place.platform, r) for r in current)
    return render.info(f"/animate is for members with one of: {names} (admins always may)", "Roles"), op != "list"


async def _release(admin: Parts, inv: Invocation, command: Command) -> tuple[Message, bool]:
    job = await admin.repo.db.offload(admin.repo.job, command.job_id or 0)
    if job is None or job.deleted or not admin.access.sees(inv.actor, inv.place, job):
        return render.error(f"there is no clip #{command.job_id}"), False
    if job.status != JobStatus.SUCCEEDED.value or job.safety_decision != SafetyDecision.BLOCK.value:
        return render.error(f"#{job.id} is not withheld; only clips the safety check withheld can be released"), False
    if admin.delivery is None:
        return render.error("delivery is not running; try again in a moment"), False
    await admin.delivery.release(job, by=inv.actor.name)
    return render.info(f"released #{job.id}: it is posted in its thread"), True


def _reports(admin: Parts, inv: Invocation, command: Command, scope: Scope) -> tuple[Message, bool]:
    store, tenant = admin.access.moderation, scope.reports_tenant
    close = command.admin_args.get("close")
    if close is not None:
        if not store.close_reports(tenant=tenant, report_id=int(close)):
            return render.error(f"there is no open report #{close}; /animate-admin reports lists them"), False
        return render.info(f"report #{close} is closed"), True
    rows = [(r.id, r.job_id, r.reporter_name or r.reporter_key, r.reason, r.link)
            for r in store.open_reports(tenant)]  # fmt: skip
    return render.reports_view(rows), False
