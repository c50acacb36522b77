"""GIF local colour tables: every frame gets a palette refined for it (generation.media.encode)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from generation.media.encode import clip_palette, encode_clip, frame_palettes
from generation.media.gif import lookup_image, settled_colours, true_colours


def gradient_zoom(count: int = 8, size: int = 96) -> list[Image.Image]:
    """A slow move from a blue sky gradient into a warm sunset one: smooth colours that change over time."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    frames = []
    for i in range(count):
        t = i / (count - 1)
        sky = np.stack([40 + 60 * y, 90 + 90 * y, 200 + 50 * x * (1 - y)], -1)
        sunset = np.stack([230 - 40 * y, 90 + 100 * y * x, 40 + 30 * x], -1)
        frames.append(Image.fromarray(np.clip((1 - t) * sky + t * sunset, 0, 255).astype(np.uint8)))
    return frames


def image_descriptors(data: bytes) -> list[tuple[int, int]]:
    """(frame width, local colour table entries or 0) for each image in a GIF, read from its blocks."""
    assert data[:6] == b"GIF89a"
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    found = []
    while data[pos] != 0x3B:  # trailer
        if data[pos] == 0x21:  # extension: label, then data sub-blocks
            pos += 2
        else:
            assert data[pos] == 0x2C, hex(data[pos])
            width, packed = int.from_bytes(data[pos + 5 : pos + 7], "little"), data[pos + 9]
            entries = 2 ** ((packed & 7) + 1) if packed & 0x80 else 0
            found.append((width, entries))
            pos += 10 + 3 * entries + 1  # descriptor, local table, LZW minimum code size
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    return found


def decoded(data: bytes) -> list[np.ndarray]:
    with Image.open(io.BytesIO(data)) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")).astype(np.float64))
        return frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / ((a - b) ** 2).mean()))


def one_palette_gif(frames: list[Image.Image]) -> bytes:
    """What encode.py wrote before local colour tables: the shared palette mapping every frame."""
    palette = clip_palette(frames)
    indexed = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    out = io.BytesIO()
    indexed[0].save(out, "GIF", save_all=True, append_images=indexed[1:], duration=125, loop=0)
    return out.getvalue()


def test_every_frame_after_the_first_carries_its_own_colour_table() -> None:
    clip = encode_clip(gradient_zoom(), fps=8)
    descriptors = image_descriptors(clip.data)
    assert len(descriptors) == 8
    assert all(entries == 256 for _, entries in descriptors[1:]), descriptors


def test_local_palettes_beat_one_palette_on_every_frame_of_changing_gradients() -> None:
    frames = gradient_zoom()
    ours = decoded(encode_clip(frames, fps=8).data)
    shared = decoded(one_palette_gif(frames))
    for i, frame in enumerate(frames):
        source = np.asarray(frame).astype(np.float64)
        assert psnr(source, ours[i]) >= psnr(source, shared[i]) + 1.0, i


def test_frame_palettes_keep_the_palette_size_and_fit_each_frame() -> None:
    frames = gradient_zoom(count=4)
    shared = clip_palette(frames, 32)
    palettes = frame_palettes(frames, shared)
    assert [p.shape for p in palettes] == [(32, 3)] * 4
    assert all(p.min() >= 0 and p.max() <= 255 for p in palettes)
    # The last frame is warm: its palette moved towards red, away from the shared blue-to-red mix.
    shared_red = np.asarray(shared.getpalette(), np.float32).reshape(-1, 3)[:, 0].mean()
    assert palettes[-1][:, 0].mean() > shared_red + 10
    assert palettes[0][:, 2].mean() > palettes[-1][:, 2].mean() + 50  # the first frame is the blue sky


def test_colours_a_frame_does_not_use_move_to_colours_it_has() -> None:
    # A shared palette of far-away colours: after refinement every entry sits on a colour of the frame.
    frame = Image.fromarray(np.tile(np.array([[10, 200, 30], [12, 198, 35]], np.uint8), (16, 8, 1)))
    far = Image.new("P", (1, 1))
    far.putpalette(bytes([255, 0, 255] * 4 + [0, 0, 0] * 4))
    (palette,) = frame_palettes([frame], far)
    assert np.abs(palette - np.array([11, 199, 32])).max() <= 3


def test_reusing_a_frames_warm_lookup_for_the_next_frame_maps_as_a_fresh_lookup_would() -> None:
    # write_gif hands each frame's lookup (its nearest-colour cache warm) to the next frame's first
    # round; the cache only remembers answers, so every frame maps as through a fresh lookup.
    frames = gradient_zoom(count=6, size=64)
    shared = clip_palette(frames)
    ours = decoded(encode_clip(frames, fps=8).data)
    for i, (frame, centres) in enumerate(zip(frames, frame_palettes(frames, shared), strict=True)):
        fresh = frame.quantize(palette=lookup_image(centres), dither=Image.Dither.NONE)
        fresh.putpalette(true_colours(settled_colours(centres, fresh, frame)).tobytes())
        assert np.array_equal(np.asarray(fresh.convert("RGB")).astype(np.float64), ours[i]), i


def test_the_file_gets_the_mean_colour_of_the_pixels_each_entry_maps() -> None:
    frames = gradient_zoom(count=4, size=64)
    for frame, centres in zip(frames, frame_palettes(frames, clip_palette(frames, 32)), strict=True):
        indexed = frame.quantize(palette=lookup_image(centres), dither=Image.Dither.NONE)
        source = np.asarray(frame).astype(np.float64)
        refined = true_colours(centres).astype(np.float64)[np.asarray(indexed)]
        settled = true_colours(settled_colours(centres, indexed, frame)).astype(np.float64)[np.asarray(indexed)]
        assert psnr(source, settled) > psnr(source, refined), (psnr(source, settled), psnr(source, refined))
