"""A fake of Discord's REST API (v10) and gateway on 127.0.0.1, for driving the real discord.py.

REST: it answers the routes the adapter uses with the shapes Discord documents, checks the bot
token on bot routes (interaction callbacks and webhooks carry their token in the URL instead),
keeps every call (method, path, auth, JSON body or multipart ``payload_json`` plus the files),
keeps messages per channel so edits and threads are checked against what exists, models
interaction responses (a deferral's "thinking" placeholder is replaced by the first follow-up;
callbacks later than 3 s are refused as Discord does), and can be told to fail the next matching
calls (429 with ``retry_after``, 413 code 40005, 5xx, 403).

Gateway: a websocket that sends HELLO, answers IDENTIFY with READY (bot user, application id)
and heartbeats with ACKs, and ``dispatch()`` pushes events such as INTERACTION_CREATE.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

T = TypeVar("T")

TOKEN = "fake-bot-token.for-tests-only"
APPLICATION_ID = 900_000_000_000_000_001
BOT_ID = 900_000_000_000_000_002
GUILD_ID = 900_000_000_000_000_010
CHANNEL_ID = 900_000_000_000_000_020
# A second guild the bot is in (one process serves every server it is in), with its own channel.
GUILD_B_ID = 900_000_000_000_000_011
CHANNEL_B_ID = 900_000_000_000_000_021
USER_ID = 900_000_000_000_000_100
ACK_DEADLINE_S = 3.0
MANAGE_GUILD = 1 << 5
MEMBER_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 31)  # view channel, send messages, use application commands


@dataclass
class Upload:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One REST request as the fake received it (``path`` is relative to /api/v10)."""

    method: str
    path: str
    query: dict[str, str]
    auth: str | None
    body: Any = None  # the JSON body, or the multipart payload_json
    files: list[Upload] = field(default_factory=list)
    status: int = 200
    at: float = 0.0


@dataclass
class Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


@dataclass
class Interaction:
    payload: dict[str, Any]
    created: float
    acked_after: float | None = None
    callback: dict[str, Any] | None = None
    original_id: int | None = None
    placeholder: bool = False  # the original is a deferral's "thinking…" not replaced yet
    expired: bool = False


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name.title(),
        "avatar": None,
        "bot": bot,
        "flags": 0,
        "public_flags": 0,
    }


class FakeDiscord:
    """One fake Discord for one test; ``await start()``, then point DISCORD_API_BASE_URL at ``api_base``."""

    def __init__(self, *, token: str = TOKEN) -> None:
        self.token = token
        self.bot_user = _user(BOT_ID, "animatebot", bot=True)
        self.calls: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or a guild id -> synced commands
        self.interactions: dict[int, Interaction] = {}
        self.identifies: list[dict[str, Any]] = []
        self.forbid_threads: set[int] = set()
        self.closed_dms: set[int] = set()
        self.ready_guilds: list[int] = []  # guilds READY lists (each then arrives as GUILD_CREATE)
        self.left_guilds: list[int] = []  # DELETE /users/@me/guilds/{id}: the bot left
        self.upload_limit: int | None = None
        self._failures: list[Failure] = []
        self._ids = itertools.count(950_000_000_000_000_000)
        self._seq = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        # The CDN: files people attached, served on /cdn/attachments/...; each GET is counted.
        self.cdn_files: dict[str, tuple[str, bytes]] = {}  # path -> (content type, bytes)
        self.cdn_gets: list[str] = []
        self.cdn_stall: asyncio.Event | None = None  # set: CDN answers wait until the test sets it
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.add_channel({"id": str(CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "general"})
        self.add_channel({"id": str(CHANNEL_B_ID), "type": 0, "guild_id": str(GUILD_B_ID), "name": "general"})

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_get("/cdn/{tail:.*}", self._cdn)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def end_sessions(self, code: int, message: str = "") -> None:
        """Close every gateway connection with ``code`` (4004: the token was revoked, which a client must not retry)."""
        for ws in list(self._sockets):
            await ws.close(code=code, message=message.encode())

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def cdn_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/cdn"

    def attachment(
        self, filename: str, data: bytes, content_type: str | None = "image/png", *, size: int | None = None
    ) -> dict[str, Any]:
        """An attachment someone uploaded, served by the fake CDN; ``size`` may lie, as a test wants."""
        attachment_id = next(self._ids)
        path = f"/attachments/{CHANNEL_ID}/{attachment_id}/{filename}"
        self.cdn_files[path] = (content_type or "application/octet-stream", data)
        payload: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data) if size is None else size,
            "url": f"{self.cdn_base}{path}?ex=1&is=2&hm=3",
            "proxy_url": f"{self.cdn_base}{path}",
        }
        if content_type:
            payload["content_type"] = content_type
        return payload

    def user_message(
        self, content: str, attachments: list[dict[str, Any]], person: Person | None = None
    ) -> dict[str, Any]:
        """A message a person posted (not stored with the bot's messages), for message-menu commands."""
        who = person or Person()
        return {
            "id": str(next(self._ids)),
            "channel_id": str(CHANNEL_ID),
            "guild_id": str(GUILD_ID),
            "author": _user(who.user_id, who.name),
            "content": content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        self.cdn_gets.append(path)
        if self.cdn_stall is not None:
            await self.cdn_stall.wait()
        found = self.cdn_files.get(path)
        if found is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=found[1], headers={"Content-Type": found[0]})

    # --- scripting ------------------------------------------------------------------------------
    def fail(
        self,
        method: str,
        path_pattern: str,
        status: int,
        body: dict[str, Any] | None = None,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` and ``body`` instead."""
        body = body or {"message": f"{status}: scripted failure", "code": 0}
        self._failures.append(Failure(method, re.compile(path_pattern), status, body, headers or {}, times))

    def rate_limit(self, method: str, path_pattern: str, retry_after: float = 0.05, *, times: int = 1) -> None:
        """A 429 the way Discord sends it (``Via`` header, ``retry_after`` in seconds)."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        headers = {"Via": "1.1 google", "X-RateLimit-Scope": "user", "Retry-After": str(retry_after)}
        self.fail(method, path_pattern, 429, body, times=times, headers=headers)

    def expire_interaction_tokens(self) -> None:
        """Interaction tokens die after 15 minutes; from now on webhooks refuse every current one."""
        for interaction in self.interactions.values():
            interaction.expired = True

    def add_channel(self, data: dict[str, Any]) -> dict[str, Any]:
        channel = {"position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None, **data}
        self.channels[int(channel["id"])] = channel
        return channel

    def add_private_channel(self, channel_id: int, name: str, guild_id: int = GUILD_ID) -> dict[str, Any]:
        """A channel @everyone may not view (a deny of View Channel for the @everyone role, whose id is the guild's)."""
        deny = {"id": str(guild_id), "type": 0, "allow": "0", "deny": str(1 << 10)}
        return self.add_channel(
            {"id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": name, "permission_overwrites": [deny]}
        )

    def add_thread(self, name: str = "a thread", parent_id: int = CHANNEL_ID) -> dict[str, Any]:
        return self.add_channel(self._thread(next(self._ids), name, parent_id))

    def find(self, method: str, pattern: str) -> list[Call]:
        """Successful calls (2xx) whose method and path match (``re.fullmatch``)."""
        regex = re.compile(pattern)
        return [c for c in self.calls if c.method == method and regex.fullmatch(c.path) and c.status < 300]

    def in_channel(self, channel_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if int(m["channel_id"]) == channel_id]

    async def wait_for(self, check: Callable[[], T | None], timeout: float = 20.0) -> T:
        """Poll ``check`` until it returns something truthy; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {getattr(check, '__name__', check)}")
            await asyncio.sleep(0.02)

    # --- gateway ----------------------------------------------------------------------------------
    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH event to every identified gateway session."""
        if not self._sockets:
            raise AssertionError("no gateway session is connected")
        frame = {"op": 0, "t": event, "s": next(self._seq), "d": data}
        for ws in list(self._sockets):
            await ws.send_json(frame)

    async def join_guild(self, guild_id: int, name: str = "another server") -> None:
        """Someone added the bot to a server: GUILD_CREATE for a guild READY did not list."""
        await self.dispatch("GUILD_CREATE", guild_payload(guild_id, name))

    def register(self, payload: dict[str, Any]) -> Interaction:
        """Make an interaction known (its token valid, its 3-second clock running) without sending it."""
        record = Interaction(payload, time.monotonic())
        self.interactions[int(payload["id"])] = record
        return record

    async def interact(self, payload: dict[str, Any]) -> Interaction:
        """Deliver an interaction over the gateway, as Discord does, and start its 3-second clock."""
        record = self.register(payload)
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame["op"] == 1:
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif frame["op"] == 2:
                self.identifies.append(frame["d"])
                if frame["d"].get("token") != self.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                self._sockets.append(ws)
                ready = {
                    "v": 10,
                    "user": self.bot_user,
                    "guilds": [{"id": str(g), "unavailable": True} for g in self.ready_guilds],
                    "session_id": f"session-{len(self.identifies)}",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(APPLICATION_ID), "flags": 0},
                }
                await ws.send_json({"op": 0, "t": "READY", "s": next(self._seq), "d": ready})
                for guild_id in self.ready_guilds:
                    guild = guild_payload(guild_id, unavailable=False)
                    await ws.send_json({"op": 0, "t": "GUILD_CREATE", "s": next(self._seq), "d": guild})
        if ws in self._sockets:
            self._sockets.remove(ws)
        return ws

    # --- REST -----------------------------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        call = Call(
            request.method, path, dict(request.query), request.headers.get("Authorization"), at=time.monotonic()
        )
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:  # type: ignore[union-attr]
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":
                    call.body = json.loads(data)
                else:
                    ctype = part.headers.get("Content-Type", "")
                    call.files.append(Upload(part.name or "", part.filename or "", ctype, bytes(data)))
        elif request.can_read_body:
            raw = await request.read()
            call.body = json.loads(raw) if raw else None
        self.calls.append(call)

        response = self._scripted(call) or self._route(call)
        call.status = response.status
        return response

    def _scripted(self, call: Call) -> web.Response | None:
        for failure in self._failures:
            if failure.times > 0 and failure.method == call.method and failure.pattern.fullmatch(call.path):
                failure.times -= 1
                return _json(failure.body, status=failure.status, headers=failure.headers)
        return None

    def _route(self, call: Call) -> web.Response:
        bot_route = not call.path.startswith(("/interactions/", "/webhooks/"))
        if bot_route and call.auth != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, call.path)
            if match and method == call.method:
                return handler(call, *match.groups())
        return _error(404, 0, f"404: Not Found ({call.method} {call.path})")

    def _routes(self) -> list[tuple[str, str, Callable[..., web.Response]]]:
        return [
            ("GET", r"/users/@me", lambda c: _json(self.bot_user)),
            ("GET", r"/oauth2/applications/@me", lambda c: _json(self._application())),
            ("GET", r"/gateway/bot", lambda c: _json(self._gateway_bot())),
            ("PUT", r"/applications/(\d+)/commands", lambda c, a: self._sync(c, "global")),
            ("PUT", r"/applications/(\d+)/guilds/(\d+)/commands", lambda c, a, g: self._sync(c, g)),
            ("POST", r"/interactions/(\d+)/([^/]+)/callback", self._callback),
            ("POST", r"/webhooks/(\d+)/([^/]+)", self._followup),
            ("GET", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._webhook_get),
            ("PATCH", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._webhook_edit),
            ("DELETE", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._webhook_delete),
            ("POST", r"/channels/(\d+)/messages", self._create_message),
            ("PATCH", r"/channels/(\d+)/messages/(\d+)", self._edit_message),
            ("DELETE", r"/channels/(\d+)/messages/(\d+)", self._delete_message),
            ("POST", r"/channels/(\d+)/messages/(\d+)/threads", self._start_thread),
            ("POST", r"/users/@me/channels", self._open_dm),
            ("DELETE", r"/users/@me/guilds/(\d+)", self._leave_guild),
        ]

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(APPLICATION_ID),
            "name": "animatebot",
            "description": "",
            "icon": None,
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": _user(USER_ID, "owner"),
            "verify_key": "0" * 64,
            "team": None,
            "flags": 0,
            "summary": "",
            "interactions_endpoint_url": None,
        }

    def _gateway_bot(self) -> dict[str, Any]:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    def _sync(self, call: Call, scope: str) -> web.Response:
        synced = []
        for command in call.body or []:
            entry = {**command, "id": str(next(self._ids)), "application_id": str(APPLICATION_ID), "version": "1"}
            entry.setdefault("description", "")  # Discord answers "" for message and user menus
            if scope != "global":
                entry["guild_id"] = scope
            synced.append(entry)
        self.commands[scope] = synced
        return _json(synced)

    # --- messages ---------------------------------------------------------------------------------------
    def _message(self, channel_id: int, call: Call, *, flags: int = 0, webhook: bool = False) -> dict[str, Any]:
        body = call.body or {}
        attachments = []
        for upload in call.files:
            attachments.append(
                {
                    "id": str(next(self._ids)),
                    "filename": upload.filename,
                    "size": len(upload.data),
                    "url": f"https://cdn.example/{upload.filename}",
                    "proxy_url": f"https://media.example/{upload.filename}",
                    "content_type": upload.content_type,
                }
            )
        channel = self.channels.get(channel_id, {})
        message = {
            "id": str(next(self._ids)),
            "channel_id": str(channel_id),
            "author": self.bot_user,
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": flags | int(body.get("flags") or 0),
        }
        if channel.get("guild_id"):
            message["guild_id"] = channel["guild_id"]
        if webhook:
            message["webhook_id"] = str(APPLICATION_ID)
        self.messages[int(message["id"])] = message
        return message

    def _edit(self, message: dict[str, Any], call: Call) -> dict[str, Any]:
        body = call.body or {}
        for key in ("content", "embeds", "components", "flags"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ("" if key == "content" else [])
        message["edited_timestamp"] = _now()
        return message

    def _too_large(self, call: Call) -> web.Response | None:
        if self.upload_limit is not None and any(len(f.data) > self.upload_limit for f in call.files):
            return _error(413, 40005, "Request entity too large")
        return None

    def _create_message(self, call: Call, channel_id: str) -> web.Response:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        if channel["type"] == 1 and int(channel["recipients"][0]["id"]) in self.closed_dms:
            return _error(403, 50007, "Cannot send messages to this user")
        return self._too_large(call) or _json(self._message(int(channel_id), call))

    def _owned(self, channel_id: str, message_id: str) -> dict[str, Any] | None:
        message = self.messages.get(int(message_id))
        return message if message is not None and message["channel_id"] == channel_id else None

    def _edit_message(self, call: Call, channel_id: str, message_id: str) -> web.Response:
        message = self._owned(channel_id, message_id)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        if message["flags"] & 64:
            return _error(404, 10008, "Unknown Message")  # ephemeral messages are not reachable by bot token
        return _json(self._edit(message, call))

    def _delete_message(self, call: Call, channel_id: str, message_id: str) -> web.Response:
        if self._owned(channel_id, message_id) is None:
            return _error(404, 10008, "Unknown Message")
        del self.messages[int(message_id)]
        return web.Response(status=204)

    def _thread(self, thread_id: int, name: str, parent_id: int) -> dict[str, Any]:
        return {
            "id": str(thread_id),
            "type": 11,
            "guild_id": str(self.channels.get(parent_id, {}).get("guild_id") or GUILD_ID),
            "parent_id": str(parent_id),
            "owner_id": str(BOT_ID),
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": _now(),
                "locked": False,
            },
        }

    def _start_thread(self, call: Call, channel_id: str, message_id: str) -> web.Response:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        if channel["type"] not in (0, 5):
            return _error(400, 50024, "Cannot execute action on this channel type")
        if int(channel_id) in self.forbid_threads:
            return _error(403, 50013, "Missing Permissions")
        if self._owned(channel_id, message_id) is None:
            return _error(404, 10008, "Unknown Message")
        if int(message_id) in self.channels:
            return _error(400, 160004, "A thread has already been created for this message")
        name = (call.body or {}).get("name", "")
        if not 1 <= len(name) <= 100:
            return _error(400, 50035, "Invalid Form Body (name: must be 1-100 characters)")
        # Discord gives a thread started from a message that message's id.
        return _json(self.add_channel(self._thread(int(message_id), name, int(channel_id))))

    def _open_dm(self, call: Call) -> web.Response:
        user_id = int((call.body or {})["recipient_id"])
        for channel in self.channels.values():
            if channel["type"] == 1 and int(channel["recipients"][0]["id"]) == user_id:
                return _json(channel)
        channel = {"id": str(next(self._ids)), "type": 1, "last_message_id": None}
        channel["recipients"] = [_user(user_id, f"user{user_id % 1000}")]
        return _json(self.add_channel(channel))

    def _leave_guild(self, call: Call, guild_id: str) -> web.Response:
        self.left_guilds.append(int(guild_id))
        return web.Response(status=204)

    # --- interactions -------------------------------------------------------------------------------------
    def _interaction(self, token: str) -> Interaction | None:
        return next((i for i in self.interactions.values() if i.payload["token"] == token), None)

    def _callback(self, call: Call, interaction_id: str, token: str) -> web.Response:
        record = self.interactions.get(int(interaction_id))
        if record is None or record.payload["token"] != token:
            return _error(404, 10062, "Unknown interaction")
        if record.callback is not None:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        elapsed = time.monotonic() - record.created
        if elapsed > ACK_DEADLINE_S:
            return _error(404, 10062, "Unknown interaction")
        record.acked_after = elapsed
        record.callback = call.body or {}
        kind = record.callback.get("type")
        data = record.callback.get("data") or {}
        ephemeral = bool(int(data.get("flags") or 0) & 64)
        result: dict[str, Any] = {"interaction": {"id": interaction_id, "type": record.payload["type"]}}
        if kind in (4, 5):
            channel_id = int(record.payload["channel"]["id"])
            inner = Call(call.method, call.path, {}, None, data, call.files)
            message = self._message(channel_id, inner, flags=(128 if kind == 5 else 0), webhook=True)
            record.original_id = int(message["id"])
            record.placeholder = kind == 5
            result["interaction"].update(
                response_message_id=message["id"],
                response_message_loading=kind == 5,
                response_message_ephemeral=ephemeral,
            )
            result["resource"] = {"type": kind, "message": message}
        return _json(result)

    def _webhook_record(self, token: str) -> tuple[Interaction | None, web.Response | None]:
        record = self._interaction(token)
        if record is None or record.expired:
            return None, _error(401, 50027, "Invalid Webhook Token")
        return record, None

    def _followup(self, call: Call, application_id: str, token: str) -> web.Response:
        record, refused = self._webhook_record(token)
        if refused is not None or record is None:
            return refused or _error(404, 0, "no interaction")
        if record.callback is None:
            return _error(404, 10015, "Unknown Webhook")
        too_large = self._too_large(call)
        if too_large is not None:
            return too_large
        if record.placeholder and record.original_id in self.messages:
            # The first follow-up after a deferral replaces the "thinking…" placeholder, keeping its visibility.
            record.placeholder = False
            message = self._edit(self.messages[record.original_id], call)
            message["flags"] &= ~128
            return _json(message)
        channel_id = int(record.payload["channel"]["id"])
        return _json(self._message(channel_id, call, webhook=True))

    def _webhook_message(self, record: Interaction, which: str) -> dict[str, Any] | None:
        message_id = record.original_id if which == "@original" else int(which)
        return self.messages.get(message_id) if message_id is not None else None

    def _webhook_get(self, call: Call, application_id: str, token: str, which: str) -> web.Response:
        record, refused = self._webhook_record(token)
        message = self._webhook_message(record, which) if record else None
        return refused or (_json(message) if message else _error(404, 10008, "Unknown Message"))

    def _webhook_edit(self, call: Call, application_id: str, token: str, which: str) -> web.Response:
        record, refused = self._webhook_record(token)
        message = self._webhook_message(record, which) if record else None
        if refused or message is None:
            return refused or _error(404, 10008, "Unknown Message")
        if record is not None and which == "@original":
            record.placeholder = False
        return _json(self._edit(message, call))

    def _webhook_delete(self, call: Call, application_id: str, token: str, which: str) -> web.Response:
        record, refused = self._webhook_record(token)
        message = self._webhook_message(record, which) if record else None
        if refused or message is None or record is None:
            return refused or _error(404, 10008, "Unknown Message")
        del self.messages[int(message["id"])]
        if which == "@original":
            record.placeholder = False
            record.original_id = None
        return web.Response(status=204)


def guild_payload(guild_id: int, name: str = "a server", *, unavailable: bool | None = None) -> dict[str, Any]:
    """A GUILD_CREATE payload with what discord.py reads (no channels, members or roles)."""
    data: dict[str, Any] = {
        "id": str(guild_id),
        "name": name,
        "owner_id": str(USER_ID),
        "features": [],
        "roles": [],
        "emojis": [],
        "stickers": [],
        "channels": [],
        "threads": [],
        "members": [],
        "member_count": 1,
        "large": False,
        "joined_at": _now(),
    }
    if unavailable is not None:
        data["unavailable"] = unavailable
    return data


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses a body as JSON only when Content-Type is exactly application/json, as Discord sends it.
    body = json.dumps(data).encode()
    return web.Response(body=body, status=status, headers={**(headers or {}), "Content-Type": "application/json"})


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


# --- interaction payloads, shaped like Discord's ------------------------------------------------------


class AttachmentOption:
    """An ATTACHMENT-typed option value: an attachment made by ``FakeDiscord.attachment``."""

    def __init__(self, attachment: dict[str, Any]) -> None:
        self.attachment = attachment


class UserOption:
    """A USER-typed option value (Discord sends the id plus the resolved user and member)."""

    def __init__(self, user_id: int, name: str = "someone") -> None:
        self.user_id = user_id
        self.name = name


class RoleOption:
    """A ROLE-typed option value (Discord sends the id plus the resolved role)."""

    def __init__(self, role_id: int, name: str = "a role") -> None:
        self.role_id = role_id
        self.name = name


class ChannelOption:
    """A CHANNEL-typed option value (Discord sends the id plus the resolved channel)."""

    def __init__(self, channel_id: int, name: str = "a channel", kind: int = 0) -> None:
        self.channel_id = channel_id
        self.name = name
        self.kind = kind


_OPTION_TYPES = {str: 3, int: 4, bool: 5, float: 10}


def _options(values: dict[str, Any], resolved: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, value in values.items():
        if isinstance(value, RoleOption):
            role = {"id": str(value.role_id), "name": value.name, "color": 0, "hoist": False, "position": 1,
                    "permissions": "0", "managed": False, "mentionable": True, "flags": 0}  # fmt: skip
            resolved.setdefault("roles", {})[role["id"]] = role
            out.append({"name": name, "type": 8, "value": role["id"]})
        elif isinstance(value, ChannelOption):
            channel = {"id": str(value.channel_id), "name": value.name, "type": value.kind,
                       "permissions": str((1 << 53) - 1), "guild_id": str(GUILD_ID)}  # fmt: skip
            resolved.setdefault("channels", {})[channel["id"]] = channel
            out.append({"name": name, "type": 7, "value": channel["id"]})
        elif isinstance(value, UserOption):
            user = _user(value.user_id, value.name)
            resolved.setdefault("users", {})[user["id"]] = user
            out.append({"name": name, "type": 6, "value": user["id"]})
        elif isinstance(value, AttachmentOption):
            resolved.setdefault("attachments", {})[value.attachment["id"]] = value.attachment
            out.append({"name": name, "type": 11, "value": value.attachment["id"]})
        else:
            out.append({"name": name, "type": _OPTION_TYPES[type(value)], "value": value})
    return out


@dataclass
class Person:
    """Who clicks or types: a guild member (or a DM user when ``dm``)."""

    user_id: int = USER_ID
    name: str = "alice"
    manage_guild: bool = False
    roles: tuple[int, ...] = ()

    def member(self) -> dict[str, Any]:
        permissions = MEMBER_PERMISSIONS | (MANAGE_GUILD if self.manage_guild else 0)
        return {
            "user": _user(self.user_id, self.name),
            "roles": [str(r) for r in self.roles],
            "permissions": str(permissions),
            "joined_at": _now(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "avatar": None,
            "pending": False,
            "communication_disabled_until": None,
        }


class Payloads:
    """Builds INTERACTION_CREATE payloads against one FakeDiscord (ids, tokens, stored messages)."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    def _base(self, kind: int, person: Person, channel_id: int, size_limit: int) -> dict[str, Any]:
        interaction_id = next(self.fake._ids)
        channel = self.fake.channels[channel_id]
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(APPLICATION_ID),
            "type": kind,
            "token": f"interaction-token-{interaction_id}",
            "version": 1,
            "channel_id": str(channel_id),
            "channel": channel,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": size_limit,
            "app_permissions": str((1 << 53) - 1),
        }
        if channel.get("guild_id"):
            payload.update(
                guild_id=channel["guild_id"],
                guild_locale="en-US",
                member=person.member(),
                context=0,
                authorizing_integration_owners={"0": channel["guild_id"]},
            )
        else:
            payload.update(user=_user(person.user_id, person.name), context=1)
        return payload

    def command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        subcommand: str | None = None,
        person: Person | None = None,
        channel_id: int = CHANNEL_ID,
        size_limit: int = 10 * 1024 * 1024,
    ) -> dict[str, Any]:
        """A slash command; its id comes from what the bot synced (global or this guild)."""
        payload = self._base(2, person or Person(), channel_id, size_limit)
        scope = payload.get("guild_id", "global")
        synced = self.fake.commands.get(scope) or self.fake.commands.get("global") or []
        command = next((c for c in synced if c["name"] == name), None)
        if command is None:
            raise AssertionError(f"/{name} was never synced to {scope}")
        resolved: dict[str, Any] = {}
        opts = _options(options or {}, resolved)
        if subcommand is not None:
            opts = [{"name": subcommand, "type": 1, "options": opts}]
        data: dict[str, Any] = {"id": command["id"], "name": name, "type": 1, "options": opts}
        if resolved:
            data["resolved"] = resolved
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        payload["data"] = data
        return payload

    def click(self, custom_id: str, message_id: int, *, person: Person | None = None) -> dict[str, Any]:
        """A button click on a message the bot posted (its stored components travel with it)."""
        message = self.fake.messages[message_id]
        payload = self._base(3, person or Person(), int(message["channel_id"]), 10 * 1024 * 1024)
        payload["message"] = message
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        return payload

    def modal_submit(
        self, modal: dict[str, Any], values: list[str], message_id: int, *, person: Person | None = None
    ) -> dict[str, Any]:
        """Submitting the modal the bot opened (``modal`` is its callback data), text inputs in order."""
        message = self.fake.messages[message_id]
        payload = self._base(5, person or Person(), int(message["channel_id"]), 10 * 1024 * 1024)
        payload["message"] = message
        inputs = [c for row in modal["components"] for c in row["components"]]
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": c["custom_id"], "value": v}]}
            for c, v in zip(inputs, values, strict=True)
        ]
        payload["data"] = {"custom_id": modal["custom_id"], "components": rows}
        return payload


def message_command(
    payloads: Payloads, name: str, message: dict[str, Any], *, person: Person | None = None
) -> dict[str, Any]:
    """A message context-menu command (type 3) on ``message``, as Discord sends it (the message resolved)."""
    payload = payloads._base(2, person or Person(), int(message["channel_id"]), 10 * 1024 * 1024)
    scope = payload.get("guild_id", "global")
    synced = payloads.fake.commands.get(scope) or payloads.fake.commands.get("global") or []
    command = next((c for c in synced if c["name"] == name and c.get("type") == 3), None)
    if command is None:
        raise AssertionError(f"message command {name!r} was never synced to {scope}")
    payload["data"] = {
        "id": command["id"],
        "name": name,
        "type": 3,
        "target_id": message["id"],
        "resolved": {"messages": {message["id"]: message}},
    }
    return payload


def modal_submit_in_channel(
    payloads: Payloads, modal: dict[str, Any], values: list[str], *, person: Person | None = None
) -> dict[str, Any]:
    """Submitting a modal opened from a command (no message of the bot's under it), text inputs in order."""
    payload = payloads._base(5, person or Person(), CHANNEL_ID, 10 * 1024 * 1024)
    inputs = [c for row in modal["components"] for c in row["components"]]
    rows = [
        {"type": 1, "components": [{"type": 4, "custom_id": c["custom_id"], "value": v}]}
        for c, v in zip(inputs, values, strict=True)
    ]
    payload["data"] = {"custom_id": modal["custom_id"], "components": rows}
    return payload
