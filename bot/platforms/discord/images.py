"""Images into /animate on Discord: the attachment option, the "Animate image" message menu and its modal.

Translation only: which attachment of a message is the image, the modal asking for a prompt and a
motion, and fetching the file from Discord's CDN (bot.platforms.download). The service decides
whether the bytes are a usable image.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath

import discord

from bot.chat import ImageFile
from bot.platforms.discord.render import shorten
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


class AnimateImageModal(discord.ui.Modal):
    """Prompt and motion for animating an image picked from a message."""

    def __init__(self, attachment: discord.Attachment, on_submit: ImageSubmit, *, nonce: int = 0) -> None:
        super().__init__(title="Animate image", timeout=900, custom_id=f"animatebot-image:{nonce}")
        self.attachment = attachment
        self._on_submit = on_submit
        self.prompt: discord.ui.TextInput[AnimateImageModal] = discord.ui.TextInput(
            label="Prompt (key:value tokens work here too)",
            style=discord.TextStyle.paragraph,
            placeholder=shorten(f"what happens in {attachment.filename}, e.g. waves crashing strength:0.5", 100),
            required=True,
            max_length=4000,
        )
        self.motion: discord.ui.TextInput[AnimateImageModal] = discord.ui.TextInput(
            label="Motion", placeholder="zoom-in@0.8+pan-left, or leave empty", required=False, max_length=100
        )
        self.add_item(self.prompt)
        self.add_item(self.motion)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._on_submit(interaction, self.attachment, self.prompt.value or "", self.motion.value or "")
