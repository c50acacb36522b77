"""Images into /animate on Discord: the attachment option, the "Animate image" message menu and its modal.

Translation only: which attachment of a message is the image, the modal asking for a prompt and a
motion, and fetching the file from Discord's CDN (bot.platforms.download). The service decides
whether the bytes are a usable image.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath

import discord

from bot.chat import Form, ImageFile
from bot.commands import form_for
from bot.platforms.discord.render import FormModal
from bot.platforms.download import fetch_image, origin

# Where Discord serves attachments; an API base set for a proxy or a fake is trusted the same way.
CDN_ORIGINS = frozenset({"https://cdn.discordapp.com", "https://media.discordapp.net"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})

ImageSubmit = Callable[[discord.Interaction, discord.Attachment, str, str], Awaitable[None]]


def allowed_origins(api_base: str | None) -> frozenset[str]:
    return CDN_ORIGINS | ({origin(api_base)} if api_base else set())


def is_image(attachment: discord.Attachment) -> bool:
    if attachment.content_type:
        return attachment.content_type.split(";")[0].strip().lower().startswith("image/")
    return PurePosixPath(attachment.filename.lower()).suffix in IMAGE_SUFFIXES


def first_image(message: discord.Message) -> discord.Attachment | None:
    """The first image attached to ``message`` (embeds of links are not files people uploaded)."""
    return next((a for a in message.attachments if is_image(a)), None)


async def fetch_attachment(attachment: discord.Attachment, *, api_base: str | None, timeout_s: float) -> ImageFile:
    """The attachment's bytes from Discord's CDN (size checked first), or an ImageFile saying why not."""
    return await fetch_image(
        attachment.url,
        attachment.filename,
        allowed_origins=allowed_origins(api_base),
        platform="Discord",
        timeout_s=timeout_s,
        size=attachment.size,
    )


def image_modal(attachment: discord.Attachment, on_submit: ImageSubmit, *, nonce: int = 0) -> FormModal:
    """The table's image form as a modal, for an image picked from a message."""
    form = form_for("image", 0)
    assert form is not None

    async def submitted(interaction: discord.Interaction, _form: Form, values: dict[str, str]) -> None:
        await on_submit(interaction, attachment, values.get("prompt", ""), values.get("motion", ""))

    return FormModal(form, submitted, nonce=nonce)
