"""A second process that maps and LZW-encodes GIF frames beside the caller's (generation/media/gif.py).

Pillow's quantize and GIF encoder and numpy's bincount hold the GIL, so threads cannot share a
clip's work; a second process can. ``write_gif`` hands it frames (RGB bytes and the colours to map
them to) while the caller's thread fits the next palettes, and both take frames from one queue.

The process is started once, on the first GIF big enough to share, by ``subprocess`` (fork and an
immediate exec of a fresh interpreter: nothing of the caller, torch's threads included, is copied
into it) in its own session. It loads gif.py by its path (numpy and Pillow; not the package, whose
``__init__`` would load PyAV), says it is ready, and serves frames until its pipe closes, so it ends
with the caller. A clip never waits for it to start: until it is ready, clips are encoded on the caller's
thread alone. Any failure (it died, a reply timed out or made no sense) ends it and the caller
encodes the rest itself; after ``_MAX_FAILURES`` failures it is not started again.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import io
import os
import select
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

_REQUEST = struct.Struct("<IIII")  # width, height, frames, colours; then the colours (float64) and each frame's RGB
_REPLY = struct.Struct("<II")  # for each frame: colours, LZW bytes; then the colours (uint8 RGB) and the LZW data
_READY = b"R"
_PIPE_BYTES = 1 << 20  # Linux's default limit for an unprivileged pipe
_REPLY_TIMEOUT_S = 30.0  # one 512x512 frame takes ~12 ms; this only catches a process that hangs
_MAX_FAILURES = 3


class HelperError(Exception):
    """The helper process failed; the caller encodes the frame itself."""


class Helper:
    """The second process: ``send`` gives it frames, ``receive`` takes their colours and LZW data.

    One clip at a time holds ``lock`` (write_gif's sending thread takes it, its receiving thread
    releases it). Requests and replies are bigger than a pipe holds, so one thread sends while
    another receives.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        to_child, self._requests = os.pipe()
        self._replies, from_child = os.pipe()
        for fd in (self._requests, self._replies):
            # Room for a whole answer, so that the helper goes on with the next pair while the
            # caller's receiving thread waits for the GIL (Pillow holds it for ~5 ms at a time).
            with contextlib.suppress(AttributeError, OSError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)  # Linux only; elsewhere the default
        # This file run by its path: importing the package would load PyAV and imageio for nothing.
        code = (
            f"import runpy, sys; sys.path[:] = {sys.path!r}; "
            f"runpy.run_path({__file__!r}, run_name='gif_helper')['serve']({to_child}, {from_child})"
        )
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code],
                pass_fds=(to_child, from_child),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C at the console stops the bot, which closes the pipe
            )
        finally:
            os.close(to_child)
            os.close(from_child)
        self._ready = False
        self.closed = False
        # The pipes are closed when nothing refers to this any more, not in close(): another thread
        # may be about to read or write, and a number closed under it could be reused by a socket.
        weakref.finalize(self, _close_fds, self._requests, self._replies)

    def ready(self) -> bool:
        """Whether it has started and said so (never waits)."""
        if not self._ready and not self.closed and self._readable(0.0):
            if os.read(self._replies, 1) != _READY:
                self.close()
                return False
            self._ready = True
        return self._ready and not self.closed

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        """Wait until it is ready (tests, and callers who want it warm before the first clip)."""
        deadline = time.monotonic() + timeout_s
        while not self.ready() and not self.closed and time.monotonic() < deadline:
            self._readable(deadline - time.monotonic())
        return self.ready()

    def send(self, images: Sequence[Image.Image], centres: np.ndarray) -> None:
        """Ask for ``gif.encoded_frames(images, centres)``; ``receive`` answers requests in order. Raises HelperError."""
        try:
            centres = np.ascontiguousarray(centres, np.float64)
            width, height = images[0].size
            self._write(_REQUEST.pack(width, height, len(images), len(centres)) + centres.tobytes())
            for image in images:
                self._write(image.tobytes())
        except (OSError, ValueError) as exc:
            self.close()
            raise HelperError(str(exc)) from exc

    def receive(self, frames: int, count: int) -> list[tuple[np.ndarray, bytes]]:
        """The oldest unanswered request's ``frames`` answers: colours (``count`` of them) and LZW data. Raises HelperError."""
        try:
            answers = []
            for _ in range(frames):
                colours, size = _REPLY.unpack(self._read(_REPLY.size))
                if colours != count:
                    raise HelperError(f"the helper answered {colours} colours for {count}")
                table = np.frombuffer(self._read(3 * count), np.uint8).reshape(count, 3)
                answers.append((table, self._read(size)))
            return answers
        except (OSError, ValueError, struct.error, HelperError) as exc:
            self.close()
            raise HelperError(str(exc)) from exc

    def close(self) -> None:
        """End the process; a thread still writing to it or reading from it gets an error (HelperError)."""
        if self.closed:
            return
        self.closed = True
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def _readable(self, timeout_s: float) -> bool:
        # poll, not select: a bot with many sockets may hand out descriptors past select's 1024.
        poller = select.poll()
        poller.register(self._replies, select.POLLIN)
        return bool(poller.poll(max(0, int(timeout_s * 1000))))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.closed:
                raise HelperError("the helper was closed")
            view = view[os.write(self._requests, view) :]

    def _read(self, size: int) -> bytes:
        out = bytearray()
        deadline = time.monotonic() + _REPLY_TIMEOUT_S
        while len(out) < size:
            if self.closed:
                raise HelperError("the helper was closed")
            if not self._readable(deadline - time.monotonic()):
                raise HelperError(f"no reply from the helper in {_REPLY_TIMEOUT_S:.0f} s")
            chunk = os.read(self._replies, size - len(out))
            if not chunk:
                raise HelperError("the helper process ended")
            out += chunk
        return bytes(out)


_helper: Helper | None = None
_failures = 0
_enabled = True
_start_lock = threading.Lock()


def helper() -> Helper | None:
    """The running, ready helper (started on first call), or None: not ready yet, disabled, or given up on."""
    with _start_lock:
        current = _started()
        return current if current is not None and current.ready() else None


def core_free() -> bool:
    """Whether a core looks idle: the load average (which counts the caller) at least half a core under the cores.

    A second process only helps then: on a busy box its frames wait for a core, and the pipes and
    the frames both processes end up encoding cost more than they save (on 2 cores: 0.13-0.18 s a
    clip against 0.19-0.25 alone at load 1.2, slower than alone at load 1.5 and over).
    """
    return os.getloadavg()[0] < _cores() - 0.5


def start(wait_s: float = 0.0) -> bool:
    """Start the helper now if it may run, wait up to ``wait_s`` seconds for it, and say whether it is ready."""
    with _start_lock:
        current = _started()
    return current is not None and current.wait_ready(wait_s)


def helper_cpu_s() -> float:
    """CPU seconds the running helper has used so far (0 without one, or where /proc does not tell)."""
    current = _helper
    if current is None or current.closed:
        return 0.0
    try:
        with open(f"/proc/{current.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _started() -> Helper | None:
    """The helper, started if it may run and is not; under ``_start_lock``."""
    global _helper, _failures
    if _helper is not None and _helper.closed:
        _helper, _failures = None, _failures + 1
    if _helper is None and _enabled and _failures < _MAX_FAILURES and _cores() >= 2 and sys.executable:
        try:
            _helper = Helper()
        except OSError:
            _failures += 1
    return _helper if _enabled else None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def use_helper(enabled: bool) -> None:
    """Allow (the default; again after failures) or forbid the helper process; forbidding ends one that runs."""
    global _enabled, _helper, _failures
    with _start_lock:
        _enabled = enabled
        if enabled:
            _failures = 0
        elif _helper is not None:
            _helper.close()
            _helper = None


def _close_fds(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


@atexit.register
def _close() -> None:
    if _helper is not None:
        _helper.close()


def serve(requests: int, replies: int) -> None:
    """The helper's loop: read frames, answer their colours and LZW data, until the pipe closes."""
    encoded_frames = _gif_module().encoded_frames
    with io.FileIO(requests, "rb") as inp, io.FileIO(replies, "wb") as out:
        _send(out, _READY)
        while header := inp.read(_REQUEST.size):
            width, height, frames, count = _REQUEST.unpack(_exact(inp, header, _REQUEST.size))
            centres = np.frombuffer(_exact(inp, b"", 8 * 3 * count), np.float64).reshape(count, 3)
            images = [
                Image.frombytes("RGB", (width, height), _exact(inp, b"", 3 * width * height)) for _ in range(frames)
            ]
            for colours, data in encoded_frames(images, centres):
                _send(out, _REPLY.pack(len(colours), len(data)) + colours.tobytes() + data)


def _send(stream: io.FileIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[stream.write(view) or 0 :]


def _gif_module() -> ModuleType:
    """gif.py, loaded by its path (not through the package, whose __init__ loads PyAV and imageio)."""
    spec = importlib.util.spec_from_file_location("gif", Path(__file__).with_name("gif.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exact(stream: io.FileIO, start: bytes, size: int) -> bytes:
    data = bytearray(start)
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise SystemExit(0)  # the caller went away mid-frame
        data += chunk
    return bytes(data)
