"""Animated GIF: a palette for the whole clip, one refined from it for every pair of frames, the file.

GIF allows a local colour table per frame. ``clip_palette`` seeds a palette from the whole clip
(Pillow's fast octree on a ~16k pixel sample); ``fitted_centres`` refines it for each pair of frames
in turn; ``write_gif`` maps every frame through its pair's palette, gives it the colours its pixels
have, and writes the file. Plain numpy and Pillow.

The palettes are a chain of k-means steps. Each pair of frames starts from the previous pair's
colours (the first from the seed) and takes weighted k-means rounds, with enhanced-LBG swaps
(``_refit``), on a histogram of its own colours (6 bits a channel over a ~16k pixel grid sample of
both frames: a few thousand weighted points). Each frame is then mapped through Pillow's cached
nearest-colour lookup, and its colour table holds the mean colour of the pixels each entry received
(``settled_colours``), so every frame still gets a table of its own. Sharing the fitted palette
between two frames halves the k-means rounds and lets Pillow's lookup cache, filled for the first
frame, serve the second (a fresh palette costs ~5 ms a 512x512 frame to fill, a warm one <1 ms);
with two rounds a pair it gave the same PSNR as one round a frame. Figures, and what was tried:
docs/PERFORMANCE.md ("GIF at the quality limit", "Third round").
"""

from __future__ import annotations

import functools
import io
import math
import struct
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from types import ModuleType

import numpy as np
from PIL import Image

_SEED_PIXELS = 16_384  # the clip palette's octree seed: 1024 pixels from each of 16 frames
_GROUP = 2  # frames that share one fitted palette (each still gets its own colours); 4: -0.2 dB
_HISTOGRAM_PIXELS = 16_384  # each pair's k-means runs on the 6-bit histogram of this many (8k: -0.1 dB)
_FIRST_ROUNDS = 6  # k-means rounds for the first pair, which starts from the seed (4: the same PSNR)
_ROUNDS = 2  # and for each later pair, which starts from the previous one
_IN_FLIGHT = 2  # pairs handed to the helper at once: it starts the next while its answer is read
_HELPER_WAIT_S = 0.5  # for a previous clip's last answers; then this clip goes on alone
_HELPER_LAST_S = 0.25  # for the helper's answer to the group it is on (~25 ms); then it is encoded here too
_HELPER_MIN_PIXELS = 1 << 20  # share clips of at least a million pixels with the helper process
_NEAREST_BLOCK = 256  # see _nearest
# Enhanced-LBG swaps per k-means round (``_refit``), a colour moved when its cost is under half the
# split cluster's error, placed on the cluster's main axis (better than at its worst pixel or
# halfway). With a palette per frame 16 swaps gave the most; with one per pair 8 and 16 gave the
# same PSNR (within 0.01 dB), 8 for less work.
_SWAPS = 8
_SWAP_GAIN = 0.5  # splitting a cluster takes away about half its error, so pay at most that
_SPLIT_SD = 0.6  # 0.6 / 0.8 / 1.0: rocket -0.80 / -0.87 / -0.91 dB, the others within 0.03 dB
_LOOKUP_SHIFT = np.array([1, 2, 1], np.int16)  # see lookup_image
_SETTLE_PIXELS = 65_536  # the file's colours: means over this many (512x512: every 2nd pixel both ways)


def clip_palette(images: Sequence[Image.Image], colours: int = 256) -> Image.Image:
    """A mode "P" image whose palette (at most ``colours`` entries) suits every frame of ``images``.

    Pillow's fast octree on a grid sample of every frame (1.5 ms): a seed, which the frames refine.
    (Median cut and k-means on the whole clip took 40-55 ms and gained nothing once the frames refine.)
    """
    width, height = images[0].size
    side = max(1, min(width, height, round(math.sqrt(_SEED_PIXELS / len(images)))))
    strip = Image.new("RGB", (side, side * len(images)))
    for i, image in enumerate(images):
        strip.paste(image.resize((side, side), Image.Resampling.NEAREST), (0, side * i))
    seeded = strip.quantize(colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    palette = seeded.getpalette()
    assert palette is not None
    out = Image.new("P", (1, 1))
    out.putpalette(palette[: 3 * colours])
    return out


def frame_palettes(images: Sequence[Image.Image], palette: Image.Image) -> list[np.ndarray]:
    """The colours each frame of ``images`` is written with (Nx3 uint8, N as in ``palette``), refined from ``palette``."""
    return [colours for _, colours in _mapped_clip(images, palette)]


def _mapped_clip(images: Sequence[Image.Image], palette: Image.Image) -> list[tuple[Image.Image, np.ndarray]]:
    """Every frame of ``images`` as ``mapped_frames`` gives it, in one thread."""
    groups = [images[start : start + _GROUP] for start in range(0, len(images), _GROUP)]
    centres = fitted_centres(images, palette)
    return [mapped for group in groups for mapped in mapped_frames(group, next(centres))]


def fitted_centres(images: Sequence[Image.Image], palette: Image.Image) -> Iterator[np.ndarray]:
    """The colours (Nx3 float) each group of ``_GROUP`` frames is mapped to: a chain of k-means rounds from ``palette``.

    Each group starts from the previous group's colours (the first from ``palette``) and takes
    k-means rounds on the histogram of a grid sample of its frames. The chain never waits for a
    frame's mapping, so frames can be mapped anywhere, in any order (``write_gif``).
    """
    shared = palette.getpalette()
    assert shared is not None
    centres = np.asarray(shared, np.float64).reshape(-1, 3)
    width, height = images[0].size
    step = max(1, int(math.sqrt(width * height * _GROUP / _HISTOGRAM_PIXELS)))
    sample_size = (max(1, width // step), max(1, height // step))
    for start in range(0, len(images), _GROUP):
        group = images[start : start + _GROUP]
        samples = [np.asarray(image.resize(sample_size, Image.Resampling.NEAREST)).reshape(-1, 3) for image in group]
        points, weights = colour_histogram(np.concatenate(samples), len(centres))
        for _ in range(_FIRST_ROUNDS if start == 0 else _ROUNDS):
            centres = _refit(centres, _nearest(points, centres), points, weights)
        yield centres


def mapped_frames(images: Sequence[Image.Image], centres: np.ndarray) -> list[tuple[Image.Image, np.ndarray]]:
    """Each of ``images`` mapped to ``centres`` by Pillow's lookup (a mode "P" image), and the colours its file entry gets.

    The colours are the means of the pixels each entry received (``settled_colours``). One lookup
    image serves all the frames: Pillow keeps the nearest colours it has found in it, so the frames
    after the first find theirs mostly filled in (the same indices as a fresh lookup, a test checks).
    """
    lookup = lookup_image(centres)
    mapped = []
    for image in images:
        frame = image.quantize(palette=lookup, dither=Image.Dither.NONE)
        mapped.append((frame, true_colours(settled_colours(centres, frame, image))))
    return mapped


def encoded_frames(images: Sequence[Image.Image], centres: np.ndarray) -> list[tuple[np.ndarray, bytes]]:
    """``mapped_frames``' colours, each with its frame's LZW data as a GIF image block holds it (8-bit codes)."""
    return [(colours, frame.tobytes("gif", "P")) for frame, colours in mapped_frames(images, centres)]


def colour_histogram(pixels: np.ndarray, colours: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The colours of ``pixels`` (any shape ending in 3, uint8) in cells of 4x4x4: (cell means Kx3, pixel counts K).

    Where that leaves fewer than two cells per palette entry (``colours``: small or smooth frames),
    every distinct colour is a cell of its own, so that the palette can still use all its entries.
    """
    flat = pixels.reshape(-1, 3)
    cell = (
        (flat[:, 0].astype(np.int32) >> 2) << 12
        | (flat[:, 1].astype(np.int32) >> 2) << 6
        | flat[:, 2].astype(np.int32) >> 2
    )
    counts = np.bincount(cell, minlength=1 << 18)
    used = np.flatnonzero(counts > 0)  # (a boolean mask: 7x faster than flatnonzero on the counts)
    if len(used) < 2 * colours:
        _, first, counts = np.unique(
            flat[:, 0].astype(np.int32) << 16 | flat[:, 1].astype(np.int32) << 8 | flat[:, 2],
            return_index=True,
            return_counts=True,
        )
        return flat[first].astype(np.float64), counts.astype(np.float64)
    compact = np.empty(1 << 18, np.int32)
    compact[used] = np.arange(len(used), dtype=np.int32)
    which = compact[cell]
    weights = counts[used].astype(np.float64)
    means = np.stack([np.bincount(which, weights=flat[:, c], minlength=len(used)) for c in range(3)], axis=1)
    return means / weights[:, None], weights


def settled_colours(centres: np.ndarray, frame: Image.Image, image: Image.Image) -> np.ndarray:
    """``centres`` moved to the mean of the pixels ``frame`` (``image`` mapped through them) gave each.

    For a fixed assignment the mean is the best colour, so the file gets the means (over a grid of
    about ``_SETTLE_PIXELS``; every pixel gave 0.03-0.07 dB more for 4x the work, every 4th 0.1-0.2 dB
    less) while the indices stay; entries that received no pixel keep their colour.
    """
    step = max(1, int(math.sqrt(frame.width * frame.height / _SETTLE_PIXELS)))
    size = (max(1, frame.width // step), max(1, frame.height // step))
    nearest = np.asarray(frame.resize(size, Image.Resampling.NEAREST)).ravel()
    pixels = np.asarray(image.resize(size, Image.Resampling.NEAREST)).reshape(-1, 3)
    count = len(centres)
    mass = np.bincount(nearest, minlength=count)[:count]
    used = mass > 0
    settled = centres.astype(np.float64)
    for channel in range(3):
        total = np.bincount(nearest, weights=pixels[:, channel], minlength=count)[:count]
        settled[used, channel] = total[used] / mass[used]
    return settled


def lookup_image(centres: np.ndarray) -> Image.Image:
    """The palette image Pillow's quantize is given to map pixels to ``centres`` (the file gets the true colours).

    Pillow looks nearest colours up in a cache of 4x4x4 cells, each answered for its lowest corner,
    so a pixel is mapped as if it were 1.5 darker per channel. Asking with the palette shifted down
    answers for a point nearer the cell's centre: by 1 in every channel gained 0.3-0.6 dB; by 1 in red
    and blue and 2 in green (half a step off the centre across the grey axis, where palettes are
    sparse, instead of along it, where gradients put colours close together) 0.05-0.15 dB more on
    every photo clip.
    """
    lookup = Image.new("P", (1, 1))
    shifted = true_colours(centres).astype(np.int16) - _LOOKUP_SHIFT
    lookup.putpalette(shifted.clip(0, 255).astype(np.uint8).tobytes())
    return lookup


def true_colours(centres: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(centres), 0, 255).astype(np.uint8)


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The index of the nearest of ``centres`` for each of ``points`` (both Nx3).

    |p|^2 - 2 p.c + |c|^2 in float32, in blocks of 256 points: each product stays under OpenBLAS's
    threshold for threads, which on a busy box made one big product 15x slower. Twice as fast as a
    cKDTree query here, the same answers on the benchmark clips.
    """
    factors = (-2.0 * centres.T).astype(np.float32)
    norms = (centres * centres).sum(axis=1).astype(np.float32)
    queries = points.astype(np.float32)
    nearest = np.empty(len(points), np.intp)
    for start in range(0, len(points), _NEAREST_BLOCK):
        distances = queries[start : start + _NEAREST_BLOCK] @ factors
        distances += norms
        nearest[start : start + _NEAREST_BLOCK] = distances.argmin(axis=1)
    return nearest


def _refit(centres: np.ndarray, nearest: np.ndarray, points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One k-means update of ``centres`` over ``points`` (each counted ``weights`` times), then swaps.

    Each colour goes to the mean of its points; unused ones go to the worst-served points. Then, as in
    the enhanced LBG algorithm, up to ``_SWAPS`` colours whose loss would cost little (few pixels, a
    close neighbour to take them) each split a cluster with a large error: the two colours sit on its
    main axis, ``_SPLIT_SD`` standard deviations either side of its mean, and the next round settles
    them. Plain k-means stays in the local minimum its seed gives; the swaps gained 0.3-0.8 dB on the
    photo clips.
    """
    refit = centres.copy()
    count = len(centres)
    weighted = points * weights[:, None]
    mass = np.bincount(nearest, weights=weights, minlength=count)[:count]
    sums = np.stack([np.bincount(nearest, weights=weighted[:, c], minlength=count)[:count] for c in range(3)], 1)
    squares = np.bincount(nearest, weights=np.einsum("ij,ij->i", weighted, points), minlength=count)[:count]
    used = mass > 0
    refit[used] = sums[used] / mass[used, None]
    spread = np.where(used, squares - (sums * refit).sum(axis=1), 0.0)  # each cluster's squared error
    unused = np.flatnonzero(~used)
    if len(unused):
        error = ((points - refit[nearest]) ** 2).sum(axis=1) * weights
        served = np.flatnonzero(error > 0)  # a point on its colour needs no second one
        worst = served[np.argsort(error[served])[::-1][: len(unused)]]
        refit[unused[: len(worst)]] = points[worst]
    if count < 4:
        return refit

    members = np.bincount(nearest, minlength=count)[:count]
    apart = (refit * refit).sum(axis=1)
    apart = apart[:, None] + apart[None, :] - 2.0 * (refit @ refit.T)  # squared distances between colours
    np.fill_diagonal(apart, np.inf)
    cost = np.where(used, mass * apart.min(axis=1), np.inf)  # its pixels move to the nearest other colour
    takers = np.argsort(-spread, kind="stable")[:_SWAPS]
    givers = np.argsort(cost, kind="stable")[: 2 * _SWAPS]
    pairs: list[tuple[int, int]] = []
    moved: set[int] = set()
    for taker, giver in zip(takers.tolist(), givers.tolist(), strict=False):
        if giver == taker or giver in moved or taker in moved or not cost[giver] < _SWAP_GAIN * spread[taker]:
            continue
        if members[taker] >= 3:
            pairs.append((taker, giver))
            moved.update((giver, taker))
    if not pairs:
        return refit

    # The split clusters' covariances, from their own points only, then each one's main axis.
    split, give = np.array(pairs).T
    slot = np.full(count, -1, np.intp)
    slot[split] = np.arange(len(split))
    which = slot[nearest]
    inside = which >= 0
    which = which[inside]
    offsets = points[inside] - refit[nearest[inside]]
    mine = weights[inside]
    covariance = np.empty((len(split), 3, 3))
    for a, b in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):
        product = offsets[:, a] * offsets[:, b] * mine
        covariance[:, a, b] = covariance[:, b, a] = np.bincount(which, weights=product, minlength=len(split))
    variances, axes = np.linalg.eigh(covariance / mass[split, None, None])
    step = _SPLIT_SD * axes[:, :, -1] * np.sqrt(np.maximum(variances[:, -1:], 0.0))
    means = refit[split]
    refit[give], refit[split] = means + step, means - step
    return refit


def write_gif(
    images: Sequence[Image.Image], durations_ms: Sequence[int], palette: Image.Image, *, share: bool | None = None
) -> bytes:
    """A looping GIF of ``images`` (all one size), each frame with its own colour table refined from ``palette``.

    ``share``: whether the helper process (generation/media/gif_helper.py) takes part, when it is
    ready and free; None (the default) lets it for clips of a million pixels or more while a core
    looks idle. The bytes are the same either way.
    """
    if share is None:
        width, height = images[0].size
        share = len(images) * width * height >= _HELPER_MIN_PIXELS and _helper_module().core_free()
    encoded = _encode_frames(images, palette, share)
    width, height = images[0].size
    out = io.BytesIO()
    first = encoded[0][0]
    out.write(b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF0 | _table_bits(first), 0, 0) + _table(first))
    out.write(b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")  # loop forever
    shown: list[tuple[np.ndarray, bytes, int]] = []
    for (colours, data), duration in zip(encoded, durations_ms, strict=True):
        if shown and np.array_equal(shown[-1][0], colours) and shown[-1][1] == data:
            shown[-1] = (colours, data, shown[-1][2] + duration)  # the same picture again: show it longer
        else:
            shown.append((colours, data, duration))
    for i, (colours, data, duration) in enumerate(shown):
        # Graphic control: disposal 1 (leave the frame in place), the delay in 10 ms ticks.
        out.write(b"!\xf9\x04\x04" + struct.pack("<H", duration // 10) + b"\x00\x00")
        local = 0x80 | _table_bits(colours) if i else 0  # the first frame uses the global table
        out.write(b"," + struct.pack("<HHHHB", 0, 0, width, height, local) + (_table(colours) if i else b""))
        out.write(b"\x08" + data + b"\x00")  # LZW minimum code size 8, as Pillow writes it, then the data
    out.write(b";")
    return out.getvalue()


def _helper_module() -> ModuleType:
    # Here, not above: the helper process loads this file by its path, without the package.
    from generation.media import gif_helper

    return gif_helper


def _encode_frames(images: Sequence[Image.Image], palette: Image.Image, share: bool) -> list[tuple[np.ndarray, bytes]]:
    """``encoded_frames`` of every group of frames, shared with the helper process when it is ready and free.

    This thread runs the palette chain, queueing each group as its colours are fitted; a sender
    thread hands queued groups to the helper from the front (``_IN_FLIGHT`` at a time, so that it
    never waits for the next) and a receiver thread collects its answers. Once the chain is done,
    this thread encodes from the back of the queue, then the groups still waiting at the helper,
    newest first (the answers are the same whoever computes them); only for the group the helper is
    on does it wait for the answer, at most ``_HELPER_LAST_S``. The helper finishes what it was sent
    in the background, and the receiver releases it afterwards.
    """
    gif_helper = _helper_module()
    groups = [images[start : start + _GROUP] for start in range(0, len(images), _GROUP)]
    results: list[list[tuple[np.ndarray, bytes]] | None] = [None] * len(groups)
    helper = gif_helper.helper() if share else None
    if helper is None:
        for g, centres in enumerate(fitted_centres(images, palette)):
            results[g] = encoded_frames(groups[g], centres)
        return [frame for group in results if group is not None for frame in group]

    queue: deque[tuple[int, np.ndarray]] = deque()  # fitted, taken by nobody yet
    sent: list[tuple[int, np.ndarray]] = []  # handed to the helper, in order
    changed = threading.Condition()
    state = {"chain done": False, "sending done": False, "receiving done": False, "locked": False, "answered": 0}

    def sender() -> None:
        # The previous clip's receiver may still be collecting its last answers.
        if helper.lock.acquire(timeout=_HELPER_WAIT_S):
            with changed:
                state["locked"] = True
            try:
                while True:
                    with changed:
                        changed.wait_for(
                            lambda: state["chain done"] or (queue and len(sent) - state["answered"] < _IN_FLIGHT)
                        )
                        if not queue or len(sent) - state["answered"] >= _IN_FLIGHT:
                            break
                        g, centres = queue.popleft()
                        sent.append((g, centres))
                    helper.send(groups[g], centres)
            except gif_helper.HelperError:
                pass  # the receiver sees it closed; this thread takes the group back
        with changed:
            state["sending done"] = True
            changed.notify_all()

    def receiver() -> None:
        try:
            while True:
                with changed:
                    changed.wait_for(lambda: state["answered"] < len(sent) or state["sending done"])
                    if state["answered"] >= len(sent):
                        return
                    g, centres = sent[int(state["answered"])]
                results[g] = helper.receive(len(groups[g]), len(centres))
                with changed:
                    state["answered"] += 1
                    changed.notify_all()
        except gif_helper.HelperError:
            pass  # this thread encodes what is left
        finally:
            with changed:
                state["receiving done"] = True
                changed.notify_all()
                if state["locked"]:
                    helper.lock.release()

    def answered(g: int) -> bool:
        return results[g] is not None or bool(state["receiving done"])

    for target in (sender, receiver):
        threading.Thread(target=target, name=f"gif-{target.__name__}", daemon=True).start()
    try:
        for g, centres in enumerate(fitted_centres(images, palette)):
            with changed:
                queue.append((g, centres))
                changed.notify_all()
    finally:
        with changed:
            state["chain done"] = True
            changed.notify_all()
    taken: set[int] = set()
    while True:
        with changed:
            if queue:
                g, centres = queue.pop()
            else:
                waiting = [(g, c) for g, c in sent[int(state["answered"]) :] if g not in taken]
                if not waiting:
                    break
                g, centres = waiting[-1]
                if len(waiting) == 1:  # the helper is on it: its answer is due first
                    changed.wait_for(functools.partial(answered, g), _HELPER_LAST_S)
            taken.add(g)
        if results[g] is None:
            results[g] = encoded_frames(groups[g], centres)
    return [frame for group in results if group is not None for frame in group]


def _table_bits(colours: np.ndarray) -> int:
    """The colour-table size field: the table holds 2 ** (bits + 1) entries, at least ``colours``."""
    return max(0, (len(colours) - 1).bit_length() - 1)


def _table(colours: np.ndarray) -> bytes:
    entries = 2 ** (_table_bits(colours) + 1)
    return colours.tobytes() + bytes(3 * (entries - len(colours)))
