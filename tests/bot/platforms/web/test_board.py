"""The review board through aiohttp's test client, on a real console bot: sign-in links from chat (once,
ten minutes, signed), sessions, CSRF, one server's clips only, filters, votes in step with the chat card."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from typing import Any

from aiohttp.test_utils import TestClient

from bot.board import ClipFilter
from bot.chat import Actor, Invocation, Place
from bot.platforms.console import ConsoleResponder, handle_line
from bot.platforms.web import COOKIE
from tests.bot.platforms.web.conftest import SMALL, csrf_of, link_in, sign_in, token_of
from tests.harness import Bot

Client = TestClient[Any, Any]
TEAM_B = Place("console", "studio", workspace_id="team-b")


async def say_in(bot: Bot, place: Place, line: str, user: str) -> str:
    """``line`` typed by ``user`` in another server's channel (the console harness speaks in one)."""
    start = len(bot.out.getvalue())
    inv = Invocation(Actor("console", user, user.title()), place, ConsoleResponder(bot.console, place))
    await handle_line(bot.app.service, inv, line)
    return bot.out.getvalue()[start:]


async def clips(bot: Bot, *lines: tuple[str, str]) -> None:
    for user, prompt in lines:
        await bot.say(f"/animate {prompt} {SMALL}", user=user)
    await bot.idle()


async def vote(client: Client, job_id: int, value: str, csrf: str | None) -> Any:
    headers = {"Accept": "application/json"}
    data = {"value": value}
    if csrf is not None:
        data["csrf"] = csrf
    return await client.post(f"/clip/{job_id}/vote", data=data, headers=headers)


# --- sign-in ---------------------------------------------------------------------------------------------------
async def test_a_link_from_chat_signs_in_once_and_the_board_shows_the_clip(bot: Bot, client: Client) -> None:
    await clips(bot, ("alice", "a kite"))
    answer = await bot.say("/animate-board", user="alice")
    link = link_in(answer)
    assert link.startswith("http://localhost:8080/signin?t=")
    signed = await client.get(f"/signin?t={token_of(link)}", allow_redirects=False)
    assert signed.status == 303
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = await (await client.get("/")).text()
    assert "#1 a kite" in page and "/media/1/poster" in page
    assert bot.app.service.board.secret is None and token_of(link) not in page  # nothing secret in the HTML

    again = await client.get(f"/signin?t={token_of(link)}", allow_redirects=False)
    assert again.status == 403 and "used already" in await again.text()


async def test_an_expired_or_forged_link_opens_nothing(bot: Bot, client: Client) -> None:
    board = bot.app.service.board
    link = link_in(await bot.say("/animate-board", user="alice"))
    real_wall = board.wall
    board.wall = lambda: real_wall() + 601  # eleven minutes later
    expired = await client.get(f"/signin?t={token_of(link)}", allow_redirects=False)
    assert expired.status == 403 and "expired" in await expired.text()
    assert COOKIE not in expired.cookies
    board.wall = real_wall
    forged = token_of(link)[:-3] + ("aaa" if not token_of(link).endswith("aaa") else "bbb")
    response = await client.get(f"/signin?t={forged}", allow_redirects=False)
    assert response.status == 403 and "not a sign-in link" in await response.text()
    assert (await client.get("/")).status == 401


async def test_without_a_session_every_page_and_file_asks_to_sign_in(bot: Bot, client: Client) -> None:
    await clips(bot, ("alice", "a kite"))
    for path in ("/", "/clip/1", "/media/1/clip", "/media/1/poster", "/approved", "/compare?ids=1", "/events"):
        response = await client.get(path)
        assert response.status == 401, path
        assert "/animate-board" in await response.text()


async def test_links_are_rate_limited_per_person(bot: Bot, client: Client) -> None:
    for _ in range(5):
        link_in(await bot.say("/animate-board", user="alice"))
    assert "several sign-in links" in await bot.say("/animate-board", user="alice")
    link_in(await bot.say("/animate-board", user="bob"))  # someone else is not held back


async def test_sign_out_ends_the_session(bot: Bot, client: Client) -> None:
    csrf = await sign_in(bot, client)
    assert (await client.post("/signout", data={})).status == 403  # no token: refused, still signed in
    assert (await client.get("/")).status == 200
    assert (await client.post("/signout", data={"csrf": csrf})).status == 200
    assert (await client.get("/")).status == 401


# --- scope ----------------------------------------------------------------------------------------------------------
async def test_another_servers_session_cannot_see_or_vote_on_a_clip(bot: Bot, client: Client) -> None:
    await clips(bot, ("alice", "a secret walrus"))
    answer = await say_in(bot, TEAM_B, "/animate-board", "bob")
    signed = await client.get(f"/signin?t={token_of(link_in(answer))}", allow_redirects=False)
    assert signed.status == 303
    grid = await (await client.get("/")).text()
    assert "walrus" not in grid and "team-b" in grid
    csrf = csrf_of(grid)
    for path in ("/clip/1", "/media/1/clip", "/media/1/poster", "/compare?ids=1"):
        response = await client.get(path)
        assert "walrus" not in await response.text()
        assert response.status in ((200,) if path.startswith("/compare") else (404,)), path
    refused = await vote(client, 1, "approve", csrf)
    assert refused.status == 404
    assert bot.app.repo.tally(1).approve == 0
    download = await client.post("/export", data={"csrf": csrf, "id": "1"})
    assert download.status == 400
    searched = await (await client.get("/?q=walrus")).text()
    assert 'id="empty"' in searched and "secret walrus" not in searched


async def test_an_owner_may_switch_servers_and_a_member_may_not(bot: Bot, client: Client) -> None:
    await say_in(bot, TEAM_B, f"/animate a studio lamp {SMALL}", "bob")
    await bot.idle()
    csrf = await sign_in(bot, client, user="alice")
    refused = await client.post("/server", data={"csrf": csrf, "server": "console|team-b"})
    assert refused.status == 404 and "lamp" not in await (await client.get("/")).text()

    owner = await sign_in(bot, client, user="boss")
    page = await (await client.get("/")).text()
    assert 'value="console|team-b"' in page
    switched = await client.post("/server", data={"csrf": owner, "server": "console|team-b"}, allow_redirects=False)
    assert switched.status == 303
    assert "a studio lamp" in await (await client.get("/")).text()


# --- votes in step with chat ------------------------------------------------------------------------------------------
async def test_a_vote_needs_the_sessions_csrf_token(bot: Bot, client: Client) -> None:
    await clips(bot, ("alice", "a kite"))
    await sign_in(bot, client, user="bob")
    assert (await vote(client, 1, "approve", None)).status == 403
    assert (await vote(client, 1, "approve", "not-the-token")).status == 403
    assert bot.app.repo.tally(1).approve == 0


async def test_approve_on_the_board_writes_the_vote_and_redraws_the_chat_card(bot: Bot, client: Client) -> None:
    await clips(bot, ("alice", "a kite"))
    csrf = await sign_in(bot, client, user="bob")
    before = len(bot.printed)
    response = await vote(client, 1, "approve", csrf)
    assert response.status == 200 and await response.json() == {"job_id": 1, "approvals": 1, "rejections": 0}
    assert bot.app.repo.tally(1).approve == 1
    assert "1 approval" in bot.printed[before:]  # the console's card, redrawn by the same vote path
    page = await (await client.get("/clip/1")).text()
    assert "Bob" in page and 'class="mine"' in page
    changed = await vote(client, 1, "reject", csrf)  # one vote per person, changeable, as in chat
    assert await changed.json() == {"job_id": 1, "approvals": 0, "rejections": 1}
    form = await client.post("/clip/1/vote", data={"csrf": csrf, "value": "approve"}, allow_redirects=False)
    assert form.status == 303 and form.headers["Location"] == "/clip/1"  # without JavaScript: back to the clip
    assert (await vote(client, 1, "delete", csrf)).status == 404


async def test_a_vote_in_chat_reaches_the_board_as_an_event(bot: Bot, client: Client) -> None:
    await clips(bot, ("alice", "a kite"))
    await sign_in(bot, client, user="bob")
    stream = await client.get("/events")
    assert stream.status == 200 and stream.headers["Content-Type"] == "text/event-stream"
    assert await stream.content.readline() == b": connected\n"
    await bot.say("approve 1", user="carol")
    await stream.content.readline()  # the blank line after the comment
    assert await asyncio.wait_for(stream.content.readline(), 30) == b"event: tally\n"
    data = (await stream.content.readline()).decode().removeprefix("data: ")
    assert json.loads(data) == {"job_id": 1, "approvals": 1, "rejections": 0}
    stream.close()


# --- pages and filters -----------------------------------------------------------------------------------------------
async def test_filters_order_and_pages(bot: Bot, client: Client) -> None:
    await clips(bot, ("alice", "a red kite"), ("bob", "a blue whale"), ("alice", "a green kite motion:zoom-in"))
    await bot.say("approve 2", user="carol")
    await bot.say("approve 2", user="dave")
    await bot.say("approve 3", user="carol")
    await bot.say("reject 1", user="carol")
    await sign_in(bot, client, user="erin")

    async def shown(query: str) -> list[int]:
        page = await (await client.get(f"/?{query}")).text()
        return [int(part.split('"')[0]) for part in page.split('<article class="card" data-job="')[1:]]

    assert await shown("") == [3, 2, 1]
    assert await shown("q=kite") == [3, 1]
    assert await shown("q=KITE+green") == [3]
    assert await shown("person=console:bob") == [2]
    assert await shown("state=approved") == [3, 2]
    assert await shown("state=rejected") == [1]
    assert await shown("state=waiting") == []
    assert await shown("motion=zoom-in") == [3]
    assert await shown("model=epicrealism") == [3, 2, 1]
    assert await shown("model=nothing") == []
    assert await shown("order=top") == [2, 3, 1]
    assert await shown("since=2000-01-01&until=2999-01-01") == [3, 2, 1]
    assert await shown("until=2000-01-01") == []
    assert await shown("state=bogus&order=bogus&since=never") == [3, 2, 1]  # nonsense is ignored
    approved = await (await client.get("/approved")).text()
    assert 'data-job="2"' in approved and 'data-job="1"' not in approved

    board, viewer = bot.app.service.board, await board_viewer(bot, client)
    seen: list[int] = []
    cursor = None
    for _ in range(4):  # keyset pages, most approved first
        page = await board.clips(viewer, ClipFilter(order="top", after=cursor, limit=1))
        seen += [c.job_id for c in page.cards]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [2, 3, 1]


async def board_viewer(bot: Bot, client: Client) -> Any:
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    return await bot.app.service.board.viewer(cookie)


async def test_clip_page_compare_and_a_zip_of_approved_clips(bot: Bot, client: Client) -> None:
    await clips(bot, ("alice", 'a lighthouse neg:"blurry" seed:7'))
    await bot.say("reroll 1", user="bob")
    await bot.idle()
    await bot.say("approve 1", user="bob")
    csrf = await sign_in(bot, client, user="alice")
    page = await (await client.get("/clip/1")).text()
    recipe_line = "/animate a lighthouse frames:8 seed:7 neg:&#34;blurry&#34; model:epicrealism"
    assert f'<code id="recipe">{recipe_line}</code>' in page
    assert "✓ Bob" in page and 'href="/clip/2"' in page and "(reroll)" in page
    child = await (await client.get("/clip/2")).text()
    assert "reroll of" in child and 'href="/clip/1"' in child
    assert (await client.get("/clip/99")).status == 404
    assert (await client.get("/clip/abc")).status == 404
    assert (await client.get("/media/1/../../etc/passwd")).status == 404
    compare = await (await client.get("/compare?ids=1,2,99")).text()
    assert compare.count('class="sync"') == 2

    download = await client.post("/export", data={"csrf": csrf, "id": ["1", "2"]})
    assert download.status == 200 and download.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(await download.read()))
    assert sorted(archive.namelist()) == ["1.gif", "1.json", "2.gif", "2.json"]
    recipe = json.loads(archive.read("1.json"))
    assert recipe["seed"] == "7" and recipe["approvals"] == 1 and recipe["animate"].startswith("/animate a lighthouse")
    assert (await client.post("/export", data={"id": "1"})).status == 403  # no CSRF token


async def test_flagged_clips_follow_their_channels_policy(bot: Bot, client: Client) -> None:
    await clips(bot, ("alice", "a spoilered owl"), ("alice", "a blocked owl"))
    bot.app.repo.update_job(1, safety_flagged=True, safety_decision="spoiler")
    bot.app.repo.update_job(2, safety_flagged=True, safety_decision="block")
    await sign_in(bot, client, user="bob")
    grid = await (await client.get("/")).text()
    assert '<article class="card spoiler" data-job="1">' in grid and "reveal" in grid
    assert "blocked owl" not in grid
    assert (await client.get("/clip/2")).status == 404 and (await client.get("/media/2/clip")).status == 404


async def test_health_and_metrics(bot: Bot, client: Client) -> None:
    await clips(bot, ("alice", "a kite"))
    health = await (await client.get("/healthz")).json()
    assert health["ok"] and health["database"] and health["queue_length"] == 0
    assert health["workers"][0]["name"] == "local"
    text = await (await client.get("/metrics")).text()
    assert 'animatebot_jobs{backend="local",model="epicrealism",state="succeeded"} 1.0' in text
    assert "animatebot_queue_length 0.0" in text and "animatebot_uploads_total" in text
    assert "animatebot_generation_seconds_total" in text and "animatebot_failures_total" in text


async def test_the_board_is_off_without_a_port(tmp_path: Any, tiny_engine: Any) -> None:
    from tests.harness import make_settings, start_bot

    bot = await start_bot(make_settings(tmp_path), tiny_engine)
    try:
        assert "ANIMATEBOT_WEB_PORT" in await bot.say("/animate-board")
    finally:
        await bot.app.stop()


async def test_a_showcase_channel_gets_a_clip_once_at_n_approvals(bot: Bot, client: Client) -> None:
    await clips(bot, ("alice", "a kite"))
    assert "only admins" in await bot.say("/animate-admin showcase #best approvals:2", user="alice")
    set_answer = await bot.say("/animate-admin showcase #best approvals:2", user="boss", admin=True)
    assert "2 approvals" in set_answer and "best" in set_answer
    await bot.say("approve 1", user="bob")
    assert not [r for r in bot.app.repo.reposts(1) if r.channel_id == "best"]
    await bot.say("approve 1", user="carol")
    await bot.say("approve 1", user="dave")
    shown = [r for r in bot.app.repo.reposts(1) if r.channel_id == "best"]
    assert len(shown) == 1 and shown[0].by == "showcase"
    assert "#1 reached 2 approvals" in bot.printed
    assert "no showcase" not in await bot.say("/animate-admin showcase", user="boss", admin=True)
    assert "off" in await bot.say("/animate-admin showcase off", user="boss", admin=True)
