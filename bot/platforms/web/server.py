"""The review board's HTTP side (aiohttp): pages rendered from Jinja2 templates, clips served by job id,
votes, live tallies as server-sent events, health and metrics. It translates only: every answer comes
from the ``BoardHandler`` (``bot.board``), which scopes each call to the session's server.

Sessions are a random cookie (HttpOnly, SameSite=Lax, Secure over HTTPS); every state-changing request
carries the session's CSRF token (a form field or the ``X-CSRF-Token`` header).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import json
import logging
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from bot.board import COMPARE_MAX, ORDERS, REVIEW_STATES, BoardHandler, ClipFilter, ExportItem, Viewer

log = logging.getLogger("animatebot.web")


@dataclass(frozen=True)
class WebOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    secure: bool = False  # served over HTTPS (the public URL says so): cookies get Secure


HERE = Path(__file__).resolve().parent
COOKIE = "animatebot_session"
VIEWER = "animatebot.viewer"  # the request's signed-in Viewer
_HANDLER: web.AppKey[Any] = web.AppKey("handler")
_OPTIONS = web.AppKey("options", WebOptions)
_TEMPLATES = web.AppKey("templates", jinja2.Environment)
_STREAMS: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey("streams")  # open event streams, ended at shutdown
SECURITY_HEADERS = {
    # Scripts and styles only from this server: nothing injected into a page can run.
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; media-src 'self'; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda d: f"{d:%Y-%m-%d %H:%M}" if d else ""
    # A version in each static URL: a browser keeps the files, and fetches them again when they change.
    versions = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10] for p in (HERE / "static").iterdir()}
    env.globals["static"] = lambda name: f"/static/{name}?v={versions.get(name, '0')}"
    return env


def build_web_app(handler: BoardHandler, options: WebOptions | None = None) -> web.Application:
    """The board's aiohttp application (tests drive it with aiohttp's test client)."""
    app = web.Application(middlewares=[_headers])
    app[_HANDLER] = handler
    app[_OPTIONS] = options or WebOptions()
    app[_TEMPLATES] = _templates()
    app[_STREAMS] = set()
    app.on_shutdown.append(_end_streams)
    app.add_routes(
        [
            web.get("/", signed_in(grid)),
            web.get("/approved", signed_in(approved)),
            web.get("/clip/{job_id}", signed_in(clip_page)),
            web.get("/compare", signed_in(compare)),
            web.get("/media/{job_id}/{kind}", signed_in(media)),
            web.get("/events", signed_in(events)),
            web.post("/clip/{job_id}/vote", signed_in(vote, csrf=True)),
            web.post("/export", signed_in(export, csrf=True)),
            web.post("/server", signed_in(switch_server, csrf=True)),
            web.post("/signout", signed_in(sign_out, csrf=True)),
            web.get("/signin", sign_in),
            web.get("/healthz", healthz),
            web.get("/metrics", metrics),
            web.static("/static", HERE / "static"),
        ]
    )
    return app


async def start_web(handler: BoardHandler, options: WebOptions) -> web.AppRunner:
    """Serve the board on ``options.host:port`` until the runner is cleaned up."""
    # handler_cancellation: a browser that goes away ends its event stream at once
    runner = web.AppRunner(build_web_app(handler, options), access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, options.host, options.port).start()
    log.info("the review board listens on http://%s:%s", options.host, options.port)
    return runner


async def _end_streams(app: web.Application) -> None:
    """Event streams never end by themselves: shutting down ends them, rather than waiting for them."""
    streams: set[asyncio.Task[Any]] = app[_STREAMS]
    for task in list(streams):
        task.cancel()


# --- plumbing ------------------------------------------------------------------------------------------------------
@web.middleware
async def _headers(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    response = await handler(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _board(request: web.Request) -> BoardHandler:
    handler: BoardHandler = request.app[_HANDLER]
    return handler


def _viewer(request: web.Request) -> Viewer:
    return request[VIEWER]  # type: ignore[no-any-return]


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    viewer = request.get(VIEWER)
    page = request.app[_TEMPLATES].get_template(template).render(viewer=viewer, path=request.path, **context)
    response = web.Response(text=page, content_type="text/html", status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _message(request: web.Request, title: str, text: str, status: int) -> web.Response:
    return render(request, "message.html", status=status, title=title, text=text)


def signed_in(
    page: Callable[[web.Request], Awaitable[web.StreamResponse]], *, csrf: bool = False
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``page`` for a signed-in person only (the session in ``request[VIEWER]``); ``csrf``: the request
    changes something and must carry the session's token."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        viewer = await _board(request).viewer(request.cookies.get(COOKIE, ""))
        if viewer is None:
            text = "Type /animate-board in chat: the bot answers privately with a link that signs you in."
            return _message(request, "Sign in from chat", text, 401)
        request[VIEWER] = viewer
        if csrf:
            sent = request.headers.get("X-CSRF-Token", "")
            if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                sent = str((await request.post()).get("csrf", ""))
            if not sent or not hmac.compare_digest(sent, viewer.csrf):
                return _message(request, "Refused", "This form is out of date; reload the page and try again.", 403)
        return await page(request)

    return guarded


def _job_id(request: web.Request) -> int:
    text = request.match_info["job_id"]
    if not text.isdigit() or len(text) > 18:
        raise web.HTTPNotFound()
    return int(text)


def _not_found(request: web.Request) -> web.Response:
    return _message(request, "Not found", "There is no such clip here.", 404)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def clip_filter(query: Any, **fixed: Any) -> ClipFilter:
    """The grid's filters from a query string; a value that makes no sense is left out, not an error."""
    state = query.get("state", "")
    order = query.get("order", "new")
    values: dict[str, Any] = {
        "channel": query.get("channel", "")[:64] or None,
        "person": query.get("person", "")[:100] or None,
        "state": state if state in REVIEW_STATES else None,
        "model": query.get("model", "")[:300] or None,
        "motion": query.get("motion", "")[:100] or None,
        "since": _day(query.get("since", "")),
        "until": _day(query.get("until", "")),
        "words": " ".join(query.get("q", "").split())[:200] or None,
        "order": order if order in ORDERS else "new",
        "after": query.get("after", "")[:40] or None,
    }
    values.update(fixed)
    return ClipFilter(**values)


# --- pages ---------------------------------------------------------------------------------------------------------
async def _grid(request: web.Request, template: str, **fixed: Any) -> web.Response:
    board, viewer = _board(request), _viewer(request)
    wanted = clip_filter(request.query, **fixed)
    page, facets, servers = await asyncio.gather(
        board.clips(viewer, wanted), board.facets(viewer), board.servers(viewer)
    )
    kept = {k: v for k, v in request.query.items() if k != "after" and v}
    more = f"{request.path}?{urlencode({**kept, 'after': page.next_cursor})}" if page.next_cursor else None
    return render(request, template, page=page, facets=facets, servers=servers, wanted=wanted, query=kept, more=more)


async def grid(request: web.Request) -> web.Response:
    return await _grid(request, "grid.html")


async def approved(request: web.Request) -> web.Response:
    return await _grid(request, "approved.html", state="approved")


async def clip_page(request: web.Request) -> web.Response:
    detail = await _board(request).clip(_viewer(request), _job_id(request))
    if detail is None:
        return _not_found(request)
    return render(request, "clip.html", detail=detail, card=detail.card)


async def compare(request: web.Request) -> web.Response:
    ids = []
    for part in request.query.getall("id", []) + request.query.get("ids", "").split(","):
        if part.strip().isdigit() and len(part.strip()) < 19:
            ids.append(int(part.strip()))
    ids = list(dict.fromkeys(ids))[:COMPARE_MAX]
    board, viewer = _board(request), _viewer(request)
    details = [d for d in await asyncio.gather(*(board.clip(viewer, i) for i in ids)) if d is not None]
    return render(request, "compare.html", details=details)


async def media(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    if kind not in ("clip", "poster"):
        raise web.HTTPNotFound()
    found = await _board(request).media(_viewer(request), _job_id(request), kind)  # type: ignore[arg-type]
    if found is None:
        raise web.HTTPNotFound()
    response = web.FileResponse(found.path, headers={"Content-Type": found.mime_type})
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


async def vote(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    value = str(form.get("value", ""))
    change = await _board(request).vote(_viewer(request), _job_id(request), value)
    wants_json = "application/json" in request.headers.get("Accept", "")
    if change is None:
        if wants_json:
            return web.json_response({"error": "there is no such clip to vote on here"}, status=404)
        return _not_found(request)
    if wants_json:
        return web.json_response(asdict(change))
    raise web.HTTPSeeOther(f"/clip/{change.job_id}")


async def export(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    ids = [int(v) for v in form.getall("id", []) if isinstance(v, str) and v.isdigit() and len(v) < 19]
    items = await _board(request).export(_viewer(request), ids)
    if not items:
        return _message(request, "Nothing to download", "Tick at least one clip of this server first.", 400)
    data = await asyncio.to_thread(_zip, items)
    return web.Response(
        body=data,
        content_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="animatebot-clips.zip"', "Cache-Control": "no-store"},
    )


def _zip(items: list[ExportItem]) -> bytes:
    """Each clip and its recipe as JSON, in a zip built in memory (a worker thread, never the event loop)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # clips are compressed already
        for item in items:
            archive.write(item.media.path, f"{item.job_id}{item.media.path.suffix}")
            archive.writestr(f"{item.job_id}.json", json.dumps(item.recipe, indent=2, default=str))
    return buffer.getvalue()


async def switch_server(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    platform, _, workspace = str(form.get("server", "")).partition("|")
    servers = await _board(request).servers(_viewer(request))
    if (platform, workspace) not in {(p, w) for p, w, _ in servers}:
        return _message(request, "Not found", "There is no such server.", 404)
    await _board(request).switch(_viewer(request), platform, workspace)
    raise web.HTTPSeeOther("/")


async def sign_out(request: web.Request) -> web.StreamResponse:
    await _board(request).sign_out(_viewer(request))
    request[VIEWER] = None
    response = _message(request, "Signed out", "You are signed out. /animate-board in chat signs you in again.", 200)
    response.del_cookie(COOKIE, path="/")
    return response


async def sign_in(request: web.Request) -> web.StreamResponse:
    client = request.remote or "unknown"
    outcome = await _board(request).sign_in(request.query.get("t", ""), client)
    if outcome.cookie is None:
        response = _message(request, "Cannot sign in", outcome.error or "this link does not work", 403)
    else:
        response = web.HTTPSeeOther("/")
        options = request.app[_OPTIONS]
        response.set_cookie(
            COOKIE,
            outcome.cookie,
            max_age=int(_board(request).session_hours * 3600),
            path="/",
            httponly=True,
            samesite="Lax",
            secure=options.secure or request.secure,
        )
    response.headers["Referrer-Policy"] = "no-referrer"  # the link's token never travels further
    return response


async def events(request: web.Request) -> web.StreamResponse:
    """Tally changes of the session's server as server-sent events, until the browser goes away."""
    changes = _board(request).changes(_viewer(request))  # listening before the browser hears "connected"
    task = asyncio.current_task()
    if task is not None:
        request.app[_STREAMS].add(task)
    try:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await response.prepare(request)
        await response.write(b": connected\n\n")
        with contextlib.suppress(ConnectionResetError):
            async for change in changes:
                await response.write(f"event: tally\ndata: {json.dumps(asdict(change))}\n\n".encode())
    finally:
        await changes.aclose()
        request.app[_STREAMS].discard(task)  # type: ignore[arg-type]
    return response


async def healthz(request: web.Request) -> web.Response:
    health = await _board(request).health()
    return web.json_response(asdict(health), status=200 if health.ok else 503)


async def metrics(request: web.Request) -> web.Response:
    body = await _board(request).metrics()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
