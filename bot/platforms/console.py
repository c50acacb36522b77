"""The console adapter: the same slash commands on standard input, the embedded default.

Interactive on a terminal (a prompt, a progress bar redrawn in place); piped, it handles
every line, waits at end of input for every accepted job to finish, and returns. Button
clicks are typed as words: ``approve 3``, ``reject 3``, ``reroll 3``, ``delete 3``,
``smooth 3``, ``upscale 3``, ``extend 3``, ``remix 3 <new prompt or key:value changes>``, ``report 3 <reason>``, ``reveal 3``.
"""

from __future__ import annotations

import asyncio
import itertools
import shlex
import sys
from dataclasses import dataclass, field
from typing import TextIO

from bot.chat import ACTIONS, Actor, Button, Clip, CommandHandler, Invocation, Message, MessageRef, Place, progress_bar
from bot.commands import CommandError, split_line

PLATFORM = "console"
CHANNEL = "console"
CONSOLE_UPLOAD_LIMIT = 100 * 1024 * 1024  # nothing is uploaded: the file stays in the media folder


@dataclass
class ConsoleAdapter:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    interactive: bool = False
    platform: str = PLATFORM
    max_upload_bytes: int = CONSOLE_UPLOAD_LIMIT
    supports_remix: bool = True
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _bar_open: bool = False

    def _print(self, text: str) -> None:
        if self._bar_open:
            self.out.write("\n")
            self._bar_open = False
        self.out.write(text + "\n")
        self.out.flush()

    def _ref(self, place: Place) -> MessageRef:
        return MessageRef(place, str(next(self._ids)))

    async def post(self, place: Place, message: Message) -> MessageRef:
        actions = _actions(message.buttons)
        self._print(f"{message.plain()}\n{actions}" if actions else message.plain())
        return self._ref(place)

    async def edit(self, ref: MessageRef, message: Message) -> None:
        if message.progress is None:
            self._print(message.plain())
            return
        line = f"{message.text.splitlines()[0]} {progress_bar(message.progress)}"
        if self.interactive:  # redraw one line in place
            self.out.write("\r" + line)
            self.out.flush()
            self._bar_open = True
        else:
            self._print(line)

    async def start_thread(self, ref: MessageRef, name: str) -> Place | None:
        return ref.place.in_thread(ref.message_id)

    async def post_clip(self, place: Place, message: Message, clip: Clip) -> MessageRef:
        self._print(f"{message.plain()}\nclip: {clip.path} ({clip.size / 1024:.0f} KiB)\n{_actions(message.buttons)}")
        return self._ref(place)

    async def delete(self, ref: MessageRef) -> None:
        self._print(f"(message {ref.message_id} deleted)")

    async def notify(self, place: Place, user_id: str, message: Message) -> None:
        self._print(message.plain())

    def link(self, ref: MessageRef) -> str | None:
        return None


def _actions(buttons: tuple[Button, ...]) -> str:
    if not buttons:
        return ""
    return "actions: " + ", ".join(f"{b.action} {b.job_id}" for b in buttons)


@dataclass
class ConsoleResponder:
    adapter: ConsoleAdapter
    place: Place

    async def reply(self, message: Message, *, ephemeral: bool = False) -> MessageRef | None:
        return await self.adapter.post(self.place, message)


async def _read_lines(stream: TextIO) -> asyncio.Queue[str | None]:
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def pump() -> None:
        for line in stream:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    loop.run_in_executor(None, pump)
    return lines


async def run_console(
    handler: CommandHandler,
    adapter: ConsoleAdapter,
    *,
    user: str = "you",
    admin: bool = False,
    stdin: TextIO | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Read commands until end of input (or ``stop``) and hand each to ``handler``; returns 0.

    Waiting for the accepted jobs afterwards is the caller's (``animatebot run`` does).
    """
    stream = stdin if stdin is not None else sys.stdin
    actor = Actor(PLATFORM, user.lower(), user, platform_admin=admin)
    place = Place(PLATFORM, CHANNEL)
    invocation = Invocation(actor, place, ConsoleResponder(adapter, place))
    lines = await _read_lines(stream)
    stop = stop or asyncio.Event()
    if adapter.interactive:
        adapter._print("animatebot console: type /animate-help; Ctrl-D to quit")
    while not stop.is_set():
        getter = asyncio.ensure_future(lines.get())
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if getter not in done:
            getter.cancel()
            return 0
        line = getter.result()
        if line is None:
            break
        await handle_line(handler, invocation, line)
    return 0


async def handle_line(handler: CommandHandler, inv: Invocation, line: str) -> None:
    """One console line: a slash command, or a typed button click."""
    line = line.strip()
    if not line or line.startswith("#"):
        return
    if line.startswith("/"):
        try:
            name, text = split_line(line)
        except CommandError as exc:
            await inv.responder.reply(Message(str(exc), tone="error"), ephemeral=True)
            return
        await handler.handle_command(inv, name, text)
        return
    word, _, rest = line.partition(" ")
    action = word.lower()
    job_text, _, changes = rest.strip().partition(" ")
    job_id = job_text.lstrip("#")
    if action not in ACTIONS or not job_id.isdigit():
        await inv.responder.reply(
            Message(
                f"unknown input {shlex.quote(line[:40])}: type a /command (see /animate-help) "
                f"or an action with a job number: {', '.join(a + ' 3' for a in ACTIONS)}",
                tone="error",
            ),
            ephemeral=True,
        )
        return
    if action == "remix":
        await handler.handle_remix(inv, int(job_id), changes)
    elif action == "report":
        await handler.handle_report(inv, int(job_id), changes)
    else:
        await handler.handle_button(inv, Button(action, int(job_id), action).custom_id)
