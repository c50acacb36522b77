"""Requests from Slack into the command handler: slash commands, button clicks and the remix modal.

Every listener acknowledges first (Slack allows 3 seconds) and then runs the work; Bolt runs
listeners as their own tasks and answers Slack as soon as ``ack`` is called. Redeliveries never
run twice: requests Slack marks as retries (``X-Slack-Retry-Num``, or a Socket Mode
``retry_attempt``) are acknowledged and dropped, and each command or click is remembered by its
``trigger_id`` (also passed on as the Invocation's ``request_id`` so the database keeps job rows
unique per platform request). The inbound side is given the outbound functions it calls, not the
adapter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.chat import (
    BUTTON_PREFIX,
    Actor,
    CommandHandler,
    Form,
    Invocation,
    Message,
    MessageRef,
    NotInChannel,
    Place,
    parse_custom_id,
)
from bot.commands import COMMAND_NAMES, FORMS
from bot.platforms.flow import run_command
from bot.platforms.slack.render import blocks, fallback_text, unescape

log = logging.getLogger("animatebot.slack")

COMMANDS = COMMAND_NAMES  # every command of the shared grammar is a Slack slash command
_ACTION_ID = re.compile(rf"^{re.escape(BUTTON_PREFIX)}:")  # every button; the value says which job and action
USER_CACHE_S = 300.0
_USER_LOOKUP_TIMEOUT_S = 1.5  # users.info runs inside the 3 s ack window
_SEEN_TTL_S = 900.0
_SEEN_MAX = 4096


class SeenRequests:
    """Request ids seen lately (bounded, expiring), so a redelivered command or click runs once."""

    def __init__(
        self, ttl_s: float = _SEEN_TTL_S, max_size: int = _SEEN_MAX, clock: Callable[[], float] = time.monotonic
    ):
        self._ttl_s = ttl_s
        self._max_size = max_size
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is offered within the TTL; an empty key is always new."""
        if not key:
            return True
        now = self._clock()
        while self._seen and (next(iter(self._seen.values())) < now - self._ttl_s or len(self._seen) >= self._max_size):
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


@dataclass(frozen=True)
class Outbound:
    """What the inbound side calls on the way out (the adapter's functions, handed in)."""

    client: AsyncWebClient
    post: Callable[[Place, Message], Awaitable[MessageRef]]
    post_ephemeral: Callable[[Place, str, Message], Awaitable[None]]
    invite_hint: Callable[[Place], Message]


class SlackAck:
    """``bot.platforms.flow.Acknowledgement`` for a slash command: Bolt's ``ack``."""

    def __init__(self, ack: Any) -> None:
        self._ack = ack

    async def refuse(self, message: Message) -> None:
        await self._ack(text=fallback_text(message), blocks=blocks(message), response_type="ephemeral")

    def answering(self, *, private: bool) -> AbstractAsyncContextManager[None]:
        return self._answering()

    @asynccontextmanager
    async def _answering(self) -> AsyncIterator[None]:
        await self._ack()  # Slack shows nothing for an empty ack; answers follow, public or private
        yield


class SlackResponder:
    """Answers one command or click: public replies as bot posts, ephemeral ones via ``response_url``."""

    def __init__(self, inbound: SlackInbound, place: Place, user_id: str, response_url: str | None) -> None:
        self._inbound = inbound
        self._place = place
        self._user_id = user_id
        self._response_url = response_url

    async def reply(self, message: Message, *, ephemeral: bool = False) -> MessageRef | None:
        """Ephemeral: returns None. Public: the posted message's ref; raises NotInChannel after telling
        the user (ephemerally) how to invite the bot."""
        if ephemeral:
            await self._inbound.ephemeral(self._place, self._user_id, message, self._response_url)
            return None
        try:
            return await self._inbound.out.post(self._place, message)
        except NotInChannel:
            await self._inbound.ephemeral(
                self._place, self._user_id, self._inbound.out.invite_hint(self._place), self._response_url
            )
            raise


class SlackInbound:
    """Bolt listeners that turn Slack payloads into ``Invocation``s for the command handler."""

    def __init__(self, handler: CommandHandler, out: Outbound) -> None:
        self.out = out
        self._handler = handler
        self._seen = SeenRequests()
        self._users: dict[str, tuple[float, bool, str]] = {}  # user id -> (expires, admin, name)

    def register(self, app: AsyncApp) -> None:
        app.middleware(self._skip_retries)
        for name in COMMANDS:
            app.command(f"/{name}")(self._on_command)
        app.action(_ACTION_ID)(self._on_action)
        for action in FORMS:
            if action != "image":  # its view belongs to the message shortcut (bot.platforms.slack.images)
                app.view(form_callback(action))(self._on_form_submit)

    # --- listeners -----------------------------------------------------------------------------
    async def _skip_retries(self, request: AsyncBoltRequest, next: Callable[[], Awaitable[Any]]) -> Any:
        # Slack redelivers when an answer was slow; the first delivery is already being handled.
        retry = (request.headers.get("x-slack-retry-num") or ["0"])[0]
        if retry.isdigit() and int(retry) > 0:
            log.info("Slack redelivery (retry %s, %s) acknowledged, not run again", retry, _retry_reason(request))
            return BoltResponse(status=200, body="")
        return await next()

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        trigger_id = str(body.get("trigger_id") or "")
        if not self._seen.first_time(trigger_id):
            await ack()
            log.info("duplicate %s (trigger %s) ignored", body.get("command"), trigger_id)
            return
        name = str(body.get("command", "")).lstrip("/")
        text = unescape(str(body.get("text") or ""))
        channel_id = str(body.get("channel_id", ""))
        channel_name = str(body.get("channel_name") or "")
        place = Place(
            "slack",
            channel_id,
            workspace_id=str(body.get("team_id", "")),
            is_dm=channel_id.startswith("D") or channel_name == "directmessage",
            private_channel_id=channel_id if private_conversation(channel_id, channel_name) else None,
        )
        inv = await self.invocation(
            str(body.get("user_id", "")), str(body.get("user_name", "")), place, body.get("response_url"), trigger_id
        )
        await run_command(self._handler, inv, name, text, None, SlackAck(ack))

    async def _on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        trigger_id = str(body.get("trigger_id") or "")
        if not self._seen.first_time(trigger_id):
            return
        custom_id = str(action.get("value") or "")
        parsed = parse_custom_id(custom_id)
        if parsed is None:
            log.warning("ignoring a click with an unknown value %r", custom_id[:80])
            return
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel_id = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        thread = message.get("thread_ts") or container.get("thread_ts") or container.get("message_ts")
        private = private_conversation(channel_id, str((body.get("channel") or {}).get("name") or ""))
        place = Place(
            "slack",
            channel_id,
            str((body.get("team") or {}).get("id", "")),
            thread_id=thread,
            private_channel_id=channel_id if private else None,
        )
        user = body.get("user") or {}
        inv = await self.invocation(
            str(user.get("id", "")),
            str(user.get("username") or user.get("name") or ""),
            place,
            body.get("response_url"),
            trigger_id,
        )
        action_name, job_id = parsed
        form = await self._handler.open_form(inv, action_name, job_id)
        if form is not None:
            await self._open_form(trigger_id, form, place)
            return
        await self._handler.handle_button(inv, custom_id)

    async def _open_form(self, trigger_id: str, form: Form, place: Place) -> None:
        meta = {
            "job_id": form.job_id,
            "channel": place.channel_id,
            "thread": place.thread_id,
            "team": place.workspace_id,
        }
        try:
            await self.out.client.views_open(trigger_id=trigger_id, view=form_view(form, meta))
        except SlackApiError as e:
            log.warning("could not open the %s dialog for job #%s: %s", form.action, form.job_id, error_code(e))

    async def _on_form_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        if not self._seen.first_time(f"view:{view.get('id')}:{view.get('hash')}"):
            return
        action = str(view.get("callback_id") or "").removeprefix(f"{BUTTON_PREFIX}_")
        meta = json.loads(view.get("private_metadata") or "{}")
        state = (view.get("state") or {}).get("values") or {}
        # A field left empty arrives as None: not given (a remix then keeps the clip's motion).
        values = {
            key: str(value)
            for key, block in state.items()
            if (value := ((block or {}).get("value") or {}).get("value")) is not None
        }
        place = Place("slack", str(meta.get("channel", "")), str(meta.get("team", "")), thread_id=meta.get("thread"))
        user = body.get("user") or {}
        inv = await self.invocation(str(user.get("id", "")), str(user.get("username") or ""), place, None, "")
        await self._handler.submit_form(inv, action, int(meta.get("job_id", 0)), values)

    # --- helpers (also for the image shortcut) -------------------------------------------------
    def first_time(self, key: str) -> bool:
        """True the first time a request id is seen lately (a redelivery is not run twice)."""
        return self._seen.first_time(key)

    async def invocation(
        self, user_id: str, user_name: str, place: Place, response_url: Any, request_id: str
    ) -> Invocation:
        actor = await self.actor(user_id, user_name)
        url = str(response_url) if response_url else None
        return Invocation(actor, place, SlackResponder(self, place, user_id, url), request_id=request_id or None)

    async def actor(self, user_id: str, fallback_name: str = "") -> Actor:
        """The Actor for ``user_id``; ``platform_admin`` is a workspace admin or owner (users.info, cached)."""
        cached = self._users.get(user_id)
        if cached is None or cached[0] < time.monotonic():
            try:
                resp = await asyncio.wait_for(self.out.client.users_info(user=user_id), _USER_LOOKUP_TIMEOUT_S)
            except (SlackApiError, TimeoutError) as e:
                # Not cached: the next command asks again. Meanwhile the service sees a plain user.
                log.warning("users.info failed for %s (%s); treating as a non-admin for now", user_id, _why(e))
                return Actor("slack", user_id, display_name=fallback_name)
            user = resp.get("user") or {}
            profile = user.get("profile") or {}
            name = profile.get("display_name") or user.get("real_name") or user.get("name") or fallback_name
            admin = bool(user.get("is_admin") or user.get("is_owner"))
            cached = (time.monotonic() + USER_CACHE_S, admin, str(name))
            self._users[user_id] = cached
        return Actor("slack", user_id, display_name=cached[2], platform_admin=cached[1])

    async def ephemeral(self, place: Place, user_id: str, message: Message, response_url: str | None) -> None:
        """Show ``message`` to one user only: through ``response_url`` when there is one (works in
        channels the bot is not in), else chat.postEphemeral. Failures are logged, not raised."""
        text, rendered = fallback_text(message), blocks(message)
        if response_url:
            try:
                hook = AsyncWebhookClient(response_url, retry_handlers=self.out.client.retry_handlers)
                resp = await hook.send(text=text, blocks=rendered, response_type="ephemeral", replace_original=False)
                if resp.status_code == 200:
                    return
                log.warning("response_url answered %s; falling back to chat.postEphemeral", resp.status_code)
            except Exception as e:
                log.warning("response_url failed (%r); falling back to chat.postEphemeral", e)
        try:
            await self.out.post_ephemeral(place, user_id, message)
        except (NotInChannel, SlackApiError) as e:
            log.warning("could not show an ephemeral message to %s in %s: %s", user_id, place.channel_id, e)


def form_callback(action: str) -> str:
    """The callback id of the view for the form a click on ``action`` opens."""
    return f"{BUTTON_PREFIX}_{action}"


def form_view(form: Form, meta: dict[str, Any], callback_id: str | None = None) -> dict[str, Any]:
    """A neutral Form as a modal view: one input block per field (its block id the field's key), prefilled;
    ``meta`` (job, channel, thread, team) rides in private_metadata."""
    blocks_: list[dict[str, Any]] = []
    for field in form.fields:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": field.max_length}
        if field.multiline:
            element["multiline"] = True
        if field.placeholder:
            element["placeholder"] = {"type": "plain_text", "text": field.placeholder[:150]}
        if field.value:
            element["initial_value"] = field.value[: field.max_length]
        block: dict[str, Any] = {
            "type": "input",
            "block_id": field.key,
            "label": {"type": "plain_text", "text": field.label[:2000]},
            "element": element,
        }
        if field.optional:
            block["optional"] = True
        blocks_.append(block)
    return {
        "type": "modal",
        "callback_id": callback_id or form_callback(form.action),
        "private_metadata": json.dumps(meta),
        "title": {"type": "plain_text", "text": form.title[:24]},
        "submit": {"type": "plain_text", "text": form.submit[:24]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks_,
    }


def _retry_reason(request: AsyncBoltRequest) -> str:
    return (request.headers.get("x-slack-retry-reason") or ["unknown"])[0]


def error_code(error: SlackApiError) -> str:
    """Slack's error code (``not_in_channel``), or the HTTP status when the answer was not JSON."""
    data = getattr(error.response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {getattr(error.response, 'status_code', '?')}"


def _why(error: BaseException) -> str:
    return error_code(error) if isinstance(error, SlackApiError) else type(error).__name__


def private_conversation(channel_id: str, channel_name: str) -> bool:
    """Whether not everyone in the workspace can read the conversation: a DM (``D…``, "directmessage"), a
    private channel (Slack names it "privategroup" in command and click payloads; old ones have ``G…`` ids)
    or a group DM ("mpdm-…")."""
    return (
        channel_id.startswith(("D", "G"))
        or channel_name in ("directmessage", "privategroup")
        or channel_name.startswith("mpdm-")
    )
