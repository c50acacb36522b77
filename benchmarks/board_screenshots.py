"""Screenshots of each review board page for the README (docs/board/*.png), re-made with:

    python benchmarks/board_screenshots.py [--out docs/board]

A console bot on the tiny pipeline (its clips are noise: the pages, not the pictures, are the point) makes a
few clips with votes, a reroll and a remix; a headless Debian Chromium signs in from the link the console
printed and photographs the grid, a filtered grid, a clip, the compare page, the approved page and the grid
at a phone's width.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from generation.engine import create_engine
from tests.bot.platforms.web.conftest import link_in
from tests.bot.platforms.web.live import LiveBoard, chromium

PROMPTS = [
    ("alice", "a red kite over a stormy sea motion:pan-left"),
    ("bob", "a lighthouse at dusk, waves crashing motion:zoom-in"),
    ("carol", "a paper boat on a rainy street aspect:16:9"),
    ("alice", "neon city at night, rain motion:tilt-up"),
    ("dave", "a candle flickering in the dark loop:pingpong"),
    ("bob", "a whale breaching at sunrise motion:zoom-out"),
]


def shoot(browser: object, path: Path) -> None:
    """A screenshot in 256 colours: the pages are flat colours, and the repository keeps every version."""
    browser.save_screenshot(str(path))  # type: ignore[attr-defined]
    with Image.open(path) as image:
        image.convert("RGB").quantize(256).save(path, optimize=True)
    print("wrote", path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/board"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    engine = create_engine("tiny")
    with tempfile.TemporaryDirectory() as tmp:
        live = LiveBoard(Path(tmp), engine)
        try:
            for user, prompt in PROMPTS:
                live.say(f"/animate {prompt} frames:8", user=user)
            live.idle()
            live.say("reroll 2", user="carol")
            live.say("remix 2 a lighthouse in fog motion:zoom-in", user="dave")
            live.idle()
            for user, line in [("bob", "approve 1"), ("carol", "approve 1"), ("dave", "approve 2"),
                               ("alice", "approve 2"), ("erin", "approve 2"), ("carol", "reject 3"),
                               ("bob", "approve 6")]:  # fmt: skip
                live.say(line, user=user)
            link = link_in(live.say("/animate-board", user="erin"))
            browser = chromium(Path(tmp) / "profile", 1280, 900)
            try:
                wait = WebDriverWait(browser, 60)
                browser.get(link)
                wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#grid article.card"))
                shots = {
                    "grid.png": "/",
                    "grid-filtered.png": "/?q=lighthouse&order=top",
                    "clip.png": "/clip/2",
                    "compare.png": "/compare?ids=2,7,8",
                    "approved.png": "/approved",
                }
                for name, path in shots.items():
                    browser.get(live.url + path)
                    wait.until(lambda b: b.execute_script("return document.readyState") == "complete")
                    wait.until(
                        lambda b: b.execute_script(
                            "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
                        )
                    )
                    shoot(browser, args.out / name)
                browser.set_window_size(390, 844)
                browser.get(live.url + "/")
                wait.until(lambda b: b.execute_script("return document.readyState") == "complete")
                shoot(browser, args.out / "phone.png")
            finally:
                browser.quit()
        finally:
            live.close()
    engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
