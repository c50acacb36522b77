"""The first start on a machine that cannot reach the Hugging Face Hub: one probe, one line naming the ways on,
no retry storm. Real processes of ``animatebot``, with HF_ENDPOINT pointed at a local server that counts each
connection and hangs up at once (nothing here reaches the real Hub)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from tests.harness import REPO

SAFETY_NET_S = 300  # a first start here takes seconds (imports); the assertions count lines and connections


@dataclass
class HangUp:
    """A TCP server that accepts each connection, counts it, and closes it without a byte."""

    sock: socket.socket = field(default_factory=socket.socket)
    connections: int = 0

    def __post_init__(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@pytest.fixture
def hub() -> Iterator[HangUp]:
    server = HangUp()
    yield server
    server.sock.close()


def animatebot(args: list[str], hub_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ANIMATEBOT_"))}
    env.update(
        PYTHONPATH=str(REPO),
        HF_ENDPOINT=hub_url,
        HF_HOME=str(tmp_path / "hf"),  # an empty cache: the first start
        ANIMATEBOT_PIPELINE="real",
        ANIMATEBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        ANIMATEBOT_MEDIA_DIR=str(tmp_path / "clips"),
    )
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SAFETY_NET_S,
    )


def test_run_without_the_hub_says_so_once_and_names_the_ways_on(hub: HangUp, tmp_path: Path) -> None:
    done = animatebot(["run"], hub.url, tmp_path)
    err = done.stderr
    assert done.returncode == 1, err
    assert hub.connections == 1, err  # one probe; no download was tried, so nothing was retried
    unreachable = [line for line in err.splitlines() if "is unreachable (" in line]
    assert len(unreachable) == 1, err
    (line,) = unreachable
    assert hub.url in line
    assert "ANIMATEBOT_PIPELINE=tiny" in line and "animatebot models pull" in line and "HF_HUB_OFFLINE=1" in line
    assert "Retrying" not in err and "thrown while requesting" not in err and "Traceback" not in err
    assert "safety classifier Falconsai/nsfw_image_detection is not in the Hugging Face cache" in err
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith(
            "base model epicrealism (emilianJR/epiCRealism) is not in the Hugging Face cache and the Hub is "
            "unreachable; `animatebot models pull` fills the cache where it is reachable"
        )
    )
    if not torch.cuda.is_available():
        assert "no GPU: the real pipeline runs on the CPU" in err


def test_models_pull_without_the_hub_fails_after_one_try(hub: HangUp, tmp_path: Path) -> None:
    done = animatebot(["models", "pull", "dreamshaper"], hub.url, tmp_path)
    assert done.returncode == 1 and hub.connections == 1, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("animatebot:")]
    assert f"cannot reach the Hugging Face Hub at {hub.url}" in line and "HF_HUB_OFFLINE=1" in line
    assert "Retrying" not in done.stderr and "Traceback" not in done.stderr


class _NoSuchRepo(BaseHTTPRequestHandler):
    """A Hub that answers, and knows no repo."""

    requests = 0

    def _answer(self) -> None:
        type(self).requests += 1
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_a_hub_that_answers_is_used(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoSuchRepo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = animatebot(
            ["models", "pull", "someone/nothing"], f"http://127.0.0.1:{server.server_address[1]}", tmp_path
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1 and "cannot reach" not in done.stderr, done.stderr
    assert _NoSuchRepo.requests >= 2  # the probe, then the listing the Hub answered
    assert "the Hub refused someone/nothing" in done.stderr
