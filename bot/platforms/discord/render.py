"""How the neutral chat types look on Discord: text or an embed, a progress bar, clip buttons.

Pure translation of :class:`bot.chat.Message` into the keyword arguments discord.py's send and
edit calls take, plus the persistent button and the remix modal. No business rules live here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot import chat
from bot.chat import ACTIONS, BUTTON_PREFIX, Button, ButtonStyle, Message, shorten
from bot.commands import REMIX_MOTION_MAX, REMIX_PROMPT_MAX, REPORT_REASON_MAX

# Discord's own limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
BUTTON_LABEL_MAX = 80
THREAD_NAME_MAX = 100

TONE_COLOURS: dict[str, discord.Colour] = {
    "info": discord.Colour.blurple(),
    "ok": discord.Colour.green(),
    "error": discord.Colour.red(),
}
BUTTON_STYLES: dict[str, discord.ButtonStyle] = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}
# The same id bot.chat.Button.custom_id writes, so clicks on messages posted before a restart still match.
CUSTOM_ID_TEMPLATE = (
    rf"{BUTTON_PREFIX}:(?P<action>{'|'.join(map(re.escape, ACTIONS))}):(?P<job_id>[1-9][0-9]*)"
    r"(?::(?P<variant>[1-9][0-9]*))?"
)


def progress_bar(fraction: float) -> str:
    """The shared text bar in a code span, so Discord keeps its width, e.g. ```████░░░░ 33%```."""
    return f"`{chat.progress_bar(fraction)}`"


def thread_name(name: str) -> str:
    """A thread name Discord accepts: one line, 1..100 characters."""
    flat = " ".join(name.split())
    return shorten(flat, THREAD_NAME_MAX) or "animation"


def _is_rich(message: Message, body: str) -> bool:
    # Short informational lines read best as plain text; anything with structure, a tone worth a
    # colour, or too long for a plain message becomes an embed.
    return bool(message.title or message.fields or message.footer) or message.tone != "info" or len(body) > CONTENT_MAX


def render_embed(message: Message, body: str) -> discord.Embed:
    """The message as one embed: title, description, fields, footer, colour by tone."""
    embed = discord.Embed(
        title=shorten(message.title, TITLE_MAX) if message.title else None,
        description=shorten(body, DESCRIPTION_MAX) if body else None,
        colour=TONE_COLOURS.get(message.tone, TONE_COLOURS["info"]),
    )
    if message.footer:
        embed.set_footer(text=shorten(message.footer, FOOTER_MAX))
    for field in message.fields[:FIELDS_MAX]:
        name = shorten(field.name, FIELD_NAME_MAX) or "\u200b"
        value = shorten(field.value, FIELD_VALUE_MAX) or "\u200b"
        if len(embed) + len(name) + len(value) > EMBED_TOTAL_MAX:
            break
        embed.add_field(name=name, value=value, inline=field.inline)
    return embed


def render(message: Message, *, editing: bool = False) -> dict[str, Any]:
    """Keyword arguments (``content``, ``embeds``, ``view``) for discord.py's send, follow-up and edit calls.

    ``content`` and ``embeds`` are always present, so an edit replaces what was there before (an
    embed that becomes plain text loses its embed). ``view`` is present when there are buttons,
    or as None for an edit (which removes old buttons); discord.py's follow-ups refuse a None view.
    """
    body = message.text
    if message.progress is not None:
        body = f"{progress_bar(message.progress)}\n{body}" if body else progress_bar(message.progress)
    kwargs: dict[str, Any]
    if _is_rich(message, body):
        kwargs = {"content": None, "embeds": [render_embed(message, body)]}
    else:
        # Discord refuses a message with neither content nor embeds.
        kwargs = {"content": body or "\u200b", "embeds": []}
    if message.buttons:
        kwargs["view"] = clip_view(message.buttons)
    elif editing:
        kwargs["view"] = None
    return kwargs


# --- buttons ------------------------------------------------------------------------------------

ButtonHandler = Callable[[discord.Interaction, "ClipButton"], Awaitable[None]]


class ClipButton(discord.ui.DynamicItem[discord.ui.Button], template=CUSTOM_ID_TEMPLATE):  # type: ignore[misc]
    """A clip's Reroll/Remix/Approve/Reject/Delete button, matched by its custom id alone.

    Registered with ``Client.add_dynamic_items``, so a click on a message posted by an earlier
    process (before a restart) is still dispatched: everything needed is in the id, the rest
    comes from the database through the service.
    """

    def __init__(
        self, action: str, job_id: int, label: str = "", style: ButtonStyle = "secondary", variant: int | None = None
    ) -> None:
        self.action = action
        self.job_id = job_id
        button = Button(action, job_id, label or action.title(), style, variant)
        super().__init__(
            discord.ui.Button(
                label=shorten(button.label, BUTTON_LABEL_MAX),
                style=BUTTON_STYLES.get(style, discord.ButtonStyle.secondary),
                custom_id=button.custom_id,
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ClipButton:
        label = getattr(item, "label", None) or ""
        variant = int(match["variant"]) if match["variant"] else None
        return cls(match["action"], int(match["job_id"]), label, variant=variant)

    async def callback(self, interaction: discord.Interaction) -> None:
        handler: ButtonHandler | None = getattr(interaction.client, "on_clip_button", None)
        if handler is None:  # a plain client without the adapter: nothing can answer
            return
        await handler(interaction, self)


def clip_view(buttons: tuple[Button, ...]) -> discord.ui.View:
    """A never-expiring view holding one persistent button per neutral Button (5 to a row); a set's takes get
    a row each, the set's own buttons the row after them."""
    view = discord.ui.View(timeout=None)
    takes = max((b.variant or 0 for b in buttons), default=0)
    rest = 0
    for button in buttons[:25]:
        item = ClipButton(button.action, button.job_id, button.label, button.style, button.variant)
        if button.variant is not None:
            item.row = button.variant - 1
        else:
            item.row = min(takes + rest // 5, 4)
            rest += 1
        view.add_item(item)
    return view


# --- remix modal ----------------------------------------------------------------------------------

RemixHandler = Callable[[discord.Interaction, int, str, str], Awaitable[None]]


class RemixModal(discord.ui.Modal):
    """Prompt and motion text inputs, prefilled from the job being remixed."""

    def __init__(self, job_id: int, prompt: str, motion: str, on_submit: RemixHandler, *, nonce: int = 0) -> None:
        # The interaction id in the custom id keeps two people remixing one job apart.
        super().__init__(
            title=shorten(f"Remix #{job_id}", 45), timeout=900, custom_id=f"{BUTTON_PREFIX}-remix:{job_id}:{nonce}"
        )
        self.job_id = job_id
        self._on_submit = on_submit
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Prompt (key:value tokens work here too)",
            style=discord.TextStyle.paragraph,
            default=shorten(prompt, REMIX_PROMPT_MAX) or None,
            required=False,
            max_length=REMIX_PROMPT_MAX,
        )
        self.motion: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Motion",
            placeholder="zoom-in@0.8+pan-left, or none",
            default=shorten(motion, REMIX_MOTION_MAX) or None,
            required=False,
            max_length=REMIX_MOTION_MAX,
        )
        self.add_item(self.prompt)
        self.add_item(self.motion)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._on_submit(interaction, self.job_id, self.prompt.value or "", self.motion.value or "")


# --- report modal ---------------------------------------------------------------------------------

ReportHandler = Callable[[discord.Interaction, int, str], Awaitable[None]]


class ReportModal(discord.ui.Modal):
    """One short text input: why the clip is being reported."""

    def __init__(self, job_id: int, on_submit: ReportHandler, *, nonce: int = 0) -> None:
        super().__init__(
            title=shorten(f"Report #{job_id}", 45), timeout=900, custom_id=f"animatebot-report:{job_id}:{nonce}"
        )
        self.job_id = job_id
        self._on_submit = on_submit
        self.reason: discord.ui.TextInput[ReportModal] = discord.ui.TextInput(
            label="Why should the admins look at this clip?",
            style=discord.TextStyle.short,
            placeholder="e.g. not safe for work, hateful, spam",
            required=True,
            max_length=REPORT_REASON_MAX,
        )
        self.add_item(self.reason)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._on_submit(interaction, self.job_id, self.reason.value or "")
