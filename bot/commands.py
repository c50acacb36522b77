"""The one command grammar shared by Discord, Slack, the console and the CLI.

``/animate <prompt words> [key:value ...]`` and the ``/animate-*`` commands become a validated
:class:`Command`, or a :class:`CommandError` whose text is one line a person can act on.
Parsing is cheap on purpose: only the plain-data catalog and params are imported, never torch.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from generation.catalog import (
    ALLOWED_STEPS,
    BASE_MODELS,
    DEFAULT_BASE_MODEL,
    MOTION_NAMES,
    MOTIONS,
    STEP_CHECKPOINTS,
    find_base_model,
    find_motion,
)
from generation.params import (
    ASPECTS,
    DEFAULT_MOTION_STRENGTH,
    DEFAULTS,
    FORMATS,
    FPS_MAX,
    FPS_MIN,
    FRAMES_MAX,
    FRAMES_MIN,
    GUIDANCE_MAX,
    GUIDANCE_MIN,
    MAX_MOTIONS,
    SEED_MAX,
    GenerationParams,
    MotionSpec,
)

MAX_PROMPT_CHARS = 1000
MAX_PROMPT_TOKENS = 77  # CLIP's context, BOS and EOS included
USABLE_PROMPT_TOKENS = MAX_PROMPT_TOKENS - 2
MAX_REASON_CHARS = 500
MAX_JOB_ID = 2**63 - 1  # what a portable BIGINT primary key holds

ANIMATE_KEYS: tuple[str, ...] = (
    "motion",
    "steps",
    "frames",
    "seed",
    "neg",
    "guidance",
    "model",
    "fps",
    "format",
    "aspect",
)
KEY_ALIASES: dict[str, str] = {"negative": "neg"}
COMMAND_NAMES: tuple[str, ...] = (
    "animate",
    "animate-queue",
    "animate-cancel",
    "animate-history",
    "animate-show",
    "animate-review",
    "animate-admin",
    "animate-help",
)
ADMIN_ACTIONS: tuple[str, ...] = ("model", "models", "pause", "resume", "limits", "ban", "unban")
LIMIT_KEYS: tuple[str, ...] = ("per_user", "per_hour", "queue_cap")
LIMIT_MAX = 1_000_000

_EXAMPLE = "/animate a smiling girl motion:zoom-in"
_KEY_RE = re.compile(r"([A-Za-z]+):")
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_ASCII_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_JOB_RE = re.compile(r"#?(\d+)", re.ASCII)
_MENTION_RE = re.compile(r"<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>", re.ASCII)
_NAME_RE = re.compile(r"[\w.\-]{1,80}")
_REPO_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}", re.ASCII)
# Phones and chat clients turn straight quotes into curly ones, sometimes only on one side.
_DOUBLE_QUOTES = '"“”'
_SINGLE_QUOTES = "'‘’"
_CLOSERS = {q: _DOUBLE_QUOTES for q in _DOUBLE_QUOTES} | {q: _SINGLE_QUOTES for q in _SINGLE_QUOTES}
# A sentence may end right after a token ("... motion:zoom-in."); that punctuation is not the value.
_TRAILING_JUNK = ",;." + _DOUBLE_QUOTES + _SINGLE_QUOTES
_OPPOSITES = {("zoom-in", "zoom-out"), ("pan-left", "pan-right"), ("tilt-up", "tilt-down"), ("roll-cw", "roll-ccw")}


class CommandError(ValueError):
    """Bad command input; ``str(error)`` is one line naming the problem and what is allowed."""


@dataclass(frozen=True)
class AnimateRequest:
    """A validated /animate request and warnings worth showing to the person who asked."""

    params: GenerationParams
    notes: tuple[str, ...] = ()


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


def _show(value: object, limit: int = 40) -> str:
    """A user value for an error message: quoted, escaped onto one line, shortened."""
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


def _got(value: str) -> str:
    # Numbers read best bare ("got 3"), anything else quoted ("got 'abc'").
    return value if len(value) <= 20 and _ASCII_NUMBER_RE.fullmatch(value) else _show(value)


def _one_of(values: object) -> str:
    return ", ".join(str(v) for v in values)  # type: ignore[attr-defined]


# --- scanning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    key: str  # canonical
    typed: str  # as written, for messages about aliases
    value: str


def _canonical_key(name: str) -> str | None:
    name = name.lower()
    return name if name in ANIMATE_KEYS else KEY_ALIASES.get(name)


def _scan(text: str) -> tuple[list[str], list[_Token]]:
    """Split ``text`` into prompt words and known ``key:value`` tokens (quoted values may hold spaces)."""
    words: list[str] = []
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        match = _KEY_RE.match(text, i, j)
        key = _canonical_key(match.group(1)) if match else None
        if match is None or key is None:
            words.append(text[i:j])
            i = j
            continue
        start = match.end()
        if start < n and text[start] in _CLOSERS:
            closers = _CLOSERS[text[start]]
            # A closing quote must end the token, so "it's" inside a quoted value is fine.
            end = next(
                (k for k in range(start + 1, n) if text[k] in closers and (k + 1 == n or text[k + 1].isspace())),
                None,
            )
            if end is None:
                raise CommandError(
                    f"the quote after {match.group(1)}: is never closed; "
                    f'close it before a space or the end, e.g. {key}:"blurry, text"'
                )
            tokens.append(_Token(key, match.group(1), text[start + 1 : end]))
            i = end + 1
        else:
            value = text[start:j]
            if key != "model":
                value = value.rstrip(_TRAILING_JUNK)
            if not value:
                raise CommandError(f"{match.group(1)}: needs a value right after the colon, e.g. {_key_example(key)}")
            tokens.append(_Token(key, match.group(1), value))
            i = j
    return words, tokens


def _key_example(key: str) -> str:
    return {
        "motion": "motion:zoom-in",
        "steps": "steps:4",
        "frames": "frames:16",
        "seed": "seed:42",
        "neg": 'neg:"blurry, text"',
        "guidance": "guidance:1.5",
        "model": f"model:{DEFAULT_BASE_MODEL}",
        "fps": "fps:8",
        "format": "format:gif",
        "aspect": "aspect:16:9",
    }[key]


# --- values -----------------------------------------------------------------------------------


def _int(value: str, what: str, low: int, high: int) -> int:
    value = value.strip()
    number: int | None = None
    if len(value) <= 30 and _INT_RE.fullmatch(value):
        try:
            number = int(value)
        except ValueError:
            number = None
    if number is None or not low <= number <= high:
        raise CommandError(f"{what} must be a whole number from {low} to {high} (got {_got(value)})")
    return number


def _float(value: str, what: str, low: float, high: float) -> float:
    value = value.strip()
    number = math.nan
    if len(value) <= 40 and _FLOAT_RE.fullmatch(value):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
    if not low <= number <= high:  # NaN fails this too
        raise CommandError(f"{what} must be from {low:g} to {high:g} (got {_got(value)})")
    return number


def _steps(value: str) -> int:
    value = value.strip()
    if value.isascii() and value.isdigit() and len(value) <= 3 and int(value) in ALLOWED_STEPS:
        return int(value)
    raise CommandError(f"steps must be one of {_one_of(ALLOWED_STEPS)} (got {_got(value)})")


def _seed(value: str) -> int | None:
    if value.strip().lower() in ("random", "any"):
        return None
    return _int(value, "seed", 0, SEED_MAX)


def _motions(value: str) -> tuple[MotionSpec, ...]:
    value = value.strip()
    if value.lower() in ("none", "off"):
        return ()
    parts = [part.strip() for part in value.split("+")]
    if len(parts) > MAX_MOTIONS:
        raise CommandError(
            f"at most {MAX_MOTIONS} motions at once (got {len(parts)}: {_show(value, 60)}), "
            f"e.g. motion:zoom-in+pan-left"
        )
    specs: list[MotionSpec] = []
    for part in parts:
        name, at, strength_text = part.partition("@")
        lora = find_motion(name)
        if lora is None:
            raise CommandError(f"unknown motion {_show(name)}; allowed: {_one_of(MOTION_NAMES)}, none")
        strength = DEFAULT_MOTION_STRENGTH
        if at:
            strength = _float(strength_text, "motion strength", 0.0, 1.0)
        if any(spec.name == lora.name for spec in specs):
            raise CommandError(f"motion {lora.name!r} is given twice; combine two different motions")
        specs.append(MotionSpec(lora.name, strength))
    return tuple(specs)


def normalize_model(value: str) -> str:
    """A catalog alias for a known model, else the repo id or path as written.

    Raises CommandError when ``value`` is neither a catalog name, a Hugging Face repo id
    (``owner/name``) nor a path; whether a non-catalog model may be used is the service's call.
    """
    value = value.strip()
    entry = find_base_model(value)
    if entry is not None:
        return entry.alias
    is_path = value.startswith(("/", "./", "../", "~/")) and len(value) > 1 and "\x00" not in value
    if (_REPO_ID_RE.fullmatch(value) and ".." not in value and "--" not in value) or is_path:
        return value
    aliases = _one_of(m.alias for m in BASE_MODELS)
    raise CommandError(f"unknown model {_show(value)}; allowed: {aliases}, or a Hugging Face repo id owner/name")


def _aspect(value: str) -> str:
    text = value.strip().lower().replace("x", ":").replace("/", ":")
    text = {"square": "1:1", "landscape": "16:9", "wide": "16:9", "portrait": "9:16", "tall": "9:16"}.get(text, text)
    if text in ASPECTS:
        return text
    raise CommandError(f"aspect must be one of {_one_of(ASPECTS)} (got {_show(value)})")


def _format(value: str) -> str:
    text = value.strip().lower().lstrip(".")
    if text in FORMATS:
        return text
    raise CommandError(f"format must be one of {_one_of(FORMATS)} (got {_show(value)})")


def _one_line(text: str) -> str:
    # Control characters are invisible in chat and poison logs; line breaks become spaces.
    text = "".join(" " if c.isspace() else c for c in text if c.isspace() or unicodedata.category(c) != "Cc")
    return " ".join(text.split())


_FIELD_PARSERS: dict[str, tuple[str, Callable[[str], object]]] = {
    "motion": ("motions", _motions),
    "steps": ("steps", _steps),
    "frames": ("frames", lambda v: _int(v, "frames", FRAMES_MIN, FRAMES_MAX)),
    "seed": ("seed", _seed),
    "neg": ("negative_prompt", _one_line),
    "guidance": ("guidance", lambda v: _float(v, "guidance", GUIDANCE_MIN, GUIDANCE_MAX)),
    "model": ("model", normalize_model),
    "fps": ("fps", lambda v: _int(v, "fps", FPS_MIN, FPS_MAX)),
    "format": ("format", _format),
    "aspect": ("aspect", _aspect),
}


def _option_text(value: object) -> str:
    """A native option's value as the text a person would have typed."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    text = str(value).strip()
    if len(text) >= 2 and text[0] in _CLOSERS and text[-1] in _CLOSERS[text[0]]:
        text = text[1:-1]
    return text


# --- prompt length ----------------------------------------------------------------------------

_PIECE_RE = re.compile(r"[^\W\d_]+|\d|[^\w\s]+|_+")


def estimate_tokens(text: str) -> int:
    """A deliberately generous guess of CLIP BPE tokens in ``text``, without BOS/EOS.

    Mirrors CLIP's pre-tokenizer (letter runs, single digits, punctuation runs); long and
    non-ASCII words cost extra because byte-level BPE splits them.
    """
    count = 0
    for piece in _PIECE_RE.findall(text):
        ascii_chars = sum(c.isascii() for c in piece)
        if piece[0].isalpha():
            count += max(1, math.ceil(ascii_chars / 5)) if ascii_chars else 0
            count += 2 * (len(piece) - ascii_chars)
        else:  # punctuation and symbols (emoji included) rarely merge
            count += ascii_chars + 2 * (len(piece) - ascii_chars)
    return count


def _token_note(what: str, text: str, count_tokens: Callable[[str], int] | None) -> str | None:
    counter = count_tokens or estimate_tokens
    total = counter(text)
    if total <= USABLE_PROMPT_TOKENS:
        return None
    words = text.split(" ")
    # Largest prefix of whole words that still fits; tokenizers are monotone enough for bisection.
    low, high = 0, len(words)
    while low < high:
        mid = (low + high + 1) // 2
        if counter(" ".join(words[:mid])) <= USABLE_PROMPT_TOKENS:
            low = mid
        else:
            high = mid - 1
    about = "" if count_tokens else "about "
    cut = f"words after {_show(words[low - 1], 30)} will be cut" if low else "most of it will be cut"
    return f"the {what} is {about}{total} tokens; the text encoder reads {MAX_PROMPT_TOKENS}, so {cut}"


# --- /animate ---------------------------------------------------------------------------------


def parse_animate(
    text: str,
    options: Mapping[str, object] | None = None,
    *,
    base: GenerationParams | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> AnimateRequest:
    """Parse the text of ``/animate`` (plus native options, e.g. Discord's) into validated params.

    ``base`` starts from a parent job (remix): its seed is cleared unless one is given, tokens
    override its fields, and prompt words, if any, replace its prompt. ``count_tokens`` counts a
    text's tokens without BOS/EOS (e.g. ``len(tokenizer.tokenize(t))``); the default estimates.
    Raises CommandError for an unknown or repeated key value, a bad value, an unclosed quote, or
    an empty or too long prompt. Words whose ``key:`` is not a known key stay in the prompt.
    """
    words, tokens = _scan(text)
    given: dict[str, str] = {}
    for token in tokens:
        if token.key in given:
            alias = f" ({token.typed}: is the same key)" if token.typed.lower() != token.key else ""
            raise CommandError(f"{token.key} is given twice{alias}; give each key once")
        given[token.key] = token.value
    for name, value in (options or {}).items():
        if value is None:
            continue  # Discord hands every declared option over, unset ones as None
        key = _canonical_key(str(name))
        if key is None:
            raise CommandError(f"unknown option {_show(name)}; allowed: {_one_of(ANIMATE_KEYS)}")
        if key in given:
            raise CommandError(f"{key} is given both as an option and in the text; give it once")
        given[key] = _option_text(value)

    changes: dict[str, object] = {}
    for key, value in given.items():
        field_name, parse = _FIELD_PARSERS[key]
        changes[field_name] = parse(value)

    prompt = _one_line(" ".join(words))
    start = (base or DEFAULTS).with_changes(seed=None)
    if not prompt and base is not None:
        prompt = base.prompt
    if not prompt:
        raise CommandError(f"the prompt is empty; describe what to animate, e.g. {_EXAMPLE}")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise CommandError(f"the prompt is {len(prompt)} characters; at most {MAX_PROMPT_CHARS} are allowed")
    negative = str(changes.get("negative_prompt", start.negative_prompt))
    if len(negative) > MAX_PROMPT_CHARS:
        raise CommandError(f"the negative prompt is {len(negative)} characters; at most {MAX_PROMPT_CHARS} are allowed")
    params = start.with_changes(prompt=prompt, **changes)
    return AnimateRequest(params, _notes(params, count_tokens))


def _notes(params: GenerationParams, count_tokens: Callable[[str], int] | None) -> tuple[str, ...]:
    notes: list[str] = []
    if params.steps == 1:
        notes.append(f"steps:1 is {STEP_CHECKPOINTS[1].note}; steps:4 is recommended")
    if params.negative_prompt and params.guidance <= 1:
        notes.append("negative prompt ignored: it only acts when guidance > 1")
    names = {m.name for m in params.motions}
    for first, second in _OPPOSITES:
        if {first, second} <= names:
            notes.append(f"{first} and {second} pull in opposite directions; the camera may barely move")
    for what, text in (("prompt", params.prompt), ("negative prompt", params.negative_prompt)):
        note = _token_note(what, text, count_tokens) if text else None
        if note:
            notes.append(note)
    return tuple(notes)


def _quote(value: str) -> str:
    for opener, closer in (('"', '"'), ("'", "'"), ("“", "”"), ("‘", "’")):
        family = _CLOSERS[opener]
        if not any(c in family and value[k + 1 : k + 2].isspace() for k, c in enumerate(value)):
            return f"{opener}{value}{closer}"
    raise ValueError(f"cannot quote {_show(value)}: every kind of quote is used inside it before a space")


def format_animate(params: GenerationParams) -> str:
    """``/animate`` argument text that parses back to ``params`` (fields at their default are left out).

    Raises ValueError for a value no quote can hold. Prompts are expected to be what
    parse_animate produced: a prompt word that looks like a known ``key:value`` would be read as one.
    """
    parts = [params.prompt]
    if params.motions:
        motion = "+".join(
            m.name if m.strength == DEFAULT_MOTION_STRENGTH else f"{m.name}@{m.strength!r}" for m in params.motions
        )
        parts.append(f"motion:{motion}")
    for key, field_name in (("steps", "steps"), ("frames", "frames"), ("seed", "seed"), ("fps", "fps")):
        value = getattr(params, field_name)
        if value != getattr(DEFAULTS, field_name):
            parts.append(f"{key}:{value}")
    if params.guidance != DEFAULTS.guidance:
        parts.append(f"guidance:{params.guidance!r}")
    if params.negative_prompt:
        parts.append(f"neg:{_quote(params.negative_prompt)}")
    if params.model is not None:
        needs_quotes = any(c.isspace() for c in params.model) or params.model[:1] in _CLOSERS
        parts.append(f"model:{_quote(params.model) if needs_quotes else params.model}")
    if params.format != DEFAULTS.format:
        parts.append(f"format:{params.format}")
    if params.aspect != DEFAULTS.aspect:
        parts.append(f"aspect:{params.aspect}")
    return " ".join(parts)


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


def _parse_admin(text: str, options: dict[str, str]) -> Command:
    words = text.split()
    action_text = options.get("action")
    if action_text is None:
        action_text = words.pop(0) if words else ""
    action = action_text.strip().lower()
    if action not in ADMIN_ACTIONS:
        got = f" (got {_show(action_text)})" if action_text else ""
        raise CommandError(f"/animate-admin needs an action: {_one_of(ADMIN_ACTIONS)}{got}")
    extra_options = set(options) - {"action"}
    allowed_options = {"model": {"model"}, "limits": set(LIMIT_KEYS), "ban": {"user", "reason"}, "unban": {"user"}}
    stray = extra_options - allowed_options.get(action, set())
    if stray:
        raise CommandError(f"/animate-admin {action} has no option {_show(sorted(stray)[0])}")
    if action in ("models", "pause", "resume"):
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
    "admin": ("action", "model", "user", "reason", *LIMIT_KEYS),
    "help": ("topic",),
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
    return Command("help", text)  # any topic words are welcome; the help is short enough to show whole


def parse_line(line: str) -> Command:
    """Parse a whole console line such as ``/animate-show 12``; raises CommandError if it is not a command."""
    stripped = line.strip()
    if not stripped:
        raise CommandError(f"type a command, e.g. {_EXAMPLE}; /animate-help lists them all")
    if not stripped.startswith("/"):
        raise CommandError(f"commands start with '/', e.g. {_EXAMPLE}; /animate-help lists them all")
    parts = stripped.split(None, 1)
    head = parts[0]
    rest = parts[1] if len(parts) > 1 else ""
    return parse_command(head, rest)


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
        "  /animate-admin <action>            admins only: model <alias> | models | pause | resume |",
        "                                     limits [per_user:<n>] [per_hour:<n>] [queue_cap:<n>] |",
        "                                     ban <user> [reason] | unban <user>",
        "  /animate-help                      this text",
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
        (f"frames:{FRAMES_MIN}-{FRAMES_MAX}", f"clip length in frames (default {d.frames})"),
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
    ]
    width = max(len(k) for k, _ in keys[1:])
    lines += [f"  {k:<{width}}  {v}" if len(k) <= width else f"  {k}\n  {'':<{width}}  {v}" for k, v in keys]
    lines += [
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
        "  /animate-history mine lighthouse",
        "  /animate-cancel #12",
    ]
    return "\n".join(lines)
