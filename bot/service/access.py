"""Who may do what: admins (configured ids, roles, what the platform reports), bans, the models a
member may ask for, and the rate limits. Decided here, on every call, never by what a chat client
shows or hides.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bot.chat import Actor, Message
from bot.service import replies
from generation.catalog import BASE_MODELS, find_base_model
from generation.jobs import JobQueue
from generation.params import GenerationParams
from storage.repository import Repository


@dataclass(frozen=True)
class Access:
    repo: Repository
    queue: JobQueue
    admin_user_keys: Collection[str] = frozenset()
    admin_role_keys: Collection[str] = frozenset()

    def is_admin(self, actor: Actor) -> bool:
        if actor.platform_admin or actor.key in self.admin_user_keys:
            return True
        return any(f"{actor.platform}:{role}" in self.admin_role_keys for role in actor.roles)

    def may_act_on(self, actor: Actor, owner_key: str) -> bool:
        """The owner of a job, or an admin."""
        return actor.key == owner_key or self.is_admin(actor)

    def banned(self, actor: Actor) -> Message | None:
        """The refusal for a banned person, or None."""
        ban = self.repo.ban_of(actor.key)
        if ban is None:
            return None
        reason = f" ({ban.reason})" if ban.reason else ""
        return replies.error(f"you are banned from making clips here{reason}; ask an admin")

    def animate_refusal(self, actor: Actor, params: GenerationParams) -> Message | None:
        """Why ``actor`` may not queue ``params`` now (ban, model outside the catalog, limits), or None. Writes nothing."""
        banned = self.banned(actor)
        if banned:
            return banned
        admin = self.is_admin(actor)
        if params.model and find_base_model(params.model) is None and not admin:
            allowed = ", ".join(m.alias for m in BASE_MODELS)
            return replies.error(f"only admins may use models outside the catalog; allowed: {allowed}")
        decision = self.queue.check(actor.key, exempt=admin)
        return None if decision.allowed else replies.error(decision.message)
