"""The "Animate this image" message shortcut: a modal for prompt and motion, then /animate with the image.

Translation only. The shortcut opens a modal (the image file's URL rides in its private_metadata);
the submission fetches the file from Slack's file host with the bot token (``files:read``), never
from anywhere else, and hands it to the service as the ``image`` option of ``animate``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import CommandHandler, Invocation, Message, Place
from bot.commands import form_for
from bot.platforms.download import fetch_image, origin
from bot.platforms.slack.inbound import SlackInbound, form_view, private_conversation
from bot.settings import Settings

log = logging.getLogger("animatebot.slack")

IMAGE_SHORTCUT = "animatebot_animate_image"  # the message shortcut's callback_id (slack-manifest.yml)
IMAGE_CALLBACK = "animatebot_image_modal"
FILE_ORIGINS = frozenset({"https://files.slack.com"})


def first_image_file(message: dict[str, Any]) -> dict[str, Any] | None:
    """The first file of ``message`` that is an image and has a private URL."""
    for file in message.get("files") or []:
        if str(file.get("mimetype") or "").startswith("image/") and file.get("url_private"):
            return dict(file)
    return None


class SlackImages:
    """Listeners for the image shortcut and its modal, beside the adapter's SlackInbound (whose request
    bookkeeping it shares); given the client, the handler and the settings it needs."""

    def __init__(self, inbound: SlackInbound, handler: CommandHandler, client: AsyncWebClient, settings: Settings):
        self.inbound = inbound
        self._handler = handler
        self._client = client
        self._config = settings

    def register(self, app: Any) -> None:
        app.shortcut(IMAGE_SHORTCUT)(self._on_shortcut)
        app.view(IMAGE_CALLBACK)(self._on_submit)

    def allowed_origins(self) -> frozenset[str]:
        base = self._config.slack_api_base_url
        return FILE_ORIGINS | ({origin(base)} if base else set())

    async def _on_shortcut(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        trigger_id = str(body.get("trigger_id") or "")
        if not self.inbound.first_time(trigger_id):
            return
        channel = str((body.get("channel") or {}).get("id") or "")
        team = str((body.get("team") or {}).get("id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        place = Place("slack", channel, team)
        file = first_image_file(body.get("message") or {})
        if file is None:
            text = "that message has no image file; use Animate this image on a message with a picture"
            await self.inbound.ephemeral(place, user, Message(text, tone="error"), body.get("response_url"))
            return
        meta = {
            "channel": channel,
            "team": team,
            "private": private_conversation(channel, str((body.get("channel") or {}).get("name") or "")),
            "url": str(file["url_private"]),
            "name": str(file.get("name") or file.get("title") or "image"),
            "size": file.get("size"),
        }
        try:
            await self._client.views_open(trigger_id=trigger_id, view=image_view(meta))
        except SlackApiError as exc:
            log.warning("could not open the Animate this image dialog: %s", exc.response.get("error"))

    async def _on_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        if not self.inbound.first_time(f"view:{view.get('id')}:{view.get('hash')}"):
            return
        meta = json.loads(view.get("private_metadata") or "{}")
        values = (view.get("state") or {}).get("values") or {}
        prompt = str(((values.get("prompt") or {}).get("value") or {}).get("value") or "")
        motion = str(((values.get("motion") or {}).get("value") or {}).get("value") or "").strip()
        channel = str(meta.get("channel", ""))
        place = Place(
            "slack", channel, str(meta.get("team", "")), private_channel_id=channel if meta.get("private") else None
        )
        user = body.get("user") or {}
        inv = await self.inbound.invocation(str(user.get("id", "")), str(user.get("username") or ""), place, None, "")
        await self._animate(inv, meta, prompt, motion)  # Bolt runs the listener on after the ack

    async def _animate(self, inv: Invocation, meta: dict[str, Any], prompt: str, motion: str) -> None:
        token = self._config.slack_bot_token.get_secret_value() if self._config.slack_bot_token else ""
        size = meta.get("size")
        image = await fetch_image(
            str(meta.get("url", "")),
            str(meta.get("name", "image")),
            allowed_origins=self.allowed_origins(),
            platform="Slack",
            timeout_s=self._config.image_download_timeout_s,
            headers={"Authorization": f"Bearer {token}"},
            size=int(size) if isinstance(size, int) else None,
        )
        options: dict[str, object] = {"image": image}
        if motion:
            options["motion"] = motion
        await self._handler.handle_command(inv, "animate", prompt, options)


def image_view(meta: dict[str, Any]) -> dict[str, Any]:
    """The modal: prompt (required) and motion; ``meta`` (channel, team, the file) rides in private_metadata."""
    form = form_for("image", 0)
    assert form is not None
    return form_view(form, meta, IMAGE_CALLBACK)
