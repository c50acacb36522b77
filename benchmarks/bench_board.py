"""The review board's grid with many clips: server time of the first page and of filtered pages.

    python benchmarks/bench_board.py [--clips 10000] [--requests 200]

One server's ``--clips`` finished clips (made by 20 people in 5 channels, a third of them voted on) are
written straight into a fresh SQLite database; the board's aiohttp application then answers ``--requests``
GETs of each page through aiohttp's test client (the whole request: session lookup, the scoped queries,
the filters' values, the template). Prints p50 and p95 in milliseconds per page.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.platforms.web import build_web_app
from storage.models import Job, Vote, utcnow
from tests.bot.platforms.web.conftest import link_in, token_of
from tests.harness import Bot, make_settings

WORDS = [
    "kite",
    "whale",
    "lighthouse",
    "city",
    "candle",
    "boat",
    "forest",
    "river",
    "storm",
    "sunrise",
    "neon",
    "desert",
]
PAGES = {
    "first page (newest)": "/",
    "most approved": "/?order=top",
    "words + approved": "/?q=kite&state=approved",
    "person + channel": "/?person=console:user7&channel=c2",
    "waiting, a model": "/?state=waiting&model=epicrealism",
    "page 20 (keyset)": None,  # filled in from the pages' own cursors
}


def fill(bot: Bot, clips: int) -> None:
    rng = random.Random(7)
    start = utcnow() - timedelta(days=60)
    with bot.app.db.session() as s:
        for i in range(clips):
            prompt = " ".join(rng.sample(WORDS, 3))
            s.add(Job(platform="console", workspace_id="", channel_id=f"c{i % 5}", user_key=f"console:user{i % 20}",
                      user_name=f"User {i % 20}", prompt=prompt, params={"prompt": prompt}, steps=4, frames=16,
                      max_bytes=10_000_000, status="succeeded", model_used="epicrealism", motions_used="zoom-in",
                      output_path=f"/nowhere/{i}.gif", output_format="gif", delivery="clip",
                      created_at=start + timedelta(minutes=i)))  # fmt: skip
    with bot.app.db.session() as s:
        for job_id in range(1, clips + 1, 3):
            for voter in range(rng.randint(1, 4)):
                s.add(Vote(job_id=job_id, user_key=f"console:v{voter}", value=rng.choice(["approve", "reject"])))


async def run(clips: int, requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), ANIMATEBOT_WEB_PORT="8080", ANIMATEBOT_SAFETY="off")
        from generation.engine import create_engine

        engine = create_engine("tiny")
        app = build_app(settings, engine=engine)
        bot = Bot(app)
        await app.start()
        t = time.perf_counter()
        await app.db.offload(fill, bot, clips)
        print(f"{clips} clips written in {time.perf_counter() - t:.1f} s")
        client: TestClient = TestClient(TestServer(build_web_app(app.service.board)))  # type: ignore[type-arg]
        await client.start_server()
        link = link_in(await bot.say("/animate-board", user="erin"))
        assert (await client.get(f"/signin?t={token_of(link)}", allow_redirects=False)).status == 303
        path = "/"
        for _ in range(19):
            page = await (await client.get(path)).text()
            after = page.split('id="more"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
            path = after
        PAGES["page 20 (keyset)"] = path
        print(f"{'page':<22} {'p50 ms':>8} {'p95 ms':>8}  cards")
        for name, url in PAGES.items():
            assert url is not None
            times = []
            cards = 0
            for _ in range(requests):
                t = time.perf_counter()
                response = await client.get(url)
                body = await response.text()
                times.append((time.perf_counter() - t) * 1000)
                assert response.status == 200
                cards = body.count('<article class="card')
            q = statistics.quantiles(times, n=20)
            print(f"{name:<22} {statistics.median(times):8.1f} {q[18]:8.1f}  {cards}")
        await client.close()
        await app.stop()
        engine.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.clips, args.requests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
