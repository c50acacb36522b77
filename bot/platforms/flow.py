"""The one way a platform runs a slash command: precheck -> acknowledge -> run.

Discord and Slack both want an answer within 3 seconds, and both can show a refusal to the
invoker alone only in that first answer. So every command is first prechecked by the service
(parse, ban, limits: cheap, writes nothing) within a budget; a refusal becomes the private
acknowledgement itself; otherwise the platform acknowledges in its own way, public or private
as the precheck says, and the service runs the command and answers through the responder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from bot.chat import CommandHandler, Invocation, Message, Precheck
from bot.commands import is_private

log = logging.getLogger("animatebot.platforms")

PRECHECK_BUDGET_S = 2.0  # of the platforms' 3 s; the acknowledgement needs the rest


class Acknowledgement(Protocol):
    """How one platform acknowledges one command."""

    async def refuse(self, message: Message) -> None:
        """Acknowledge with ``message``, shown to the invoker only."""
        ...

    def answering(self, *, private: bool) -> AbstractAsyncContextManager[None]:
        """Acknowledge (at once, or in time) while the body runs and answers."""
        ...


async def precheck_in_time(
    handler: CommandHandler, inv: Invocation, name: str, text: str, options: Mapping[str, object] | None
) -> Precheck:
    """The handler's precheck, or "go ahead" when it takes longer than the budget (the command checks again)."""
    try:
        return await asyncio.wait_for(handler.precheck(inv, name, text, options), PRECHECK_BUDGET_S)
    except TimeoutError:
        log.warning("precheck of /%s took over %.1f s; acknowledging and checking again", name, PRECHECK_BUDGET_S)
        return Precheck(None, is_private(name))


async def run_command(
    handler: CommandHandler,
    inv: Invocation,
    name: str,
    text: str,
    options: Mapping[str, object] | None,
    ack: Acknowledgement,
) -> None:
    """Precheck, acknowledge (a refusal privately), run. Never raises for a refused command."""
    check = await precheck_in_time(handler, inv, name, text, options)
    if check.refusal is not None:
        await ack.refuse(check.refusal)
        return
    async with ack.answering(private=check.private):
        await handler.handle_command(inv, name, text, options)
