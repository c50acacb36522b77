"""Frames -> GIF, MP4 (H.264) or WebP that fits a byte budget.

A first encode keeps everything the caller asked for. If it is over budget, a ladder steps down one
kind of loss at a time, in the order a viewer notices it least: quality (GIF palette size, H.264 crf,
WebP quality), then frame rate (fewer frames over the same duration), then scale. The result says
what was given up; nothing over budget is ever returned.

Long clips (more than 32 frames: FreeNoise clips up to 64, ping-pong loops up to 126) keep their
story: they give up scale before frame rate, down to the smallest side, and only then frames. Measured
on the benchmark's 126-frame ping-pong clips at 384x384, decoded and shown at the source's size and
rate: at equal bytes a smaller scale kept 5-9 dB more PSNR than fewer frames on pans (procedural pan:
332 px 2.67 MB 31.1 dB against 6 fps 2.60 MB 25.2 dB; coffee pan: 272 px 2.62 MB 31.7 dB against
4 fps 2.35 MB 23.0 dB) and 2-3 dB on a zoom (rocket: 332 px 35.6 dB against 6 fps 33.1 dB); down
at 128 px the zoom was a tie with 4 fps at 192 px. Frame rate never drops below 4 fps nor under 8 frames.
Long GIF and WebP clips are not encoded in full at every rung either: a rung's size is predicted from
8 evenly spaced frames (a few percent of the work; on the benchmark clips within -9% to +19% of the
full encode), rungs predicted over budget are passed by, the first rung predicted to fit with a margin
is encoded in full to check, and the prediction, calibrated by that encode, decides whether a rung
passed by just above is worth a full try. MP4 is always encoded in full: its frames lean on their
neighbours, so 8 far-apart frames overestimate it 2-5x.

GIF speed and quality: diffusers' ``export_to_gif`` lets Pillow run median cut on every frame at
full size (seconds for 16 frames of 512x512). Here a shared palette is fitted to the whole clip and
every frame gets its own local colour table refined from it (generation/media/gif.py). On zooms
and pans over real photos that gains 1-5 dB over one palette for the clip, most on smooth
gradients such as skies; figures in docs/PERFORMANCE.md (``python benchmarks/bench_encode.py``).
"""

from __future__ import annotations

import io
import itertools
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import av
import numpy as np
from PIL import Image

from generation.media.gif import clip_palette, frame_palettes, write_gif
from generation.params import FORMATS, FPS_MIN, PLAY_FPS_MAX

__all__ = [
    "DEFAULT_MAX_BYTES",
    "EncodeAttempt",
    "EncodeError",
    "EncodedClip",
    "clip_palette",
    "encode_clip",
    "frame_palettes",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # Discord's upload limit for bots

_MIME = {"gif": ("image/gif", ".gif"), "mp4": ("video/mp4", ".mp4"), "webp": ("image/webp", ".webp")}

# Quality rungs, best first. GIF: palette colours (fewer colours -> fewer bits per pixel for LZW).
# Dithering is never on: on the benchmark frames Floyd-Steinberg cost 2.7 dB PSNR and added 20% bytes,
# so there is no "dithering off" rung to climb down.
_QUALITY = {"gif": (256, 128, 64, 32), "mp4": (18, 23, 28, 33, 38), "webp": (80, 60, 40, 20)}

# The ladder stops here: below these a clip stops being worth sending.
_MIN_FPS = 4
_MIN_FRAMES = 8
_MIN_SIDE = 128

_LONG_CLIP = 32  # frames; longer clips give up scale before frame rate (module docstring)
_SAMPLE_FRAMES = 8  # frames encoded to predict a rung's size, for clips over twice as long
_FIT_MARGIN = 0.9  # a rung is encoded in full once predicted at or under this share of the budget
_PREDICTED = ("gif", "webp")  # formats whose frames cost about the same wherever they are taken from

_WEBP_METHOD = 2  # libwebp effort 0-6: 2 is twice as fast as the default 4 for ~7% more bytes


class EncodeError(Exception):
    """Frames could not be encoded as asked; ``str(e)`` is one line meant for a person.

    ``smallest_bytes`` is the size of the smallest encode tried when nothing fit the budget, else None.
    """

    def __init__(self, message: str, *, smallest_bytes: int | None = None) -> None:
        super().__init__(message)
        self.smallest_bytes = smallest_bytes


@dataclass(frozen=True)
class EncodedClip:
    """An encoded clip and how it was made."""

    data: bytes
    format: str
    mime_type: str
    extension: str
    width: int
    height: int
    frames: int
    fps: int
    changes: tuple[str, ...]  # what the budget ladder gave up, for people; () if nothing
    encode_s: float

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class EncodeAttempt:
    """One encode the ladder ran, as ``encode_clip``'s ``on_encode`` hears of it.

    ``full`` is True for an encode of the whole clip at a rung, False for the sample of
    ``frames`` frames that predicts a rung's size; ``size`` is the bytes that encode wrote.
    """

    full: bool
    frames: int
    width: int
    height: int
    fps: int
    quality: str
    size: int


@dataclass(frozen=True)
class _Rung:
    quality: int  # index into _QUALITY[format]
    fps: int
    width: int
    height: int


def encode_clip(
    frames: Sequence[Image.Image | np.ndarray],
    *,
    format: str = "gif",
    fps: int = 8,
    max_bytes: int = DEFAULT_MAX_BYTES,
    predict: bool = True,
    on_encode: Callable[[EncodeAttempt], None] | None = None,
) -> EncodedClip:
    """Encode ``frames`` as an animated ``format`` clip of at most ``max_bytes`` bytes.

    ``frames`` are RGB PIL images or HxWx3 uint8 arrays, all the same size. GIF and WebP loop forever;
    MP4 is H.264, yuv420p, with the index at the front so it plays while downloading.

    ``predict=False`` encodes the whole clip at every rung the ladder reaches (the reference the
    predicted ladder is checked against); ``on_encode`` is told of every encode the ladder runs.

    Returns an ``EncodedClip`` whose ``changes`` lists what was reduced to fit the budget.
    Raises ``EncodeError`` for no frames, frames of different sizes or kinds, an unknown format,
    an fps outside 1-30, a budget that is not a positive whole number, or when even the smallest
    rung of the ladder is over budget.
    """
    started = time.perf_counter()
    images = _check_inputs(frames, format, fps, max_bytes)
    width, height = images[0].size
    if format == "mp4" and (width % 2 or height % 2):
        # yuv420p halves chroma in both directions, so H.264 players need even sides.
        width, height = width - width % 2, height - height % 2
        images = [im.crop((0, 0, width, height)) for im in images]
    first = _Rung(quality=0, fps=fps, width=width, height=height)
    n_frames, long = len(images), len(images) > _LONG_CLIP
    palettes: dict[int, Image.Image] = {}

    def encode(rung: _Rung) -> bytes:
        picked = _pick_frames(images, fps, rung.fps)
        data = _encode(picked, images, format, rung, palettes)
        if on_encode is not None:
            on_encode(_attempt(True, picked, format, rung, len(data)))
        return data

    def predicted(rung: _Rung) -> float | None:
        """The whole clip's bytes at ``rung`` as ``_SAMPLE_FRAMES`` frames predict them, before calibration."""
        picked = _pick_frames(images, fps, rung.fps)
        if not predict or format not in _PREDICTED or len(picked) <= 2 * _SAMPLE_FRAMES:
            return None
        sample = [picked[(2 * i + 1) * len(picked) // (2 * _SAMPLE_FRAMES)] for i in range(_SAMPLE_FRAMES)]
        size = len(_encode(sample, images, format, rung, palettes))
        if on_encode is not None:
            on_encode(_attempt(False, sample, format, rung, size))
        return size * len(picked) / len(sample)

    def done(rung: _Rung, data: bytes) -> EncodedClip:
        mime_type, extension = _MIME[format]
        return EncodedClip(
            data=data,
            format=format,
            mime_type=mime_type,
            extension=extension,
            width=rung.width,
            height=rung.height,
            frames=_frame_count(n_frames, fps, rung.fps),
            fps=rung.fps,
            changes=_describe(format, first, rung, n_frames),
            encode_s=time.perf_counter() - started,
        )

    rung: _Rung | None = first
    last = first
    tried: list[int] = []
    calibration = 1.0  # full encode bytes / predicted bytes, from the latest full encode
    passed: list[tuple[_Rung, float]] = []  # rungs passed by on a prediction since the last full encode
    while rung is not None:
        guess = predicted(rung)
        if guess is not None and guess * calibration > max_bytes * _FIT_MARGIN:
            following = _next_rung(format, first, rung, n_frames, round(guess * calibration), max_bytes, long)
            if following is not None:  # the last rung is always encoded: it may fit, and the error needs its size
                passed.append((rung, guess))
                rung = following
                continue
        data = encode(rung)
        if guess is not None:
            calibration = len(data) / guess
        if len(data) <= max_bytes:
            # Climb back over rungs passed by on the prediction, nearest first, while the prediction
            # calibrated by this encode says they fit; each is checked in full.
            while passed:
                above, above_guess = passed.pop()
                if above_guess * calibration > max_bytes:
                    break
                above_data = encode(above)
                if len(above_data) > max_bytes:
                    break
                rung, data = above, above_data
            return done(rung, data)
        last = rung
        tried.append(len(data))
        passed.clear()  # rungs above one that did not fit are bigger still
        rung = _next_rung(format, first, rung, n_frames, len(data), max_bytes, long)

    count, smallest = _frame_count(len(images), fps, last.fps), min(tried)
    quality = _quality_text(format, _QUALITY[format][last.quality])
    at = f"{last.width}x{last.height}, {count} frame{'s' if count != 1 else ''}, {last.fps} fps, {quality}"
    raise EncodeError(
        f"the clip does not fit in {_human_bytes(max_bytes)} even at {at} "
        f"(smallest try was {_human_bytes(smallest)}); ask for fewer frames or a smaller aspect, "
        "or raise the budget",
        smallest_bytes=smallest,
    )


def _check_inputs(
    frames: Sequence[Image.Image | np.ndarray], format: str, fps: int, max_bytes: int
) -> list[Image.Image]:
    if format not in FORMATS:
        raise EncodeError(f"unknown format {format!r}; allowed: {', '.join(FORMATS)}")
    if isinstance(fps, bool) or not isinstance(fps, int) or not FPS_MIN <= fps <= PLAY_FPS_MAX:
        raise EncodeError(f"fps must be a whole number from {FPS_MIN} to {PLAY_FPS_MAX}, got {fps!r}")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise EncodeError(f"max_bytes must be a positive whole number of bytes, got {max_bytes!r}")
    if len(frames) == 0:
        raise EncodeError("there are no frames to encode; give at least one RGB image")
    images: list[Image.Image] = []
    for i, frame in enumerate(frames):
        if isinstance(frame, np.ndarray):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise EncodeError(
                    f"frame {i} is an array of shape {frame.shape} and dtype {frame.dtype}; allowed: HxWx3 uint8 (RGB)"
                )
            image = Image.fromarray(frame)
        elif isinstance(frame, Image.Image):
            image = frame if frame.mode == "RGB" else frame.convert("RGB")
        else:
            raise EncodeError(f"frame {i} is a {type(frame).__name__}; allowed: PIL images or numpy arrays")
        if images and image.size != images[0].size:
            w0, h0 = images[0].size
            raise EncodeError(
                f"frame {i} is {image.width}x{image.height} but frame 0 is {w0}x{h0}; all frames must be the same size"
            )
        images.append(image)
    return images


def _next_rung(
    format: str, first: _Rung, rung: _Rung, n_frames: int, size: int, budget: int, long: bool = False
) -> _Rung | None:
    """The next step down the ladder from ``rung``, or None when there is nothing left to give up.

    Bytes scale about linearly with frame count and pixel count, so ``size`` (the bytes at ``rung``,
    measured or predicted) tells how far to jump; each jump still goes at least one step so the
    ladder always ends. ``long`` clips give up scale before frame rate.
    """
    if rung.quality + 1 < len(_QUALITY[format]):
        return _Rung(rung.quality + 1, rung.fps, rung.width, rung.height)
    steps = (_smaller, _slower) if long else (_slower, _smaller)
    for step in steps:
        following = step(first, rung, n_frames, size, budget)
        if following is not None:
            return following
    return None


def _slower(first: _Rung, rung: _Rung, n_frames: int, size: int, budget: int) -> _Rung | None:
    rates = _fps_steps(n_frames, first.fps, rung.fps)
    if not rates:
        return None
    wanted = _frame_count(n_frames, first.fps, rung.fps) * budget / size
    fitting = [r for r in rates if _frame_count(n_frames, first.fps, r) <= wanted]
    return _Rung(rung.quality, fitting[0] if fitting else rates[-1], rung.width, rung.height)


def _smaller(first: _Rung, rung: _Rung, n_frames: int, size: int, budget: int) -> _Rung | None:
    short = min(rung.width, rung.height)
    floor = min(_MIN_SIDE, first.width, first.height)
    if short <= floor:
        return None
    target = max(floor, short * min(0.75, 0.95 * math.sqrt(budget / size)))
    scale = target / short
    width, height = _even(rung.width * scale + 1), _even(rung.height * scale + 1)  # nearest even
    if (width, height) == (rung.width, rung.height):
        return None
    return _Rung(rung.quality, rung.fps, width, height)


def _fps_steps(n_frames: int, fps: int, current: int) -> list[int]:
    """Lower frame rates still allowed below ``current``, highest first (each about 3/4 of the last)."""
    steps: list[int] = []
    rate, count = current, _frame_count(n_frames, fps, current)
    while True:
        rate = rate * 3 // 4
        fewer = _frame_count(n_frames, fps, rate)
        if rate < _MIN_FPS or fewer < min(_MIN_FRAMES, n_frames):
            return steps
        if fewer < count:  # a lower rate that keeps every frame would only slow the clip down
            steps.append(rate)
            count = fewer


def _frame_count(n_frames: int, fps: int, new_fps: int) -> int:
    return max(1, round(n_frames * new_fps / fps))


def _pick_frames(images: list[Image.Image], fps: int, new_fps: int) -> list[Image.Image]:
    # Evenly spaced frames over the same duration, so motion keeps its speed.
    count = _frame_count(len(images), fps, new_fps)
    return [images[i * len(images) // count] for i in range(count)]


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _encode(
    picked: list[Image.Image], images: list[Image.Image], format: str, rung: _Rung, palettes: dict[int, Image.Image]
) -> bytes:
    """``picked`` (frames of ``images``) encoded at ``rung``'s quality, size and frame rate."""
    if (rung.width, rung.height) != picked[0].size:
        picked = [im.resize((rung.width, rung.height), Image.Resampling.LANCZOS) for im in picked]
    quality = _QUALITY[format][rung.quality]
    if format == "gif":
        if quality not in palettes:
            # One palette per colour count, from all the original frames: fewer frames or a smaller
            # size show the same colours, so later rungs (and size predictions) reuse it.
            palettes[quality] = clip_palette(images, quality)
        return _encode_gif(picked, rung.fps, palettes[quality])
    if format == "webp":
        return _encode_webp(picked, rung.fps, quality)
    return _encode_mp4(picked, rung.fps, quality)


def _attempt(full: bool, frames: list[Image.Image], format: str, rung: _Rung, size: int) -> EncodeAttempt:
    quality = _quality_text(format, _QUALITY[format][rung.quality])
    return EncodeAttempt(full, len(frames), rung.width, rung.height, rung.fps, quality, size)


def _durations_ms(count: int, fps: int, tick_ms: int) -> list[int]:
    # Frame times rounded on the format's clock, so the whole clip keeps its length even when
    # 1000/fps is not a whole number of ticks (8 fps in GIF's 10 ms ticks: 130, 120, 130, ...).
    ticks = [int(i * 1000 / fps / tick_ms + 0.5) for i in range(count + 1)]
    return [(b - a) * tick_ms for a, b in itertools.pairwise(ticks)]


def _encode_gif(images: list[Image.Image], fps: int, palette: Image.Image) -> bytes:
    return write_gif(images, _durations_ms(len(images), fps, 10), palette)


def _encode_webp(images: list[Image.Image], fps: int, quality: int) -> bytes:
    out = io.BytesIO()
    images[0].save(
        out,
        format="WEBP",
        save_all=True,
        append_images=images[1:],
        duration=_durations_ms(len(images), fps, 1),
        loop=0,
        quality=quality,
        method=_WEBP_METHOD,
    )
    return out.getvalue()


@cache
def _h264_encoder() -> str:
    # The PyPI wheels of PyAV ship libx264; crf below is a libx264 option, so insist on it.
    try:
        return av.codec.Codec("libx264", "w").name
    except Exception as exc:  # PyAV raises different types across versions for a missing codec
        raise EncodeError("this PyAV build has no libx264 H.264 encoder; use format gif or webp") from exc


def _encode_mp4(images: list[Image.Image], fps: int, crf: int) -> bytes:
    codec = _h264_encoder()
    # +faststart moves the index before the media so Discord/Slack/browsers can play while loading;
    # the muxer does that by reading the file back, which PyAV cannot do on an in-memory buffer.
    with tempfile.TemporaryDirectory(prefix="animatebot-") as folder:
        path = os.path.join(folder, "clip.mp4")
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream(codec, rate=fps)
            assert isinstance(stream, av.VideoStream)
            stream.width, stream.height = images[0].size
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "medium"}
            for i, image in enumerate(images):
                frame = av.VideoFrame.from_image(image)
                frame.pts = i
                frame.time_base = Fraction(1, fps)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        with open(path, "rb") as f:
            return f.read()


def _quality_text(format: str, value: int) -> str:
    return {"gif": f"{value} colours", "mp4": f"crf {value}", "webp": f"quality {value}"}[format]


def _describe(format: str, first: _Rung, last: _Rung, n_frames: int) -> tuple[str, ...]:
    changes = []
    if last.quality != first.quality:
        before, after = _QUALITY[format][first.quality], _QUALITY[format][last.quality]
        changes.append(
            {
                "gif": f"palette {before} -> {after} colours",
                "mp4": f"quality crf {before} -> {after}",
                "webp": f"quality {before} -> {after}",
            }[format]
        )
    if last.fps != first.fps:
        after_frames = _frame_count(n_frames, first.fps, last.fps)
        changes.append(f"fps {first.fps} -> {last.fps} ({n_frames} -> {after_frames} frames)")
    if (last.width, last.height) != (first.width, first.height):
        changes.append(f"scaled to {last.width}x{last.height}")
    return tuple(changes)


def _human_bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} bytes"
