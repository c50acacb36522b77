"""Seconds per clip for the generation engine.

    python benchmarks/bench_pipeline.py [--threads N] [--repeats 3]
    python benchmarks/bench_pipeline.py --real-size [--compile] [--repeats 3]

Default: the tiny pipeline (generation/tiny.py) on CPU, 16 frames 512x512, 1/2/4/8 steps.

``--real-size`` needs a CUDA GPU. It writes random weights at the real sizes (SD1.5 UNet, the
default MotionAdapter that the Lightning checkpoints fit, the SD VAE, a CLIP ViT-L/14 text
encoder; configs in this file, nothing downloaded) in the on-disk layouts the real loader reads,
then, in the same run, times the plain model-card recipe (fp16 pipeline, default settings, fp16
VAE) against our Engine (fp16, SDPA, VAE slicing, float32 VAE decode, optionally
``torch.compile`` of the UNet): seconds per clip at 16 frames 512x512 and peak VRAM
(``torch.cuda.max_memory_allocated``). Random weights make noise, at the real cost. Exits 2
without a GPU. ``--allow-cpu`` runs the real-size path on CPU as a slow smoke test (its times
mean nothing).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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
    return 0


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


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _peak_reset(device: str) -> None:
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> str:
    return f"{torch.cuda.max_memory_allocated() / 2**30:.2f}" if device == "cuda" else "-"


def bench_model_card(base: Path, lightning: Path, args: argparse.Namespace, device: str, dtype: torch.dtype):
    """The AnimateDiff-Lightning model card's recipe, as written there; yields table rows."""
    from diffusers import AnimateDiffPipeline, EulerDiscreteScheduler, MotionAdapter
    from safetensors.torch import load_file

    adapter = MotionAdapter().to(device, dtype)
    adapter.load_state_dict(load_file(str(lightning / step_checkpoint(args.steps[0]).filename), device=device))
    pipe = AnimateDiffPipeline.from_pretrained(str(base), motion_adapter=adapter, torch_dtype=dtype).to(device)
    pipe.scheduler = EulerDiscreteScheduler.from_config(
        pipe.scheduler.config, timestep_spacing="trailing", beta_schedule="linear"
    )
    pipe.set_progress_bar_config(disable=True)
    w, h = GenerationParams(PROMPT, aspect=args.aspect).size
    for steps in args.steps:
        adapter.load_state_dict(load_file(str(lightning / step_checkpoint(steps).filename), device=device))
        pipe.unet.load_motion_modules(adapter)

        def clip(steps: int = steps) -> tuple[float, float, float]:
            _sync(device)
            started = time.perf_counter()
            pipe(
                prompt=PROMPT,
                guidance_scale=1.0,
                num_inference_steps=steps,
                num_frames=args.frames,
                width=w,
                height=h,
                generator=torch.Generator("cpu").manual_seed(0),
            )
            _sync(device)
            return time.perf_counter() - started, float("nan"), float("nan")

        if device == "cuda":
            clip()  # warm-up
        _peak_reset(device)
        total, _, _ = median_run(clip, args.repeats)
        yield ["model card", str(steps), f"{total:.2f}", "-", "-", _peak_gib(device), ""]


def bench_engine(base: Path, lightning: Path, args: argparse.Namespace, device: str, compile: bool):
    """Our Engine on the same files; yields table rows."""
    engine = Engine(
        pipeline="real",
        base_model=str(base),
        steps=args.steps[0],
        lightning_source=str(lightning),
        device=device,
        dtype=args.dtype,
        compile=compile,
    )
    started = time.perf_counter()
    engine.load()
    print(f"engine ({'compiled' if compile else 'eager'}) loaded in {time.perf_counter() - started:.1f} s")
    name = "ours + compile" if compile else "ours"
    for steps in args.steps:
        params = GenerationParams(PROMPT, steps=steps, frames=args.frames, aspect=args.aspect, seed=0)
        note = ""

        def clip(params: GenerationParams = params) -> tuple[float, float, float]:
            nonlocal note
            _sync(device)
            started = time.perf_counter()
            try:
                t = engine.generate(params).timings
            except BadOutputError as exc:  # random weights may overflow; the time still counts
                note = f"bad output: {exc}"
                return time.perf_counter() - started, float("nan"), float("nan")
            _sync(device)
            return time.perf_counter() - started, t.denoise_s, t.decode_s

        if device == "cuda":
            clip()  # warm-up (and compilation)
        _peak_reset(device)
        total, denoise, decode = median_run(clip, args.repeats)
        yield [name, str(steps), f"{total:.2f}", f"{denoise:.2f}", f"{decode:.2f}", _peak_gib(device), note]
    engine.close()


def run_real_size(args: argparse.Namespace) -> int:
    if torch.cuda.is_available():
        device = "cuda"
    elif args.allow_cpu:
        device = "cpu"
    else:
        print("--real-size needs a CUDA GPU and torch sees none; run it on a GPU host (see docs/PERFORMANCE.md)")
        return 2
    args.dtype = args.dtype or ("float16" if device == "cuda" else "float32")
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[args.dtype]
    gpu = torch.cuda.get_device_name() if device == "cuda" else "CPU (smoke run: times mean nothing)"
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        started = time.perf_counter()
        base, lightning = write_real_size_files(Path(tmp), device, dtype, args.steps)
        print(f"wrote random real-size weights in {time.perf_counter() - started:.1f} s")
        rows = list(bench_model_card(base, lightning, args, device, dtype))
        _peak_reset(device)
        rows += bench_engine(base, lightning, args, device, compile=False)
        if args.compile:
            _peak_reset(device)
            rows += bench_engine(base, lightning, args, device, compile=True)
    w, h = GenerationParams(PROMPT, aspect=args.aspect).size
    print(f"real-size random weights, {gpu}, {args.dtype}, {args.frames} frames {w}x{h}, median of {args.repeats}")
    print_table(["recipe", "steps", "s/clip", "denoise s", "decode s", "peak GiB", "note"], rows)
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
    parser.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default=None)
    parser.add_argument("--workdir", default=None, help="where to write the real-size weights (about 6 GB)")
    parser.add_argument("--allow-cpu", action="store_true", help="real-size smoke run on CPU (very slow)")
    args = parser.parse_args(argv)
    return run_real_size(args) if args.real_size else run_tiny(args)


if __name__ == "__main__":
    sys.exit(main())
