"""Animated GIF: a palette fitted to the whole clip, one refined from it for every frame, the file.

GIF allows a local colour table per frame. ``clip_palette`` fits a shared palette to the whole clip
(median cut on a ~8k pixel sample seeds it, weighted k-means rounds over a 5-bit colour histogram
refine it); ``frame_palettes`` refines it for each frame in turn (k-means on a grid sample of the
frame, Pillow's nearest-colour lookup assigning pixels); ``write_gif`` maps every frame through its
palette and writes the file. Plain numpy, scipy and Pillow.

Against per-frame libimagequant (no dithering) on the benchmark's photo clips, from 0.63-1.17 dB
below it: both k-means add enhanced-LBG swaps (``_refit``): 0.12-0.80 dB below; the lookup's palette
shifted across the grey axis (``lookup_image``): 0.07-0.65; each frame's table set to the means of
the pixels its mapping gave each entry (``settled_colours``): 0.01-0.39 dB below.

Where the time goes (16 frames of 512x512, CPU, this 2-core box under load 3-5, before the settled
colours, which add ~1 ms a frame): the clip palette 50-75 ms; the per-frame refinement 190-320 ms,
2.2 ms a round for Pillow filling its nearest-colour cache for the new palette on the sample and
2.8 ms for the k-means update with swaps; mapping the frames 20-45 ms (the refinement leaves the
cache mostly warm); Pillow's LZW and writer 60-95 ms. Threads do not
help: Pillow's quantize and GIF encoder and numpy's bincount hold the GIL (two threads over the
frames measured as slow as one), so it all runs on the caller's thread.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image
from scipy.spatial import cKDTree

_PALETTE_SEED_PIXELS = 8_000  # median cut is O(pixels) in Pillow but with a big constant
_PALETTE_FIT_PIXELS = 260_000  # k-means runs on the histogram of this many, so it stays cheap
_KMEANS_ROUNDS = 4  # benchmark pan: 0 / 2 / 4 / 8 rounds gave 30.9 / 34.0 / 34.4 / 34.7 dB; 4 fits 0.2 s
# Per-frame refinement (photographic clips, docs/PERFORMANCE.md): a grid sample of ~16k pixels
# (every 4th pixel in both directions at 512x512; all of them at 128x128); the first frame moves
# furthest from the shared palette, later ones start from their predecessor's. Before the swaps
# below, 1 / 2 rounds per frame gave -0.72..-1.31 / -0.63..-1.16 dB against per-frame
# libimagequant, step 2 instead of 4 no better for a third more time; with them, 1 / 2 rounds gave
# -0.18..-0.85 / -0.12..-0.80, 3 / 4 / 6 first-frame rounds within 0.01 dB of each other, a sample
# of 8k pixels -0.23..-1.14.
_FRAME_SAMPLE_PIXELS = 16_384
_FIRST_FRAME_ROUNDS = 4
_FRAME_ROUNDS = 2
# Enhanced-LBG swaps per k-means round (``_refit``): 8 / 16 / 32 swaps, a colour moved when its cost
# is under half the split cluster's error, placed at the worst pixel / halfway / on the main axis:
# the main axis with 16 gave the most on every photo clip (-0.12..-0.89 dB against libimagequant,
# from -0.63..-1.17 without swaps). The clip palette's k-means swaps too (+0.03 dB on the cat and rocket).
_SWAPS = 16
_SWAP_GAIN = 0.5  # splitting a cluster takes away about half its error, so pay at most that
_LOOKUP_SHIFT = np.array([1, 2, 1], np.int16)  # see lookup_image
_SETTLE_STEP = 2  # the file's colours: means over every 2nd pixel (1: 0.03-0.07 dB more, 4x the work)
_SPLIT_SD = 0.6  # 0.6 / 0.8 / 1.0: rocket -0.80 / -0.87 / -0.91 dB, the others within 0.03 dB


def clip_palette(images: Sequence[Image.Image], colours: int = 256) -> Image.Image:
    """A mode "P" image whose palette (at most ``colours`` entries) suits every frame of ``images``."""
    arrays = [np.asarray(im) for im in images]
    total = sum(a.shape[0] * a.shape[1] for a in arrays)

    seed = Image.fromarray(_sample(arrays, total, _PALETTE_SEED_PIXELS)[None])
    seeded = seed.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    seed_palette = seeded.getpalette()
    assert seed_palette is not None
    centres = np.asarray(seed_palette, np.float32).reshape(-1, 3)

    # Weighted k-means (with swaps, see _refit) over 5-bit histogram cells (each cell at its pixels'
    # mean colour): a few thousand weighted points instead of a quarter million pixels.
    points, weights = _histogram(_sample(arrays, total, _PALETTE_FIT_PIXELS))
    for _ in range(_KMEANS_ROUNDS):
        _, nearest = cKDTree(centres).query(points)
        centres = _refit(centres, nearest, points, weights)

    palette = Image.new("P", (1, 1))
    palette.putpalette(np.clip(np.rint(centres), 0, 255).astype(np.uint8).tobytes())
    return palette


def _sample(arrays: list[np.ndarray], total: int, wanted: int) -> np.ndarray:
    """About ``wanted`` pixels as an Nx3 array, on a grid spread over every frame."""
    step = max(1, int(math.sqrt(total / wanted)))
    return np.concatenate([a[i % step :: step, (i * 3) % step :: step].reshape(-1, 3) for i, a in enumerate(arrays)])


def _histogram(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cell = (
        (pixels[:, 0].astype(np.int32) >> 3) << 10
        | (pixels[:, 1].astype(np.int32) >> 3) << 5
        | pixels[:, 2].astype(np.int32) >> 3
    )
    counts = np.bincount(cell, minlength=1 << 15)
    used = np.flatnonzero(counts)
    weights = counts[used].astype(np.float64)
    means = np.stack(
        [np.bincount(cell, weights=pixels[:, c], minlength=1 << 15)[used] / weights for c in range(3)], axis=1
    )
    return means.astype(np.float32), weights


def frame_palettes(images: Sequence[Image.Image], palette: Image.Image) -> list[np.ndarray]:
    """One palette per frame (Nx3 float32, N as in ``palette``), refined from the shared ``palette``.

    Each frame starts from the previous frame's palette (the first from ``palette``) and runs a few
    k-means rounds on a grid sample of its own pixels, with Pillow's nearest-colour lookup assigning
    pixels to colours, so the colours fit the lookup that will map the frame. Colours the frame
    leaves unused move to its worst-reproduced pixels.
    """
    return [centres for centres, _ in _refined(images, palette)]


def _refined(images: Sequence[Image.Image], palette: Image.Image) -> Iterator[tuple[np.ndarray, Image.Image]]:
    """``frame_palettes``, each with the lookup image that maps its frame (``lookup_image`` of it).

    Pillow keeps the nearest colours it has looked up in the palette image it was given, and filling
    that cache is most of a lookup's cost (7 ms for a fresh palette on 512x512, 1 ms warm). The frame's
    own lookup, warm from mapping the frame, serves the next frame's first round, whose pixels are
    mostly the same colours: the same palettes, 15% less time.
    """
    shared = palette.getpalette()
    assert shared is not None
    centres = np.asarray(shared, np.float32).reshape(-1, 3)
    lookup = lookup_image(centres)
    step = max(1, int(math.sqrt(images[0].width * images[0].height / _FRAME_SAMPLE_PIXELS)))
    for i, image in enumerate(images):
        sample = np.ascontiguousarray(np.asarray(image)[::step, ::step])
        pixels = sample.reshape(-1, 3).astype(np.float32)
        sample_image = Image.fromarray(sample)
        for _ in range(_FIRST_FRAME_ROUNDS if i == 0 else _FRAME_ROUNDS):
            nearest = np.asarray(sample_image.quantize(palette=lookup, dither=Image.Dither.NONE)).ravel()
            centres = _refit(centres, nearest, pixels)
            lookup = lookup_image(centres)
        yield centres, lookup


def settled_colours(centres: np.ndarray, frame: Image.Image, image: Image.Image) -> np.ndarray:
    """``centres`` moved to the mean of the pixels ``frame`` (``image`` mapped through them) gave each.

    The refinement fitted the colours to the sample's assignment; the frame's own mapping differs a
    little, and for a fixed assignment the mean is the best colour, so the file gets the means (over
    every ``_SETTLE_STEP``-th pixel both ways) while the indices stay: 0.1-0.55 dB on every photo
    clip, most on the rocket's sky, for ~1 ms a frame.
    """
    nearest = np.asarray(frame)[::_SETTLE_STEP, ::_SETTLE_STEP].ravel()
    pixels = np.asarray(image)[::_SETTLE_STEP, ::_SETTLE_STEP].reshape(-1, 3)
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
    every photo clip (rocket -0.80 -> -0.65 dB against libimagequant; other mixes of 1 and 2 in between).
    """
    lookup = Image.new("P", (1, 1))
    shifted = true_colours(centres).astype(np.int16) - _LOOKUP_SHIFT
    lookup.putpalette(shifted.clip(0, 255).astype(np.uint8).tobytes())
    return lookup


def true_colours(centres: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(centres), 0, 255).astype(np.uint8)


def _refit(
    centres: np.ndarray, nearest: np.ndarray, pixels: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """One k-means update, then the colours that serve least moved to where they serve most.

    Each colour goes to the mean of its pixels; unused ones go to the worst-served pixels. Then, as in
    the enhanced LBG algorithm, up to ``_SWAPS`` colours whose loss would cost little (few pixels, a
    close neighbour to take them) each split a cluster with a large error: the two colours sit on its
    main axis, ``_SPLIT_SD`` standard deviations either side of its mean, and the next round settles them. Plain
    k-means stays in the local minimum its seed gives; the swaps gained 0.3-0.8 dB on the photo clips.
    ``weights`` counts each of ``pixels`` that many times (histogram cells); None counts each once.
    """
    refit = centres.copy()
    count = len(centres)
    mass = np.bincount(nearest, weights=weights, minlength=count)[:count]
    used = mass > 0
    for channel in range(3):
        weighted = pixels[:, channel] if weights is None else pixels[:, channel] * weights
        total = np.bincount(nearest, weights=weighted, minlength=count)[:count]
        refit[used, channel] = total[used] / mass[used]
    offsets = pixels - refit[nearest]
    error = (offsets**2).sum(axis=1)
    if weights is not None:
        error *= weights
    unused = np.flatnonzero(~used)
    if len(unused):
        worst = np.argpartition(error, -len(unused))[-len(unused) :] if len(unused) < len(error) else np.arange(0)
        refit[unused[: len(worst)]] = pixels[worst]
    if count < 4:
        return refit

    spread = np.bincount(nearest, weights=error, minlength=count)[:count]
    members = np.bincount(nearest, minlength=count)[:count]
    neighbour = cKDTree(refit).query(refit, k=2)[0][:, 1]
    cost = np.where(used, mass * neighbour**2, np.inf)  # its pixels move to the nearest other colour
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

    # Each split cluster's covariance from sums over all pixels at once, then its main axis.
    split, give = np.array(pairs).T
    covariance = np.empty((len(pairs), 3, 3))
    for a, b in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):
        product = offsets[:, a] * offsets[:, b] if weights is None else offsets[:, a] * offsets[:, b] * weights
        covariance[:, a, b] = covariance[:, b, a] = np.bincount(nearest, weights=product, minlength=count)[split]
    variances, axes = np.linalg.eigh(covariance / mass[split, None, None])
    step = _SPLIT_SD * axes[:, :, -1] * np.sqrt(np.maximum(variances[:, -1:], 0.0))
    means = refit[split]
    refit[give], refit[split] = means + step, means - step
    return refit


def write_gif(images: Sequence[Image.Image], durations_ms: Sequence[int], palette: Image.Image) -> bytes:
    """A looping GIF of ``images`` (all one size), each frame with its own colour table refined from ``palette``."""
    indexed = []
    for image, (centres, lookup) in zip(images, _refined(images, palette), strict=True):
        frame = image.quantize(palette=lookup, dither=Image.Dither.NONE)
        frame.putpalette(true_colours(settled_colours(centres, frame, image)).tobytes())  # its local colour table
        indexed.append(frame)
    out = io.BytesIO()
    # optimize=False: Pillow still crops each frame to what changed; optimize=True's transparency
    # fill made a camera pan 13% larger and a mostly static clip 1% larger. (Writing the frames
    # without Pillow's RGBA comparison of every pair saved only 2-7 of its ~80 ms: LZW is the cost.)
    indexed[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=indexed[1:],
        duration=list(durations_ms),
        loop=0,
        disposal=1,
        optimize=False,
    )
    return out.getvalue()
