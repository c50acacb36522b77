"""GIF local colour tables: every frame gets a palette refined for it (generation.media.encode)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from generation.media import gif_helper
from generation.media.encode import clip_palette, encode_clip, frame_palettes
from generation.media.gif import (
    encoded_frames,
    fitted_centres,
    lookup_image,
    mapped_frames,
    settled_colours,
    true_colours,
    write_gif,
)


@pytest.fixture
def gif_helper_process() -> Iterator[None]:
    """The real helper process, started and ready; ended afterwards."""
    gif_helper.use_helper(True)
    assert gif_helper.start(wait_s=60)
    yield
    gif_helper.use_helper(False)
    gif_helper.use_helper(True)


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


def test_a_shared_palette_far_from_the_frame_is_pulled_onto_its_colours() -> None:
    # Two colours, and a shared palette of far-away ones: the file reproduces the frame exactly.
    frame = Image.fromarray(np.tile(np.array([[10, 200, 30], [12, 198, 35]], np.uint8), (16, 8, 1)))
    far = Image.new("P", (1, 1))
    far.putpalette(bytes([255, 0, 255] * 4 + [0, 0, 0] * 4))
    flipped = frame.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    shown = decoded(write_gif([frame, flipped], [100, 100], far))
    assert np.array_equal(shown[0], np.asarray(frame)) and np.array_equal(shown[1], np.asarray(flipped))
    # More distinct colours than entries: every entry ends up used.
    (colours,) = frame_palettes([gradient_zoom(count=2, size=32)[0]], far)
    assert len(np.unique(colours, axis=0)) == 8


def pairs(frames: list[Image.Image]) -> list[list[Image.Image]]:
    return [frames[i : i + 2] for i in range(0, len(frames), 2)]


def test_the_file_holds_each_frame_mapped_to_its_pairs_fitted_colours() -> None:
    frames = gradient_zoom(count=6, size=64)
    ours = decoded(encode_clip(frames, fps=8).data)
    mapped = [
        (frame, colours)
        for pair, centres in zip(pairs(frames), fitted_centres(frames, clip_palette(frames)), strict=True)
        for frame, colours in mapped_frames(pair, centres)
    ]
    for i, (indexed, colours) in enumerate(mapped):
        assert np.array_equal(colours.astype(np.float64)[np.asarray(indexed)], ours[i]), i


def test_a_lookup_warm_from_the_first_frame_of_a_pair_maps_the_second_as_a_fresh_one_would() -> None:
    # mapped_frames maps both frames of a pair through one lookup image, whose nearest-colour cache
    # the first frame filled; the cache only remembers answers, so the second maps as if fresh.
    frames = gradient_zoom(count=6, size=64)
    for pair, centres in zip(pairs(frames), fitted_centres(frames, clip_palette(frames)), strict=True):
        (_, _), (second, _) = mapped_frames(pair, centres)
        fresh = pair[1].quantize(palette=lookup_image(centres), dither=Image.Dither.NONE)
        assert np.array_equal(np.asarray(second), np.asarray(fresh))


def test_the_helper_process_encodes_as_this_one_and_write_gif_gives_the_same_bytes(gif_helper_process) -> None:
    # 16 frames of 256x256: big enough to share (write_gif shares clips of a million pixels or more).
    frames = [f.resize((256, 256)) for f in gradient_zoom(count=16, size=64)]
    palette = clip_palette(frames)
    helper = gif_helper.helper()
    assert helper is not None
    centres = next(fitted_centres(frames, palette))
    with helper.lock:
        helper.send(frames[:2], centres)
        answers = helper.receive(2, len(centres))
    expected = encoded_frames(frames[:2], centres)
    assert [(c.tolist(), d) for c, d in answers] == [(c.tolist(), d) for c, d in expected]

    shared = write_gif(frames, [125] * 16, palette, share=True)
    assert write_gif(frames, [125] * 16, palette, share=False) == shared
    with helper.lock:  # busy with another clip: write_gif encodes alone
        assert write_gif(frames, [125] * 16, palette, share=True) == shared


def test_a_helper_that_died_is_noticed_and_clips_are_encoded_without_it(gif_helper_process) -> None:
    frames = [f.resize((256, 256)) for f in gradient_zoom(count=16, size=64)]
    palette = clip_palette(frames)
    helper = gif_helper.helper()
    assert helper is not None
    alone = write_gif(frames, [125] * 16, palette, share=False)
    helper.process.kill()
    helper.process.wait()
    with helper.lock, pytest.raises(gif_helper.HelperError):
        helper.send(frames[:2], next(fitted_centres(frames, palette)))
    assert helper.closed
    assert write_gif(frames, [125] * 16, palette, share=True) == alone
    assert gif_helper.helper() is not helper


def test_the_file_gets_the_mean_colour_of_the_pixels_each_entry_maps() -> None:
    frames = gradient_zoom(count=4, size=64)
    for pair, centres in zip(pairs(frames), fitted_centres(frames, clip_palette(frames, 32)), strict=True):
        frame = pair[0]
        indexed = frame.quantize(palette=lookup_image(centres), dither=Image.Dither.NONE)
        source = np.asarray(frame).astype(np.float64)
        refined = true_colours(centres).astype(np.float64)[np.asarray(indexed)]
        settled = true_colours(settled_colours(centres, indexed, frame)).astype(np.float64)[np.asarray(indexed)]
        assert psnr(source, settled) > psnr(source, refined), (psnr(source, settled), psnr(source, refined))
