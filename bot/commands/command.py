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
    _quote,
    _show,
    _variants,
    check_preset,
    normalize_model,
    parse_animate,
)
from bot.commands.moderation import HERE, MODERATION_ACTIONS, parse_channel, parse_moderation
from bot.commands.table import (
    ANIMATE_OPTIONS,
    BUTTONS,
    COMMAND_NAMES,
    COMMANDS,
    FORMS,
    LIMIT_MAX,
    MAX_REASON_CHARS,
    PRESET_NAME_MAX,
    PRIVATE_COMMANDS,
    SHOWCASE_MAX,
    Spec,
    typed_keys,
)
from generation.catalog import BASE_MODELS, DEFAULT_BASE_MODEL, MOTIONS, STEP_CHECKPOINTS
from generation.params import DEFAULTS, FRAMES_MAX, FRAMES_MIN, MAX_SCENES

MAX_JOB_ID = 2**63 - 1  # what a portable BIGINT primary key holds
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
    "variants",
    *MODERATION_ACTIONS,
)
SHOWCASE_APPROVALS = 3  # approvals that bring a clip to the showcase channel unless the admin says otherwise
LIMIT_KEYS: tuple[str, ...] = ("per_user", "per_hour", "queue_cap")
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
    action: str | None = None  # a subcommand of a command other than /animate-admin (/animate-preset save)
    args: dict[str, str] = field(default_factory=dict)
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
        "variants": {"variants"},
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
    if action == "variants":
        value = _merge("variants", words[0] if words else None, options.get("variants"))
        _no_more("animate-admin", words[1:], "/animate-admin variants [1|2|4]")
        if value is None:  # no number: show the server's default
            return Command("admin", text, admin_action=action)
        return Command("admin", text, admin_action=action, admin_args={"variants": str(_variants(value))})
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


_COMMAND_OPTIONS: dict[str, tuple[str, ...]] = {spec.short: typed_keys(spec) for spec in COMMANDS}


def parse_command(
    name: str, text: str = "", options: Mapping[str, object] | None = None, *, preset_tokens: str = ""
) -> Command:
    """Parse one command by name (``/animate-queue``, ``animate-queue``, any case) and its argument text.

    ``options`` are native slash-command options (Discord); giving a value both there and in the
    text is an error. ``preset_tokens``: an /animate's preset, applied before what is typed.
    Raises CommandError for an unknown command or bad arguments.
    """
    command = name.strip().lstrip("/").lower().replace("_", "-")
    if command not in COMMAND_NAMES:
        listed = ", ".join("/" + c for c in COMMAND_NAMES)
        raise CommandError(f"unknown command {_show(name)}; commands: {listed}")
    short = "animate" if command == "animate" else command.removeprefix("animate-")
    if short == "animate":
        return Command("animate", text, animate=parse_animate(text, options, preset_tokens=preset_tokens))
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
    if short == "preset":
        return _parse_preset(text, opts)
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


PRESET_ACTIONS: tuple[str, ...] = ("save", "list", "delete", "default")
_PRESET_NAME_RE = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{PRESET_NAME_MAX - 1}}}", re.ASCII)
_YES = ("yes", "true", "1", "on")
_NO = ("no", "false", "0", "off")


def preset_name(text: str) -> str:
    """A preset name as stored: lower case letters, digits, - and _ (at most PRESET_NAME_MAX)."""
    name = text.strip().lower()
    if not _PRESET_NAME_RE.fullmatch(name):
        raise CommandError(
            f"a preset name is 1 to {PRESET_NAME_MAX} letters, digits, - or _ (got {_show(text)}), e.g. windy"
        )
    return name


def _server_flag(words: list[str], options: dict[str, str]) -> bool:
    """Takes ``server:yes`` out of ``words`` (or the native option): whether a server preset is meant."""
    given = options.get("server")
    for word in list(words):
        key, colon, value = word.partition(":")
        if colon and key.lower() == "server":
            given = _merge("server", value, options.get("server"))
            words.remove(word)
    if given is None:
        return False
    if given.lower() in _YES:
        return True
    if given.lower() in _NO:
        return False
    raise CommandError(f"server must be yes or no (got {_show(given)})")


def _parse_preset(text: str, options: dict[str, str]) -> Command:
    """``save <name> <tokens> [server:yes]``, ``list``, ``delete <name> [server:yes]``, ``default <name>|off``."""
    usage = "/animate-preset save <name> <key:value ...> [server:yes] | list | delete <name> | default <name>|off"
    words = text.split()
    action = (options.get("action") or (words.pop(0) if words else "")).lower()
    if action not in PRESET_ACTIONS:
        raise CommandError(f"/animate-preset needs one of: {_one_of(PRESET_ACTIONS)}; usage: {usage}")
    if action == "list":
        _no_more("animate-preset", words, "/animate-preset list")
        return Command("preset", text, action=action)
    server = _server_flag(words, options) if action in ("save", "delete") else False
    name_text = _merge("name", words.pop(0) if words else None, options.get("name"))
    if name_text is None:
        raise CommandError(f"/animate-preset {action} needs a name; usage: {usage}")
    if action == "default" and name_text.lower() in ("off", "none"):
        _no_more("animate-preset", words, "/animate-preset default <name>|off")
        return Command("preset", text, action=action, args={})
    name = preset_name(name_text)
    args = {"name": name, **({"server": "yes"} if server else {})}
    if action != "save":
        _no_more("animate-preset", words, f"/animate-preset {action} <name>")
        return Command("preset", text, action=action, args=args)
    tokens = _merge("tokens", " ".join(words) or None, options.get("tokens"))
    if not tokens:
        raise CommandError("/animate-preset save needs options after the name, e.g. motion:pan-left frames:8")
    values = check_preset(tokens)
    args["tokens"] = " ".join(f"{key}:{_token_value(value)}" for key, value in values.items())
    return Command("preset", text, action=action, args=args)


def _token_value(value: str) -> str:
    return value if value and not any(c.isspace() or c in "\"'“”‘’" for c in value) else _quote(value)


# --- help -------------------------------------------------------------------------------------


def _usage(spec: Spec) -> str:
    """``<job>`` for a required option, ``[job]`` for an optional one; the free text as ``<prompt>``."""
    if spec.name == "animate":
        return "<prompt> [key:value ...]"
    if spec.usage:
        return spec.usage.replace("job number", "job")
    parts = [f"<{o.key}>" if o.required else f"[{o.key}]" for o in spec.options if o.typed]
    return " ".join(parts)


def _command_lines() -> list[str]:
    lines: list[str] = []
    for spec in COMMANDS:
        usage = f"/{spec.name} {_usage(spec)}".rstrip() if not spec.subcommands else f"/{spec.name} <action>"
        what = ("admins only: " if spec.admin else "") + spec.help[0].lower() + spec.help[1:]
        lines.append(f"  {usage:<34} {what}" if len(usage) <= 34 else f"  {usage}\n{'':<37}{what}")
        for sub in spec.subcommands:
            sub_usage = f"{sub.name} {_usage(sub)}".rstrip()
            what = f"{sub.help[0].lower()}{sub.help[1:]}"
            lines.append(f"    {sub_usage:<32} {what}" if len(sub_usage) <= 32 else f"    {sub_usage}\n{'':<37}{what}")
    lines += ["", "Buttons on a clip (in the console type the word and the job number, then a form's words):"]
    for button in BUTTONS:
        form = FORMS.get(button.action)
        typed = button.typed or f"{button.action} <job>" + (f" <{form.fields[0].key}>" if form else "")
        lines.append(f"  {button.label:<16} {button.help} ({typed})")
    return lines


def help_text() -> str:
    """The multi-line text of ``/animate-help``: commands, keys with allowed values, motions, models, examples."""
    d = DEFAULTS
    lines = [
        "animatebot turns a line of text into a short animated clip (AnimateDiff-Lightning).",
        "",
        "Commands:",
        *_command_lines(),
        "",
        'Keys for /animate (names and values are case-insensitive; quote values with spaces: neg:"blurry, text"):',
    ]
    keys = [(o.usage, o.help) for o in ANIMATE_OPTIONS if o.typed]
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
        "  /animate-preset save windy motion:pan-left frames:8",
        "  /animate a kite preset:windy frames:16",
    ]
    return "\n".join(lines)
