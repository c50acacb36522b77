"""The one fake chat adapter: implements ``bot.chat.ChatAdapter`` in memory and records every call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.chat import Clip, Message, MessageRef, Place


@dataclass
class FakeChat:
    platform: str = "console"
    max_upload_bytes: int = 10 * 1024 * 1024
    supports_remix: bool = True
    posts: list[tuple[Place, Message]] = field(default_factory=list)
    edits: list[tuple[MessageRef, Message]] = field(default_factory=list)
    clips: list[tuple[Place, Message, Clip]] = field(default_factory=list)
    sets: list[tuple[Place, Message, tuple[Clip, ...]]] = field(default_factory=list)  # a set's takes, one message
    deleted: list[MessageRef] = field(default_factory=list)
    notes: list[tuple[str, Message]] = field(default_factory=list)
    _next: int = 0

    def _ref(self, place: Place) -> MessageRef:
        self._next += 1
        return MessageRef(place, str(self._next))

    async def post(self, place: Place, message: Message) -> MessageRef:
        self.posts.append((place, message))
        return self._ref(place)

    async def edit(self, ref: MessageRef, message: Message) -> None:
        self.edits.append((ref, message))

    async def start_thread(self, ref: MessageRef, name: str) -> Place | None:
        return ref.place.in_thread(ref.message_id)

    async def post_clip(self, place: Place, message: Message, clip: Clip) -> MessageRef:
        self.clips.append((place, message, clip))
        return self._ref(place)

    async def post_clips(self, place: Place, message: Message, clips: Sequence[Clip]) -> MessageRef:
        self.sets.append((place, message, tuple(clips)))
        return self._ref(place)

    async def delete(self, ref: MessageRef) -> None:
        self.deleted.append(ref)

    async def notify(self, place: Place, user_id: str, message: Message) -> None:
        self.notes.append((user_id, message))

    def link(self, ref: MessageRef) -> str | None:
        return None
