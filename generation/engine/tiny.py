"""Tiny random-weight AnimateDiff components, built in code, for tests and smoke runs.

The classes are the real diffusers/transformers ones (UNet2DConditionModel -> UNetMotionModel,
MotionAdapter, AutoencoderKL, CLIPTextModel, CLIPTokenizer, EulerDiscreteScheduler, peft LoRAs);
only the sizes are tiny and the weights random, so every line of the engine runs and the frames
are noise. Nothing is downloaded. Weights are seeded by name, so the same model, step count or
motion always gets the same weights, and different ones get different weights.

Sizes were chosen for speed on one CPU thread at the real resolution: the VAE still downsamples
by 8 (four blocks), so 512x512 frames mean 64x64 latents like the real model, but the channel
counts are 2-16 and spatial attention only runs at the lowest UNet resolution.

``write_tiny_model_files`` writes the same components to disk in the layouts the real loader
reads (a diffusers SD1.5 directory, a Lightning-style checkpoint directory, motion LoRA
directories), so the real loading path can be tested offline.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AnimateDiffPipeline,
    AutoencoderKL,
    EulerDiscreteScheduler,
    MotionAdapter,
    StableDiffusionPipeline,
    UNet2DConditionModel,
    UNetMotionModel,
)
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from generation.catalog import ALLOWED_STEPS, DEFAULT_BASE_MODEL, MOTIONS, MotionLora, find_motion
from generation.engine.sources import LORA_WEIGHT_NAME, BaseRef, LoraWeights, load_local_base
from generation.errors import ModelLoadError

TINY_LABEL = "tiny test model (random weights, output is noise)"

_BLOCKS = (4, 8, 16)
_DOWN = ("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D")
_UP = ("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D")
_TEXT_DIM = 16
_LORA_RANK = 4

# What MotionAdapter(**TINY_ADAPTER_CONFIG) builds must fit the tiny UNet block for block.
TINY_ADAPTER_CONFIG: dict[str, Any] = {
    "block_out_channels": _BLOCKS,
    "motion_layers_per_block": 1,
    "motion_num_attention_heads": 1,
    "motion_norm_num_groups": 2,
    "motion_max_seq_length": 32,
    "use_motion_mid_block": True,
}


def _seed(*parts: object) -> int:
    # crc32 rather than hash(): str hashes change from one process to the next.
    return zlib.crc32("/".join(str(p) for p in parts).encode())


@contextmanager
def _seeded(*parts: object) -> Iterator[None]:
    """Seed torch's CPU generator for a build without disturbing the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed(*parts))
        yield


def _bytes_to_unicode() -> list[str]:
    # The byte-level alphabet of GPT-2/CLIP BPE: every byte maps to a printable character.
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def tiny_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer over single bytes (no merges): any text tokenizes, nothing is downloaded."""
    alphabet = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(alphabet)}
    vocab.update({c + "</w>": i + len(alphabet) for i, c in enumerate(alphabet)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def tiny_base_components(model: str = DEFAULT_BASE_MODEL) -> dict[str, Any]:
    """Tiny SD1.5-shaped parts for ``model``: unet (2D), vae, text_encoder, tokenizer, scheduler."""
    tokenizer = tiny_tokenizer()
    vocab_size = len(tokenizer)
    with _seeded("base", model):
        unet = UNet2DConditionModel(
            sample_size=64,
            block_out_channels=_BLOCKS,
            layers_per_block=1,
            down_block_types=_DOWN,
            up_block_types=_UP,
            cross_attention_dim=_TEXT_DIM,
            attention_head_dim=2,
            norm_num_groups=2,
        )
        vae = AutoencoderKL(
            block_out_channels=(2, 2, 2, 2),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=0,
            latent_channels=4,
            norm_num_groups=1,
            sample_size=512,
            mid_block_add_attention=False,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=vocab_size,
                hidden_size=_TEXT_DIM,
                intermediate_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                max_position_embeddings=77,
                projection_dim=_TEXT_DIM,
                bos_token_id=vocab_size - 2,
                eos_token_id=vocab_size - 1,
                pad_token_id=vocab_size - 1,
            )
        )
    # The SD1.5 training schedule; the engine re-derives the Lightning one from this config.
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "tokenizer": tokenizer,
        "scheduler": scheduler,
    }


def tiny_motion_adapter(steps: int) -> MotionAdapter:
    """A tiny MotionAdapter standing in for the ``steps``-step Lightning checkpoint."""
    if steps not in ALLOWED_STEPS:
        raise ValueError(f"no tiny checkpoint for {steps} steps; allowed: 1, 2, 4, 8")
    with _seeded("lightning", steps):
        return MotionAdapter(**TINY_ADAPTER_CONFIG).eval()


def lora_host() -> UNetMotionModel:
    """A tiny motion UNet to make LoRAs on (only its shapes matter); reuse it across motions."""
    with _seeded("lora-host"):
        return UNetMotionModel.from_unet2d(tiny_base_components()["unet"], MotionAdapter(**TINY_ADAPTER_CONFIG))


def tiny_motion_lora(motion: str, host: UNetMotionModel | None = None) -> dict[str, torch.Tensor]:
    """peft LoRA weights (random, non-zero) on the motion modules' attention, keys without prefix.

    The keys are what ``get_peft_model_state_dict`` gives (``...to_q.lora_A.weight``); prefix
    them with ``unet.`` for ``load_lora_weights``. ``host`` (from ``lora_host()``) saves
    rebuilding a UNet for each motion; it is left as it was given.
    """
    entry = find_motion(motion)
    if entry is None:
        raise ValueError(f"unknown motion {motion!r}")
    host = host if host is not None else lora_host()
    config = LoraConfig(
        r=_LORA_RANK,
        lora_alpha=_LORA_RANK,
        # guoyww's motion LoRAs adapt the temporal attention projections; so do these.
        target_modules=r".*motion_modules.*\.(to_q|to_k|to_v|to_out\.0)",
        # False keeps both A and B random; peft's default zeroes B, which would make a no-op LoRA.
        init_lora_weights=False,
    )
    with _seeded("lora", entry.name):
        host.add_adapter(config, adapter_name=entry.adapter_name)
    try:
        state = get_peft_model_state_dict(host, adapter_name=entry.adapter_name)
        return {k: v.detach().clone().contiguous() for k, v in state.items()}
    finally:
        host.delete_adapters(entry.adapter_name)


@dataclass(frozen=True)
class TinyFiles:
    """Where ``write_tiny_model_files`` put things."""

    root: Path
    base_dir: Path  # a diffusers SD1.5 directory (model_index.json, unet/, vae/, ...)
    lightning_dir: Path  # animatediff_lightning_{N}step_diffusers.safetensors + config.json
    lora_dir: Path  # one sub-directory per motion name with diffusion_pytorch_model.safetensors


def write_tiny_base_model(dest: Path, model: str = DEFAULT_BASE_MODEL) -> Path:
    """Write the tiny base model ``model`` as a StableDiffusionPipeline directory; returns ``dest``."""
    parts = tiny_base_components(model)
    pipe = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(dest)
    return dest


def write_tiny_model_files(root: Path) -> TinyFiles:
    """Write a tiny base model, Lightning-style checkpoints and motion LoRAs under ``root``.

    The Lightning directory holds bare MotionAdapter state dicts (as ByteDance publishes them)
    plus a ``config.json``, because these adapters are not the default ``MotionAdapter()`` size.
    """
    root = Path(root)
    base_dir = write_tiny_base_model(root / "base")
    lightning_dir = root / "lightning"
    lightning_dir.mkdir(parents=True, exist_ok=True)
    for steps in ALLOWED_STEPS:
        adapter = tiny_motion_adapter(steps)
        state = {k: v.contiguous() for k, v in adapter.state_dict().items()}
        save_file(state, lightning_dir / f"animatediff_lightning_{steps}step_diffusers.safetensors")
    (lightning_dir / "config.json").write_text(json.dumps(TINY_ADAPTER_CONFIG, indent=2))
    lora_dir = root / "motion-loras"
    host = lora_host()
    for motion in MOTIONS:
        AnimateDiffPipeline.save_lora_weights(
            lora_dir / motion.name,
            unet_lora_layers=tiny_motion_lora(motion.name, host),
            weight_name=LORA_WEIGHT_NAME,
        )
    return TinyFiles(root=root, base_dir=base_dir, lightning_dir=lightning_dir, lora_dir=lora_dir)


class TinySource:
    """Where the engine gets weights in tiny mode (see ``generation.engine.engine.WeightSource``).

    Catalog models, step checkpoints and motion LoRAs are built in memory, seeded by name. A
    local diffusers directory is loaded for real (it may hold files written above). A Hub repo
    id is refused with ModelLoadError: the tiny pipeline stands in for a machine without the Hub.
    """

    def __init__(self) -> None:
        self._motion: dict[int, dict[str, torch.Tensor]] = {}
        self._loras: dict[str, dict[str, torch.Tensor]] = {}
        self._lora_host: UNetMotionModel | None = None

    def adapter_config(self) -> dict[str, Any]:
        return dict(TINY_ADAPTER_CONFIG)

    def base_components(self, ref: BaseRef, dtype: torch.dtype) -> dict[str, Any]:
        if ref.kind == "local":
            return load_local_base(Path(ref.location), ref.display, dtype)
        if ref.kind == "repo":
            raise ModelLoadError(
                f"the tiny test pipeline cannot fetch {ref.display!r} from the Hugging Face Hub; "
                "use a catalog model or a local diffusers directory"
            )
        parts = tiny_base_components(ref.display)
        for key in ("unet", "text_encoder"):
            parts[key] = parts[key].to(dtype)
        return parts

    def motion_weights(self, steps: int) -> dict[str, torch.Tensor]:
        if steps not in self._motion:
            self._motion[steps] = tiny_motion_adapter(steps).state_dict()
        return self._motion[steps]

    def motion_lora(self, motion: MotionLora) -> LoraWeights:
        if motion.name not in self._loras:
            if self._lora_host is None:
                self._lora_host = lora_host()
            made = tiny_motion_lora(motion.name, self._lora_host)
            self._loras[motion.name] = {f"unet.{k}": v for k, v in made.items()}
        return dict(self._loras[motion.name])
