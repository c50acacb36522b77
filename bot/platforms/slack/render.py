"""Rendering neutral ``Message`` values as Slack Block Kit and mrkdwn.

Pure functions, no I/O: the Slack adapter calls them for every post, edit and ephemeral.
Slack's limits are enforced here (3000 characters per text section, 10 fields, 25 buttons)
so that a long prompt can never make a Web API call fail with ``invalid_blocks``.
"""

from __future__ import annotations

import re
from typing import Any

from bot.chat import BUTTON_PREFIX, Button, Message, progress_bar, shorten

SECTION_LIMIT = 3000  # characters in one section text object
FIELD_LIMIT = 2000  # characters in one section field
MAX_FIELDS = 10
MAX_BUTTONS = 25
FALLBACK_LIMIT = 3900  # chat.postMessage truncates text past 40k; keep notifications short

_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_TONE_MARK = {"ok": ":white_check_mark: ", "error": ":warning: "}
_STYLE = {"primary": "primary", "success": "primary", "danger": "danger"}


def escape(text: str) -> str:
    """Slack's three control characters escaped, so text typed by users (a prompt saying
    ``<!channel>``) shows as written and never pings or links anything."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """The inverse of ``escape``: Slack sends the text of a slash command with ``&``, ``<`` and ``>``
    as entities; the service gets what the person typed (mentions like ``<@U1|ada>`` are untouched)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mrkdwn(text: str) -> str:
    """Escaped text with common Markdown (``**bold**``, ``[label](url)``) as Slack mrkdwn
    (``*bold*``, ``<url|label>``); a ``>`` at a line start still quotes in Slack once escaped."""
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", escape(text))
    return _BOLD.sub(r"*\1*", text)


def headline(message: Message) -> str:
    """The one line that best names a message: its title, else the first line of its text."""
    mark = _TONE_MARK.get(message.tone, "")
    if message.title:
        return mark + f"*{mrkdwn(message.title)}*"
    first = message.text.strip().splitlines()[0] if message.text.strip() else ""
    return mark + mrkdwn(first)


def fallback_text(message: Message) -> str:
    """Plain mrkdwn for notifications and clients without Block Kit (the ``text`` argument)."""
    mark = _TONE_MARK.get(message.tone, "")
    if message.title:
        lines = [headline(message), mrkdwn(message.text)]
    else:
        lines = [mark + mrkdwn(message.text)] if message.text.strip() else []
    if message.progress is not None:
        lines.append(progress_bar(message.progress))
    lines.extend(f"{f.name}: {mrkdwn(f.value)}" for f in message.fields)
    if message.footer:
        lines.append(mrkdwn(message.footer))
    return shorten("\n".join(line for line in lines if line), FALLBACK_LIMIT) or " "


def button_element(button: Button) -> dict[str, Any]:
    """One Block Kit button; ``value`` carries the custom id so a click works after a restart."""
    element: dict[str, Any] = {
        "type": "button",
        # Unique within its message (Slack refuses repeats): a take's buttons carry its number.
        "action_id": f"{BUTTON_PREFIX}:{button.action}" + (f":{button.variant}" if button.variant else ""),
        "text": {"type": "plain_text", "text": shorten(button.label, 75), "emoji": True},
        "value": button.custom_id,
    }
    style = _STYLE.get(button.style)
    if style:
        element["style"] = style
    return element


def blocks(message: Message) -> list[dict[str, Any]]:
    """The message as Block Kit: headline, text, progress bar, fields, footer, buttons."""
    out: list[dict[str, Any]] = []
    mark = _TONE_MARK.get(message.tone, "")
    if message.title:
        combined = "\n".join(part for part in (headline(message), mrkdwn(message.text).strip()) if part)
    else:
        combined = mark + mrkdwn(message.text).strip() if message.text.strip() else ""
    if combined:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": shorten(combined, SECTION_LIMIT)}})
    if message.progress is not None:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": progress_bar(message.progress)}]})
    if message.fields:
        fields = [
            {"type": "mrkdwn", "text": shorten(f"*{f.name}*\n{mrkdwn(f.value)}", FIELD_LIMIT)}
            for f in message.fields[:MAX_FIELDS]
        ]
        out.append({"type": "section", "fields": fields})
    if message.footer:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": shorten(mrkdwn(message.footer), 3000)}]})
    shown = message.buttons[:MAX_BUTTONS]
    for take in sorted({b.variant for b in shown if b.variant is not None}):  # a row of buttons per take
        row = [button_element(b) for b in shown if b.variant == take]
        out.append({"type": "actions", "block_id": f"animatebot_take_{take}", "elements": row})
    rest = [b for b in shown if b.variant is None]
    if rest:
        out.append({"type": "actions", "block_id": "animatebot_actions", "elements": [button_element(b) for b in rest]})
    return out
