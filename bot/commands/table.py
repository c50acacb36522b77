"""The one command table: every command, subcommand, option, button and form, declared once.

Discord's application commands (``bot.platforms.discord.commands``), the Slack manifest
(``python -m bot.commands.manifest``), the console's help, ``/animate-help`` and the ``/animate`` keys the
grammar knows are all made from these entries. Adding an option is one :class:`Option` here plus the
code that reads its value (a ``/animate`` key: a parser in ``bot.commands.grammar``); adding a command is one
:class:`Spec` plus its handler in the service. Plain data: only the catalog and params are imported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from bot.chat import Form, FormField
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
    SEED_MAX,
    SMOOTH_FACTORS,
    STRENGTH_MAX,
    STRENGTH_MIN,
    UPSCALE_FACTORS,
    VARIANTS,
)

# A value's kind: how a platform asks for it (Discord's option types) and how it reaches the grammar (text).
Kind = Literal["text", "int", "float", "bool", "user", "channel", "role", "file"]

JOB_MAX = 2**53  # Discord integer options stop here; the grammar allows a BIGINT
MAX_REASON_CHARS = 500
LIMIT_MAX = 1_000_000
SHOWCASE_MAX = 1000
QUOTA_MAX = 1_000_000
PRESET_NAME_MAX = 32
PRESET_TOKENS_MAX = 500
BLOCK_OPS: tuple[str, ...] = ("add", "remove", "list", "test")
CHANNEL_OPS: tuple[str, ...] = ("allow", "deny", "clear", "list")
SAFETY_OPS: tuple[str, ...] = ("show", "block", "spoiler", "allow", "default")
ROLE_OPS: tuple[str, ...] = ("add", "remove", "clear", "list")


@dataclass(frozen=True)
class Option:
    """One option of a command: a ``/animate`` ``key:value`` token, a native option, or both.

    ``key`` is the name the grammar and the handler read. ``native`` is the name platforms with native
    options (Discord) show, when it differs; ``typed=False`` keeps an option off the ``/animate`` token
    grammar, ``offered=False`` keeps it off the native options. ``usage`` and ``help`` make the help line.
    """

    key: str
    help: str
    kind: Kind = "text"
    low: float | None = None
    high: float | None = None
    choices: tuple[tuple[str, str | int], ...] = ()  # (label, value)
    required: bool = False
    native: str | None = None
    typed: bool = True
    offered: bool = True
    usage: str = ""  # e.g. frames:8-64
    example: str = ""  # a valid token, for error messages: frames:16
    aliases: tuple[str, ...] = ()
    verbatim: bool = False  # the value is taken as written (a trailing dot is part of a path)
    autocomplete: bool = False
    is_text: bool = False  # the command's free text (Discord: /animate's prompt)

    @property
    def native_name(self) -> str:
        return self.native or self.key


@dataclass(frozen=True)
class Spec:
    """A command (``animate-queue``) or a subcommand (``admin model``) with its options."""

    name: str
    help: str
    options: tuple[Option, ...] = ()
    subcommands: tuple[Spec, ...] = ()
    private: bool = False  # answers go only to the person who asked
    admin: bool = False  # Discord hides it from members without Manage Server (the service checks anyway)
    usage: str = ""  # Slack's usage hint
    slack_help: str = ""  # Slack's shorter description, when it differs
    slack_escape: bool = False  # Slack turns @someone into an id (commands that name a person need it)

    @property
    def short(self) -> str:
        return "animate" if self.name == "animate" else self.name.removeprefix("animate-")


@dataclass(frozen=True)
class ButtonSpec:
    """A button on a clip card; ``action`` is the word in its id (and the console's typed word)."""

    action: str
    label: str
    help: str
    typed: str = ""  # what the console types, when not ``<action> <job>`` (a form's first field after it)


def _job(help: str = "Job number, e.g. 12", required: bool = False) -> Option:
    return Option("job", help, "int", 1, JOB_MAX, required=required)


def _pairs(values: tuple[str, ...]) -> tuple[tuple[str, str | int], ...]:
    return tuple((v, v) for v in values)


_D = DEFAULTS
_MOTION_CHOICES: tuple[tuple[str, str | int], ...] = tuple((f"{m.name}: {m.description}", m.name) for m in MOTIONS)
_SIZES = ", ".join(f"{a} = {w}x{h}" for a, (w, h) in ASPECTS.items())

# The /animate keys, in the order help lists them. ``offered=False``: typed only (Discord has no native option).
ANIMATE_OPTIONS: tuple[Option, ...] = (
    Option(
        "prompt",
        "What to animate; key:value tokens such as motion:zoom-in steps:8 work here too",
        required=True,
        typed=False,
        is_text=True,
    ),
    Option(
        "motion",
        f"camera motion, strength s from 0 to 1 (default {DEFAULT_MOTION_STRENGTH:g}), at most {MAX_MOTIONS}; "
        "motion:none for none",
        choices=_MOTION_CHOICES,
        usage="motion:<name>[@<s>][+<name>[@<s>]]",
        example="motion:zoom-in",
    ),
    Option("motion2", "A second camera motion to combine with the first", typed=False, choices=_MOTION_CHOICES),
    Option(
        "motion_strength",
        f"Strength of the motion(s), 0 to 1 (default {DEFAULT_MOTION_STRENGTH:g})",
        "float",
        0.0,
        1.0,
        typed=False,
    ),
    Option(
        "steps",
        f"Lightning checkpoint (default {_D.steps}); see below",
        "int",
        choices=tuple((f"{s}: {STEP_CHECKPOINTS[s].note}"[:100], s) for s in ALLOWED_STEPS),
        usage="steps:" + "|".join(str(s) for s in ALLOWED_STEPS),
        example="steps:4",
    ),
    Option(
        "frames",
        f"clip length in frames (default {_D.frames}); above {FREENOISE_ABOVE} made with FreeNoise",
        "int",
        FRAMES_MIN,
        FRAMES_MAX,
        usage=f"frames:{FRAMES_MIN}-{FRAMES_MAX}",
        example="frames:16",
    ),
    Option(
        "seed",
        "same seed and settings give the same clip (default: random)",
        "int",
        0,
        SEED_MAX,
        usage=f"seed:0-{SEED_MAX}",
        example="seed:42",
    ),
    Option(
        "neg",
        "what to avoid (also negative:); only acts when guidance > 1",
        native="negative",
        usage="neg:<text>",
        example='neg:"blurry, text"',
        aliases=("negative",),
    ),
    Option(
        "guidance",
        f"how hard to follow the prompt (default {_D.guidance:g}; "
        "Lightning is distilled for 1, above 1 each step runs twice)",
        "float",
        GUIDANCE_MIN,
        GUIDANCE_MAX,
        usage=f"guidance:{GUIDANCE_MIN:g}-{GUIDANCE_MAX:g}",
        example="guidance:1.5",
    ),
    Option(
        "model",
        f"base model (default {DEFAULT_BASE_MODEL}); see below",
        offered=False,
        usage="model:<alias>",
        example=f"model:{DEFAULT_BASE_MODEL}",
        verbatim=True,
    ),
    Option(
        "fps",
        f"playback speed (default {_D.fps})",
        "int",
        FPS_MIN,
        FPS_MAX,
        offered=False,
        usage=f"fps:{FPS_MIN}-{FPS_MAX}",
        example="fps:8",
    ),
    Option(
        "format",
        f"file type (default {_D.format})",
        choices=_pairs(FORMATS),
        usage=f"format:{'|'.join(FORMATS)}",
        example="format:gif",
    ),
    Option(
        "aspect",
        f"shape (default {_D.aspect}): {_SIZES}",
        choices=tuple((f"{a} ({w}x{h})", a) for a, (w, h) in ASPECTS.items()),
        usage="aspect:" + "|".join(ASPECTS),
        example="aspect:16:9",
    ),
    Option(
        "loop",
        "pingpong plays forward then back: a seamless loop (default none)",
        choices=_pairs(LOOPS),
        usage="loop:" + "|".join(LOOPS),
        example="loop:pingpong",
    ),
    Option(
        "image",
        "animate a picture: the image option or message menu in chat, a path in the console",
        "file",
        usage="image:<file>",
        example="image:photo.png",
        verbatim=True,
    ),
    Option(
        "strength",
        f"with an image: how far the clip may move away from it (default {DEFAULT_STRENGTH:g})",
        "float",
        STRENGTH_MIN,
        STRENGTH_MAX,
        usage=f"strength:{STRENGTH_MIN:g}-{STRENGTH_MAX:g}",
        example="strength:0.6",
    ),
    Option(
        "variants",
        f"takes made in one pass, posted together to pick from (default 1, or the server's; up to "
        f"{FREENOISE_ABOVE} frames, one scene); seeds seed, seed+1, ...; a set counts once per take",
        "int",
        choices=tuple((str(n), n) for n in VARIANTS),
        usage="variants:" + "|".join(map(str, VARIANTS)),
        example="variants:4",
    ),
    Option(
        "smooth",
        "learned in-betweens: 16 frames at 8 fps play as 31 at 16 fps (x4: 61 at 32)",
        "int",
        choices=tuple((f"x{f}", f) for f in SMOOTH_FACTORS[1:]),
        usage="smooth:" + "|".join(map(str, SMOOTH_FACTORS[1:])),
        example="smooth:2",
    ),
    Option(
        "upscale",
        "a hi-res pass: 512 px becomes 768 or 1024 px, refined by the model",
        choices=tuple((f"x{f:g}", f"{f:g}") for f in UPSCALE_FACTORS[1:]),
        usage="upscale:" + "|".join(f"{f:g}" for f in UPSCALE_FACTORS[1:]),
        example="upscale:2",
    ),
    Option(
        "preset",
        "a saved preset's options first (yours, else the server's); what you type wins",
        usage="preset:<name>",
        example="preset:windy",
    ),
)

_ADMIN = Spec(
    "animate-admin",
    "Base model, pause/resume, limits, bans, moderation",
    private=True,
    admin=True,
    slack_help="Admins: model, models, pause, resume, limits, variants, ban, unban, workers, showcase",
    usage="model <alias> | models | pause | resume | limits [...] | variants [1|2|4] | ban @someone [reason] | "
    "unban @someone | workers | showcase #channel [approvals:N]",
    slack_escape=True,
    subcommands=(
        Spec(
            "model",
            "Switch the base model",
            (
                Option(
                    "model",
                    "A catalog alias or a Hugging Face repo id owner/name",
                    "text",
                    1,
                    200,
                    required=True,
                    native="name",
                    autocomplete=True,
                ),
            ),
        ),
        Spec("models", "List the base models"),
        Spec("pause", "Stop starting new jobs (running ones finish)"),
        Spec("resume", "Start jobs again"),
        Spec("workers", "Each worker: host, GPU, model, idle or busy, jobs done"),
        Spec(
            "limits",
            "Show or change the limits",
            usage="[per_user:<n>] [per_hour:<n>] [queue_cap:<n>]",
            options=(
                Option("per_user", "Active jobs one person may have", "int", 1, LIMIT_MAX),
                Option("per_hour", "Jobs per person per hour", "int", 1, LIMIT_MAX),
                Option("queue_cap", "Jobs waiting at most", "int", 1, LIMIT_MAX),
            ),
        ),
        Spec(
            "variants",
            "Show or set how many takes /animate makes here by default",
            usage="[" + "|".join(map(str, VARIANTS)) + "]",
            options=(
                Option(
                    "variants",
                    "Takes per /animate when none are asked for (none: show the setting)",
                    "int",
                    choices=tuple((str(n), n) for n in VARIANTS),
                ),
            ),
        ),
        Spec(
            "ban",
            "Stop someone from queueing clips",
            usage="<user> [reason]",
            options=(
                Option("user", "Who", "user", required=True),
                Option("reason", "Why (shown to them)", "text", 1, MAX_REASON_CHARS),
            ),
        ),
        Spec(
            "showcase",
            "Where clips with enough approvals are posted (once each)",
            usage="#channel [approvals:N] | off",
            options=(
                Option("channel", "The showcase channel (none: show the setting)", "channel"),
                Option("approvals", "Approvals needed (default 3)", "int", 1, SHOWCASE_MAX),
                Option("off", "Turn the showcase off", "bool", typed=False),
            ),
        ),
        Spec(
            "unban",
            "Let someone queue clips again",
            (Option("user", "A mention or a user id (they may have left the server)", "text", 1, 100, required=True),),
        ),
        Spec(
            "block",
            "Prompt rules: words, phrases or /regular expressions/",
            usage="add|remove|test <text> | list",
            options=(
                Option("op", "What to do", choices=_pairs(BLOCK_OPS), required=True),
                Option("text", "A word, phrase or /regex/ (add, remove), or a prompt (test)", "text", 1, 200),
            ),
        ),
        Spec(
            "channels",
            "Where /animate works: every channel, an allow list or a deny list",
            usage="allow|deny [#channel ...] | clear|list",
            options=(
                Option("op", "What to do", choices=_pairs(CHANNEL_OPS), required=True),
                Option("channel", "Which channel (default: this one)", "channel"),
            ),
        ),
        Spec(
            "safety",
            "What a channel does with clips the NSFW check flags",
            usage="[show] | block|spoiler|allow|default [#channel]",
            options=(
                Option("policy", "show, or the policy to set", choices=_pairs(SAFETY_OPS)),
                Option("channel", "Which channel (default: this one)", "channel"),
            ),
        ),
        Spec(
            "quota",
            "Show or set the clips per 24 hours (0 = none)",
            usage="[user:<n>] [server:<n>]",
            options=(
                Option("user_daily", "Clips per person per 24 h", "int", 0, QUOTA_MAX),
                Option("server_daily", "Clips on this server per 24 h", "int", 0, QUOTA_MAX),
            ),
        ),
        Spec(
            "roles",
            "Roles allowed to use /animate (none = everyone)",
            usage="add|remove <@role ...> | clear|list",
            options=(
                Option("op", "What to do", choices=_pairs(ROLE_OPS), required=True),
                Option("role", "Which role (add, remove)", "role"),
            ),
        ),
        Spec("release", "Post a clip the safety check withheld", (_job(required=True),)),
        Spec(
            "reports",
            "The open reports on clips, or close one",
            usage="[close <n>]",
            options=(Option("close", "A report number to close", "int", 1, JOB_MAX),),
        ),
    ),
)

_PRESET = Spec(
    "animate-preset",
    "Saved option sets: save, list, delete, or make one your default",
    private=True,
    usage="save <name> <key:value ...> [server:yes] | list | delete <name> [server:yes] | default <name> | default off",
    subcommands=(
        Spec(
            "save",
            "Save options under a name (server:yes: for everyone here; admins)",
            usage="<name> <key:value ...> [server:yes]",
            options=(
                Option("name", "The preset's name, e.g. windy", "text", 1, PRESET_NAME_MAX, required=True),
                Option(
                    "tokens",
                    "Options as typed in /animate, e.g. motion:pan-left frames:8",
                    "text",
                    1,
                    PRESET_TOKENS_MAX,
                    required=True,
                ),
                Option("server", "A server preset, for everyone here (admins)", "bool"),
            ),
        ),
        Spec("list", "Your presets and this server's, and your default"),
        Spec(
            "delete",
            "Delete a preset of yours (server:yes: a server preset; admins)",
            usage="<name> [server:yes]",
            options=(
                Option("name", "The preset's name", "text", 1, PRESET_NAME_MAX, required=True),
                Option("server", "A server preset (admins)", "bool"),
            ),
        ),
        Spec(
            "default",
            "The preset every /animate of yours starts from (off: none)",
            usage="<name> | off",
            options=(Option("name", "A preset's name, or off", "text", 1, PRESET_NAME_MAX, required=True),),
        ),
    ),
)

COMMANDS: tuple[Spec, ...] = (
    Spec(
        "animate",
        "Turn a line of text into a short animated clip",
        ANIMATE_OPTIONS,
        usage="a smiling girl motion:zoom-in [frames:8-64 loop:pingpong seed:42 aspect:16:9] or a calm sea | a storm",
        slack_help="Make a short animated clip from text",
    ),
    Spec("animate-queue", "The clips waiting and running", private=True, slack_help="What is running and waiting"),
    Spec(
        "animate-cancel",
        "Cancel a job of yours (default: your latest)",
        (_job(),),
        private=True,
        usage="[job number]",
        slack_help="Cancel your latest job, or the one you name",
    ),
    Spec(
        "animate-history",
        "Past clips, optionally one person's or matching words",
        (Option("user", "Whose clips", "user"), Option("search", "Words in the prompt")),
        private=True,
        usage="[mine | @someone] [search words]",
        slack_help="Recent clips, yours, someone's, or matching words",
        slack_escape=True,
    ),
    Spec(
        "animate-show",
        "One job and its clip",
        (_job(required=True),),
        usage="<job number>",
        slack_help="Post a clip again with its details",
    ),
    Spec(
        "animate-review",
        "Review clips with the team in their threads",
        (_job("Job number (default: the clips waiting for review)"),),
        private=True,
        usage="[job number]",
        slack_help="Clips in this channel still awaiting review",
    ),
    Spec("animate-board", "A private one-time link to the team's review board (web)", private=True),
    Spec(
        "animate-extend",
        "Continue a clip: more frames, the prompt going on",
        (
            _job("Job number of the clip, e.g. 12", required=True),
            Option("prompt", "What happens next (default: the clip's prompt)", "text", 1, 1000),
            Option("frames", f"Frames to add ({FRAMES_MIN}-{FRAMES_MAX}, default 16)", "int", FRAMES_MIN, FRAMES_MAX),
        ),
        usage="<job number> [what happens next] [frames:16]",
        slack_help="Continue a clip, the story going on",
    ),
    _PRESET,
    Spec(
        "animate-help",
        "How to use animatebot: commands, options, motions, models",
        (Option("topic", "A word to look for", offered=False),),
        private=True,
        slack_help="Every command and option of animatebot",
    ),
    _ADMIN,
)

BUTTONS: tuple[ButtonSpec, ...] = (
    ButtonSpec("reroll", "Reroll", "the same prompt and options with a new seed"),
    ButtonSpec("remix", "Remix", "edit the prompt or options and make a new clip"),
    ButtonSpec("approve", "Approve", "a vote for the clip"),
    ButtonSpec("reject", "Reject", "a vote against the clip"),
    ButtonSpec("delete", "Delete", "remove your clip (admins: any clip)"),
    ButtonSpec("report", "Report", "flag a clip for the admins"),
    ButtonSpec("reveal", "Reveal", "show a clip the safety check hid"),
    ButtonSpec("preset", "Save as preset", "keep the clip's options (not its prompt) under a name"),
    ButtonSpec("pick", "Pick", "post one take of a set as a clip of its own", typed="pick <job> <take>"),
    ButtonSpec(
        "vary-subtle",
        "Vary (subtle)",
        "a new clip from the clip's noise blended a little with a new seed's",
        typed="vary <job> [<take>] subtle",
    ),
    ButtonSpec(
        "vary-strong",
        "Vary (strong)",
        "a new clip from the clip's noise blended a lot with a new seed's",
        typed="vary <job> [<take>] strong",
    ),
    ButtonSpec("smooth", "Smooth", "a new clip with twice the frames, playing at twice the rate"),
    ButtonSpec("upscale", "Upscale", "a new clip at twice the size, redrawn by the model"),
    ButtonSpec("extend", "Extend", "a new clip going on 16 frames more (/animate-extend: a new prompt, a length)"),
)

REMIX_PROMPT_MAX = 3000  # room for a prompt with key:value tokens (Slack inputs take 3,000)
REMIX_MOTION_MAX = 100
REPORT_REASON_MAX = 300

# The forms buttons open, by the button's action; ``{job}`` in a title is the job number. Job 0: filled in when opened.
FORMS: dict[str, Form] = {
    form.action: form
    for form in (
        Form(
            "remix",
            0,
            "Remix #{job}",
            "Animate",
            (
                FormField(
                    "prompt", "Prompt (key:value tokens work here too)", REMIX_PROMPT_MAX, multiline=True, optional=True
                ),
                FormField(
                    "motion", "Motion", REMIX_MOTION_MAX, optional=True, placeholder="zoom-in@0.8+pan-left, or none"
                ),
            ),
        ),
        Form(
            "report",
            0,
            "Report #{job}",
            "Report",
            (
                FormField(
                    "reason",
                    "Why should the admins look at this clip?",
                    REPORT_REASON_MAX,
                    placeholder="e.g. not safe for work, hateful, spam",
                ),
            ),
        ),
        Form(  # opened from a message with a picture (Discord's message menu, Slack's message shortcut)
            "image",
            0,
            "Animate this image",
            "Animate",
            (
                FormField(
                    "prompt",
                    "Prompt (key:value tokens work here too)",
                    REMIX_PROMPT_MAX,
                    multiline=True,
                    placeholder="waves crashing strength:0.5",
                ),
                FormField("motion", "Motion", REMIX_MOTION_MAX, optional=True, placeholder="zoom-in@0.8+pan-left"),
            ),
        ),
        Form(
            "preset",
            0,
            "Save #{job} as a preset",
            "Save",
            (
                FormField(
                    "name", "Preset name (its options, not its prompt)", PRESET_NAME_MAX, placeholder="e.g. windy"
                ),
            ),
        ),
    )
}


def form_for(action: str, job_id: int, **values: str) -> Form | None:
    """The form a click on ``action`` of job ``job_id`` opens, prefilled with ``values``; None: it opens none."""
    form = FORMS.get(action)
    if form is None:
        return None
    return replace(form, job_id=job_id, title=form.title.format(job=job_id)).prefilled(**values)


def find(name: str) -> Spec | None:
    """The command named ``name`` (``animate-queue``, ``/animate-queue``), else None."""
    wanted = name.strip().lstrip("/").lower().replace("_", "-")
    return next((spec for spec in COMMANDS if spec.name == wanted), None)


def typed_keys(spec: Spec) -> tuple[str, ...]:
    """The keys ``spec`` reads from its text or options (its subcommands' too, and ``action`` naming one)."""
    keys = [o.key for o in spec.options if o.typed]
    if spec.subcommands:
        keys.append("action")
    for sub in spec.subcommands:
        keys += [o.key for o in sub.options if o.typed]
    return tuple(dict.fromkeys(keys))


COMMAND_NAMES: tuple[str, ...] = tuple(spec.name for spec in COMMANDS)
PRIVATE_COMMANDS = frozenset(spec.name for spec in COMMANDS if spec.private)
ANIMATE_KEYS: tuple[str, ...] = typed_keys(COMMANDS[0])
KEY_ALIASES: dict[str, str] = {alias: o.key for o in ANIMATE_OPTIONS for alias in o.aliases}
KEY_EXAMPLES: dict[str, str] = {o.key: o.example for o in ANIMATE_OPTIONS if o.typed}
VERBATIM_KEYS = frozenset(o.key for o in ANIMATE_OPTIONS if o.verbatim)
BUTTON_ACTIONS: tuple[str, ...] = tuple(b.action for b in BUTTONS)
BASE_MODEL_ALIASES: tuple[str, ...] = tuple(m.alias for m in BASE_MODELS)
