"""The review board in a real browser (Debian's chromium and chromium-driver, driven by Selenium): sign in
from a link the console bot printed, filter, open a clip, approve it, and see the vote in the database, on
the console's card, and (a vote typed in chat) on the open page without a reload. One browser per module;
every wait is on a condition, never on time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.bot.platforms.web.conftest import SMALL, link_in
from tests.bot.platforms.web.live import CHROMEDRIVER, CHROMIUM, LiveBoard, chromium

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (apt; .ci/run installs them)"
)
WAIT_S = 60


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBoard]:
    from generation.engine import create_engine

    engine = create_engine("tiny")
    board = LiveBoard(tmp_path_factory.mktemp("live"), engine)
    board.say(f"/animate a red kite over the sea {SMALL}", user="alice")
    board.say(f"/animate a whale in deep water {SMALL}", user="bob")
    board.idle()
    yield board
    board.close()
    engine.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = chromium(tmp_path_factory.mktemp("profile"))
    yield driver
    driver.quit()


def wait(browser: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_S).until(condition)


def test_sign_in_filter_open_approve_and_see_chat_votes_live(live: LiveBoard, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    link = link_in(live.say("/animate-board", user="carol"))
    browser.get(link)
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#grid article.card"))
    assert browser.current_url == f"{live.url}/"  # the token left the address bar
    assert {c.get_attribute("data-job") for c in browser.find_elements(By.CSS_SELECTOR, "article.card")} == {"1", "2"}
    assert "Carol" in browser.find_element(By.CSS_SELECTOR, ".who").text

    search = browser.find_element(By.NAME, "q")
    search.send_keys("kite")
    browser.find_element(By.ID, "apply").click()
    wait(browser, lambda b: "q=kite" in b.current_url)
    cards = browser.find_elements(By.CSS_SELECTOR, "article.card")
    assert [c.get_attribute("data-job") for c in cards] == ["1"]

    cards[0].find_element(By.CSS_SELECTOR, "a.title").click()
    wait(browser, lambda b: b.find_elements(By.ID, "approve"))
    assert "/animate a red kite over the sea" in browser.find_element(By.ID, "recipe").text
    printed = len(live.bot.printed)
    browser.find_element(By.ID, "approve").click()

    def approvals(b: Any) -> str:
        return str(b.find_element(By.CSS_SELECTOR, ".review .tally .up b").text)

    wait(browser, lambda b: approvals(b) == "1")
    assert live.call(live.bot.app.repo.db.offload(live.bot.app.repo.tally, 1)).approve == 1
    assert "1 approval" in live.bot.printed[printed:]  # the console's card, redrawn

    live.say("approve 1", user="dave")  # a vote in chat: the open page follows without a reload
    wait(browser, lambda b: approvals(b) == "2")
    assert browser.find_element(By.ID, "approve").get_attribute("class") == "mine"


def test_a_link_opens_only_once(live: LiveBoard, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    link = link_in(live.say("/animate-board", user="erin"))
    browser.get(link)
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#grid"))
    browser.find_element(By.ID, "signout").click()
    wait(browser, lambda b: "signed out" in b.find_element(By.ID, "message").text.lower())
    browser.get(link)
    wait(browser, lambda b: b.find_elements(By.ID, "message"))
    assert "used already" in browser.find_element(By.ID, "message").text
