"""The console flushes every message it prints: a line marked delivered is on its way to the
terminal, pipe or file, so a SIGKILL right after cannot take it back."""

from __future__ import annotations

import io
from pathlib import Path

from bot.chat import Button, Clip, Message, MessageRef, Place
from bot.platforms.console import ConsoleAdapter

PLACE = Place("console", "console")


class Pipe(io.StringIO):
    """A stream that remembers what had been flushed: like a pipe, the rest is lost on a kill."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed = ""

    def flush(self) -> None:
        super().flush()
        self.flushed = self.getvalue()


async def test_every_message_is_flushed_as_it_is_printed(tmp_path: Path) -> None:
    for interactive in (False, True):
        out = Pipe()
        console = ConsoleAdapter(out=out, interactive=interactive)
        ref = await console.post(PLACE, Message("queued #1, next in line"))
        assert out.flushed == out.getvalue() and "queued #1" in out.flushed
        await console.edit(ref, Message("#1 generating: step 1/4", progress=0.25))
        assert out.flushed == out.getvalue() and "step 1/4" in out.flushed
        clip = Clip(tmp_path / "000001-a-fox.gif", "image/gif", 2048)
        await console.post_clip(PLACE, Message("#1 a fox", buttons=(Button("approve", 1, "Approve"),)), clip)
        assert out.flushed == out.getvalue() and "clip:" in out.flushed and "approve 1" in out.flushed
        await console.edit(MessageRef(PLACE, ref.message_id), Message("done #1: clip posted"))
        await console.delete(ref)
        assert out.flushed == out.getvalue() and "done #1" in out.flushed and "deleted" in out.flushed
