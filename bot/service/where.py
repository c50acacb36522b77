"""Where the bot may be used at all: the servers its owner allows, and whether it takes direct messages.

Checked first at every entry point (command, button, form), before anything is parsed or stored, so a
refusal here writes nothing: no job, no audit row.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bot.chat import Message, Place
from bot.service import replies

# The console is the terminal of whoever runs the bot: no server to allow and no one else's messages.
LOCAL_PLATFORMS = frozenset({"console"})


@dataclass(frozen=True)
class Where:
    """``allowed_servers``: Discord guild ids and Slack team ids (empty: anywhere); ``direct_messages``: on/off."""

    allowed_servers: Collection[str] = frozenset()
    direct_messages: bool = False

    def allows_server(self, server_id: str) -> bool:
        return not self.allowed_servers or server_id in self.allowed_servers

    def refusal(self, place: Place) -> Message | None:
        """The one line that refuses anything in ``place``, or None where the bot may be used."""
        if place.platform in LOCAL_PLATFORMS:
            return None
        if place.is_dm and not self.direct_messages:
            return replies.direct_messages_off(place.platform)
        # A Discord DM belongs to no guild; a Slack DM belongs to its workspace, which must be allowed.
        if (place.workspace_id or not place.is_dm) and not self.allows_server(place.workspace_id):
            return replies.server_not_allowed(place.platform)
        return None
