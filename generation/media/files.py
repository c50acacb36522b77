"""Files written whole or not at all: a clip or an input image appears under its name only once complete."""

from __future__ import annotations

import os


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through ``path + ".part"`` and a rename, so that a crash never leaves half
    a file under the real name (a rerun overwrites the ``.part``).

    Plain ``os`` calls on ``str`` paths: the encode thread writes one file per clip, and ``pathlib``'s
    objects cost more interpreter time than the system calls (which release the interpreter lock).
    """
    target = os.fspath(path)
    part = target + ".part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # the umask applies, as for open()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(part, target)
