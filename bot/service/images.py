"""Images people animate: where one may come from, and turning it into a stored still for a job.

A path typed as ``image:`` is read from this host's disk, so only the console (the person at the
keyboard runs the bot) may use one; chat platforms hand over the downloaded file as a
``bot.chat.ImageFile``. Either way the bytes are checked by ``generation.media.image`` and stored
under the media folder before the job is written, so nothing half-made is ever queued.
"""

from __future__ import annotations

from pathlib import Path

from bot.chat import ImageFile
from generation.media.image import MAX_IMAGE_BYTES, ImageError, check_image, store_image

LOCAL_FILE_PLATFORMS = frozenset({"console"})


class ImageRefused(Exception):
    """An image that will not be animated; ``str(e)`` is one line for the person who sent it."""


def take_image(image: object, platform: str, media_dir: Path) -> tuple[str, tuple[str, ...]]:
    """Check ``image`` (a typed path or an ImageFile) and store it; returns (stored path, notes for the sender).

    Raises ImageRefused for a path typed outside the console, a missing or unreadable file, a
    failed download, or anything generation.media.image refuses.
    """
    if isinstance(image, str):
        data, name = _read_local(image, platform)
    elif isinstance(image, ImageFile):
        if image.error:
            raise ImageRefused(image.error)
        data, name = image.data, image.filename
    else:
        raise ImageRefused("image: needs an image file")
    try:
        checked = check_image(data, name)
    except ImageError as exc:
        raise ImageRefused(str(exc)) from None
    return str(store_image(checked, media_dir)), checked.notes


def _read_local(text: str, platform: str) -> tuple[bytes, str]:
    if platform not in LOCAL_FILE_PLATFORMS:
        raise ImageRefused(
            f"image: takes a file path only in the console (got {text[:60]!r}); here, attach the image with "
            "/animate's image option or use the Animate image menu on a message"
        )
    path = Path(text).expanduser()
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImageRefused(f"{text!r} is not a file; image: needs an image file, e.g. image:photo.png")
        if size > MAX_IMAGE_BYTES:
            raise ImageRefused(
                f"{path.name!r} is {size / 1024 / 1024:.1f} MB; images may be at most {MAX_IMAGE_BYTES // 1024 // 1024} MB"
            )
        return path.read_bytes(), path.name
    except FileNotFoundError:
        raise ImageRefused(f"there is no file {text!r}; image: needs an image file, e.g. image:photo.png") from None
    except OSError as exc:
        raise ImageRefused(f"cannot read {text!r}: {exc.strerror or exc}") from None
