"""Whose clips a query may return: every clip query takes a ``Scope`` (STYLE.md rule 18).

A person sees through the bot only what the chat shows them: the clips of the server they are on,
less those made in private channels other than where they are; in a direct message, only their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_

from storage.models import Job


@dataclass(frozen=True)
class Scope:
    """One server's clips (``platform`` + ``workspace_id``), those private to ``channels`` included;
    or, with ``user_key``, one person's clips; or, with neither, every clip (``EVERYWHERE``: the host's
    operator at the command line, never someone in a chat)."""

    platform: str | None
    workspace_id: str = ""
    channels: tuple[str, ...] = ()  # where the viewer is (a thread and its channel): private clips of these show
    user_key: str | None = None

    @classmethod
    def server(cls, platform: str, workspace_id: str, *channels: str) -> Scope:
        return cls(platform, workspace_id, tuple(c for c in channels if c))

    @classmethod
    def person(cls, user_key: str) -> Scope:
        return cls(user_key.split(":", 1)[0], user_key=user_key)

    def conditions(self) -> list[Any]:
        """The WHERE conditions on ``jobs`` that keep a query inside this scope."""
        if self.user_key is not None:
            return [Job.user_key == self.user_key]
        if self.platform is None:
            return []
        return [
            Job.platform == self.platform,
            Job.workspace_id == self.workspace_id,
            or_(Job.private_channel.is_(None), Job.private_channel.in_(self.channels)),
        ]


EVERYWHERE = Scope(None)
