"""Checking, normalising, storing and fitting the images people animate (Pillow only)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from generation.media.image import ImageError, check_image, fit_image, load_still, store_image


def encoded(image: Image.Image, format: str = "PNG", **kw: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=format, **kw)
    return out.getvalue()


def test_a_big_photo_is_stored_small_upright_and_rgb() -> None:
    photo = Image.new("RGB", (3000, 1000), (10, 20, 30))
    exif = photo.getexif()
    exif[0x0112] = 6  # taken on its side: rotate 90 degrees to show upright
    checked = check_image(encoded(photo, "JPEG", exif=exif), "phone.jpg")
    with Image.open(io.BytesIO(checked.png)) as stored:
        assert stored.format == "PNG" and stored.mode == "RGB"
        assert stored.size == (checked.width, checked.height) == (341, 1024)
    assert checked.notes == ()


def test_transparency_becomes_white() -> None:
    checked = check_image(encoded(Image.new("RGBA", (8, 8), (255, 0, 0, 0))), "clear.png")
    with Image.open(io.BytesIO(checked.png)) as stored:
        assert stored.getpixel((4, 4)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "is empty"),
        (b"%PDF-1.7 not a picture", "is not an image this bot reads; send a PNG, JPEG, WEBP, GIF, BMP file"),
        (encoded(Image.new("RGB", (10, 4097))), "is 10x4097 pixels; images may be at most 4096 pixels a side"),
        (b"\x89PNG" + b"\0" * (20 * 1024 * 1024), "MB; images may be at most 20 MB"),
    ],
    ids=["empty", "not-an-image", "too-tall", "too-big"],
)
def test_bad_images_are_one_line_naming_the_file(data: bytes, problem: str) -> None:
    with pytest.raises(ImageError) as caught:
        check_image(data, "upload.png")
    assert problem in str(caught.value) and "\n" not in str(caught.value)
    assert "'upload.png'" in str(caught.value)


def test_stored_by_content_and_fitted_to_the_aspect(tmp_path: Path) -> None:
    checked = check_image(encoded(Image.new("RGB", (900, 300), (0, 200, 0))), "wide.png")
    first, again = store_image(checked, tmp_path), store_image(checked, tmp_path)
    assert first == again and first.parent == tmp_path / "inputs" and first.read_bytes() == checked.png
    still = load_still(first, 384, 680)  # 9:16 from a 3:1 picture: scaled to cover, centre cropped
    assert still.size == (384, 680) and still.getpixel((10, 10)) == (0, 200, 0)
    assert fit_image(Image.new("L", (50, 50)), 64, 32).mode == "RGB"
