"""The showcase channel: a server admin names one (``/animate-admin showcase #channel [approvals:N]``), and
a clip of that server that reaches N approvals is posted there once, with a link back to its thread.

The setting is a row of the settings table per server; "once" is the clip's re-post in that channel
(``reposts``, by ``showcase``): Delete removes it like any other copy, and the votes redraw it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bot.chat import ChatAdapter, Invocation, Message, MessageRef, Place
from bot.commands import Command
from bot.commands.moderation import HERE
from bot.service import replies as render
from bot.service.delivery import Delivery, place_of
from storage.models import Job, Tenant
from storage.moderation import ModerationStore
from storage.repository import Repository, Tally

log = logging.getLogger("animatebot.showcase")

BY = "showcase"  # the re-post's author: how a clip already shown there is recognised


def setting_key(tenant: Tenant) -> str:
    return f"showcase:{tenant.platform}:{tenant.workspace_id}"


@dataclass
class Showcase:
    repo: Repository
    delivery: Delivery
    moderation: ModerationStore
    _locks: defaultdict[int, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))

    async def command(self, inv: Invocation, command: Command) -> Message:
        """``/animate-admin showcase ...`` from a server admin (checked by the caller): show, set or turn off."""
        tenant = Tenant(inv.place.platform, inv.place.workspace_id)
        args = command.admin_args
        key = setting_key(tenant)
        if not args:
            current = await self.repo.db.offload(self.repo.get_setting, key)
            if not current:
                return render.info("no showcase channel: set one with /animate-admin showcase #channel [approvals:N]")
            return render.info(f"clips with {current['approvals']} approvals are posted in <#{current['channel']}>")
        if args["channel"] == "off":
            await self.repo.db.offload(self.repo.set_setting, key, None)
            return render.info("the showcase channel is off")
        channel = inv.place.rules_channel_id if args["channel"] == HERE else args["channel"]
        approvals = int(args["approvals"])
        await self.repo.db.offload(self.repo.set_setting, key, {"channel": channel, "approvals": approvals})
        return render.info(f"clips that reach {approvals} approvals will be posted in <#{channel}>")

    async def on_vote(self, job: Job, tally: Tally) -> None:
        """A vote listener: post ``job`` in its server's showcase channel when it reaches the approvals asked."""
        setting: Any = await self.repo.db.offload(
            self.repo.get_setting, setting_key(Tenant(job.platform, job.workspace_id))
        )
        if not setting or tally.approve < int(setting["approvals"]) or job.private_channel:
            return  # a clip of a private channel stays there
        adapter = self.delivery.adapters.get(job.platform)
        if adapter is None:
            return
        async with self._locks[job.id]:  # two approvals at once post it once
            reposts = await self.repo.db.offload(self.repo.reposts, job.id)
            if any(r.by == BY for r in reposts):
                return
            place = Place(job.platform, str(setting["channel"]), job.workspace_id)
            await self._post(adapter, place, job, int(setting["approvals"]))
        self._locks.pop(job.id, None)

    async def _post(self, adapter: ChatAdapter, place: Place, job: Job, approvals: int) -> None:
        spoiler = await self.delivery.repost_spoiler(adapter, place, job, self.moderation)
        if spoiler is None:
            log.info("#%s reached the showcase's approvals but its channel withholds flagged clips", job.id)
            return
        ref = await self.delivery.repost(adapter, place, job, spoiler=spoiler, by=BY)
        if ref is None:
            log.warning("could not post #%s in the showcase channel %s", job.id, place.channel_id)
            return
        link = (
            adapter.link(MessageRef(place_of(job, thread=True), job.clip_message_id)) if job.clip_message_id else None
        )
        text = f"#{job.id} reached {approvals} approvals" + (f": its thread is {link}" if link else "")
        try:
            await adapter.post(place, render.info(text))
        except Exception:
            log.warning("could not link #%s back to its thread", job.id, exc_info=True)
