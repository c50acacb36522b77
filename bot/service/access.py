"""Who may do what, and where: owners and server admins, bans, the models a member may ask for, the
rate limits, and moderation: prompt rules, channel rules, daily quotas, the roles allowed to animate,
and each channel's policy for clips the safety check flags. Decided here, on every call, never by what
a chat client shows or hides.

Two kinds of authority. **Owners** run the bot (the configured owner ids, the console's ``--admin``):
everything, in every server. **Server admins** (Discord Manage Server / Administrator or an admin role in
that guild, Slack workspace admins and owners) rule the server the command is typed in, and only it. A
direct message belongs to no server: nobody is a server admin there.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum

from bot.chat import Actor, Message, Place
from bot.service import replies
from bot.service.moderation import Match, Rule, RuleSet
from bot.service.scope import default_policy
from generation.catalog import BASE_MODELS, find_base_model
from generation.jobs import JobQueue
from generation.jobs.ratelimit import DAY_S, Limits, by_length, when, window_retry_after
from generation.params import UNIT_FRAMES, GenerationParams, clip_units
from storage.models import GLOBAL, Job, SafetyPolicy, Tenant
from storage.moderation import ModerationStore
from storage.repository import Repository

log = logging.getLogger("animatebot.access")

PARENT_HOPS = 5  # how far a reroll made inside a thread looks back for the channel its family started in


class Authority(IntEnum):
    """What a person may rule where a command is typed: nothing, that server, or (owners) everything."""

    MEMBER = 0
    SERVER_ADMIN = 1
    OWNER = 2


def tenant_of(place: Place | None) -> Tenant:
    """The server a place belongs to (GLOBAL for none)."""
    return GLOBAL if place is None else Tenant(place.platform, place.workspace_id)


@dataclass(frozen=True)
class Quotas:
    """A server's daily quotas in force (0: none) and the roles allowed to animate (empty: everyone)."""

    user_daily: int
    server_daily: int
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Access:
    repo: Repository
    queue: JobQueue
    owner_user_keys: Collection[str] = frozenset()  # platform-qualified ids (``discord:123``)
    admin_role_keys: Collection[str] = frozenset()  # roles whose members are admins of the server they are in
    default_user_daily: int = 0  # per person per 24 h where an admin has not set one; 0: none
    default_server_daily: int = 0
    dm_daily_per_user: int = 0  # clips per person per 24 h in direct messages (where they are on); 0: none
    moderation: ModerationStore = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.moderation is None:
            object.__setattr__(self, "moderation", ModerationStore(self.repo.db))

    # --- authority ---------------------------------------------------------------------------------
    def is_owner(self, actor: Actor) -> bool:
        # The console is typed at by whoever runs the process: its --admin is the owner.
        return actor.key in self.owner_user_keys or (actor.platform == "console" and actor.platform_admin)

    def authority(self, actor: Actor, place: Place | None) -> Authority:
        """What ``actor`` rules where ``place`` is: owners everything; a server admin that server only
        (what the platform reported, or an admin role, both about the server the command came from)."""
        if self.is_owner(actor):
            return Authority.OWNER
        if place is None or place.is_dm or actor.platform != place.platform:
            return Authority.MEMBER
        if actor.platform_admin or any(f"{actor.platform}:{role}" in self.admin_role_keys for role in actor.roles):
            return Authority.SERVER_ADMIN
        return Authority.MEMBER

    def is_admin(self, actor: Actor, place: Place | None) -> bool:
        """An owner, or an admin of the server ``place`` is in."""
        return self.authority(actor, place) >= Authority.SERVER_ADMIN

    def sees(self, actor: Actor, place: Place | None, job: Job) -> bool:
        """Whether ``job`` is of the server ``place`` is in (owners: any server's). A job of another server
        is answered as a missing one."""
        return self.is_owner(actor) or Tenant(job.platform, job.workspace_id) == tenant_of(place)

    def may_act_on(self, actor: Actor, place: Place | None, job: Job) -> bool:
        """The owner of a job, an admin of its server where the command is typed, or an owner."""
        if self.is_owner(actor):
            return True
        return self.sees(actor, place, job) and (actor.key == job.user_key or self.is_admin(actor, place))

    def banned(self, actor: Actor, place: Place | None = None) -> Message | None:
        """The refusal for a person banned everywhere or in ``place``'s server, or None."""
        ban = self.repo.ban_of(actor.key, tenant_of(place))
        if ban is None:
            return None
        reason = f" ({ban.reason})" if ban.reason else ""
        where = "here" if ban.platform else "anywhere"
        return replies.error(f"you are banned from making clips {where}{reason}; ask an admin")

    # --- a server's own choices within the owners' bounds -------------------------------------------------
    def server_model(self, tenant: Tenant) -> str | None:
        """The base model a server's admins chose from the catalogue, or None (the owners' default)."""
        row = self.moderation.server_rules(tenant.platform, tenant.workspace_id)
        return row.base_model if row is not None else None

    def server_variants(self, tenant: Tenant) -> int:
        """How many takes an /animate in ``tenant`` makes when it asks for none (its admins' choice; 1 by default)."""
        row = self.moderation.server_rules(tenant.platform, tenant.workspace_id)
        return row.default_variants if row is not None and row.default_variants else 1

    def with_server_variants(self, tenant: Tenant, params: GenerationParams) -> GenerationParams:
        """``params`` with its server's default takes, where a set of them can be made (one scene, no FreeNoise)."""
        takes = self.server_variants(tenant)
        if takes == params.variants or len(params.scenes) > 1 or params.free_noise:
            return params
        return params.with_changes(variants=takes)

    def server_limits(self, tenant: Tenant) -> Limits | None:
        """A server's own limits, each capped by the owners' (None: it has set none)."""
        row = self.moderation.server_rules(tenant.platform, tenant.workspace_id)
        if row is None or not row.limits:
            return None
        caps = self.queue.limits
        return Limits(**{k: min(int(row.limits.get(k, v)), v) for k, v in caps.__dict__.items()})

    def animate_refusal(self, actor: Actor, params: GenerationParams, place: Place | None = None) -> Message | None:
        """Why ``actor`` may not queue ``params`` in ``place`` now, or None.

        In order: ban, channel rules, roles, prompt rules (prompt and negative prompt), a model
        outside the catalog, daily quotas, the rate limits. Admins are exempt from roles, quotas and
        their server's limits, owners also from the owners' limits; nobody from prompt or channel rules.
        Writes no job; a prompt refused by a rule is audited.
        """
        banned = self.banned(actor, place)
        if banned:
            return banned
        authority = self.authority(actor, place)
        admin = authority >= Authority.SERVER_ADMIN
        tenant = tenant_of(place)
        # A server's quotas and roles, read once for both checks below (admins need neither).
        quotas = self.quotas(place.platform, place.workspace_id) if place is not None and not admin else None
        if place is not None:
            refusal = self.channel_refusal(place) or (
                self.role_refusal(actor, place, quotas) if quotas is not None else None
            )
            if refusal:
                return refusal
        match = self.prompt_match(params, tenant)
        if match is not None:
            detail = f"rule #{match.rule.id} {match.rule.pattern!r} matched the {match.where}"
            self.repo.audit(actor.key, actor.name, "prompt-refused", detail, allowed=False, tenant=tenant)
            log.info("refused a prompt from %s: %s", actor.key, detail)
            return replies.prompt_refused(match.where)
        if params.model and find_base_model(params.model) is None and authority < Authority.OWNER:
            allowed = ", ".join(m.alias for m in BASE_MODELS)
            return replies.error(f"only the bot's owners may use models outside the catalog; allowed: {allowed}")
        if place is not None and quotas is not None:  # place: for the type checker
            refusal = self.quota_refusal(actor, place, quotas, params.frames, params.variants)
            if refusal:
                return refusal
        if place is not None and place.is_dm and not admin:
            refusal = self.dm_quota_refusal(actor, place, params.frames, params.variants)
            if refusal:
                return refusal
        decision = self.queue.check(
            actor.key,
            exempt=authority >= Authority.OWNER,
            frames=params.frames,
            server=tenant,
            server_limits=None if admin else self.server_limits(tenant),
        )
        return None if decision.allowed else replies.error(decision.message)

    # --- prompt rules ----------------------------------------------------------------------------------
    def rules(self, tenant: Tenant) -> RuleSet:
        """The rules a prompt in ``tenant`` meets: the owners' and that server's own (never another's)."""
        return RuleSet(Rule(r.id, r.pattern) for r in self.moderation.block_rules(tenant))

    def prompt_match(self, params: GenerationParams, tenant: Tenant) -> Match | None:
        return self.rules(tenant).check([("prompt", params.prompt), ("negative prompt", params.negative_prompt)])

    # --- channel rules -------------------------------------------------------------------------------
    def channel_refusal(self, place: Place) -> Message | None:
        rules = self.moderation.channel_rules(place.platform, place.workspace_id)
        if not rules:
            return None
        channel = place.rules_channel_id
        allowed = [r.channel_id for r in rules if r.mode == "allow"]
        denied = {r.channel_id for r in rules if r.mode == "deny"}
        if allowed and channel not in allowed:
            return replies.channel_refused(place.platform, allowed, allow_list=True)
        if channel in denied:
            return replies.channel_refused(place.platform, sorted(denied), allow_list=False)
        return None

    # --- quotas and roles -------------------------------------------------------------------------------
    def quotas(self, platform: str, workspace_id: str) -> Quotas:
        row = self.moderation.server_rules(platform, workspace_id)
        user = row.user_daily if row is not None and row.user_daily is not None else self.default_user_daily
        server = row.server_daily if row is not None and row.server_daily is not None else self.default_server_daily
        return Quotas(user, server, tuple(row.roles or ()) if row is not None else ())

    def role_refusal(self, actor: Actor, place: Place, quotas: Quotas) -> Message | None:
        roles = quotas.roles
        if not roles or set(roles) & set(actor.roles):
            return None
        return replies.roles_refused(place.platform, roles)

    def quota_refusal(
        self, actor: Actor, place: Place, quotas: Quotas, frames: int = UNIT_FRAMES, variants: int = 1
    ) -> Message | None:
        """The daily quotas count clip length: a job counts one per 16 frames started, times its takes
        (``clip_units``)."""
        now = self.queue.clock()
        since = datetime.fromtimestamp(now - DAY_S, UTC)
        units = clip_units(frames, variants)
        counts = f"; this one counts {units}" if units > 1 else ""
        if quotas.user_daily:
            jobs = by_length(self.moderation.user_jobs_since(actor.key, since))
            wait = window_retry_after(jobs, now, quotas.user_daily, DAY_S, units)
            if wait > 0:
                return replies.error(f"you have used the daily quota here ({quotas.user_daily} clips per 24 h, a "
                                     f"clip counting once per 16 frames{counts}); try again in {when(wait)}")  # fmt: skip
        if quotas.server_daily:
            jobs = by_length(self.moderation.server_jobs_since(place.platform, place.workspace_id, since))
            wait = window_retry_after(jobs, now, quotas.server_daily, DAY_S, units)
            if wait > 0:
                return replies.error(f"this server has used its daily cap ({quotas.server_daily} clips per 24 h, a "
                                     f"clip counting once per 16 frames{counts}); try again in {when(wait)}")  # fmt: skip
        return None

    def dm_quota_refusal(
        self, actor: Actor, place: Place, frames: int = UNIT_FRAMES, variants: int = 1
    ) -> Message | None:
        """Direct messages have no server rules: their own daily quota per person, counted in that DM channel."""
        if not self.dm_daily_per_user:
            return None
        now = self.queue.clock()
        since = datetime.fromtimestamp(now - DAY_S, UTC)
        units = clip_units(frames, variants)
        jobs = by_length(self.moderation.user_jobs_since(actor.key, since, channel_id=place.channel_id))
        wait = window_retry_after(jobs, now, self.dm_daily_per_user, DAY_S, units)
        if wait <= 0:
            return None
        return replies.error(f"you have used the daily quota for direct messages ({self.dm_daily_per_user} clips "
                             f"per 24 h, a clip counting once per 16 frames); try again in {when(wait)}")  # fmt: skip

    # --- the safety check's policy -----------------------------------------------------------------------
    def safety_policy(self, job: Job) -> SafetyPolicy:
        """What ``job``'s channel does with a flagged clip: an admin's choice, else the platform default
        (Discord: allow in age-restricted channels, block elsewhere; Slack and the console: block)."""
        current: Job | None = job
        for _ in range(PARENT_HOPS):
            if current is None:
                break
            stored = self.moderation.channel_policy(current.platform, current.workspace_id, current.channel_id)
            if stored is not None:
                return SafetyPolicy(stored)
            # A clip made inside a thread (a reroll there) follows the channel its first clip was asked in.
            if current.parent_id is None or not current.thread_id or current.thread_id != current.channel_id:
                break
            current = self.repo.job(current.parent_id)
        return default_policy(job.platform, job.age_restricted)
