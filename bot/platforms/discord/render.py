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
from bot.chat import ACTIONS, BUTTON_PREFIX, Button, ButtonStyle, Form, Message, shorten

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


ROW_MAX = 5  # buttons in one action row (Discord refuses a sixth)
ROWS_MAX = 5  # action rows in one message


def _chunks(buttons: list[Button]) -> list[list[Button]]:
    return [buttons[i : i + ROW_MAX] for i in range(0, len(buttons), ROW_MAX)]


def button_rows(buttons: tuple[Button, ...]) -> list[list[Button]]:
    """The buttons as Discord's action rows: a set's takes a row each (Pick, Vary), then the others five to a row.

    When that would need more than five rows, every button goes five to a row in order instead, and what does not
    fit in five rows (25 buttons) is left off, so Discord never refuses the message.
    """
    takes = sorted({b.variant for b in buttons if b.variant is not None})
    rows: list[list[Button]] = []
    for take in takes:
        rows += _chunks([b for b in buttons if b.variant == take])
    rows += _chunks([b for b in buttons if b.variant is None])
    if len(rows) > ROWS_MAX:
        rows = _chunks([b for row in rows for b in row])[:ROWS_MAX]
    return rows


def clip_view(buttons: tuple[Button, ...]) -> discord.ui.View:
    """A never-expiring view holding one persistent button per neutral Button, in :func:`button_rows`' rows."""
    view = discord.ui.View(timeout=None)
    for index, row in enumerate(button_rows(buttons)):
        for button in row:
            item = ClipButton(button.action, button.job_id, button.label, button.style, button.variant)
            item.row = index
            view.add_item(item)
    return view


# --- forms ---------------------------------------------------------------------------------------

FormHandler = Callable[[discord.Interaction, Form, dict[str, str]], Awaitable[None]]


class FormModal(discord.ui.Modal):
    """A neutral Form as a modal: one text input per field, prefilled."""

    def __init__(self, form: Form, on_submit: FormHandler, *, nonce: int = 0) -> None:
        # The interaction id in the custom id keeps two people filling one job's form apart.
        super().__init__(
            title=shorten(form.title, 45),
            timeout=900,
            custom_id=f"{BUTTON_PREFIX}-{form.action}:{form.job_id}:{nonce}",
        )
        self.form = form
        self._on_submit = on_submit
        self.inputs: dict[str, discord.ui.TextInput[FormModal]] = {}
        for field in form.fields[:5]:  # Discord takes five inputs per modal
            text_input: discord.ui.TextInput[FormModal] = discord.ui.TextInput(
                label=shorten(field.label, 45),
                style=discord.TextStyle.paragraph if field.multiline else discord.TextStyle.short,
                placeholder=shorten(field.placeholder, 100) or None,
                default=shorten(field.value, field.max_length) or None,
                required=not field.optional,
                max_length=min(field.max_length, 4000),
            )
            self.inputs[field.key] = text_input
            self.add_item(text_input)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._on_submit(interaction, self.form, {key: i.value or "" for key, i in self.inputs.items()})
