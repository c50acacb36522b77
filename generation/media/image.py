"""Images in: check what a person sent, normalise it for storage, and fit it to a clip's size.

Pillow only (no torch), so the service can refuse a bad image before anything is queued. A
checked image is stored as an RGB PNG no larger than STORED_MAX_SIDE a side, under a name made
from its content, so a job, its rerolls and a restart mid-queue all find the same file.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from generation.media.files import write_atomically

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_SIDE = 4096
STORED_MAX_SIDE = 1024  # the largest aspect preset is 680 px wide; more would only cost disk
FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
INPUTS_FOLDER = "inputs"


class ImageError(ValueError):
    """An image that cannot be used; ``str(e)`` is one line naming the file and what is allowed."""


@dataclass(frozen=True)
class CheckedImage:
    """An image that passed the checks, as a normalised PNG, with anything worth telling its sender."""

    png: bytes
    width: int
    height: int
    notes: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.png).hexdigest()


def _name(name: str) -> str:
    text = " ".join(name.split())[:60] or "the image"
    return text if text == "the image" else repr(text)


def check_image(data: bytes, name: str = "the image") -> CheckedImage:
    """Validate ``data`` as a still image and normalise it (RGB, upright, at most STORED_MAX_SIDE a side).

    Raises ImageError for an empty file, more than MAX_IMAGE_BYTES, something Pillow cannot read
    as one of FORMATS, a side over MAX_IMAGE_SIDE, or a damaged file. An animated image is
    accepted: its first frame is used and a note says so.
    """
    shown = _name(name)
    allowed = ", ".join(FORMATS)
    if not data:
        raise ImageError(f"{shown} is empty; send a {allowed} image")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(
            f"{shown} is {len(data) / 1024 / 1024:.1f} MB; images may be at most {MAX_IMAGE_BYTES // 1024 // 1024} MB"
        )
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
            width, height = image.size  # read from the header: nothing decoded yet
            if max(width, height) > MAX_IMAGE_SIDE:
                raise ImageError(
                    f"{shown} is {width}x{height} pixels; images may be at most {MAX_IMAGE_SIDE} pixels a side"
                )
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)
                notes.append(f"{shown} is animated; its first frame is used")
            image.load()
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{shown} is not an image this bot reads; send a {allowed} file") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{shown} could not be read (damaged or cut short: {exc}); send it again") from None
    upright = _rgb(ImageOps.exif_transpose(image))
    upright.thumbnail((STORED_MAX_SIDE, STORED_MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    upright.save(out, format="PNG", optimize=False)
    return CheckedImage(out.getvalue(), upright.width, upright.height, tuple(notes))


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent parts become white, not whatever colour the transparent pixels happen to hold.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def store_image(image: CheckedImage, media_dir: Path) -> Path:
    """Write ``image`` under ``media_dir/inputs/`` (named by content, written atomically); returns its path."""
    folder = Path(media_dir) / INPUTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{image.digest[:32]}.png"
    if not path.exists():
        write_atomically(path, image.png)
    return path


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """``image`` scaled to cover ``width`` x ``height`` and centre-cropped to exactly that size (RGB)."""
    return ImageOps.fit(_rgb(image), (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def load_still(path: str | Path, width: int, height: int) -> Image.Image:
    """The stored (or local) image at ``path``, checked again and fitted to the clip's size.

    Raises ImageError when the file is gone or no longer a usable image.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"the input image {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    checked = check_image(data, Path(path).name)
    with Image.open(io.BytesIO(checked.png)) as image:
        return fit_image(image, width, height)
