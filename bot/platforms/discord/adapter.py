"""The Discord adapter on discord.py 2.x: slash commands in, messages, threads and clips out.

Translation only. Commands and clicks become ``Invocation``s for the service; the service's
``Message``s become Discord messages and embeds. Outbound calls (progress edits, threads, the
clip upload) always use the bot token, never an interaction token, because interaction tokens
die after 15 minutes and a queued job may wait longer than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Literal

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.chat import (
    Actor,
    Clip,
    CommandHandler,
    Form,
    ImageFile,
    Invocation,
    Message,
    MessageRef,
    NotInChannel,
    Place,
    UploadTooLarge,
)
from bot.platforms.discord.commands import build_tree
from bot.platforms.discord.images import fetch_attachment, first_image, image_modal
from bot.platforms.discord.interactions import InteractionAck, InteractionResponder
from bot.platforms.discord.render import ClipButton, FormModal, render, thread_name
from bot.platforms.flow import run_command
from bot.settings import Settings

log = logging.getLogger("animatebot.discord")

DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_GATEWAY = "wss://gateway.discord.gg/"
CONNECT_TIMEOUT_S = 60.0
THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440  # one day without messages, then archived
# Discord error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json).
CODE_TOO_LARGE = 40005
CODE_WRONG_CHANNEL_TYPE = 50024
CODE_THREAD_EXISTS = 160004
CODE_CANNOT_DM = 50007


def intents() -> discord.Intents:
    """The gateway intents the bot needs: the defaults without any privileged one.

    Slash commands and buttons arrive as interactions whatever the intents, so members,
    presences and message content are never asked for (no approval needed in the portal).
    """
    wanted = discord.Intents.default()
    wanted.members = False
    wanted.presences = False
    wanted.message_content = False
    return wanted


def use_endpoints(api_base: str | None, gateway: str | None) -> tuple[str, str | None]:
    """Point discord.py at Discord (the defaults) or at a proxy or fake; returns (api base, gateway).

    discord.py has no per-client setting for either URL. Every REST call, interaction callbacks
    and webhook follow-ups included, builds its URL from the class attribute ``Route.BASE`` when
    the request is made (``discord.http._set_api_version`` changes it the same way), and
    ``discord.Client`` (unsharded) connects to ``DiscordWebSocket.DEFAULT_GATEWAY`` without asking
    ``GET /gateway/bot``. Both are process-wide, so they are set on every start, back to the real
    Discord when unset, and a gateway of None means "ask the API" (see ``DiscordAdapter.start``).
    aiohttp accepts ws://, wss://, http:// and https:// gateway URLs alike.
    """
    base = (api_base or DEFAULT_API_BASE).rstrip("/")
    Route.BASE = base
    chosen = gateway or (None if api_base else DEFAULT_GATEWAY)
    if chosen is not None:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(chosen)
    return base, chosen


class _Client(discord.Client):
    """discord.Client that tells the adapter when the gateway session is up and routes clicks to it."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none())
        self.adapter = adapter
        self.connected = asyncio.Event()

    async def on_connect(self) -> None:
        # READY has been processed: interactions can be answered. Waiting for on_ready would add
        # discord.py's guild_ready_timeout (2 s) for nothing the adapter needs.
        self.connected.set()

    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self.adapter.keep_or_leave(guild)  # a server the bot was in when it connected

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.adapter.keep_or_leave(guild)  # someone just added the bot

    async def on_clip_button(self, interaction: discord.Interaction, button: ClipButton) -> None:
        await self.adapter.on_button(interaction, button.custom_id, button.action, button.job_id)


class DiscordAdapter:
    """``ChatAdapter`` for Discord; ``await start()`` to connect, ``await close()`` to stop.

    The caller registers the adapter with the service (``service.add_adapter(adapter)``); clicks, forms
    and commands go to ``handler``.
    """

    platform = "discord"
    supports_remix = True  # the Remix button opens a modal with the prompt and motion prefilled
    supports_spoiler = True  # a SPOILER_ file name blurs the clip until clicked

    def __init__(self, handler: CommandHandler, settings: Settings) -> None:
        self.handler = handler
        self.settings = settings
        self.max_upload_bytes = settings.upload_limit_bytes
        self.client = _Client(self)
        self.tree = build_tree(self.client, self.run_command, handler.model_choices, self.on_animate_image)
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]
        self.client.add_dynamic_items(ClipButton)
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Log in, register the slash commands, connect to the gateway; return once connected.

        Commands go to each of DISCORD_GUILD_IDS (instant) or globally (may take a while to show).
        Raises RuntimeError naming what failed: no or a rejected DISCORD_TOKEN, an unreachable API,
        commands Discord refused, or a gateway that did not answer within a minute.
        """
        token = self.settings.discord_token.get_secret_value() if self.settings.discord_token else ""
        if not token.strip():
            raise RuntimeError("DISCORD_TOKEN is not set; copy the bot token from the Discord Developer Portal")
        api_base, gateway = use_endpoints(self.settings.discord_api_base_url, self.settings.discord_gateway_url)
        try:
            await self.client.login(token)
            if gateway is None:
                _shards, url, _limits = await self.client.http.get_bot_gateway()
                use_endpoints(api_base, url)
                gateway = url
            await self._sync_commands()
        except discord.LoginFailure:
            await self.client.close()
            raise RuntimeError(
                "Discord rejected DISCORD_TOKEN (401 Unauthorized); reset the token under Bot in the Developer "
                "Portal and set it again"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            await self.client.close()
            raise RuntimeError(f"cannot reach the Discord API at {api_base}: {exc}") from None
        except discord.HTTPException as exc:
            await self.client.close()
            raise RuntimeError(
                f"Discord refused the bot's setup ({exc.status} {exc.text or exc}) at {api_base}"
            ) from None
        self._task = asyncio.create_task(self.client.connect(reconnect=True), name="animatebot-discord-gateway")
        waiter = asyncio.create_task(self.client.connected.wait())
        done, _ = await asyncio.wait({self._task, waiter}, timeout=CONNECT_TIMEOUT_S, return_when="FIRST_COMPLETED")
        if waiter not in done:
            waiter.cancel()
            failure = self._task.exception() if self._task in done else None
            await self.close()
            if failure is not None:
                raise RuntimeError(f"the Discord gateway at {gateway} refused the connection: {failure}") from None
            raise RuntimeError(f"no answer from the Discord gateway at {gateway} within {CONNECT_TIMEOUT_S:.0f} s")
        user = self.client.user
        log.info("connected to Discord as %s (id %s)", user, user.id if user else "?")

    async def _sync_commands(self) -> None:
        guild_ids = self.settings.discord_guild_ids
        if not guild_ids:
            synced = await self.tree.sync()
            log.info("registered %d slash commands globally (they may take up to an hour to appear)", len(synced))
            return
        for guild_id in guild_ids:
            guild = discord.Object(int(guild_id))
            self.tree.copy_global_to(guild=guild)
            try:
                synced = await self.tree.sync(guild=guild)
            except discord.Forbidden:
                raise RuntimeError(
                    f"Discord refused the slash commands for guild {guild_id}: is the bot in that server, invited "
                    "with the applications.commands scope?"
                ) from None
            log.info("registered %d slash commands in guild %s", len(synced), guild_id)

    async def keep_or_leave(self, guild: discord.Guild) -> None:
        """Leave a server not in ANIMATEBOT_ALLOWED_SERVERS (a public bot can be added anywhere), saying so."""
        allowed = self.settings.allowed_servers
        if not allowed or str(guild.id) in allowed:
            return
        log.warning(
            "leaving the Discord server %r (id %s): it is not in ANIMATEBOT_ALLOWED_SERVERS", guild.name, guild.id
        )
        try:
            await guild.leave()
        except discord.HTTPException as exc:
            log.error("could not leave the Discord server %s: %s %s", guild.id, exc.status, exc.text or exc)

    async def wait_lost(self) -> str:
        """Wait until the gateway connection has ended for good without ``close()`` (discord.py reconnects by itself
        and gives up only on what retrying cannot mend: a revoked token, a fatal close code); a line saying why.
        The process should then end: it would stay up hearing nothing."""
        task = self._task
        if task is None:
            raise RuntimeError("the Discord adapter is not started")
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # the waiter was cancelled, not the connection
            return "the Discord gateway connection was cancelled"
        except Exception as exc:
            code = getattr(exc, "code", None)
            return f"the Discord gateway gave up: {exc}" + (f" (close code {code})" if code else "")
        return "the Discord gateway connection ended"

    async def close(self) -> None:
        """Disconnect from Discord and release the HTTP session; safe to call twice."""
        await self.client.close()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task

    # --- inbound: commands, buttons, the remix modal -------------------------------------------------
    def invocation(self, interaction: discord.Interaction, responder: InteractionResponder) -> Invocation:
        """The neutral Invocation for one interaction: who, where, and this guild's upload limit."""
        user = interaction.user
        permissions = interaction.permissions  # resolved in the channel, overwrites included
        admin = interaction.guild_id is not None and (permissions.manage_guild or permissions.administrator)
        # Member.roles drops roles missing from the cache; the ids in the payload are complete.
        roles = tuple(str(role_id) for role_id in getattr(user, "_roles", ()))
        actor = Actor("discord", str(user.id), user.display_name, platform_admin=admin, roles=roles)
        return Invocation(
            actor,
            responder.place,
            responder,
            upload_limit=interaction.filesize_limit or None,
            request_id=f"discord:{interaction.id}",
        )

    def responder(self, interaction: discord.Interaction) -> InteractionResponder:
        return InteractionResponder(interaction, place_of(interaction))

    async def run_command(
        self, interaction: discord.Interaction, name: str, text: str, options: Mapping[str, object]
    ) -> None:
        """Answer one slash command through the handler: precheck, acknowledge, run (refusals privately)."""
        responder = self.responder(interaction)
        inv = self.invocation(interaction, responder)
        log.info("/%s from %s in %s", name, inv.actor.key, inv.place.channel_id)
        attachment = options.get("image")
        if name == "animate" and isinstance(attachment, discord.Attachment):
            # Fetching the file may take longer than Discord's 3 s: acknowledge (publicly) first, then
            # fetch; the service still refuses privately (the placeholder gives way to a private reply).
            await responder.defer(ephemeral=False)
            image = await self._fetch(attachment)
            await self.handler.handle_command(inv, name, text, {**options, "image": image})
            await responder.finish()
            return
        await run_command(self.handler, inv, name, text, options, InteractionAck(responder))

    async def on_button(self, interaction: discord.Interaction, custom_id: str, action: str, job_id: int) -> None:
        """A click on a clip button, also on messages posted before a restart."""
        responder = self.responder(interaction)
        inv = self.invocation(interaction, responder)
        log.info("button %s from %s", custom_id, inv.actor.key)
        form = await self.handler.open_form(inv, action, job_id)
        if form is not None:
            await interaction.response.send_modal(FormModal(form, self.on_form, nonce=interaction.id))
            return
        # A deferred update shows nothing; every answer is then a follow-up, public or private.
        await responder.defer(ephemeral=False, thinking=False)
        await self.handler.handle_button(inv, custom_id)

    async def on_form(self, interaction: discord.Interaction, form: Form, values: dict[str, str]) -> None:
        responder = self.responder(interaction)
        inv = self.invocation(interaction, responder)
        # A remix answers in public (a new clip); the others privately (a report, a saved preset).
        await responder.defer(ephemeral=form.action != "remix", thinking=False)
        await self.handler.submit_form(inv, form.action, form.job_id, values)

    async def on_animate_image(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The "Animate image" message menu: a modal for prompt and motion, or why the message will not do."""
        attachment = first_image(message)
        if attachment is None:
            text = "that message has no image attached; use Animate image on a message with a picture"
            await self.responder(interaction).reply(Message(text, tone="error"), ephemeral=True)
            return
        modal = image_modal(attachment, self.on_image_submit, nonce=interaction.id)
        await interaction.response.send_modal(modal)

    async def on_image_submit(
        self, interaction: discord.Interaction, attachment: discord.Attachment, prompt: str, motion: str
    ) -> None:
        responder = self.responder(interaction)
        inv = self.invocation(interaction, responder)
        log.info("Animate image from %s in %s", inv.actor.key, inv.place.channel_id)
        await responder.defer(ephemeral=False, thinking=False)
        options: dict[str, object] = {"image": await self._fetch(attachment)}
        if motion.strip():
            options["motion"] = motion.strip()
        await self.handler.handle_command(inv, "animate", prompt, options)

    async def _fetch(self, attachment: discord.Attachment) -> ImageFile:
        return await fetch_attachment(
            attachment,
            api_base=self.settings.discord_api_base_url,
            timeout_s=self.settings.image_download_timeout_s,
        )

    async def _on_tree_error(
        self, interaction: discord.Interaction, error: discord.app_commands.AppCommandError
    ) -> None:
        if isinstance(error, discord.app_commands.CommandNotFound | discord.app_commands.CommandSignatureMismatch):
            text = "this command changed since Discord last loaded it; try again in a minute"
        else:
            log.error("slash command failed", exc_info=error)
            text = "something went wrong on our side; it has been logged"
        with contextlib.suppress(discord.HTTPException):
            await self.responder(interaction).reply(Message(text, tone="error"), ephemeral=True)

    # --- outbound: ChatAdapter -----------------------------------------------------------------------
    def _channel(self, place: Place) -> discord.PartialMessageable:
        # A message in a thread lives in the thread's channel; everything else in the channel.
        channel_id = int(place.thread_id or place.channel_id)
        guild_id = int(place.workspace_id) if place.workspace_id else None
        return self.client.get_partial_messageable(channel_id, guild_id=guild_id)

    async def post(self, place: Place, message: Message) -> MessageRef:
        """Post ``message`` in the channel or thread with the bot token; NotInChannel when forbidden."""
        try:
            sent = await self._channel(place).send(**render(message))
        except discord.Forbidden as exc:
            raise NotInChannel(f"cannot post in channel {place.thread_id or place.channel_id}: {exc.text}") from exc
        return MessageRef(place, str(sent.id))

    async def edit(self, ref: MessageRef, message: Message) -> None:
        """Replace the text, embed and buttons of a message the bot posted (PATCH with the bot token)."""
        await self._channel(ref.place).get_partial_message(int(ref.message_id)).edit(**render(message, editing=True))

    async def delete(self, ref: MessageRef) -> None:
        """Delete a message the bot posted; one already gone counts as deleted."""
        with contextlib.suppress(discord.NotFound):
            await self._channel(ref.place).get_partial_message(int(ref.message_id)).delete()

    async def start_thread(self, ref: MessageRef, name: str) -> Place | None:
        """A public thread started from ``ref``; None in DMs, without permission, or where threads cannot be."""
        place = ref.place
        if place.thread_id:
            return place
        if place.is_dm or not place.workspace_id:
            return None
        try:
            # The HTTP call behind Message.create_thread, without needing the guild in the cache.
            data = await self.client.http.start_thread_with_message(
                int(place.channel_id),
                int(ref.message_id),
                name=thread_name(name),
                auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            )
        except discord.Forbidden as exc:
            log.warning("no thread in channel %s (missing permission: %s)", place.channel_id, exc.text)
            return None
        except discord.HTTPException as exc:
            if exc.code == CODE_THREAD_EXISTS:  # a retry: a message's thread has the message's id
                return place.in_thread(ref.message_id)
            if exc.code == CODE_WRONG_CHANNEL_TYPE:
                return None
            raise
        return place.in_thread(str(data["id"]))

    async def post_clip(self, place: Place, message: Message, clip: Clip) -> MessageRef:
        """Upload the clip as an attachment with its embed and buttons.

        Raises UploadTooLarge when Discord refuses the file for size (413 / code 40005), so the
        service can re-encode it smaller; 429 and 5xx are retried inside discord.py first.
        """
        return await self.post_clips(place, message, [clip])  # one file is a set of one (SPOILER_<name> as asked)

    async def post_clips(self, place: Place, message: Message, clips: Sequence[Clip]) -> MessageRef:
        """Upload a set's clips as the attachments of one message with its embed and buttons (Discord takes up to
        10 files in one message; its size limit counts the whole request). Raises UploadTooLarge on 413 / 40005."""
        files = [discord.File(c.path, filename=c.filename, spoiler=c.spoiler) for c in clips]
        try:
            sent = await self._channel(place).send(**render(message), files=files)
        except discord.Forbidden as exc:
            raise NotInChannel(f"cannot upload in channel {place.thread_id or place.channel_id}: {exc.text}") from exc
        except discord.HTTPException as exc:
            if exc.status == 413 or exc.code == CODE_TOO_LARGE:
                raise UploadTooLarge() from exc
            raise
        finally:
            for file in files:
                file.close()
        return MessageRef(place, str(sent.id))

    async def notify(self, place: Place, user_id: str, message: Message) -> None:
        """A direct message to one person; where DMs are closed, a mention in ``place`` instead."""
        try:
            dm = await self.client.create_dm(discord.Object(int(user_id)))
            await dm.send(**render(message))
            return
        except discord.HTTPException as exc:
            if exc.code != CODE_CANNOT_DM and not isinstance(exc, discord.Forbidden):
                raise
        kwargs = render(message)
        mention = f"<@{user_id}>"
        kwargs["content"] = f"{mention} {kwargs['content']}" if kwargs["content"] else mention
        allowed = discord.AllowedMentions(users=[discord.Object(int(user_id))], everyone=False, roles=False)
        await self._channel(place).send(**kwargs, allowed_mentions=allowed)

    def link(self, ref: MessageRef) -> str | None:
        """The jump URL of a message (in its thread when it has one)."""
        guild = ref.place.workspace_id or "@me"
        channel = ref.place.thread_id or ref.place.channel_id
        return f"https://discord.com/channels/{guild}/{channel}/{ref.message_id}"


def place_of(interaction: discord.Interaction) -> Place:
    """Where an interaction happened.

    In a thread, ``channel_id`` is the thread itself, as is ``thread_id``: on Discord a thread is a
    channel, and messages posted there (a job's parent message, for one) are edited through it.
    """
    guild = str(interaction.guild_id) if interaction.guild_id else ""
    channel = interaction.channel
    channel_id = str(channel.id) if channel is not None else ""
    if isinstance(channel, discord.Thread):
        parent = str(channel.parent_id) if channel.parent_id else None
        private = _private_thread(channel, interaction.guild_id or 0)
        return Place(
            "discord", channel_id, guild, thread_id=channel_id, parent_channel_id=parent, private_channel_id=private
        )
    if interaction.guild_id is None:
        return Place("discord", channel_id, guild, is_dm=True, private_channel_id=channel_id or None)
    # The payload's channel.nsfw: the server marked the channel age-restricted.
    nsfw = bool(getattr(channel, "nsfw", False))
    private = channel_id if channel is not None and _hidden(channel, interaction.guild_id) else None
    return Place("discord", channel_id, guild, age_restricted=nsfw, private_channel_id=private)


def _hidden(channel: object, guild_id: int) -> bool:
    """Whether @everyone may not view ``channel``: its permission overwrite for the @everyone role (whose
    id is the guild's) denies View Channel. Channels synced to a category carry the category's overwrites."""
    overwrites_for = getattr(channel, "overwrites_for", None)
    if overwrites_for is None:
        return False
    return overwrites_for(discord.Object(guild_id, type=discord.Role)).view_channel is False


def _private_thread(thread: discord.Thread, guild_id: int) -> str | None:
    """The channel a clip made in ``thread`` may be shown in: a private thread itself, a public thread's
    private channel (when discord.py knows that channel), else None (anywhere on the server)."""
    if thread.type is discord.ChannelType.private_thread:
        return str(thread.id)
    parent = thread.parent
    return str(parent.id) if parent is not None and _hidden(parent, guild_id) else None
