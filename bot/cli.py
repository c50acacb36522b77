"""The ``animatebot`` command: run the bot, generate one clip, manage models, the database, history.

Exit codes: 0 success, 2 bad input (one line, no traceback), 1 a runtime failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bot.commands import CommandError, parse_animate

log = logging.getLogger("animatebot")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
NO_BUDGET_BYTES = 2**62  # `generate` writes a file: no chat upload limit applies unless --max-bytes says so


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"animatebot: {message} (see animatebot --help)\n")


def _settings() -> Any:
    from pydantic import ValidationError

    from bot.settings import load_settings

    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _Usage(f"bad setting: {problems}") from None


class _Usage(Exception):
    pass


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("httpx", "urllib3", "alembic", "asyncio", "slack_bolt", "aiohttp.access", "discord.gateway"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # The model libraries narrate every load ("modules kept in float32", "no LoRA keys for the text
    # encoder", "torchvision not installed"): useful while developing them, noise in a bot's log. Our
    # own lines say what matters. Set before their first import, which already prints, and reads these; importing
    # them here instead would cost every start 2-3 s, also a bot whose engine never loads them (Ray, tests' fakes).
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    for imported in ("diffusers.utils.logging", "transformers.utils.logging"):
        module = sys.modules.get(imported)
        if module is not None:  # imported already (a caller in the same process): too late for the variables
            module.set_verbosity_error()


# --- generate ------------------------------------------------------------------------------------------------
GENERATE_OPTIONS = {
    "motion": "motion",
    "steps": "steps",
    "frames": "frames",
    "seed": "seed",
    "negative": "neg",
    "guidance": "guidance",
    "model": "model",
    "aspect": "aspect",
    "fps": "fps",
    "format": "format",
    "loop": "loop",
    "image": "image",
    "strength": "strength",
}


def cmd_generate(args: argparse.Namespace) -> int:
    options = {key: getattr(args, name) for name, key in GENERATE_OPTIONS.items() if getattr(args, name) is not None}
    try:
        request = parse_animate(args.prompt, options)
    except CommandError as exc:
        raise _Usage(str(exc)) from None
    if request.preset is not None:  # presets belong to a person on a server; the command line has neither
        raise _Usage(f"preset:{request.preset} works in chat and the console bot; give the options here instead")
    params = request.params
    if request.image is not None:
        params = params.with_changes(image=_check_image_file(str(request.image)))
    if args.output:
        output = Path(args.output)
        suffix = output.suffix.lower().lstrip(".")
        if suffix in ("gif", "mp4", "webp") and "format" not in options:
            params = params.with_changes(format=suffix)
    for note in request.notes:
        print(f"note: {note}", file=sys.stderr)

    settings = _settings()
    _logging("WARNING" if not args.verbose else "INFO")
    from bot.app import make_engine
    from generation.errors import GenerationError
    from generation.jobs.finish import clip_filename, encode_made, variant_filename
    from generation.media.encode import EncodeError
    from generation.media.files import write_atomically

    started = time.perf_counter()
    engine: Any = make_engine(settings, steps=params.steps)
    bar = _progress_bar(params.steps)
    try:
        engine.load()
        result = engine.generate(params, progress=bar.update_to if bar else None)
        # The bot's own finishing path (loop, encode). A file on disk has no upload limit: the whole clip,
        # unless --max-bytes asks for a budget.
        budget = args.max_bytes if args.max_bytes is not None else NO_BUDGET_BYTES
        made = encode_made(result, params, budget)  # every take of a set (variants:), the first one first
        clip = made.clip
    except (GenerationError, EncodeError) as exc:
        print(f"animatebot: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if bar:
            bar.close()
        engine.close()
    if args.output:
        output = Path(args.output)
    else:
        output = settings.media_dir / clip_filename(int(time.time()), params.prompt, clip.extension)
    output.parent.mkdir(parents=True, exist_ok=True)
    for index, take in enumerate(made.clips):
        write_atomically(variant_filename(str(output), index), take.data)
    t = result.timings
    for note in (*result.notes, *clip.changes):
        print(f"note: {note}", file=sys.stderr)
    for index, seed in enumerate(result.seeds):
        print(variant_filename(str(output), index) + (f"  (take {index + 1}, seed {seed})" if index else ""))
    print(
        f"seed {result.seed} · model {result.model} · {result.steps} step{'s' if result.steps != 1 else ''} · motion "
        f"{'+'.join(str(m) for m in result.motions) or 'none'} · {clip.frames} frames "
        f"{result.width}x{result.height} @ {clip.fps} fps · {clip.format} {clip.size / 1024:.0f} KiB"
        + (" · tiny test model (noise)" if result.tiny else "")
    )
    print(
        f"time: load {t.load_s:.2f} s, denoise {t.denoise_s:.2f} s, decode {t.decode_s:.2f} s, "
        f"encode {clip.encode_s:.2f} s, total {time.perf_counter() - started:.2f} s"
    )
    return EXIT_OK


def _check_image_file(text: str) -> str:
    """The absolute path of a readable, usable image at ``text``; _Usage (exit 2, one line) otherwise."""
    from generation.media.image import MAX_IMAGE_BYTES, ImageError, check_image

    path = Path(text).expanduser()
    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise _Usage(f"{path.name!r} is over {MAX_IMAGE_BYTES // 1024 // 1024} MB; images may be at most that")
        checked = check_image(path.read_bytes(), path.name)
    except FileNotFoundError:
        raise _Usage(f"there is no file {text!r}; --image / image: needs an image file") from None
    except IsADirectoryError:
        raise _Usage(f"{text!r} is a folder; --image / image: needs an image file") from None
    except OSError as exc:
        raise _Usage(f"cannot read {text!r}: {exc.strerror or exc}") from None
    except ImageError as exc:
        raise _Usage(str(exc)) from None
    for note in checked.notes:
        print(f"note: {note}", file=sys.stderr)
    return str(path.resolve())


def _progress_bar(total: int) -> Any:
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="step", desc="denoising", leave=False)

    def update_to(step: int, _total: int) -> None:
        bar.n = step
        bar.refresh()

    bar.update_to = update_to
    return bar


# --- run ------------------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    _logging(settings.log_level)
    return asyncio.run(_run(settings, args))


async def _run(settings: Any, args: argparse.Namespace) -> int:
    from bot.app import build_app

    app = build_app(settings, engine=getattr(args, "engine", None))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    adapters: list[Any] = []
    web_runner: Any = None
    code = EXIT_OK
    try:
        await app.start()
        if app.service.board is not None:
            from bot.platforms.web import WebOptions, start_web

            secure = settings.web_public_url.startswith("https://")
            options = WebOptions(settings.web_host, settings.web_port, secure=secure)
            web_runner = await start_web(app.service.board, options)
            log.info("review board: %s (sign in with /animate-board)", settings.web_public_url)
        if settings.discord_enabled:
            from bot.platforms.discord.adapter import DiscordAdapter

            adapters.append(DiscordAdapter(app.service, settings))
        if settings.slack_enabled:
            from bot.platforms.slack.adapter import SlackAdapter

            adapters.append(SlackAdapter(app.service, settings, host=settings.slack_host))
        for adapter in adapters:
            await adapter.start()
            app.service.add_adapter(adapter)  # once up: what it would have dropped while connecting waited
        if adapters:
            log.info("animatebot is running on %s; Ctrl-C to stop", ", ".join(a.platform for a in adapters))
            code = await _serve(adapters, stop)
        else:
            from bot.platforms.console import ConsoleAdapter, run_console

            console = ConsoleAdapter(interactive=sys.stdin.isatty())
            app.service.add_adapter(console)
            code = await run_console(app.service, console, user=args.user, admin=args.admin, stop=stop)
            if not stop.is_set():  # end of input: finish and deliver every accepted job, then exit
                await app.service.wait_idle()
    except Exception as exc:
        log.error("animatebot stopped: %s", exc, exc_info=settings.log_level.upper() == "DEBUG")
        code = EXIT_FAILURE
    finally:
        for adapter in adapters:
            with contextlib.suppress(Exception):
                await adapter.close()
        if web_runner is not None:
            await web_runner.cleanup()
        await app.stop(grace_s=args.grace)
    return code


async def _serve(adapters: list[Any], stop: asyncio.Event) -> int:
    """Until a stop signal (exit 0) or a platform connection lost for good (exit 1: a process that stays up but
    hears nothing helps nobody; systemd or the container restarts one that exits)."""
    stopping = asyncio.create_task(stop.wait())
    lost = [asyncio.create_task(adapter.wait_lost()) for adapter in adapters if hasattr(adapter, "wait_lost")]
    try:
        done, _ = await asyncio.wait({stopping, *lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (stopping, *lost):
            task.cancel()
    for task in lost:
        if task in done:
            log.error("%s; stopping (exit code %d) so that it can be restarted", task.result(), EXIT_FAILURE)
            return EXIT_FAILURE
    return EXIT_OK


# --- history, db, models ---------------------------------------------------------------------------------------
def cmd_history(args: argparse.Namespace) -> int:
    from bot.service.replies import job_line
    from storage.db import Database
    from storage.repository import Repository
    from storage.scope import EVERYWHERE

    settings = _settings()
    repo = Repository(Database(settings.database_url))
    user = args.user if args.user is None or ":" in args.user else f"console:{args.user.lower()}"
    # The bot's host reads its own database: every server's clips.
    jobs = repo.history(EVERYWHERE, user_key=user, search=args.search, limit=args.limit)
    if args.json:
        rows = [
            {
                "id": j.id,
                "status": j.status,
                "prompt": j.prompt,
                "user": j.user_key,
                "platform": j.platform,
                "channel": j.channel_id,
                "seed": j.seed,
                "model": j.model_used or j.requested_model,
                "steps": j.steps_used or j.steps,
                "frames": j.frames,
                "motions": j.motions_used,
                "output": j.output_path,
                "bytes": j.output_bytes,
                "error": j.error,
                "expired": j.expired_at is not None,
                "created_at": j.created_at.isoformat(),
                "parent_id": j.parent_id,
            }
            for j in jobs
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        for job in jobs:
            print(job_line(job))
        if not jobs:
            print("no clips yet")
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from storage.db import current_revision, make_engine, upgrade

    settings = _settings()
    if args.action == "prune":
        return _prune(settings, args.older_than)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    print(f"database {engine.url.render_as_string(hide_password=True)} at revision {current_revision(engine)}")
    return EXIT_OK


def _prune(settings: Any, older_than: str) -> int:
    from datetime import timedelta

    from storage.db import Database
    from storage.models import utcnow
    from storage.retention import prune

    match = re.fullmatch(r"\s*(\d+)\s*([dhw]?)\s*", older_than or "")
    if match is None:
        raise _Usage(f"--older-than {older_than!r} is not an age; give days like 30d (or 12h, 2w)")
    amount, unit = int(match[1]), match[2] or "d"
    unit_name = {"d": "days", "h": "hours", "w": "weeks"}[unit]
    age = timedelta(**{unit_name: amount})
    db = Database(settings.database_url)
    try:
        pruned = prune(db, utcnow() - age, settings.media_dir)
    finally:
        db.close()
    print(f"older than {older_than.strip()}: {pruned.line()} (rows kept, marked expired)")
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from generation.catalog import BASE_MODELS, DEFAULT_BASE_MODEL, LIGHTNING_REPO, MOTIONS, STEP_CHECKPOINTS

    if args.action == "list":
        print("Base models (model:<alias>):")
        for m in BASE_MODELS:
            default = " (default)" if m.alias == DEFAULT_BASE_MODEL else ""
            print(f"  {m.alias:<16} {m.repo_id:<45} {m.style}{default}")
        print(f"Step checkpoints (steps:<n>) from {LIGHTNING_REPO}:")
        for c in STEP_CHECKPOINTS.values():
            print(f"  {c.steps}  {c.filename}  {c.note}")
        print("Motions (motion:<name>[@strength]):")
        for motion in MOTIONS:
            print(f"  {motion.name:<10} {motion.repo_id:<52} {motion.description}")
        return EXIT_OK
    from generation.engine.download import DownloadError, pull

    settings = _settings()
    try:
        for line in pull(args.names, cache_dir=settings.cache_dir):
            print(line)
    except DownloadError as exc:
        print(f"animatebot: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_workers(args: argparse.Namespace) -> int:
    settings = _settings()
    _logging("WARNING")
    from bot.service.replies import worker_line

    if settings.workers != "ray":
        print("local: one worker inside the bot process (ANIMATEBOT_WORKERS=local)")
        return EXIT_OK
    if settings.ray_address is None:
        raise _Usage(
            "set RAY_ADDRESS: without it each `animatebot run` starts a private Ray of its own (use /animate-admin workers)"
        )
    from bot.app import ray_options
    from generation.jobs.ray import WorkersUnavailable, read_workers

    try:
        states = read_workers(ray_options(settings))
    except WorkersUnavailable as exc:
        print(f"animatebot: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps([state.__dict__ for state in states], default=str, indent=2))
    elif not states:
        print(f"no animatebot workers in namespace {settings.ray_namespace!r} at {settings.ray_address}")
    for state in states if not args.json else []:
        print(worker_line(state))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="animatebot", description="Text to animated clips in Discord, Slack or the console.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the bot (Discord/Slack when their tokens are set, else the console)")
    run.add_argument("--user", default="you", help="console: act as this person")
    run.add_argument("--admin", action="store_true", help="console: act as an admin")
    run.add_argument("--grace", type=float, default=30.0, help="seconds a running job may finish on shutdown")
    run.set_defaults(func=cmd_run)

    gen = sub.add_parser("generate", help="make one clip from a prompt (the chat grammar works inside it)")
    gen.add_argument("prompt")
    for name in GENERATE_OPTIONS:
        gen.add_argument(f"--{name}", metavar=name.upper())
    gen.add_argument("-o", "--output", help="output file (default: the media folder)")
    gen.add_argument(
        "--max-bytes",
        type=int,
        metavar="N",
        help="encode to fit N bytes (e.g. 10485760 for Discord); default: no budget, every frame kept",
    )
    gen.add_argument("-v", "--verbose", action="store_true")
    gen.set_defaults(func=cmd_generate)

    models = sub.add_parser("models", help="list the catalog, or pull weights into the Hugging Face cache")
    msub = models.add_subparsers(dest="action", required=True, parser_class=_Parser)
    msub.add_parser("list", help="base models, step checkpoints and motions")
    pull = msub.add_parser(
        "pull", help="download weights for offline hosts (default: default model, all steps and motions)"
    )
    pull.add_argument("names", nargs="*", help="base model aliases or repo ids, 'lightning', motion names, or 'all'")
    models.set_defaults(func=cmd_models)

    db = sub.add_parser("db", help="database maintenance")
    dsub = db.add_subparsers(dest="action", required=True, parser_class=_Parser)
    dsub.add_parser("upgrade", help="apply migrations (also done at every start)")
    prune = dsub.add_parser(
        "prune", help="remove clips and input stills older than an age from disk; rows stay, marked expired"
    )
    prune.add_argument("--older-than", required=True, metavar="AGE", help="30d, 12h or 2w")
    db.set_defaults(func=cmd_db)

    hist = sub.add_parser("history", help="recent clips")
    hist.add_argument("--user", help="only this person (console name, or platform:id)")
    hist.add_argument("--search", help="words the prompt must contain")
    hist.add_argument("--limit", type=int, default=20)
    hist.add_argument("--json", action="store_true")
    hist.set_defaults(func=cmd_history)

    workers = sub.add_parser("workers", help="the Ray workers: host, GPU, model, idle or busy, jobs done, last error")
    workers.add_argument("--json", action="store_true")
    workers.set_defaults(func=cmd_workers)
    return parser


def main(argv: list[str] | None = None, *, engine: Any = None) -> int:
    """The ``animatebot`` command; returns its exit code. ``engine`` replaces the configured generation
    engine for ``run`` (a seam for tests that must hold a job mid-generation)."""
    args = build_parser().parse_args(argv)
    args.engine = engine
    try:
        return int(args.func(args))
    except _Usage as exc:
        print(f"animatebot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
