"""A fake of the Slack Web API (and Socket Mode) on 127.0.0.1, for driving the real slack-sdk and bolt.

It answers the methods the adapter uses with the shapes Slack documents, keeps every call it
received (method, arguments, token), keeps posted messages so edits can be checked, stores the
bytes of every upload, and can be told to fail the next call to a method (``ratelimited`` with a
``Retry-After`` header, ``not_in_channel``, a 5xx). ``response_url`` targets and the
``files.getUploadURLExternal`` upload URL live on the same server, so nothing leaves the host.

For Socket Mode, ``apps.connections.open`` hands out a ``ws://`` URL on this server; ``push()``
sends an envelope to the connected app and returns the app's acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

BOT_USER_ID = "UBOT0001"
TEAM_ID = "T0000001"


@dataclass
class Call:
    """One Web API call as the fake saw it."""

    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class Failure:
    status: int
    error: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Upload:
    """A file that went through all three upload steps (or only the first two, then ``shared`` is False)."""

    file_id: str
    filename: str
    length: int
    data: bytes = b""
    shared: bool = False
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    title: str | None = None


class FakeSlack:
    """The fake server. ``await start()``, point ``AsyncWebClient(base_url=fake.api_url)`` at it, ``await close()``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.uploads: dict[str, Upload] = {}
        self.deleted: list[tuple[str, str]] = []
        self.deleted_files: list[str] = []  # files.delete: the ids removed (and gone from ``uploads``)
        self.upload_status = 200  # what the upload URL answers; 413 plays a file too large
        self.responses: list[tuple[str, dict[str, Any]]] = []  # (key, body) POSTed to response_url targets
        self.users: dict[str, dict[str, Any]] = {}
        self.not_in_channels: set[str] = set()
        self._failures: dict[str, list[Failure]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._ws: web.WebSocketResponse | None = None
        self._ws_connected = asyncio.Event()
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # Files people shared, served at url_private only to a bot token (as files.slack.com does).
        self.files: dict[str, tuple[str, bytes]] = {}  # path -> (mimetype, bytes)
        self.file_gets: list[tuple[str, str | None]] = []  # (path, bearer token) of every download
        self.file_stall: asyncio.Event | None = None  # set: downloads wait until the test sets it
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)  # slack-sdk GETs a few methods (users.info)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{key}", self._response_url)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/files-pri/{tail:.*}", self._file)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The value for ``SLACK_API_BASE_URL``."""
        return f"{self.origin}/api/"

    def response_url(self, key: str = "1") -> str:
        return f"{self.origin}/response/{key}"

    # --- test controls -----------------------------------------------------------------------
    def fail_next(self, method: str, error: str, status: int = 200, retry_after: int | None = None) -> None:
        """Make the next call to ``method`` fail once (``ratelimited`` uses HTTP 429 with ``Retry-After``)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._failures.setdefault(method, []).append(Failure(status, error, headers))

    def ratelimit_next(self, method: str, retry_after: int = 0) -> None:
        self.fail_next(method, "ratelimited", status=429, retry_after=retry_after)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def responses_for(self, key: str) -> list[dict[str, Any]]:
        """What the app sent to ``response_url(key)``, oldest first."""
        return [body for k, body in self.responses if k == key]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    async def wait_for(self, condition: Any, timeout: float = 30.0) -> None:
        """Wait until ``condition()`` is true; raises TimeoutError naming the calls seen so far."""

        async def _poll() -> None:
            while not condition():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.2)

        try:
            await asyncio.wait_for(_poll(), timeout)
        except TimeoutError:
            raise TimeoutError(f"condition not met in {timeout}s; calls: {self.methods()}") from None

    # --- Web API -----------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _read_args(request)
        token = _bearer(request) or args.pop("token", None)
        self.calls.append(Call(method, args, token))
        self._changed.set()
        queued = self._failures.get(method)
        if queued:
            failure = queued.pop(0)
            body = {"ok": False, "error": failure.error}
            return web.json_response(body, status=failure.status, headers=failure.headers)
        if method == "apps.connections.open":
            if not (token or "").startswith("xapp-"):
                return _error("invalid_auth")
            return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"})
        if not (token or "").startswith("xoxb-"):
            return _error("invalid_auth" if token else "not_authed")
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return _error("unknown_method")
        return web.json_response(handler(args))

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "animatebot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": "B0000001",
            "is_enterprise_install": False,
        }

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if channel in self.not_in_channels:
            return {"ok": False, "error": "not_in_channel"}
        ts = self._next_ts()
        message = {"type": "message", "user": BOT_USER_ID, "ts": ts, "text": args.get("text", "")}
        message["blocks"] = _json_arg(args.get("blocks")) or []
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel", "")), str(args.get("ts", "")))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        message = self.messages[key]
        message["text"] = args.get("text", message["text"])
        message["blocks"] = _json_arg(args.get("blocks")) or []
        message.setdefault("edits", 0)
        message["edits"] += 1
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message["text"]}

    def _m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel", "")), str(args.get("ts", "")))
        if self.messages.pop(key, None) is None:
            return {"ok": False, "error": "message_not_found"}
        self.deleted.append(key)
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if str(args.get("channel", "")) in self.not_in_channels:
            return {"ok": False, "error": "not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user", ""))
        extra = self.users.get(user_id, {})
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": extra.get("name", user_id.lower()),
            "real_name": extra.get("real_name", f"User {user_id}"),
            "is_admin": bool(extra.get("is_admin", False)),
            "is_owner": bool(extra.get("is_owner", False)),
            "is_bot": False,
            "profile": {"display_name": extra.get("display_name", "")},
        }
        return {"ok": True, "user": user}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not args.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):08d}"
        self.uploads[file_id] = Upload(file_id, str(args["filename"]), int(args["length"]))
        return {"ok": True, "upload_url": f"{self.origin}/upload/{file_id}", "file_id": file_id}

    def _m_files_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = str(args.get("file", ""))
        if self.uploads.pop(file_id, None) is None:
            return {"ok": False, "error": "file_not_found"}
        self.deleted_files.append(file_id)
        return {"ok": True}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel_id")
        if channel in self.not_in_channels:
            return {"ok": False, "error": "not_in_channel"}
        done = []
        for item in _json_arg(args.get("files")) or []:
            upload = self.uploads.get(item.get("id", ""))
            if upload is None or len(upload.data) != upload.length:
                return {"ok": False, "error": "file_not_found"}
            upload.shared = channel is not None
            upload.channel = channel
            upload.thread_ts = args.get("thread_ts")
            upload.initial_comment = args.get("initial_comment")
            upload.title = item.get("title")
            done.append({"id": upload.file_id, "name": upload.filename, "title": upload.title, "size": upload.length})
        return {"ok": True, "files": done}

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = _json_arg(args.get("view")) or {}
        return {"ok": True, "view": {"id": f"V{next(self._ids):08d}", **view}}

    # --- the upload URL and response_url targets ---------------------------------------------
    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        data = await request.read()
        self.calls.append(Call("upload", {"file_id": file_id, "size": len(data)}, None))
        self._changed.set()
        upload = self.uploads.get(file_id)
        if upload is None:
            return web.Response(status=404, text="unknown upload url")
        if self.upload_status != 200:
            return web.Response(status=self.upload_status, text="upload refused")
        upload.data = data
        return web.Response(text=f"OK - {len(data)}")

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses.append((request.match_info["key"], body))
        self.calls.append(Call("response_url", body, None))
        self._changed.set()
        return web.Response(text="ok")

    def add_file(
        self, name: str, data: bytes, mimetype: str = "image/png", *, size: int | None = None
    ) -> dict[str, Any]:
        """A file someone shared, as it appears in a message's ``files`` (``url_private`` on this server)."""
        file_id = f"F{next(self._ids):08d}"
        path = f"/files-pri/{TEAM_ID}-{file_id}/{name}"
        self.files[path] = (mimetype, data)
        return {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(data) if size is None else size,
            "url_private": f"{self.origin}{path}",
            "url_private_download": f"{self.origin}{path}?download=1",
        }

    async def _file(self, request: web.Request) -> web.Response:
        path = "/files-pri/" + request.match_info["tail"]
        token = _bearer(request)
        self.file_gets.append((path, token))
        if self.file_stall is not None:
            await self.file_stall.wait()
        if not (token or "").startswith("xoxb-"):
            # Slack answers an unauthenticated url_private with its sign-in page, not the file.
            return web.Response(status=302, headers={"Location": f"{self.origin}/signin"})
        found = self.files.get(path)
        if found is None:
            return web.Response(status=404, text="file not found")
        return web.Response(body=found[1], headers={"Content-Type": found[0]})

    # --- Socket Mode ---------------------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._ws = ws
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}))
        self._ws_connected.set()
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            ack = json.loads(msg.data)
            future = self._acks.pop(ack.get("envelope_id", ""), None)
            if future is not None and not future.done():
                future.set_result(ack)
        return ws

    async def push(self, kind: str, payload: dict[str, Any], retry_attempt: int = 0) -> dict[str, Any]:
        """Send a Socket Mode envelope (``slash_commands``, ``interactive``) and return the app's ack."""
        await asyncio.wait_for(self._ws_connected.wait(), 10)
        assert self._ws is not None
        envelope_id = f"env-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": True,
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }
        await self._ws.send_str(json.dumps(envelope))
        return await asyncio.wait_for(future, 10)


async def _read_args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        args.update(await request.json())
    elif request.can_read_body:
        args.update(dict(await request.post()))
    return args


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[len("Bearer ") :] if header.startswith("Bearer ") else None


def _json_arg(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def _error(error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error})


# --- requests as Slack sends them to an HTTP-mode app -------------------------------------------------
def signed_headers(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature: ``v0=`` + HMAC-SHA256(secret, ``v0:<timestamp>:<body>``)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def slash_command(
    command: str,
    text: str,
    *,
    user: str = "U0000001",
    channel: str = "C0000001",
    trigger_id: str = "trigger-1",
    response_url: str = "",
) -> dict[str, str]:
    """The form fields of a slash-command request (also the Socket Mode ``slash_commands`` payload)."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "team_domain": "fake-workspace",
        "channel_id": channel,
        # Slack names DMs "directmessage" and private channels "privategroup" in these payloads.
        "channel_name": {"D": "directmessage", "G": "privategroup"}.get(channel[:1], "general"),
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0000001",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def block_action(
    value: str,
    *,
    user: str,
    channel: str,
    message_ts: str,
    thread_ts: str | None,
    trigger_id: str,
    response_url: str = "",
) -> dict[str, Any]:
    """A ``block_actions`` payload for a click on one of the bot's buttons."""
    action_name = value.split(":")[1] if value.count(":") == 2 else "unknown"
    message: dict[str, Any] = {"type": "message", "user": BOT_USER_ID, "ts": message_ts, "text": ""}
    container: dict[str, Any] = {"type": "message", "message_ts": message_ts, "channel_id": channel}
    if thread_ts:
        message["thread_ts"] = thread_ts
        container["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0000001",
        "token": "legacy-verification-token",
        "container": container,
        "trigger_id": trigger_id,
        "team": {"id": TEAM_ID, "domain": "fake-workspace"},
        "channel": {"id": channel, "name": "general"},
        "message": message,
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": f"animatebot:{action_name}",
                "block_id": "animatebot_actions",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def form_body(fields: dict[str, str]) -> str:
    return urlencode(fields)


def interactive_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def view_submission(view: dict[str, Any], *, user: str, values: dict[str, str | None]) -> dict[str, Any]:
    """A ``view_submission`` payload for ``view`` (as the app opened it) with inputs typed by ``user``.

    ``values`` maps each input block id to the text typed (None: left empty).
    """
    state = {block_id: {"value": {"type": "plain_text_input", "value": text}} for block_id, text in values.items()}
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "fake-workspace"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0000001",
        "token": "legacy-verification-token",
        "trigger_id": f"trigger-view-{view.get('id', 'V0')}",
        "view": {**view, "team_id": TEAM_ID, "state": {"values": state}, "hash": "1700000000.abcdef"},
        "response_urls": [],
    }


def message_shortcut(
    callback_id: str,
    *,
    user: str,
    channel: str = "C0000001",
    text: str = "",
    files: list[dict[str, Any]] | None = None,
    trigger_id: str = "trigger-shortcut",
    response_url: str = "",
) -> dict[str, Any]:
    """A ``message_action`` payload: ``user`` ran the message shortcut on a message with ``files``."""
    ts = f"1699999999.{abs(hash(trigger_id)) % 1000000:06d}"
    message: dict[str, Any] = {"type": "message", "user": "UPOSTER01", "ts": ts, "text": text}
    if files:
        message["files"] = files
        message["upload"] = True
    return {
        "type": "message_action",
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "action_ts": f"{time.time():.6f}",
        "team": {"id": TEAM_ID, "domain": "fake-workspace"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "channel": {"id": channel, "name": "general"},
        "is_enterprise_install": False,
        "enterprise": None,
        "message_ts": ts,
        "message": message,
        "response_url": response_url,
        "token": "legacy-verification-token",
    }
