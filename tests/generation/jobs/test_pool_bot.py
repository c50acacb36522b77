"""``animatebot run`` with Ray workers, as a real process, on the session's Ray instance.

The bot connects to the test session's Ray (``RAY_ADDRESS`` and the token) as a second driver, and
makes three named actors running the tiny pipeline behind a gate (tests/fakes/gated_bot.py): every
job is held after its first denoising step until the test opens the gate, and the actor holding it
says so (``waiting-<pid>``). What the test does (kill an actor, kill the bot) is driven by what it
sees, never by the clock. Every test of this module uses the same three actors (the same namespace):
a second bot attaches to them warm, as a restarted bot does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.generation.jobs.conftest import RayCluster
from tests.harness import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WORKERS = 3
LINE = "/animate {prompt} frames:8 steps:1\n"  # the smallest clip: a third of the 4-step time on the tiny engine


@dataclass(frozen=True)
class BotCluster:
    ray: RayCluster
    namespace: str
    gate: Path


@pytest.fixture(scope="module")
def bot_cluster(ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotCluster]:
    """The session's Ray, a namespace for this module's actors and their gate; the actors end with the module."""
    import ray

    cluster = BotCluster(ray_cluster, f"bot{os.getpid()}", tmp_path_factory.mktemp("gate"))
    yield cluster
    for name in _actor_names(cluster):
        ray.kill(ray.get_actor(name, namespace=cluster.namespace), no_restart=True)


def _actor_names(cluster: BotCluster) -> list[str]:
    import ray

    return sorted(
        entry["name"]
        for entry in ray.util.list_named_actors(all_namespaces=True)
        if entry["namespace"] == cluster.namespace
    )


def _actor_info(cluster: BotCluster) -> dict[str, dict[str, Any]]:
    import ray

    handles = {name: ray.get_actor(name, namespace=cluster.namespace) for name in _actor_names(cluster)}
    return {name: ray.get(handle.info.remote(), timeout=120) for name, handle in handles.items()}


def _close_gate(gate: Path) -> None:
    for path in gate.iterdir():
        path.unlink()


def _held(gate: Path) -> dict[int, str]:
    """pid -> prompt of every job an actor holds at the gate right now."""
    held = {}
    for path in gate.glob("waiting-*"):
        try:
            held[int(path.name.removeprefix("waiting-"))] = path.read_text()
        except FileNotFoundError:  # let go meanwhile
            continue
    return held


def _env(cluster: BotCluster, tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "ANIMATEBOT_"))}
    env.update(
        PYTHONPATH=str(REPO),
        ANIMATEBOT_WORKERS="ray",
        ANIMATEBOT_RAY_WORKERS=str(WORKERS),
        ANIMATEBOT_RAY_GPUS_PER_WORKER="0",
        ANIMATEBOT_PIPELINE="tiny",
        ANIMATEBOT_RAY_NAMESPACE=cluster.namespace,
        ANIMATEBOT_DATABASE_URL=database_url,
        ANIMATEBOT_MEDIA_DIR=str(tmp_path / "clips"),
        ANIMATEBOT_SAFETY="off",  # the bot process stays free of torch; the check has tests of its own
        ANIMATEBOT_MAX_ACTIVE_PER_USER="20",
        ANIMATEBOT_LOG_LEVEL="INFO",
        RAY_ADDRESS=cluster.ray.gcs_address,
        RAY_AUTH_TOKEN=cluster.ray.token,
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_USAGE_STATS_ENABLED="0",
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
    )
    return env


def _start_bot(
    cluster: BotCluster,
    tmp_path: Path,
    env: dict[str, str],
    log: str,
    *prompts: str,
    more: bool = False,
    light: bool = False,
) -> Any:
    """A real ``animatebot run`` (through the gated engine's entry point) that reads ``prompts``, then the
    end of its input unless ``more`` (then ``_type`` adds lines and closing stdin ends them). ``light``:
    the actors hold a torch-free stand-in engine instead of the tiny pipeline (they start in a second)."""
    out = (tmp_path / log).open("wb")
    bot = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.gated_bot", str(cluster.gate), *(["--light"] if light else []), "run"],
        cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out.close()
    _type(bot, *prompts)
    if not more:
        bot.stdin.close()  # end of input: the bot makes and delivers every clip, then exits
    return bot


def _type(bot: Any, *prompts: str) -> None:
    assert bot.stdin is not None
    bot.stdin.write("".join(LINE.format(prompt=p) for p in prompts).encode())
    bot.stdin.flush()


def _rows(database_url: str) -> list[dict[str, Any]]:
    """The jobs table; empty until the starting bot has made its tables."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            query = "SELECT id, prompt, status, attempts, worker, output_path, delivery FROM jobs ORDER BY id"
            return [dict(row._mapping) for row in conn.execute(sa.text(query))]
    except sa.exc.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    except sa.exc.ProgrammingError as exc:  # PostgreSQL: relation "jobs" does not exist
        if "does not exist" in str(exc):
            return []
        raise
    finally:
        engine.dispose()


def _wait(condition: Callable[[], bool], what: str, bot: Any = None, timeout: float = 300) -> None:
    """Wait for ``condition`` (checked often); a generous limit turns a hang into a failure, never a race."""
    deadline = time.monotonic() + timeout
    while not condition():
        if bot is not None and bot.poll() is not None:
            raise AssertionError(f"the bot exited ({bot.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _finish(bot: Any, tmp_path: Path, log: str) -> str:
    try:
        bot.wait(timeout=300)
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait(30)
    output = (tmp_path / log).read_text(errors="replace")
    assert bot.returncode == 0, output[-4000:]
    return output


def _check_every_clip_once(rows: list[dict[str, Any]], output: str, tmp_path: Path) -> None:
    """Every job succeeded exactly once: one clip file of its own, posted once, no half-written file."""
    assert {row["status"] for row in rows} == {"succeeded"}, rows
    paths = [Path(row["output_path"]) for row in rows]
    assert len(set(paths)) == len(rows) and all(path.is_file() and path.stat().st_size > 0 for path in paths)
    assert sorted((tmp_path / "clips").iterdir()) == sorted(paths)  # no extra clip, no .part left
    for path in paths:
        assert output.count(f"clip: {path} ") == 1, path
    assert {row["delivery"] for row in rows} == {"clip"}  # recorded as posted


def test_three_actors_make_every_clip_while_actors_are_killed(
    bot_cluster: BotCluster, tmp_path: Path, database_url: str
) -> None:
    gate = bot_cluster.gate
    _close_gate(gate)
    prompts = [f"clip number {i}" for i in range(6)]
    bot = _start_bot(bot_cluster, tmp_path, _env(bot_cluster, tmp_path, database_url), "bot.log", *prompts)
    try:
        _wait(lambda: len(_held(gate)) == WORKERS, "each actor to hold a job", bot)
        victims = dict(sorted(_held(gate).items())[:2])
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
            (gate / f"waiting-{pid}").unlink()
        # Ray restarts both; they reload the engine and take jobs again (the two lost ones among them).
        _wait(lambda: len(set(_held(gate)) - set(victims)) == WORKERS, "the restarted actors to hold jobs", bot)
        (gate / "open").touch()
    finally:
        output = _finish(bot, tmp_path, "bot.log")

    rows = _rows(database_url)
    assert [row["prompt"] for row in rows] == prompts
    _check_every_clip_once(rows, output, tmp_path)
    assert {row["worker"] for row in rows} == {f"animatebot-worker-{i}" for i in range(WORKERS)}
    lost = set(victims.values())
    assert {row["prompt"]: row["attempts"] for row in rows} == {p: 2 if p in lost else 1 for p in prompts}
    assert output.count("back in line: its worker") == len(lost)


def test_a_new_bot_process_reattaches_warm_actors_and_a_clip_made_while_away_ends_once(
    bot_cluster: BotCluster, tmp_path: Path
) -> None:
    gate = bot_cluster.gate
    _close_gate(gate)
    database_url = f"sqlite:///{tmp_path}/animatebot.db"
    env = _env(bot_cluster, tmp_path, database_url)
    first = _start_bot(bot_cluster, tmp_path, env, "first.log", "made while the bot is away")
    try:
        _wait(lambda: len(_held(gate)) == 1, "an actor to hold the job", first)
        before = _actor_info(bot_cluster)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    (holder,) = [name for name, info in before.items() if info["job_id"] is not None]
    ((job,),) = [_rows(database_url)]
    assert (job["status"], job["attempts"]) == ("running", 1)

    (gate / "open").touch()  # the actor finishes the job with no bot to hand it to
    _wait(lambda: _actor_info(bot_cluster)[holder]["jobs_done"] == before[holder]["jobs_done"] + 1, "the clip made")
    assert _actor_info(bot_cluster)[holder]["job_id"] is None

    second = _start_bot(bot_cluster, tmp_path, env, "second.log")  # no new lines: recover, finish, exit
    output = _finish(second, tmp_path, "second.log")
    after = _actor_info(bot_cluster)
    assert {n: (i["pid"], i["loads"]) for n, i in after.items()} == {
        n: (i["pid"], i["loads"]) for n, i in before.items()
    }  # the same processes, no model loaded again
    (row,) = _rows(database_url)
    assert (row["status"], row["attempts"]) == ("succeeded", 2)  # recovered once, ended once on its second attempt
    _check_every_clip_once([row], output, tmp_path)
    assert "clip: " not in (tmp_path / "first.log").read_text(errors="replace")  # never posted by the first bot


class RayHead:
    """A Ray head of the test's own on 127.0.0.1 (``ray start --head --block``), to lose and start again.

    Losing it SIGKILLs every process of its tree (GCS, raylet, its actors), by pid: never ``ray stop``,
    which would end every Ray instance on the machine.
    """

    def __init__(self, folder: Path) -> None:
        import psutil

        self._psutil = psutil
        self.folder = folder  # short: Ray's socket paths live under it
        self.token = os.urandom(32).hex()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.address = f"127.0.0.1:{self.port}"
        self.process: Any = None
        self.starts = 0

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update(
            RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
            RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(REPO),
        )  # fmt: skip
        self.starts += 1
        log = self.folder / f"head-{self.starts}.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", f"--port={self.port}",
                 "--node-ip-address=127.0.0.1", "--num-cpus=1", "--include-dashboard=false",
                 "--disable-usage-stats", f"--temp-dir={self.folder / 'ray'}", "--block"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        _wait(lambda: "Ray runtime started" in log.read_text(errors="replace"), "the Ray head to start", self.process)

    def kill(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        root = self._psutil.Process(self.process.pid)
        tree = [root, *root.children(recursive=True)]
        for proc in tree:
            with contextlib.suppress(self._psutil.NoSuchProcess):
                proc.kill()
        self._psutil.wait_procs(tree, timeout=60)
        self.process.wait(60)


@pytest.fixture
def ray_head() -> Iterator[RayHead]:
    pytest.importorskip("psutil")
    folder = Path(tempfile.mkdtemp(prefix="rayhead-", dir="/tmp"))
    head = RayHead(folder)
    try:
        yield head
    finally:
        head.kill()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_lost_ray_head_the_bot_keeps_answering_then_reconnects_and_goes_on(ray_head: RayHead, tmp_path: Path) -> None:
    ray_head.start()
    gate = tmp_path / "gate"
    gate.mkdir()
    cluster = BotCluster(RayCluster(ray_head.address, ray_head.token), "headloss", gate)
    database_url = f"sqlite:///{tmp_path}/animatebot.db"
    env = _env(cluster, tmp_path, database_url) | {"ANIMATEBOT_RAY_WORKERS": "1"}
    log = tmp_path / "bot.log"
    bot = _start_bot(cluster, tmp_path, env, "bot.log", "before the outage", more=True, light=True)
    printed = lambda: log.read_text(errors="replace")  # noqa: E731
    try:
        _wait(lambda: len(_held(gate)) == 1, "the actor to hold the first job", bot)
        ray_head.kill()  # GCS, raylet and the actor holding the job: the whole head is gone
        for path in gate.glob("waiting-*"):
            path.unlink()
        _wait(lambda: "lost the Ray head" in printed(), "the bot to notice", bot)
        _wait(lambda: [r["status"] for r in _rows(database_url)] == ["queued"], "the job back in line", bot)

        _type(bot, "during the outage")  # the bot still answers in chat; the job waits in the queue
        _wait(lambda: "queued #2" in printed(), "the answer to a request made while the head is away", bot)
        assert [(r["status"], r["attempts"]) for r in _rows(database_url)] == [("queued", 1), ("queued", 0)]

        ray_head.start()
        _wait(lambda: "connected to the Ray head at" in printed(), "the bot to reconnect", bot)
        (gate / "open").touch()
        bot.stdin.close()
    except BaseException:
        bot.kill()
        bot.wait(30)
        print(printed()[-4000:], file=sys.stderr)
        raise
    output = _finish(bot, tmp_path, "bot.log")
    rows = _rows(database_url)
    _check_every_clip_once(rows, output, tmp_path)
    assert [(r["prompt"], r["attempts"]) for r in rows] == [("before the outage", 2), ("during the outage", 1)]
