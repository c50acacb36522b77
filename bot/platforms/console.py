"""The console adapter: the same slash commands on standard input, the embedded default.

Interactive on a terminal (a prompt, a progress bar redrawn in place); piped, it handles
every line, waits at end of input for every accepted job to finish, and returns. Button
clicks are typed as words: ``approve 3``, ``reject 3``, ``reroll 3``, ``delete 3``,
``remix 3 <new prompt or key:value changes>``, ``report 3 <reason>``, ``reveal 3``, ``preset 3 <name>``
(a button that opens a form takes the form's first field after the job number), ``smooth 3``, ``upscale 3``,
``extend 3``, ``pick 3 2``, ``vary 3 [2] subtle|strong``.
"""

from __future__ import annotations

import asyncio
import itertools
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from bot.chat import ACTIONS, Actor, Button, Clip, CommandHandler, Invocation, Message, MessageRef, Place, progress_bar
from bot.commands import CommandError, form_for, split_line

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

    async def post_clips(self, place: Place, message: Message, clips: Sequence[Clip]) -> MessageRef:
        paths = "\n".join(f"clip {i}: {c.path} ({c.size / 1024:.0f} KiB)" for i, c in enumerate(clips, start=1))
        self._print(f"{message.plain()}\n{paths}\n{_actions(message.buttons)}")
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
    return "actions: " + ", ".join(_typed(b) for b in buttons)


def _typed(button: Button) -> str:
    """What to type for ``button``: ``reroll 3``, ``pick 3 2``, ``vary 3 2 subtle``."""
    take = f" {button.variant}" if button.variant is not None else ""
    if button.action.startswith("vary-"):
        return f"vary {button.job_id}{take} {button.action.removeprefix('vary-')}"
    return f"{button.action} {button.job_id}{take}"


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
    if action in ("pick", "vary"):
        await _take_action(handler, inv, action, rest.split())
        return
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
    form = form_for(action, int(job_id))
    if form is not None:
        # The console's form is the words after the job number: they fill the form's first field.
        await handler.submit_form(inv, action, int(job_id), {form.fields[0].key: changes})
    else:
        await handler.handle_button(inv, Button(action, int(job_id), action).custom_id)


async def _take_action(handler: CommandHandler, inv: Invocation, action: str, words: list[str]) -> None:
    """``pick <job> <take>``, ``vary <job> [<take>] subtle|strong``: a button of a set's take, typed."""
    usage = "pick <job> <take>" if action == "pick" else "vary <job> [<take>] subtle|strong"
    how = words.pop().lower() if action == "vary" and words else ""
    numbers = [w.lstrip("#") for w in words]
    wanted = 2 if action == "pick" else len(numbers)
    if (
        len(numbers) != wanted
        or not 1 <= wanted <= 2
        or not all(n.isdigit() and int(n) > 0 for n in numbers)
        or (action == "vary" and how not in ("subtle", "strong"))
    ):
        await inv.responder.reply(
            Message(f"usage: {usage} (e.g. {usage.split(' ')[0]} 3 2)", tone="error"), ephemeral=True
        )
        return
    name = "pick" if action == "pick" else f"vary-{how}"
    take = int(numbers[1]) if len(numbers) == 2 else None
    await handler.handle_button(inv, Button(name, int(numbers[0]), name, variant=take).custom_id)
