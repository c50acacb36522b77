"""The boundary between the service and a chat platform.

Neutral types (who asked, where, a posted message, buttons) and the two ports: ``ChatAdapter``
(what the service calls on a platform; Discord, Slack, the console and the test fakes implement
it) and ``CommandHandler`` (what a platform calls on the service). Only adapters know what a
platform looks like; the service speaks these types and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

BUTTON_PREFIX = "animatebot"  # every button and form id the bot makes starts with it
ACTIONS: tuple[str, ...] = (
    "reroll",
    "remix",
    "approve",
    "reject",
    "delete",
    "report",
    "reveal",
    "preset",
    "pick",
    "vary-subtle",
    "vary-strong",
    # After the clip (issue 22): jobs on the clip itself.
    "smooth",
    "upscale",
    "extend",
)
ELLIPSIS = "…"

Tone = Literal["info", "ok", "error"]
ButtonStyle = Literal["primary", "secondary", "success", "danger"]


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + ELLIPSIS


@dataclass(frozen=True)
class Actor:
    """The person behind a command or a click.

    ``platform_admin`` is what the adapter learned from the platform itself (Discord's Manage
    Server permission, a Slack workspace admin or owner); ``roles`` are platform role ids.
    The service alone decides who is an admin, from these and the configured ids.
    """

    platform: str
    user_id: str
    display_name: str = ""
    platform_admin: bool = False
    roles: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """A user id unique across platforms: ``discord:1234``."""
        return f"{self.platform}:{self.user_id}"

    @property
    def name(self) -> str:
        return self.display_name or self.user_id


@dataclass(frozen=True)
class Place:
    """Where a message lives: a channel, optionally a thread in it.

    Discord: ``channel_id`` is the channel, ``thread_id`` a thread channel id.
    Slack: ``channel_id`` is the conversation, ``thread_id`` the parent message ``ts``.
    """

    platform: str
    channel_id: str
    workspace_id: str = ""
    thread_id: str | None = None
    is_dm: bool = False
    # Discord: the channel is marked age-restricted (NSFW); the safety check's default policy there is allow.
    age_restricted: bool = False
    # Discord: the channel a thread belongs to (channel rules and policies are set on channels).
    parent_channel_id: str | None = None
    # Not everyone on the server can look here (Discord: @everyone may not view the channel, or a private
    # thread; Slack: a private channel, a DM or a group DM): the one channel what is made here may be shown
    # in (a public thread's private channel, a private thread itself). None: anywhere on the server.
    private_channel_id: str | None = None

    def in_thread(self, thread_id: str | None) -> Place:
        return Place(
            self.platform,
            self.channel_id,
            self.workspace_id,
            thread_id,
            self.is_dm,
            self.age_restricted,
            self.parent_channel_id,
            self.private_channel_id,
        )

    @property
    def private(self) -> bool:
        return self.private_channel_id is not None

    @property
    def viewing_channels(self) -> tuple[str, ...]:
        """The channels whose private clips may be shown here: this one, and the channel of a thread."""
        return tuple(dict.fromkeys(c for c in (self.channel_id, self.parent_channel_id) if c))

    @property
    def rules_channel_id(self) -> str:
        """The channel whose rules apply here (a thread follows its channel)."""
        return self.parent_channel_id or self.channel_id


@dataclass(frozen=True)
class MessageRef:
    """A message the bot posted, enough to edit it later (also after a restart)."""

    place: Place
    message_id: str


@dataclass(frozen=True)
class Button:
    """A clickable action on a clip; its id carries the job id so it works after restarts."""

    action: str
    job_id: int
    label: str
    style: ButtonStyle = "secondary"
    variant: int | None = None  # one take of a set (1..n): its buttons form a row of their own

    @property
    def custom_id(self) -> str:
        take = f":{self.variant}" if self.variant is not None else ""
        return f"{BUTTON_PREFIX}:{self.action}:{self.job_id}{take}"


def parse_custom_id(custom_id: str) -> tuple[str, int] | None:
    """``"animatebot:approve:12"`` -> ``("approve", 12)`` (a take's ``...:12:2`` too); anything else -> None."""
    parsed = parse_button(custom_id)
    return parsed[:2] if parsed is not None else None


def parse_button(custom_id: str) -> tuple[str, int, int | None] | None:
    """``"animatebot:pick:12:2"`` -> ``("pick", 12, 2)``, ``"animatebot:approve:12"`` -> ``("approve", 12, None)``;
    anything else -> None."""
    parts = custom_id.split(":")
    if len(parts) not in (3, 4) or parts[0] != BUTTON_PREFIX or parts[1] not in ACTIONS:
        return None
    try:
        numbers = [int(part) for part in parts[2:]]
    except ValueError:
        return None
    if any(n <= 0 for n in numbers):
        return None
    return parts[1], numbers[0], numbers[1] if len(numbers) == 2 else None


def progress_bar(fraction: float, width: int = 16) -> str:
    """A text bar for 0..1 with a percentage, e.g. ``█████░░░░░░░ 42%``; outside values are clamped."""
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled) + f" {fraction:.0%}"


@dataclass(frozen=True)
class FormField:
    """One text input of a form; ``value`` prefills it."""

    key: str
    label: str
    max_length: int
    multiline: bool = False
    optional: bool = False
    placeholder: str = ""
    value: str = ""


@dataclass(frozen=True)
class Form:
    """A form a button opens on a clip (Remix, Report, Save as preset): each platform renders it natively
    (a Discord modal, a Slack view, the console's words after the job number) and hands the values back
    to ``CommandHandler.submit_form`` by field key."""

    action: str  # the button's action; the form's id on every platform
    job_id: int
    title: str
    submit: str
    fields: tuple[FormField, ...]

    def prefilled(self, **values: str) -> Form:
        fields = tuple(replace(f, value=values.get(f.key, f.value)) for f in self.fields)
        return replace(self, fields=fields)


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True)
class Message:
    """What to show; each adapter renders it natively (embed, Block Kit, plain text)."""

    text: str
    title: str | None = None
    fields: tuple[Field, ...] = ()
    buttons: tuple[Button, ...] = ()
    progress: float | None = None  # 0..1 while a job runs
    tone: Tone = "info"
    footer: str | None = None

    def plain(self) -> str:
        """The message as plain text, for consoles, logs and notification fallbacks."""
        lines = [f"**{self.title}**"] if self.title else []
        if self.text:
            lines.append(self.text)
        lines.extend(f"{f.name}: {f.value}" for f in self.fields)
        if self.footer:
            lines.append(self.footer)
        return "\n".join(lines)


@dataclass(frozen=True)
class Clip:
    """An encoded clip file ready to upload."""

    path: Path
    mime_type: str
    size: int
    spoiler: bool = False  # hidden until clicked, where the platform can (Discord: a SPOILER_ file name)

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class ImageFile:
    """An image a person sent with a command, as the platform handed it over (or why it could not be).

    Adapters download it from the platform's own file host and pass it on as the ``image`` option;
    ``error`` is one line when the download failed. Whether it is a usable image is the service's call.
    """

    filename: str
    data: bytes = b""
    error: str | None = None

    def __repr__(self) -> str:  # never dump the bytes into a log line
        return f"ImageFile({self.filename!r}, {len(self.data)} bytes, error={self.error!r})"


class UploadTooLarge(Exception):
    """The platform refused an upload as too large (HTTP 413 or its equivalent)."""

    def __init__(self, limit: int | None = None) -> None:
        super().__init__(f"upload refused as too large (limit {limit} bytes)" if limit else "upload too large")
        self.limit = limit


class NotInChannel(Exception):
    """The bot cannot post in that channel (not invited, or missing permission)."""


@runtime_checkable
class ChatAdapter(Protocol):
    """What the service needs from a platform. Every method may raise; the service copes."""

    platform: str
    max_upload_bytes: int
    supports_remix: bool  # can show a form to edit a clip's prompt (Discord modals)

    async def post(self, place: Place, message: Message) -> MessageRef:
        """Post a message in a channel or thread (bot token, never an interaction token)."""
        ...

    async def edit(self, ref: MessageRef, message: Message) -> None:
        """Replace a message the bot posted."""
        ...

    async def start_thread(self, ref: MessageRef, name: str) -> Place | None:
        """A thread under ``ref``; None where threads are impossible (DMs, missing permission)."""
        ...

    async def post_clip(self, place: Place, message: Message, clip: Clip) -> MessageRef:
        """Upload a clip with its message and buttons; raises UploadTooLarge when refused for size."""
        ...

    async def post_clips(self, place: Place, message: Message, clips: Sequence[Clip]) -> MessageRef:
        """Upload a set's clips together, in one message where the platform can, with its message and buttons;
        raises UploadTooLarge when refused for size."""
        ...

    async def delete(self, ref: MessageRef) -> None:
        """Remove a message the bot posted (a deleted clip)."""
        ...

    async def notify(self, place: Place, user_id: str, message: Message) -> None:
        """Tell one person something only they should see (a DM, or ephemeral where the platform has it)."""
        ...

    def link(self, ref: MessageRef) -> str | None:
        """A URL to a message or thread, where the platform has one."""
        ...


class Responder(Protocol):
    """How to answer the command being handled (an interaction follow-up, a Slack respond, stdout)."""

    async def reply(self, message: Message, *, ephemeral: bool = False) -> MessageRef | None:
        """Answer the command. Public replies return a ref the service can edit and thread under."""
        ...


@dataclass
class Invocation:
    """One command or click, as an adapter hands it to the service."""

    actor: Actor
    place: Place
    responder: Responder
    upload_limit: int | None = None  # bytes, where the platform says (Discord's attachment_size_limit)
    request_id: str | None = None  # the platform's id of this request: a redelivery never makes a second job


@dataclass(frozen=True)
class Precheck:
    """What a platform needs before acknowledging a command: a refusal to show privately right
    away (nothing was written), and whether the command's answers are private."""

    refusal: Message | None
    private: bool


class CommandHandler(Protocol):
    """What a platform calls on the service. Every method answers through ``inv.responder`` and never raises."""

    async def precheck(
        self, inv: Invocation, name: str, text: str = "", options: Mapping[str, object] | None = None
    ) -> Precheck:
        """Parse and check a command without running it (cheap: fits in the platforms' 3 s)."""
        ...

    async def handle_command(
        self, inv: Invocation, name: str, text: str = "", options: Mapping[str, object] | None = None
    ) -> None:
        """Run one command."""
        ...

    async def handle_button(self, inv: Invocation, custom_id: str) -> None:
        """A click on one of the bot's buttons (``Button.custom_id``)."""
        ...

    async def open_form(self, inv: Invocation, action: str, job_id: int) -> Form | None:
        """The form a click on ``action`` opens (prefilled), or None: the click needs none (or the job is
        gone), so it goes to ``handle_button``."""
        ...

    async def submit_form(self, inv: Invocation, action: str, job_id: int, values: Mapping[str, str]) -> None:
        """A form of job ``job_id`` was sent; ``values`` by field key (a field left out: not given)."""
        ...

    async def handle_remix(self, inv: Invocation, job_id: int, prompt: str, motion: str | None = None) -> None:
        """The remix form of job ``job_id`` was sent."""
        ...

    async def handle_report(self, inv: Invocation, job_id: int, reason: str) -> None:
        """Someone reported clip ``job_id`` (the report form was sent, or ``report 3 <reason>`` typed)."""
        ...

    async def remix_defaults(self, inv: Invocation, job_id: int) -> tuple[str, str] | None:
        """The prompt and motion to prefill a remix form with; None when the job is gone or not seen from
        ``inv``'s place."""
        ...

    def model_choices(self, current: str) -> list[tuple[str, str]]:
        """(label, value) pairs of base models matching what an admin has typed so far."""
        ...
