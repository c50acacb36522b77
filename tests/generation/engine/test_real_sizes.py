"""The real model sizes through the real loader, on CPU, offline.

Random weights at the published sizes, written to disk in the Hugging Face cache layout, then loaded
through ``Engine(pipeline="real")`` with ``HF_HUB_OFFLINE=1``: the code path a GPU host runs on
``emilianJR/epiCRealism`` + ``ByteDance/AnimateDiff-Lightning`` + ``guoyww/animatediff-motion-lora-*``,
so a shape or key mismatch shows here instead of on a user's GPU box.

Where the sizes and layouts come from:

- UNet, VAE, text encoder, scheduler: the ``unet/``, ``vae/``, ``text_encoder/`` and ``scheduler/``
  ``config.json`` files of runwayml/stable-diffusion-v1-5, which emilianJR/epiCRealism (an SD 1.5
  fine-tune) repeats: an 860M-parameter UNet, the 84M SD VAE, CLIP ViT-L/14's 123M text encoder.
  The dicts below are those files' fields (diffusers/transformers bookkeeping keys left out).
- Lightning step checkpoints: bare state dicts of diffusers' default ``MotionAdapter()`` (453M
  parameters), as the AnimateDiff-Lightning model card loads them (``MotionAdapter()`` then
  ``load_state_dict(load_file(...))``); files ``animatediff_lightning_{N}step_diffusers.safetensors``.
- Motion LoRA: the layout of guoyww/animatediff-motion-lora-zoom-in's
  ``diffusion_pytorch_model.safetensors`` as diffusers' conversion script writes it
  (``unet.<motion module attention>.to_q.lora.down.weight`` / ``.lora.up.weight``, for to_q, to_k,
  to_v and to_out.0 of both temporal attentions), at rank 64: 19.3M float32 parameters, the 77 MB of
  the published file.
- Tokenizer: the byte-level stand-in of ``generation.engine.tiny`` (the real CLIP vocabulary cannot
  be downloaded here); its ids fit the real 49,408-token embedding, so every tensor keeps its real size.

Weights are stored in float16 (half the disk) and loaded in bfloat16 (half the memory of float32);
generation is 8 frames at 64x64 for one step through the loaded pipeline, in float32 (the bot's own
sizes start at 512x512, minutes per step on a CPU). Wall time and memory: docs/PERFORMANCE.md.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModel

from generation.catalog import LIGHTNING_REPO, find_base_model, find_motion, step_checkpoint
from generation.engine import Engine
from generation.engine.sources import LORA_WEIGHT_NAME
from generation.engine.tiny import tiny_tokenizer
from generation.errors import GenerationCancelled
from generation.params import GenerationParams, MotionSpec

# Minutes and ~9 GB of RAM on a 2-core machine: out of the default run (pyproject addopts), run with
# `python -m pytest -n 0 -m real_sizes -s`, with more room than the suite's 120 s per test.
pytestmark = [pytest.mark.slow, pytest.mark.real_sizes, pytest.mark.timeout(900)]

COMMIT = "0123456789abcdef0123456789abcdef01234567"

# runwayml/stable-diffusion-v1-5 unet/config.json
SD15_UNET = {
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
# runwayml/stable-diffusion-v1-5 vae/config.json
SD15_VAE = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
# runwayml/stable-diffusion-v1-5 text_encoder/config.json (CLIP ViT-L/14's text tower)
SD15_TEXT_ENCODER = {
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "projection_dim": 768,
    "vocab_size": 49408,
}
# runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json
SD15_SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}
SD15_MODEL_INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "feature_extractor": ["transformers", "CLIPImageProcessor"],
    "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
    "scheduler": ["diffusers", "PNDMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}
MOTION_LORA_RANK = 64
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


class RandomWeights:
    """Random float16 tensors of any shape, cut from one pool: writing 2B values stays a memcpy."""

    def __init__(self, seed: int, size: int = 1 << 24, std: float = 0.02) -> None:
        generator = torch.Generator().manual_seed(seed)
        self._pool = (torch.randn(size, generator=generator) * std).to(torch.float16)
        self._next = 0

    def __call__(self, shape: torch.Size) -> torch.Tensor:
        count = shape.numel()
        start = self._next % len(self._pool)
        self._next += 7919  # a different cut for every tensor
        values = self._pool[start : start + count]
        if len(values) < count:
            values = self._pool.repeat(count // len(self._pool) + 2)[start : start + count]
        return values.clone().reshape(shape)

    def state_dict(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {key: self(value.shape) for key, value in module.state_dict().items()}


def snapshot(cache: Path, repo_id: str) -> Path:
    """The snapshot folder of ``repo_id`` in a Hugging Face cache, created with refs/main pointing at it."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(COMMIT)
    folder = repo_dir / "snapshots" / COMMIT
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_base_model(folder: Path, random: RandomWeights) -> None:
    (folder / "model_index.json").write_text(json.dumps(SD15_MODEL_INDEX))
    with torch.device("meta"):  # shapes only: the values come from ``random``
        unet = UNet2DConditionModel(**SD15_UNET)
        vae = AutoencoderKL(**SD15_VAE)
        text_encoder = CLIPTextModel(CLIPTextConfig(**SD15_TEXT_ENCODER))
    for name, model in (("unet", unet), ("vae", vae)):
        model.save_config(folder / name)
        save_file(random.state_dict(model), folder / name / "diffusion_pytorch_model.safetensors")
    text_encoder.config.save_pretrained(folder / "text_encoder")
    save_file(random.state_dict(text_encoder), folder / "text_encoder" / "model.safetensors")
    tiny_tokenizer().save_pretrained(folder / "tokenizer")
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD15_SCHEDULER))


def write_motion_lora(folder: Path, adapter: MotionAdapter, random: RandomWeights) -> int:
    """A motion LoRA at the real rank on every temporal attention projection; returns its parameter count."""
    lora: dict[str, torch.Tensor] = {}
    for name, module in adapter.named_modules():
        if ".motion_modules." in f".{name}" and name.endswith(LORA_TARGETS) and isinstance(module, torch.nn.Linear):
            down = random(torch.Size((MOTION_LORA_RANK, module.in_features))).float()
            up = random(torch.Size((module.out_features, MOTION_LORA_RANK))).float()
            lora[f"unet.{name}.lora.down.weight"] = down
            lora[f"unet.{name}.lora.up.weight"] = up
    save_file(lora, folder / LORA_WEIGHT_NAME)
    return sum(t.numel() for t in lora.values())


def test_real_sizes_load_switch_steps_apply_a_motion_lora_and_generate(tmp_path: Path) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # tests/conftest.py: nothing may be downloaded
    started = time.perf_counter()
    cache = tmp_path / "hf-cache"
    random = RandomWeights(seed=0)
    base = find_base_model("epicrealism")
    zoom = find_motion("zoom-in")
    assert base is not None and zoom is not None
    write_base_model(snapshot(cache, base.repo_id), random)
    with torch.device("meta"):
        adapter = MotionAdapter()  # the default config: what the Lightning checkpoints fit
    lightning = snapshot(cache, LIGHTNING_REPO)
    for steps in (1, 2):
        save_file(RandomWeights(seed=steps).state_dict(adapter), lightning / step_checkpoint(steps).filename)
    lora_parameters = write_motion_lora(snapshot(cache, zoom.repo_id), adapter, random)
    assert 19_000_000 < lora_parameters < 19_500_000  # rank 64 on 4 projections x 2 attentions x 21 motion modules
    written_s = time.perf_counter() - started

    engine = Engine(pipeline="real", base_model="epicrealism", steps=2, cache_dir=str(cache), dtype="bfloat16")
    engine.load()
    unet = engine.pipeline.unet
    assert type(unet).__name__ == "UNetMotionModel"
    assert 1_250_000_000 < sum(p.numel() for p in unet.parameters()) < 1_350_000_000  # 860M SD UNet + 453M motion
    assert engine.pipeline.text_encoder.config.hidden_size == 768
    key = "up_blocks.3.motion_modules.2.transformer_blocks.0.attn1.to_out.0.weight"
    two = load_file(str(lightning / step_checkpoint(2).filename))
    assert torch.equal(unet.state_dict()[key], two[key].to(torch.bfloat16))
    # Every weight came from the files (the engine skips random initialisation): spot-check 2D parts too.
    base_unet = load_file(str(snapshot(cache, base.repo_id) / "unet" / "diffusion_pytorch_model.safetensors"))
    for name in ("conv_in.weight", "down_blocks.1.attentions.0.proj_in.weight", "mid_block.resnets.1.norm2.bias"):
        assert torch.equal(unet.state_dict()[name], base_unet[name].to(torch.bfloat16)), name
    loaded_s = time.perf_counter() - started - written_s

    # The engine's own switch: 1-step checkpoint in, zoom-in LoRA applied; cancelled before any
    # denoising because the bot's sizes (512x512) would take minutes per step on a CPU.
    params = GenerationParams("a lighthouse at dusk", steps=1, frames=8, seed=0, motions=(MotionSpec("zoom-in", 0.8),))
    with pytest.raises(GenerationCancelled, match="before the first step"):
        engine.generate(params, should_cancel=lambda: True)
    one = load_file(str(lightning / step_checkpoint(1).filename))
    own = unet.state_dict()
    assert engine.steps == 1
    assert torch.equal(own[key.replace(".weight", ".base_layer.weight")], one[key].to(torch.bfloat16))
    lora_a = [v for k, v in own.items() if ".motion_modules." in k and ".lora_A." in k]
    assert len(lora_a) == 21 * 2 * 4 and {v.shape[0] for v in lora_a} == {MOTION_LORA_RANK}
    assert engine.pipeline.get_active_adapters() == [zoom.adapter_name]

    # CPUs without bfloat16 kernels run it ~25x slower than float32 (80 s against 3 s for this step),
    # so the one step runs in float32; the loading above is what had to go through bfloat16.
    engine.pipeline.to(dtype=torch.float32)
    with torch.inference_mode():
        latents = engine.pipeline(
            prompt=params.prompt,
            num_frames=8,
            height=64,
            width=64,
            num_inference_steps=1,
            guidance_scale=1.0,
            generator=torch.Generator("cpu").manual_seed(0),
            output_type="latent",
        ).frames
        assert latents.shape == (1, 4, 8, 8, 8)
        vae = engine.pipeline.vae
        flat = latents.permute(0, 2, 1, 3, 4).reshape(8, 4, 8, 8).to(torch.float32) / vae.config.scaling_factor
        frames = vae.decode(flat).sample
    assert frames.shape == (8, 3, 64, 64) and torch.isfinite(frames).all()
    engine.close()

    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    print(
        f"\nreal sizes: wrote {written_s:.1f} s, loaded {loaded_s:.1f} s, "
        f"switch + LoRA + 1 step + decode {time.perf_counter() - started - written_s - loaded_s:.1f} s, "
        f"peak RSS {peak_gib:.1f} GiB (this pytest process)"
    )
