"""generation.media.encode: real GIF / MP4 / WebP files, decoded back and looked at."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.media.encode import DEFAULT_MAX_BYTES, EncodeAttempt, EncodeError, encode_clip
from generation.media.loop import apply_loop


def pan(count: int = 16, size: int = 128, seed: int = 1) -> list[Image.Image]:
    """A camera pan across a small made-up photo: gradients, lit shapes, grain."""
    rng = np.random.default_rng(seed)
    width, height = size + 4 * count, size + 2 * count
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([60 + 150 * y / height, 90 + 80 * x / width, 200 - 120 * y / height], -1)
    scene = Image.fromarray(np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(scene)
    for _ in range(12):
        cx, cy, r = (int(v) for v in rng.integers((0, 0, 6), (width, height, size // 4)))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    big = np.asarray(scene)
    return [Image.fromarray(big[2 * i : 2 * i + size, 4 * i : 4 * i + size].copy()) for i in range(count)]


def gif_frames(data: bytes) -> tuple[list[np.ndarray], list[int], int | None]:
    """Decoded RGB frames, per-frame durations in ms, and the loop count written in the file."""
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "GIF"
        frames, durations = [], []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
            durations.append(im.info["duration"])
        return frames, durations, im.info.get("loop")


def psnr(source: list[Image.Image], decoded: list[np.ndarray]) -> float:
    a = np.stack([np.asarray(f) for f in source]).astype(np.float64)
    b = np.stack(decoded).astype(np.float64)
    return float(10 * np.log10(255**2 / ((a - b) ** 2).mean()))


def test_gif_loops_forever_keeps_fps_and_looks_like_its_source() -> None:
    frames = pan()
    clip = encode_clip(frames, fps=8)

    assert (clip.format, clip.mime_type, clip.extension) == ("gif", "image/gif", ".gif")
    assert (clip.width, clip.height, clip.frames, clip.fps, clip.changes) == (128, 128, 16, 8, ())
    assert clip.data.startswith(b"GIF89a") and clip.size == len(clip.data) <= DEFAULT_MAX_BYTES
    decoded, durations, loop = gif_frames(clip.data)
    assert len(decoded) == 16 and decoded[0].shape == (128, 128, 3)
    assert loop == 0  # NETSCAPE loop count 0: forever
    assert all(abs(d - 125) <= 5 for d in durations) and sum(durations) == 2000

    # What diffusers' export_to_gif does: Pillow's median cut on every frame, no dithering.
    reference = io.BytesIO()
    frames[0].save(reference, "GIF", save_all=True, append_images=frames[1:], duration=125, loop=0)
    ours_db, reference_db = psnr(frames, decoded), psnr(frames, gif_frames(reference.getvalue())[0])
    assert ours_db > 30, ours_db
    assert ours_db >= reference_db - 0.5, (ours_db, reference_db)


def test_arrays_and_images_give_the_same_gif() -> None:
    frames = pan(count=8, size=64)
    arrays = [np.asarray(f) for f in frames]
    assert encode_clip(arrays, fps=12).data == encode_clip(frames, fps=12).data


def test_mp4_is_h264_yuv420p_with_its_index_first() -> None:
    frames = pan()
    clip = encode_clip(frames, format="mp4", fps=8)

    assert (clip.format, clip.mime_type, clip.extension) == ("mp4", "video/mp4", ".mp4")
    assert clip.data.index(b"moov") < clip.data.index(b"mdat")  # faststart: playable while loading
    with av.open(io.BytesIO(clip.data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height, stream.average_rate) == (128, 128, 8)
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(decoded) == 16
    assert psnr(frames, decoded) > 28  # yuv420p halves colour resolution, so sharp coloured edges blur


def test_mp4_of_odd_sized_frames_has_even_sides() -> None:
    frames = [f.crop((0, 0, 65, 49)) for f in pan(count=8, size=80)]
    clip = encode_clip(frames, format="mp4", fps=8)

    assert (clip.width, clip.height) == (64, 48)
    with av.open(io.BytesIO(clip.data)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (64, 48)
        assert sum(1 for _ in container.decode(stream)) == 8


def test_webp_is_animated_and_loops_forever() -> None:
    clip = encode_clip(pan(), format="webp", fps=10)

    assert (clip.format, clip.mime_type, clip.extension) == ("webp", "image/webp", ".webp")
    assert clip.data[:4] == b"RIFF" and clip.data[8:12] == b"WEBP"
    with Image.open(io.BytesIO(clip.data)) as im:
        assert im.format == "WEBP" and im.is_animated and im.n_frames == 16
        assert im.info["loop"] == 0
        assert im.size == (128, 128)
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            im.load()  # the WebP reader fills in a frame's info when it decodes it
            durations.append(im.info["duration"])
    assert durations == [100] * 16


# Each kind of step a format's ladder takes, in order, as EncodedClip.changes names it.
STEP_KINDS = {
    "gif": ("palette 256 -> 32 colours", "fps 8 -> 4 (16 -> 8 frames)", "scaled to "),
    "mp4": ("quality crf 18 -> 38", "fps 8 -> 4 (16 -> 8 frames)", "scaled to "),
    "webp": ("quality 80 -> 20", "fps 8 -> 4 (16 -> 8 frames)", "scaled to "),
}


@pytest.mark.parametrize("fmt", ["gif", "mp4", "webp"])
def test_small_budgets_walk_the_whole_ladder_and_never_overshoot(fmt: str) -> None:
    frames = pan(count=16, size=192)
    full = encode_clip(frames, format=fmt, fps=8)
    assert full.changes == ()

    with pytest.raises(EncodeError) as excinfo:
        encode_clip(frames, format=fmt, fps=8, max_bytes=300)
    message = str(excinfo.value)
    assert message.startswith("the clip does not fit in 300 bytes even at 128x128, 8 frames, 4 fps"), message
    assert "\n" not in message
    floor = excinfo.value.smallest_bytes
    assert floor is not None and 300 < floor < full.size

    # Just above the smallest rung: only scaling down (after every other step) can get there.
    budget = int(floor * 1.3)
    clip = encode_clip(frames, format=fmt, fps=8, max_bytes=budget)
    assert clip.size <= budget
    assert len(clip.changes) == 3, clip.changes
    for change, kind in zip(clip.changes, STEP_KINDS[fmt], strict=True):
        assert change.startswith(kind), clip.changes
    assert (clip.fps, clip.frames) == (4, 8) and 128 <= clip.width < 192
    assert clip.changes[2] == f"scaled to {clip.width}x{clip.height}"
    if fmt == "gif":  # fewer frames over the same two seconds, so motion keeps its speed
        _, durations, _ = gif_frames(clip.data)
        assert durations == [250] * 8

    for fraction in (0.5, 0.15, 0.05):  # budgets in between stop part way down, never over
        budget = max(int(full.size * fraction), budget)
        clip = encode_clip(frames, format=fmt, fps=8, max_bytes=budget)
        assert clip.size <= budget and clip.changes, (budget, clip.size, clip.changes)


def test_a_clip_already_at_the_floor_cannot_shrink() -> None:
    with pytest.raises(EncodeError, match=r"even at 64x64, 8 frames, 8 fps"):
        encode_clip(pan(count=8, size=64), fps=8, max_bytes=500)


@pytest.mark.parametrize(
    ("frames", "kwargs", "message"),
    [
        ([], {}, "there are no frames"),
        ([Image.new("RGB", (32, 32)), Image.new("RGB", (32, 24))], {}, "frame 1 is 32x24 but frame 0 is 32x32"),
        ([Image.new("RGB", (8, 8))], {"format": "avi"}, "unknown format 'avi'; allowed: gif, mp4, webp"),
        ([np.zeros((8, 8, 3), np.float32)], {}, "allowed: HxWx3 uint8"),
        ([np.zeros((8, 8), np.uint8)], {}, "shape (8, 8)"),
        (["frame.png"], {}, "frame 0 is a str"),
        ([Image.new("RGB", (8, 8))], {"fps": 0}, "fps must be a whole number from 1 to 50, got 0"),
        ([Image.new("RGB", (8, 8))], {"max_bytes": 0}, "max_bytes must be a positive whole number"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(frames: list, kwargs: dict, message: str) -> None:
    with pytest.raises(EncodeError) as excinfo:
        encode_clip(frames, **kwargs)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def ladder(frames: list[Image.Image], budget: int, *, predict: bool = True, fmt: str = "gif") -> tuple:
    """(changes, size, full encodes, sample encodes) of one encode_clip call."""
    attempts: list[EncodeAttempt] = []
    clip = encode_clip(frames, format=fmt, fps=8, max_bytes=budget, predict=predict, on_encode=attempts.append)
    assert clip.size <= budget
    assert all(a.frames == 8 for a in attempts if not a.full)
    return clip.changes, clip.size, sum(a.full for a in attempts), sum(not a.full for a in attempts)


@pytest.fixture(scope="module")
def long_pan() -> tuple[list[Image.Image], int]:
    """40 frames (a long clip: over 32) and the bytes of their GIF with nothing given up."""
    frames = apply_loop(pan(count=21, size=160), "pingpong")
    return frames, encode_clip(frames, fps=8).size


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_a_long_clip_fits_in_one_full_encode_at_the_rung_every_rung_in_full_would_reach(
    fmt: str, long_pan: tuple[list[Image.Image], int]
) -> None:
    frames, gif_size = long_pan
    budget = int((gif_size if fmt == "gif" else encode_clip(frames, format=fmt, fps=8).size) * 0.4)

    changes, size, full, samples = ladder(frames, budget, fmt=fmt)
    reference_changes, reference_size, reference_full, _ = ladder(frames, budget, predict=False, fmt=fmt)

    assert changes == reference_changes and size == reference_size, (changes, reference_changes)
    assert full == 1 < reference_full, (full, reference_full)
    assert samples <= 6  # each a fifth of the clip


def test_a_long_clip_gives_up_scale_before_frame_rate_and_a_short_one_frame_rate_first(
    long_pan: tuple[list[Image.Image], int],
) -> None:
    frames, gif_size = long_pan
    long_changes, _, _, _ = ladder(frames, int(gif_size * 0.4))
    assert long_changes == ("palette 256 -> 32 colours", "scaled to 128x128"), long_changes

    short = frames[:24]
    short_changes, _, _, _ = ladder(short, int(encode_clip(short, fps=8).size * 0.4))
    assert short_changes == ("palette 256 -> 32 colours", "fps 8 -> 6 (24 -> 18 frames)"), short_changes


def test_a_long_clip_over_budget_at_every_rung_is_refused_after_one_full_encode(
    long_pan: tuple[list[Image.Image], int],
) -> None:
    attempts: list[EncodeAttempt] = []
    with pytest.raises(EncodeError) as excinfo:
        encode_clip(long_pan[0], fps=8, max_bytes=2_000, on_encode=attempts.append)
    assert "even at 128x128, 20 frames, 4 fps, 32 colours" in str(excinfo.value)
    full = [a for a in attempts if a.full]
    assert len(full) == 1 and excinfo.value.smallest_bytes == full[0].size > 2_000
