"""The ``/animate`` token grammar: prompt words and ``key:value`` tokens -> validated params, and back.

Owns scanning (quotes, curly quotes, trailing punctuation), each key's allowed values, motions,
the prompt token estimate, :func:`parse_animate` / :func:`format_animate` and :class:`CommandError`,
which the command layer (:mod:`bot.commands.command`) builds on.
Parsing is cheap on purpose: only the plain-data catalog and params are imported, never torch.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.chat import shorten
from bot.commands.table import ANIMATE_KEYS, KEY_ALIASES, KEY_EXAMPLES, VERBATIM_KEYS
from generation.catalog import (
    ALLOWED_STEPS,
    BASE_MODELS,
    MOTION_NAMES,
    STEP_CHECKPOINTS,
    find_base_model,
    find_motion,
)
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
    PLAY_FPS_MAX,
    SEED_MAX,
    SMOOTH_FACTORS,
    STRENGTH_MAX,
    STRENGTH_MIN,
    UPSCALE_FACTORS,
    VARIANTS,
    GenerationParams,
    MotionSpec,
)

MAX_PROMPT_CHARS = 1000
MAX_PROMPT_TOKENS = 77  # CLIP's context, BOS and EOS included
USABLE_PROMPT_TOKENS = MAX_PROMPT_TOKENS - 2
# Values taken as written: a model id or a file path may end in a dot.
_VERBATIM_KEYS = VERBATIM_KEYS
# A typed word this close to a key (and at least this long) is a typo, not prompt text.
_TYPO_MIN_LENGTH = 3

_EXAMPLE = "/animate a smiling girl motion:zoom-in"
_KEY_RE = re.compile(r"([A-Za-z]+):")
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_ASCII_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
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
    # image: as typed (a path, for the console and the CLI) or the file a platform handed over
    # (an object with ``filename`` and ``data``); the service validates and stores it.
    image: object | None = None
    preset: str | None = None  # preset:<name> as typed; the service looks it up and parses again with its tokens
    keys: frozenset[str] = frozenset()  # the option keys given (a server's defaults fill in the others)


def _show(value: object, limit: int = 40) -> str:
    """A user value for an error message: quoted, escaped onto one line, shortened."""
    return repr(shorten(str(value), limit))


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


_WORD_RE = re.compile(r"\S+")  # what str.isspace() does not count as a space


def _scan(text: str) -> tuple[list[str], list[_Token]]:
    """Split ``text`` into prompt words and known ``key:value`` tokens (quoted values may hold spaces)."""
    words: list[str] = []
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while (word := _WORD_RE.search(text, i)) is not None:
        i, j = word.span()
        match = _KEY_RE.match(text, i, j)
        key = _canonical_key(match.group(1)) if match else None
        if match is not None and key is None and match.end() < j and not text.startswith("/", match.end()):
            # A word:value token whose word is a typo of a key would otherwise run silently in the prompt.
            # A URL (https://...) keeps its slashes right after the colon.
            near = near_key(match.group(1))
            if near is not None:
                raise CommandError(
                    f"unknown option {_show(match.group(1))} (did you mean {near}?); "
                    f"e.g. {_key_example(near)}, or quote the word to keep it in the prompt"
                )
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
            if key not in _VERBATIM_KEYS:
                value = value.rstrip(_TRAILING_JUNK)
            if not value:
                raise CommandError(f"{match.group(1)}: needs a value right after the colon, e.g. {_key_example(key)}")
            tokens.append(_Token(key, match.group(1), value))
            i = j
    return words, tokens


def _key_example(key: str) -> str:
    return KEY_EXAMPLES[key]


def _distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) that turn ``a`` into ``b``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            row.append(cost)
        previous2, previous = previous, row
    return previous[-1]


def near_key(word: str, keys: tuple[str, ...] = ANIMATE_KEYS) -> str | None:
    """The key ``word`` is most likely a typo of (``motoin`` -> ``motion``), else None.

    Short words may be one edit off, longer ones two; words under three letters never count, so
    ordinary prompt text with a colon (``Note:``, ``ratio:high``) stays prompt text.
    """
    word = word.lower()
    if len(word) < _TYPO_MIN_LENGTH or word in keys:
        return None
    allowed = 1 if len(word) < 5 else 2
    names = [*keys, *(alias for alias, key in KEY_ALIASES.items() if key in keys)]
    best = min(names, key=lambda name: (_distance(word, name), name))
    if _distance(word, best) > allowed:
        return None
    return KEY_ALIASES.get(best, best)


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


def _loop(value: str) -> str:
    text = value.strip().lower().replace("-", "")
    text = {"off": "none", "no": "none", "pp": "pingpong", "boomerang": "pingpong"}.get(text, text)
    if text in LOOPS:
        return text
    raise CommandError(f"loop must be one of {_one_of(LOOPS)} (got {_show(value)})")


def _one_line(text: str) -> str:
    # Control characters are invisible in chat and poison logs; line breaks become spaces.
    if text.isprintable():  # no control character (nor line break) at all: only the spaces to fold
        return " ".join(text.split())
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
    "loop": ("loop", _loop),
    "strength": ("strength", lambda v: _float(v, "strength", STRENGTH_MIN, STRENGTH_MAX)),
    "variants": ("variants", lambda v: _variants(v)),
    "smooth": ("smooth", lambda v: int(_factor(v, "smooth", SMOOTH_FACTORS[1:]))),
    "upscale": ("upscale", lambda v: _factor(v, "upscale", UPSCALE_FACTORS[1:])),
}


def _variants(value: str) -> int:
    number = _int(value, "variants", min(VARIANTS), max(VARIANTS))
    if number not in VARIANTS:
        raise CommandError(f"variants must be one of {_one_of(tuple(map(str, VARIANTS)))} (got {_show(value)})")
    return number


def _factor(value: str, what: str, allowed: Sequence[float]) -> float:
    """One of a few multipliers (``smooth:2``, ``upscale:1.5``; ``x2`` and ``2x`` read as 2)."""
    text = value.strip().lower().removeprefix("x").removesuffix("x")
    number = float(text) if _ASCII_NUMBER_RE.fullmatch(text) else None
    if number is None or number not in allowed:
        raise CommandError(f"{what} must be one of {_one_of(f'{a:g}' for a in allowed)} (got {_show(value)})")
    return number


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
        ascii_chars = len(piece) if piece.isascii() else sum(c.isascii() for c in piece)
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
    preset_tokens: str = "",
) -> AnimateRequest:
    """Parse the text of ``/animate`` (plus native options, e.g. Discord's) into validated params.

    ``base`` starts from a parent job (remix): its seed is cleared unless one is given, tokens
    override its fields, and prompt words, if any, replace its prompt. ``count_tokens`` counts a
    text's tokens without BOS/EOS (e.g. ``len(tokenizer.tokenize(t))``); the default estimates.
    Raises CommandError for an unknown or repeated key value, a bad value, an unclosed quote, or
    an empty or too long prompt. Words whose ``key:`` is not a known key (nor one or two letters off
    one) stay in the prompt. ``preset_tokens`` (a preset's ``key:value`` tokens) apply first: each key
    typed or given as an option wins over the preset's.
    """
    words, tokens = _scan(text)
    given: dict[str, str] = {}
    image: object | None = None
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
        if key == "image" and not isinstance(value, str):
            image = value  # a file the platform handed over
            continue
        given[key] = _option_text(value)
    from_preset = {key: value for key, value in preset_values(preset_tokens).items() if key not in given}
    given.update(from_preset)
    preset = given.pop("preset", None)
    if "image" in given:
        image = given.pop("image").strip()
        if not image:
            raise CommandError(f"image: needs a file, e.g. {_key_example('image')}")
    if "strength" in from_preset and image is None and (base is None or base.image is None):
        del given["strength"]  # a preset's image strength waits for a clip with an image

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
    if "strength" in changes and image is None and start.image is None:
        raise CommandError(
            "strength only applies when animating an image; add image:<path> or attach one, or leave strength out"
        )
    params = start.with_changes(prompt=prompt, **changes)
    _check_scenes(params)
    _check_variants(params)
    if params.output_fps > PLAY_FPS_MAX:
        raise CommandError(
            f"smooth:{params.smooth} at fps:{params.fps} would play at {params.output_fps} fps; at most "
            f"{PLAY_FPS_MAX} plays everywhere: lower fps (e.g. fps:{PLAY_FPS_MAX // params.smooth}) or smooth"
        )
    keys = frozenset(given) | ({"image"} if image is not None else frozenset())
    return AnimateRequest(params, _notes(params, count_tokens), image, preset.strip().lower() if preset else None, keys)


def _check_variants(params: GenerationParams) -> None:
    if params.variants == 1:
        return
    if len(params.scenes) > 1 or params.free_noise:
        raise CommandError(
            f"variants take clips of up to {FREENOISE_ABOVE} frames of one scene (no |); "
            f"got {params.frames} frames and {len(params.scenes)} scene(s): use variants:1 or a shorter clip"
        )


def preset_values(tokens: str) -> dict[str, str]:
    """A preset's ``key:value`` tokens by key. Raises CommandError for prompt words, a repeated key, or a key
    a preset cannot hold (an image, another preset)."""
    words, scanned = _scan(tokens)
    if words:
        raise CommandError(
            f"a preset holds only key:value options, not prompt words (got {_show(' '.join(words))}); "
            "e.g. motion:pan-left frames:8"
        )
    values: dict[str, str] = {}
    for token in scanned:
        if token.key in ("image", "preset"):
            raise CommandError(f"a preset cannot hold {token.key}:; give it when you /animate")
        if token.key in values:
            raise CommandError(f"{token.key} is given twice; give each key once")
        values[token.key] = token.value
    return values


def check_preset(tokens: str) -> dict[str, str]:
    """``tokens`` validated as a preset (each value with its key's own rules): the values by key."""
    values = preset_values(tokens)
    if not values:
        raise CommandError("a preset needs at least one key:value option, e.g. motion:pan-left frames:8")
    for key, value in values.items():
        _FIELD_PARSERS[key][1](value)
    return values


def _check_scenes(params: GenerationParams) -> None:
    scenes = params.scenes
    if len(scenes) == 1:
        return
    for number, scene in enumerate(scenes, start=1):
        if not scene:
            raise CommandError(
                f"scene {number} of {len(scenes)} in the prompt is empty; separate scenes with |, "
                "e.g. a calm sea | a storm at sea"
            )
    if len(scenes) > MAX_SCENES:
        raise CommandError(f"the prompt has {len(scenes)} scenes; at most {MAX_SCENES} are allowed")
    if len(scenes) > params.frames:
        raise CommandError(
            f"the prompt has {len(scenes)} scenes but the clip only {params.frames} frames; "
            "use fewer scenes or more frames"
        )


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
    scenes = params.scenes
    texts = [("prompt", params.prompt)] if len(scenes) == 1 else [(f"scene {i}", t) for i, t in enumerate(scenes, 1)]
    for what, text in (*texts, ("negative prompt", params.negative_prompt)):
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
    return " ".join([params.prompt, *_option_tokens(params)])


def format_options(params: GenerationParams) -> str:
    """The ``key:value`` tokens of ``params`` without its prompt (fields at their default left out)."""
    return " ".join(_option_tokens(params))


def _option_tokens(params: GenerationParams) -> list[str]:
    parts: list[str] = []
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
    if params.loop != DEFAULTS.loop:
        parts.append(f"loop:{params.loop}")
    if params.image is not None and params.strength != DEFAULT_STRENGTH:
        parts.append(f"strength:{params.strength!r}")
    if params.variants != DEFAULTS.variants:
        parts.append(f"variants:{params.variants}")
    if params.smooth != DEFAULTS.smooth:
        parts.append(f"smooth:{params.smooth}")
    if params.upscale != DEFAULTS.upscale:
        parts.append(f"upscale:{params.upscale:g}")
    return parts
