"""The Slack adapter: slash commands, buttons and the remix modal in; messages, edits and clips out.

Translation only. Bolt (``AsyncApp``) receives requests either over Socket Mode (the default;
an outbound WebSocket, no public URL) or over HTTP at ``/slack/events`` with every request's
signature checked. Each request is acknowledged within Slack's 3 seconds (with the service's
refusal as an ephemeral answer when there is one) and the real work runs afterwards as a task.
Everything going out uses one ``AsyncWebClient`` whose retry handlers wait out ``ratelimited``
(429 + ``Retry-After``), 5xx answers and dropped connections, so a reply is not lost to a blip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import Clip, CommandHandler, Message, MessageRef, NotInChannel, Place, UploadTooLarge
from bot.platforms.slack.images import SlackImages
from bot.platforms.slack.inbound import Outbound, SlackInbound, error_code
from bot.platforms.slack.render import blocks, fallback_text, headline
from bot.settings import Settings

log = logging.getLogger("animatebot.slack")

EVENTS_PATH = "/slack/events"
SLACK_MAX_UPLOAD = 1024 * 1024 * 1024  # Slack accepts files up to 1 GB
_NOT_IN_CHANNEL = frozenset({"not_in_channel", "channel_not_found"})
_TOO_LARGE = frozenset({"file_too_large", "file_uploads_exceeded"})
# A clip's message id is "<ts of the message with its buttons>/<id of the uploaded file>": the service stores it
# and hands it back for edits and Delete, so the file can go with the message, after a restart too.
_FILE_SEP = "/"


def _ts_and_file(message_id: str) -> tuple[str, str | None]:
    ts, _, file_id = message_id.partition(_FILE_SEP)
    return ts, file_id or None


_CONNECT_TIMEOUT_S = 30.0


def build_web_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: bot token, optional base URL (proxies, tests), retries for 429, 5xx and resets."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    base_url = settings.slack_api_base_url or AsyncWebClient.BASE_URL
    if not base_url.endswith("/"):
        base_url += "/"
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class _SkipTokenNotice(logging.Filter):
    """Bolt warns "token will be unused" whenever SLACK_BOT_TOKEN is in the environment and a client
    is given; here the client carries that very token, so the warning only misleads operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def _check_settings(settings: Settings) -> None:
    bot_token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if not bot_token.startswith("xoxb-"):
        raise ValueError("SLACK_BOT_TOKEN must be set to the app's bot token (it starts with xoxb-)")
    if settings.slack_mode == "http":
        if not settings.slack_signing_secret or not settings.slack_signing_secret.get_secret_value():
            raise ValueError(
                "SLACK_SIGNING_SECRET must be set when SLACK_MODE=http (Basic Information > App Credentials)"
            )
    else:
        app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
        if not app_token.startswith("xapp-"):
            raise ValueError(
                "SLACK_APP_TOKEN must be set to an app-level token with connections:write (it starts with xapp-) "
                "for SLACK_MODE=socket, or set SLACK_MODE=http"
            )


class SlackAdapter:
    """``ChatAdapter`` for Slack; ``await start()`` to receive commands, ``await close()`` to stop.

    ``host``/``port`` only matter in HTTP mode (``port`` defaults to ``SLACK_PORT``; 0 picks a free
    one, see ``self.port`` after ``start()``). The caller registers the adapter with the service.
    """

    platform = "slack"
    max_upload_bytes = SLACK_MAX_UPLOAD
    supports_remix = True  # a modal with the prompt and motion prefilled

    def __init__(
        self, handler: CommandHandler, settings: Settings, *, host: str = "0.0.0.0", port: int | None = None
    ) -> None:
        _check_settings(settings)
        self._settings = settings
        self._host = host
        self.port = settings.slack_port if port is None else port
        self.client = build_web_client(settings)
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
        bolt_log = logging.getLogger("slack_bolt.AsyncApp")
        if not any(isinstance(f, _SkipTokenNotice) for f in bolt_log.filters):
            bolt_log.addFilter(_SkipTokenNotice())
        self.app = AsyncApp(client=self.client, signing_secret=secret, name="animatebot", logger=bolt_log)
        self.inbound = SlackInbound(handler, Outbound(self.client, self.post, self.post_ephemeral, self.invite_hint))
        self.inbound.register(self.app)
        SlackImages(self.inbound, handler, self.client, settings).register(self.app)  # "Animate this image"
        self.bot_user_id = ""
        self.bot_name = "animatebot"
        self._team_url: str | None = None
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Check the bot token (auth.test), then listen (HTTP) or connect (Socket Mode).

        Returns once requests can arrive. Raises RuntimeError saying what Slack refused or what
        could not be reached; tokens are never part of the message.
        """
        try:
            auth = await self.client.auth_test()
        except SlackApiError as e:
            raise RuntimeError(f"Slack refused SLACK_BOT_TOKEN in auth.test: {error_code(e)}") from None
        except Exception as e:
            raise RuntimeError(f"cannot reach the Slack Web API at {self.client.base_url}: {e!r}") from None
        self.bot_user_id = str(auth.get("user_id") or "")
        self.bot_name = str(auth.get("user") or self.bot_name)
        self._team_url = auth.get("url")
        log.info("Slack auth ok: bot @%s (%s) in team %s", self.bot_name, self.bot_user_id, auth.get("team_id"))
        if self._settings.slack_mode == "http":
            await self._listen()
        else:
            await self._connect()

    async def _listen(self) -> None:
        self._runner = web.AppRunner(self.app.web_app(path=EVENTS_PATH, port=self.port))
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self.port)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            self._runner = None
            raise RuntimeError(f"cannot listen on {self._host}:{self.port} for Slack (SLACK_PORT): {e}") from None
        if self._runner.addresses:  # the real port when 0 asked for any free one
            self.port = int(self._runner.addresses[0][1])
        log.info("Slack HTTP mode: listening on http://%s:%s%s", self._host, self.port, EVENTS_PATH)

    async def _connect(self) -> None:
        assert self._settings.slack_app_token is not None
        app_token = self._settings.slack_app_token.get_secret_value()
        self._socket = AsyncSocketModeHandler(self.app, app_token, web_client=self.client)
        try:
            # Asking for the URL here, not inside connect(), turns a bad app token into an error
            # instead of the socket client's endless retry loop.
            opened = await self.client.apps_connections_open(app_token=app_token)
            self._socket.client.wss_uri = opened["url"]
            await asyncio.wait_for(self._socket.connect_async(), _CONNECT_TIMEOUT_S)
        except SlackApiError as e:
            await self._close_socket()
            raise RuntimeError(f"Slack refused SLACK_APP_TOKEN in apps.connections.open: {error_code(e)}") from None
        except TimeoutError:
            await self._close_socket()
            raise RuntimeError(f"no Socket Mode connection to Slack after {_CONNECT_TIMEOUT_S:.0f}s") from None
        log.info("Slack Socket Mode: connected")

    async def _close_socket(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None

    async def close(self) -> None:
        """Stop receiving requests; safe to call twice."""
        await self._close_socket()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- ChatAdapter: out ----------------------------------------------------------------------
    async def post(self, place: Place, message: Message) -> MessageRef:
        """Post in a channel or thread with the bot token; raises NotInChannel when Slack says so."""
        try:
            resp = await self.client.chat_postMessage(
                channel=place.channel_id,
                thread_ts=place.thread_id,
                text=fallback_text(message),
                blocks=blocks(message),
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as e:
            raise _translate(e, place) from e
        return MessageRef(place, str(resp["ts"]))

    async def edit(self, ref: MessageRef, message: Message) -> None:
        """Replace the text and blocks of a message the bot posted (chat.update)."""
        ts, _file = _ts_and_file(ref.message_id)
        try:
            await self.client.chat_update(
                channel=ref.place.channel_id, ts=ts, text=fallback_text(message), blocks=blocks(message)
            )
        except SlackApiError as e:
            raise _translate(e, ref.place) from e

    async def start_thread(self, ref: MessageRef, name: str) -> Place | None:
        """Slack threads need no creating: replies with ``thread_ts`` = the parent's ``ts`` form one."""
        return ref.place.in_thread(ref.message_id)

    async def post_clip(self, place: Place, message: Message, clip: Clip) -> MessageRef:
        """Upload the clip into ``place`` (three-step external upload), then the message and buttons.

        Returns the message holding the buttons, its id naming the file too (``delete`` removes both). Raises
        UploadTooLarge when Slack refuses the size, NotInChannel when the bot may not share files there.
        """
        files = await self._upload(place, message, [clip])
        ref = await self.post(place, message)
        if not files or not files[0].get("id"):
            return ref
        return MessageRef(ref.place, f"{ref.message_id}{_FILE_SEP}{files[0]['id']}")

    async def post_clips(self, place: Place, message: Message, clips: Sequence[Clip]) -> MessageRef:
        """Upload a set's clips as one message with every file (files_upload_v2's file_uploads), then the message
        and its buttons (a row per take). Raises UploadTooLarge, NotInChannel as post_clip does."""
        await self._upload(place, message, clips)
        return await self.post(place, message)

    async def _upload(self, place: Place, message: Message, clips: Sequence[Clip]) -> list[dict[str, Any]]:
        """Share ``clips`` in one message of ``place`` (files_upload_v2); the files Slack made."""
        if any(clip.size > self.max_upload_bytes for clip in clips):
            raise UploadTooLarge(self.max_upload_bytes)
        uploads = [{"file": str(c.path), "filename": c.filename, "title": c.filename} for c in clips]
        try:
            uploaded = await self.client.files_upload_v2(
                channel=place.channel_id,
                thread_ts=place.thread_id,
                file_uploads=uploads,
                initial_comment=headline(message) or clips[0].filename,
            )
        except SlackApiError as e:
            if error_code(e) in _TOO_LARGE:
                raise UploadTooLarge(self.max_upload_bytes) from e
            raise _translate(e, place) from e
        except SlackRequestError as e:
            # The upload step reports HTTP failures only as text ("status: 413, ...").
            if "status: 413" in str(e):
                raise UploadTooLarge(self.max_upload_bytes) from e
            raise
        return list(uploaded.get("files") or [])

    async def delete(self, ref: MessageRef) -> None:
        """Remove a message the bot posted (chat.delete) and, for a clip, its uploaded file (files.delete): the
        clip's file share would otherwise stay in the channel."""
        ts, file_id = _ts_and_file(ref.message_id)
        try:
            await self.client.chat_delete(channel=ref.place.channel_id, ts=ts)
        except SlackApiError as e:
            if file_id is None or error_code(e) != "message_not_found":
                raise _translate(e, ref.place) from e
        if file_id is not None:
            try:
                await self.client.files_delete(file=file_id)
            except SlackApiError as e:
                if error_code(e) != "file_not_found":  # gone already (deleted in Slack by hand): nothing to do
                    raise _translate(e, ref.place) from e

    async def notify(self, place: Place, user_id: str, message: Message) -> None:
        """Tell one person privately: an ephemeral message in the channel (and thread) of ``place``."""
        await self.post_ephemeral(place, user_id, message)

    async def post_ephemeral(self, place: Place, user_id: str, message: Message) -> None:
        """An ephemeral message only ``user_id`` sees, in the channel (and thread) of ``place``."""
        try:
            await self.client.chat_postEphemeral(
                channel=place.channel_id,
                user=user_id,
                thread_ts=place.thread_id,
                text=fallback_text(message),
                blocks=blocks(message),
            )
        except SlackApiError as e:
            raise _translate(e, place) from e

    def link(self, ref: MessageRef) -> str | None:
        """The message's permalink, built from the workspace URL that auth.test gave (None before start)."""
        if not self._team_url:
            return None
        ts, _file = _ts_and_file(ref.message_id)
        url = f"{self._team_url.rstrip('/')}/archives/{ref.place.channel_id}/p{ts.replace('.', '')}"
        thread = ref.place.thread_id
        if thread and thread != ref.message_id:
            url += f"?thread_ts={thread}&cid={ref.place.channel_id}"
        return url

    def invite_hint(self, place: Place) -> Message:
        """What to tell someone whose conversation the bot is not in."""
        if place.is_dm:
            text = (
                f"I can't post in this conversation. Use the command in a channel I'm in, "
                f"or in a direct message with @{self.bot_name}."
            )
        else:
            text = (
                f"I'm not in this channel, so I can't post here. Invite me with `/invite @{self.bot_name}` "
                "and run the command again."
            )
        return Message(text=text, tone="error")


def _translate(error: SlackApiError, place: Place) -> Exception:
    code = error_code(error)
    if code in _NOT_IN_CHANNEL:
        return NotInChannel(f"Slack says {code} for channel {place.channel_id}")
    return error


__all__ = ["EVENTS_PATH", "SlackAdapter", "build_web_client"]
