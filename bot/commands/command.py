"""The command layer shared by Discord, Slack, the console and the CLI.

``/animate ...`` and the ``/animate-*`` commands become a validated :class:`Command`, or a
:class:`CommandError` whose text is one line a person can act on. This module owns the command
names, job ids, user references, history/admin/limits arguments and ``/animate-help``; the
``/animate`` token grammar itself lives in :mod:`bot.commands.grammar`; ``bot.commands`` names the public surface of both.
Parsing is cheap on purpose: only the plain-data catalog and params are imported, never torch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.commands.grammar import (
    _EXAMPLE,
    ANIMATE_KEYS,
    MAX_PROMPT_CHARS,
    AnimateRequest,
    CommandError,
    _int,
    _one_line,
    _one_of,
    _option_text,
    _show,
    normalize_model,
    parse_animate,
)
from bot.commands.moderation import HERE, MODERATION_ACTIONS, MODERATION_OPTIONS, parse_channel, parse_moderation
from generation.catalog import ALLOWED_STEPS, BASE_MODELS, DEFAULT_BASE_MODEL, MOTIONS, STEP_CHECKPOINTS
from generation.params import (
    ASPECTS,
    DEFAULT_MOTION_STRENGTH,
    DEFAULT_STRENGTH,
    DEFAULTS,
    FORMATS,
    FPS_MAX,
    FPS_MIN,
    FRAMES_MAX,
    FRAMES_MIN,
    FREENOISE_ABOVE,
    GUIDANCE_MAX,
    GUIDANCE_MIN,
    LOOPS,
    MAX_MOTIONS,
    MAX_SCENES,
    SEED_MAX,
    STRENGTH_MAX,
    STRENGTH_MIN,
)

MAX_REASON_CHARS = 500
MAX_JOB_ID = 2**63 - 1  # what a portable BIGINT primary key holds
COMMAND_NAMES: tuple[str, ...] = (
    "animate",
    "animate-queue",
    "animate-cancel",
    "animate-history",
    "animate-show",
    "animate-review",
    "animate-board",
    "animate-admin",
    "animate-help",
    "animate-extend",
)
# Answers to these go only to the person who asked (ephemeral); the others are for the channel.
PRIVATE_COMMANDS = frozenset(
    {
        "animate-queue",
        "animate-cancel",
        "animate-history",
        "animate-review",
        "animate-board",
        "animate-help",
        "animate-admin",
    }
)
ADMIN_ACTIONS: tuple[str, ...] = (
    "model",
    "models",
    "pause",
    "resume",
    "limits",
    "ban",
    "unban",
    "workers",
    "showcase",
    *MODERATION_ACTIONS,
)
SHOWCASE_APPROVALS = 3  # approvals that bring a clip to the showcase channel unless the admin says otherwise
SHOWCASE_MAX = 1000
LIMIT_KEYS: tuple[str, ...] = ("per_user", "per_hour", "queue_cap")
LIMIT_MAX = 1_000_000
# The remix form on every platform: room for a prompt with key:value tokens (Slack inputs take 3,000).
REMIX_PROMPT_MAX = 3000
REMIX_MOTION_MAX = 100
REPORT_REASON_MAX = 300  # characters of why someone reported a clip, on every platform

_JOB_RE = re.compile(r"#?(\d+)", re.ASCII)
_MENTION_RE = re.compile(r"<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>", re.ASCII)
_NAME_RE = re.compile(r"[\w.\-]{1,80}")


@dataclass(frozen=True)
class Command:
    """One parsed command; which fields are set depends on ``name``."""

    name: str
    text: str
    animate: AnimateRequest | None = None
    job_id: int | None = None
    user: str | None = None
    search: str | None = None
    admin_action: str | None = None
    admin_args: dict[str, str] = field(default_factory=dict)
    prompt: str | None = None  # /animate-extend's new prompt
    frames: int | None = None  # /animate-extend's frames to add

    @property
    def private(self) -> bool:
        """Whether answers go only to the person who asked."""
        return is_private(self.name)


def is_private(name: str) -> bool:
    """Whether the answers to command ``name`` (``animate-queue`` or ``queue``) are private."""
    short = name.strip().lstrip("/").lower()
    return (short if short.startswith("animate") else f"animate-{short}") in PRIVATE_COMMANDS


# --- the other commands -----------------------------------------------------------------------


def parse_user_ref(text: str) -> str:
    """A user reference normalised: ``<@123>``, ``<@!123>``, ``<@U123|bob>`` -> the id; ``@bob``/``bob`` -> ``bob``.

    Plain names are lower-cased (chat user names are case-insensitive; ids are kept as sent).
    Raises CommandError for an empty reference, a role or channel mention, or a name with spaces.
    """
    text = text.strip()
    mention = _MENTION_RE.fullmatch(text)
    if mention:
        return mention.group(1)
    if text.startswith(("<@&", "<#", "<!")):
        raise CommandError(f"{_show(text)} is a role or channel, not a user; mention a person, e.g. @bob")
    name = text.removeprefix("@")
    if _NAME_RE.fullmatch(name):
        return name.lower()
    raise CommandError(f"a user must be a mention like @bob or <@123>, or a user name (got {_show(text)})")


def _job_id(text: str) -> int:
    match = _JOB_RE.fullmatch(text.strip())
    if match and len(match.group(1)) <= 19 and 1 <= int(match.group(1)) <= MAX_JOB_ID:
        return int(match.group(1))
    raise CommandError(f"a job must be a job number like 12 or #12 (got {_show(text)})")


def _options(command: str, options: Mapping[str, object] | None, allowed: tuple[str, ...]) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in (options or {}).items():
        if value is None:
            continue
        key = str(name).lower().replace("-", "_")
        if key not in allowed:
            allowed_text = _one_of(allowed) if allowed else "none"
            raise CommandError(f"/{command} has no option {_show(name)}; allowed: {allowed_text}")
        result[key] = _option_text(value)
    return result


def _merge(key: str, from_text: str | None, from_options: str | None) -> str | None:
    if from_text is not None and from_options is not None:
        raise CommandError(f"{key} is given both as an option and in the text; give it once")
    return from_text if from_text is not None else from_options


def _no_more(command: str, words: list[str], usage: str) -> None:
    if words:
        extra = _show(" ".join(words))
        raise CommandError(f"/{command} does not take {extra}; usage: {usage}")


def _parse_job_command(command: str, name: str, text: str, options: dict[str, str], required: bool) -> Command:
    words = text.split()
    usage = f"/{command} <job>" if required else f"/{command} [job]"
    job_text = _merge("job", words[0] if words else None, options.get("job"))
    _no_more(command, words[1:], usage + ", e.g. " + f"/{command} 12")
    if job_text is None:
        if required:
            raise CommandError(f"/{command} needs a job number, e.g. /{command} 12")
        return Command(name, text)
    return Command(name, text, job_id=_job_id(job_text))


def _parse_extend(text: str, options: dict[str, str]) -> Command:
    """``/animate-extend <job> [new prompt] [frames:N]``: the prompt goes on from the clip's, N frames more."""
    usage = "/animate-extend <job> [new prompt] [frames:N], e.g. /animate-extend 12 the kite flies away frames:16"
    words = text.split()
    job_text = _merge("job", words[0] if words else None, options.get("job"))
    if job_text is None:
        raise CommandError(f"/animate-extend needs a job number; usage: {usage}")
    rest = words[1:] if words and words[0] == job_text else words
    frames_text = options.get("frames")
    prompt_words = []
    for word in rest:
        key, colon, value = word.partition(":")
        if colon and key.lower() == "frames":
            frames_text = _merge("frames", value, frames_text)
        elif colon and key.lower() in ANIMATE_KEYS:
            raise CommandError(
                f"/animate-extend takes a new prompt and frames:N only (got {_show(word)}); usage: {usage}"
            )
        else:
            prompt_words.append(word)
    prompt = _one_line(" ".join(prompt_words)) or _one_line(options.get("prompt", "")) or None
    if prompt and options.get("prompt") and prompt_words:
        raise CommandError("the new prompt is given both as an option and in the text; give it once")
    if prompt and len(prompt) > MAX_PROMPT_CHARS:
        raise CommandError(f"the prompt is {len(prompt)} characters; at most {MAX_PROMPT_CHARS} are allowed")
    frames = _int(frames_text, "frames", FRAMES_MIN, FRAMES_MAX) if frames_text is not None else None
    return Command("extend", text, job_id=_job_id(job_text), prompt=prompt, frames=frames)


def _history_user(word: str) -> str | None:
    lowered = word.lower()
    if lowered == "mine":
        return "me"
    if lowered.startswith("user:"):
        ref = word[len("user:") :]
        return "me" if ref.lower() in ("me", "mine") else parse_user_ref(ref)
    if word.startswith(("<@", "@")):
        return parse_user_ref(word)
    return None


def _parse_history(text: str, options: dict[str, str]) -> Command:
    words = text.split()
    user = _history_user(words[0]) if words else None
    if user is not None:
        words = words[1:]
    option_user = options.get("user")
    if option_user is not None:
        option_user = "me" if option_user.lower() in ("me", "mine") else parse_user_ref(option_user)
    user = _merge("user", user, option_user)
    search = _merge("search", _one_line(" ".join(words)) or None, _one_line(options.get("search", "")) or None)
    return Command("history", text, user=user, search=search)


def _limits(words: list[str], options: dict[str, str]) -> dict[str, str]:
    usage = "limits per_user:<n> per_hour:<n> queue_cap:<n> (each optional)"
    values: dict[str, str] = {}
    for word in words:
        key, colon, value = word.partition(":")
        key = key.lower().replace("-", "_")
        if not colon or key not in LIMIT_KEYS:
            raise CommandError(f"unknown limit {_show(word)}; allowed: {usage}")
        if key in values:
            raise CommandError(f"{key} is given twice; give each limit once")
        values[key] = value
    for key in LIMIT_KEYS:
        merged = _merge(key, values.get(key), options.get(key))
        if merged is not None:
            values[key] = str(_int(merged, key, 1, LIMIT_MAX))
    return {key: values[key] for key in LIMIT_KEYS if key in values}


def _showcase(words: list[str], options: dict[str, str]) -> dict[str, str]:
    """``showcase`` (show it), ``showcase off``, or ``showcase #channel [approvals:N]``."""
    usage = "/animate-admin showcase #channel [approvals:N] | showcase off | showcase"
    approvals = options.get("approvals")
    channel = options.get("channel")
    for word in words:
        key, colon, value = word.partition(":")
        if colon and key.lower() == "approvals":
            approvals = _merge("approvals", value, options.get("approvals"))
        elif word.lower() == "off" and channel is None:
            channel = "off"
        elif channel is None:
            channel = parse_channel(word)
        else:
            raise CommandError(f"/animate-admin showcase takes one channel and approvals:N; usage: {usage}")
    if channel is None:
        if approvals is not None:
            raise CommandError(f"/animate-admin showcase needs a channel with approvals:N; usage: {usage}")
        return {}
    if channel == "off":
        if approvals is not None:
            raise CommandError("/animate-admin showcase off takes nothing more")
        return {"channel": "off"}
    count = _int(approvals, "approvals", 1, SHOWCASE_MAX) if approvals is not None else SHOWCASE_APPROVALS
    return {"channel": parse_channel(channel) if channel != HERE else HERE, "approvals": str(count)}


def _parse_admin(text: str, options: dict[str, str]) -> Command:
    words = text.split()
    action_text = options.get("action")
    if action_text is None:
        action_text = words.pop(0) if words else ""
    action = action_text.strip().lower()
    if action not in ADMIN_ACTIONS:
        got = f" (got {_show(action_text)})" if action_text else ""
        raise CommandError(f"/animate-admin needs an action: {_one_of(ADMIN_ACTIONS)}{got}")
    if action in MODERATION_ACTIONS:
        args, job_id = parse_moderation(action, text, words, options)
        return Command("admin", text, job_id=job_id, admin_action=action, admin_args=args)
    extra_options = set(options) - {"action"}
    allowed_options = {
        "model": {"model"},
        "limits": set(LIMIT_KEYS),
        "ban": {"user", "reason"},
        "unban": {"user"},
        "showcase": {"channel", "approvals"},
    }
    stray = extra_options - allowed_options.get(action, set())
    if stray:
        raise CommandError(f"/animate-admin {action} has no option {_show(sorted(stray)[0])}")
    if action in ("models", "pause", "resume", "workers"):
        _no_more("animate-admin", words, f"/animate-admin {action}")
        return Command("admin", text, admin_action=action)
    if action == "model":
        name = _merge("model", words[0] if words else None, options.get("model"))
        _no_more("animate-admin", words[1:], "/animate-admin model <alias or owner/name>")
        if name is None:
            aliases = _one_of(m.alias for m in BASE_MODELS)
            raise CommandError(f"/animate-admin model needs a model; allowed: {aliases}, or owner/name")
        return Command("admin", text, admin_action=action, admin_args={"model": normalize_model(name)})
    if action == "limits":
        return Command("admin", text, admin_action=action, admin_args=_limits(words, options))
    if action == "showcase":
        return Command("admin", text, admin_action=action, admin_args=_showcase(words, options))
    ref = _merge("user", words.pop(0) if words else None, options.get("user"))
    if ref is None:
        raise CommandError(f"/animate-admin {action} needs a user, e.g. /animate-admin {action} @bob")
    user = parse_user_ref(ref)
    if action == "unban":
        _no_more("animate-admin", words, "/animate-admin unban <user>")
        return Command("admin", text, user=user, admin_action=action)
    reason = _merge("reason", _one_line(" ".join(words)) or None, _one_line(options.get("reason", "")) or None)
    if reason and len(reason) > MAX_REASON_CHARS:
        raise CommandError(f"the ban reason is {len(reason)} characters; at most {MAX_REASON_CHARS} are allowed")
    args = {"reason": reason} if reason else {}
    return Command("admin", text, user=user, admin_action=action, admin_args=args)


_COMMAND_OPTIONS: dict[str, tuple[str, ...]] = {
    "queue": (),
    "cancel": ("job",),
    "history": ("user", "search"),
    "show": ("job",),
    "review": ("job",),
    "board": (),
    "admin": ("action", "model", "user", "reason", "approvals", *LIMIT_KEYS, *MODERATION_OPTIONS),
    "help": ("topic",),
    "extend": ("job", "prompt", "frames"),
}


def parse_command(name: str, text: str = "", options: Mapping[str, object] | None = None) -> Command:
    """Parse one command by name (``/animate-queue``, ``animate-queue``, any case) and its argument text.

    ``options`` are native slash-command options (Discord); giving a value both there and in the
    text is an error. Raises CommandError for an unknown command or bad arguments.
    """
    command = name.strip().lstrip("/").lower().replace("_", "-")
    if command not in COMMAND_NAMES:
        listed = ", ".join("/" + c for c in COMMAND_NAMES)
        raise CommandError(f"unknown command {_show(name)}; commands: {listed}")
    short = "animate" if command == "animate" else command.removeprefix("animate-")
    if short == "animate":
        return Command("animate", text, animate=parse_animate(text, options))
    opts = _options(command, options, _COMMAND_OPTIONS[short])
    if short == "queue":
        _no_more(command, text.split(), "/animate-queue")
        return Command("queue", text)
    if short in ("cancel", "show", "review"):
        return _parse_job_command(command, short, text, opts, required=short == "show")
    if short == "history":
        return _parse_history(text, opts)
    if short == "admin":
        return _parse_admin(text, opts)
    if short == "board":
        _no_more(command, text.split(), "/animate-board")
        return Command("board", text)
    if short == "extend":
        return _parse_extend(text, opts)
    return Command("help", text)  # any topic words are welcome; the help is short enough to show whole


def split_line(line: str) -> tuple[str, str]:
    """A typed line such as ``/animate-show 12`` as (command name, the rest); raises CommandError if it is not a command."""
    stripped = line.strip()
    if not stripped:
        raise CommandError(f"type a command, e.g. {_EXAMPLE}; /animate-help lists them all")
    if not stripped.startswith("/"):
        raise CommandError(f"commands start with '/', e.g. {_EXAMPLE}; /animate-help lists them all")
    parts = stripped.split(None, 1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def parse_line(line: str) -> Command:
    """Parse a whole console line such as ``/animate-show 12``; raises CommandError if it is not a command."""
    return parse_command(*split_line(line))


# --- help -------------------------------------------------------------------------------------


def help_text() -> str:
    """The multi-line text of ``/animate-help``: commands, keys with allowed values, motions, models, examples."""
    d = DEFAULTS
    steps = "|".join(str(s) for s in ALLOWED_STEPS)
    lines = [
        "animatebot turns a line of text into a short animated clip (AnimateDiff-Lightning).",
        "",
        "Commands:",
        "  /animate <prompt> [key:value ...]  queue a clip; key:value tokens may go anywhere in the text",
        "  /animate-queue                     the jobs waiting and running",
        "  /animate-cancel [job]              cancel a job of yours (default: your latest), e.g. /animate-cancel #12",
        "  /animate-history [user] [search]   past clips; user is a mention, user:<name> or mine",
        "  /animate-show <job>                one job and its clip, e.g. /animate-show 12",
        "  /animate-review [job]              review a clip with the team in its thread",
        "  /animate-board                     a private one-time link to the review board (web)",
        "  /animate-extend <job> [prompt] [frames:N]  continue a clip (16 more frames by default)",
        "  /animate-admin <action>            admins only: model <alias> | models | pause | resume |",
        "                                     limits [per_user:<n>] [per_hour:<n>] [queue_cap:<n>] |",
        "                                     ban <user> [reason] | unban <user> |",
        "                                     block add|remove|test <word, phrase or /regex/> | block list |",
        "                                     channels allow|deny [#channel ...] | channels clear|list |",
        "                                     safety [show] | safety block|spoiler|allow|default [#channel] |",
        "                                     quota [user:<n>] [server:<n>] (per 24 h; 0 = off) |",
        "                                     roles add|remove <@role ...> | roles clear|list (Discord) |",
        "                                     release <job> | reports [close <n>] |",
        "                                     showcase #channel [approvals:N] | showcase off",
        "  /animate-help                      this text",
        "  Report (button, or `report <job> <reason>` in the console)  flag a clip for the admins",
        "  Smooth / Upscale / Extend (buttons, or `smooth <job>` in the console)  a new clip from a clip:",
        "                                     twice the frames and rate, twice the size, 16 frames more",
        "",
        'Keys for /animate (names and values are case-insensitive; quote values with spaces: neg:"blurry, text"):',
    ]
    sizes = ", ".join(f"{a} = {w}x{h}" for a, (w, h) in ASPECTS.items())
    keys = [
        (
            "motion:<name>[@<s>][+<name>[@<s>]]",
            f"camera motion, strength s from 0 to 1 (default "
            f"{DEFAULT_MOTION_STRENGTH:g}), at most {MAX_MOTIONS}; motion:none for none",
        ),
        (f"steps:{steps}", f"Lightning checkpoint (default {d.steps}); see below"),
        (
            f"frames:{FRAMES_MIN}-{FRAMES_MAX}",
            f"clip length in frames (default {d.frames}); above {FREENOISE_ABOVE} made with FreeNoise",
        ),
        (f"seed:0-{SEED_MAX}", "same seed and settings give the same clip (default: random)"),
        ("neg:<text>", "what to avoid (also negative:); only acts when guidance > 1"),
        (
            f"guidance:{GUIDANCE_MIN:g}-{GUIDANCE_MAX:g}",
            f"how hard to follow the prompt (default {d.guidance:g}; "
            "Lightning is distilled for 1, above 1 each step runs twice)",
        ),
        ("model:<alias>", f"base model (default {DEFAULT_BASE_MODEL}); see below"),
        (f"fps:{FPS_MIN}-{FPS_MAX}", f"playback speed (default {d.fps})"),
        (f"format:{'|'.join(FORMATS)}", f"file type (default {d.format})"),
        ("aspect:" + "|".join(ASPECTS), f"shape (default {d.aspect}): {sizes}"),
        ("loop:" + "|".join(LOOPS), "pingpong plays forward then back: a seamless loop (default none)"),
        ("image:<file>", "animate a picture: the image option or message menu in chat, a path in the console"),
        ("smooth:2|4", "learned in-betweens: 16 frames at 8 fps play as 31 at 16 fps (x4: 61 at 32)"),
        ("upscale:1.5|2", "a hi-res pass: 512 px becomes 768 or 1024 px, refined by the model"),
        (
            f"strength:{STRENGTH_MIN:g}-{STRENGTH_MAX:g}",
            f"with an image: how far the clip may move away from it (default {DEFAULT_STRENGTH:g})",
        ),
    ]
    width = max(len(k) for k, _ in keys[1:])
    lines += [f"  {k:<{width}}  {v}" if len(k) <= width else f"  {k}\n  {'':<{width}}  {v}" for k, v in keys]
    lines += [
        "",
        f"Prompt travel: up to {MAX_SCENES} scenes separated by | are spread evenly over the clip,",
        "  e.g. /animate a calm sea | a storm at sea | a rainbow frames:48",
        "",
        "Motions (MotionLoRA, guoyww/animatediff-motion-lora-*):",
    ]
    for motion in MOTIONS:
        also = f" (also {', '.join(motion.aliases)})" if motion.aliases else ""
        lines.append(f"  {motion.name:<10} {motion.description}{also}")
    lines += ["", "Step checkpoints (ByteDance/AnimateDiff-Lightning):"]
    for count, checkpoint in STEP_CHECKPOINTS.items():
        default = " (default)" if count == d.steps else ""
        lines.append(f"  steps:{count}  {checkpoint.note}{default}")
    lines += ["", "Base models:"]
    for model in BASE_MODELS:
        default = " (default)" if model.alias == DEFAULT_BASE_MODEL else ""
        also = f"; also {', '.join(model.aliases)}" if model.aliases else ""
        lines.append(f"  {model.alias:<16} {model.title}, {model.style} ({model.repo_id}{also}){default}")
    lines += [
        "  Admins may allow other SD 1.5 models by Hugging Face repo id (owner/name).",
        "",
        "Examples:",
        f"  {_EXAMPLE}",
        "  /animate a lighthouse in a storm, waves crashing motion:pan-left@0.5+zoom-in steps:8 seed:42",
        '  /animate neon city at night, rain neg:"blurry, text" guidance:2 aspect:16:9 format:mp4',
        "  /animate a candle flickering frames:48 loop:pingpong",
        "  /animate a lighthouse image:photo.png strength:0.5 motion:zoom-in   (console; in chat attach the image)",
        "  /animate-history mine lighthouse",
        "  /animate-cancel #12",
    ]
    return "\n".join(lines)
