"""Answering one Discord interaction: the initial response while it is open, follow-ups after.

Discord wants every interaction acknowledged within 3 seconds, and what the first answer looks
like (public or only-you-can-see) is fixed by that acknowledgement. The responder keeps the
service's ``reply(message, ephemeral=...)`` honest across those rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import discord

from bot.chat import Message, MessageRef, Place
from bot.platforms.discord.render import render

log = logging.getLogger("animatebot.discord")

DEFER_AFTER_S = 1.5  # without a reply by then, acknowledge so Discord's 3 s never run out


class InteractionResponder:
    """``bot.chat.Responder`` for one interaction.

    Public replies return a MessageRef (channel and message id) that the service later edits and
    threads under with the bot token, so they keep working after the interaction token expires.
    """

    def __init__(self, interaction: discord.Interaction, place: Place) -> None:
        self.interaction = interaction
        self.place = place
        self._lock = asyncio.Lock()
        # Visibility of a "thinking…" placeholder no reply has replaced yet (True: private), else None.
        self._placeholder: bool | None = None

    async def defer(self, *, ephemeral: bool, thinking: bool = True) -> None:
        """Acknowledge now, answer later; does nothing when the interaction is already answered.

        Slash commands always show "thinking…". For buttons and modals ``thinking=False`` is a
        deferred update that shows nothing, after which each follow-up picks its own visibility.
        """
        async with self._lock:
            response = self.interaction.response
            if response.is_done():
                return
            shows_placeholder = thinking or self.interaction.type is discord.InteractionType.application_command
            await response.defer(ephemeral=ephemeral, thinking=thinking)
            if shows_placeholder:
                self._placeholder = ephemeral

    async def reply(self, message: Message, *, ephemeral: bool = False) -> MessageRef | None:
        """Send ``message``; public replies return their MessageRef, private ones None.

        Raises discord.HTTPException when Discord refuses (e.g. the 15-minute token has expired).
        """
        kwargs = render(message)
        async with self._lock:
            response = self.interaction.response
            if not response.is_done():
                callback = await response.send_message(**kwargs, ephemeral=ephemeral)
                if ephemeral:
                    return None
                message_id = callback.message_id or (await self.interaction.original_response()).id
                return MessageRef(self.place, str(message_id))
            if self._placeholder is not None and self._placeholder != ephemeral:
                # The first follow-up would take over the placeholder and its visibility: a private
                # refusal would show to everyone. Removing the placeholder frees the follow-up.
                await self.interaction.delete_original_response()
                self._placeholder = None
            sent = await self.interaction.followup.send(**kwargs, ephemeral=ephemeral, wait=True)
            self._placeholder = None
            return None if ephemeral else MessageRef(self.place, str(sent.id))

    async def finish(self) -> None:
        """Remove a "thinking…" placeholder nothing replaced (the service chose not to answer)."""
        async with self._lock:
            if self._placeholder is None:
                return
            self._placeholder = None
            with contextlib.suppress(discord.HTTPException):
                await self.interaction.delete_original_response()


@contextlib.asynccontextmanager
async def deadline(
    responder: InteractionResponder, *, ephemeral: bool, after_s: float = DEFER_AFTER_S
) -> AsyncIterator[None]:
    """Run the body; if it has not replied after ``after_s``, defer (as ``ephemeral``) meanwhile.

    Quick answers thus go out as the interaction's own response with exactly the visibility the
    service asked for; slow ones still beat Discord's 3-second limit.
    """

    async def defer_now() -> None:
        try:
            await responder.defer(ephemeral=ephemeral)
        except discord.HTTPException as exc:
            log.warning("could not defer interaction %s: %s", responder.interaction.id, exc)

    # A timer, not a sleeping task: a deferral already on the wire must finish, never be cancelled.
    started: list[asyncio.Task[None]] = []
    timer = asyncio.get_running_loop().call_later(after_s, lambda: started.append(asyncio.create_task(defer_now())))
    try:
        yield
    finally:
        timer.cancel()
        for task in started:
            await task


class InteractionAck:
    """``bot.platforms.flow.Acknowledgement`` for a slash command.

    A refusal is the interaction's own private response. Public commands defer at once (their
    answer, a queued clip or an upload, takes a moment); private ones answer directly when quick,
    deferring only if DEFER_AFTER_S passes first.
    """

    def __init__(self, responder: InteractionResponder) -> None:
        self.responder = responder

    async def refuse(self, message: Message) -> None:
        await self.responder.reply(message, ephemeral=True)

    @contextlib.asynccontextmanager
    async def answering(self, *, private: bool) -> AsyncIterator[None]:
        if private:
            async with deadline(self.responder, ephemeral=True):
                yield
        else:
            await self.responder.defer(ephemeral=False)
            yield
        await self.responder.finish()
