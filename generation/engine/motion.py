"""Motion-weight surgery: Lightning checkpoints into a ``MotionAdapter`` or into a loaded UNet's
motion modules (peft LoRA layers kept), and the fit checks between a base model and the adapter.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import MotionAdapter

from generation.errors import ModelLoadError, first_line

SD15_TEXT_DIM = 768


def build_adapter(config: dict[str, Any], weights: dict[str, torch.Tensor], steps: int) -> MotionAdapter:
    # Built on the meta device and filled by assignment: a real-size MotionAdapter() would
    # first spend seconds initialising 450M random parameters that are overwritten at once.
    with torch.device("meta"):
        adapter = MotionAdapter.from_config(config)
    try:
        adapter.load_state_dict(weights, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"the {steps}-step Lightning checkpoint does not fit the motion adapter config: {first_line(exc)}"
        ) from exc
    return adapter


def check_fits(parts: dict[str, Any], adapter: MotionAdapter, display: str, default_adapter: bool) -> None:
    unet_cfg, adapter_cfg = parts["unet"].config, adapter.config
    unet_blocks = tuple(unet_cfg.block_out_channels)
    if unet_blocks != tuple(adapter_cfg.block_out_channels):
        raise ModelLoadError(
            f"{display} does not fit the motion adapter: UNet blocks {unet_blocks}, adapter expects "
            f"{tuple(adapter_cfg.block_out_channels)}; AnimateDiff-Lightning needs a Stable Diffusion 1.5 model"
        )
    text_dim = parts["text_encoder"].config.hidden_size
    if unet_cfg.cross_attention_dim != text_dim:
        raise ModelLoadError(
            f"{display} is inconsistent: text encoder width {text_dim}, UNet expects {unet_cfg.cross_attention_dim}"
        )
    if default_adapter and text_dim != SD15_TEXT_DIM:
        raise ModelLoadError(
            f"{display} has a {text_dim}-wide text encoder (SD 1.5 has {SD15_TEXT_DIM}); "
            "AnimateDiff-Lightning needs a Stable Diffusion 1.5 model"
        )


def _peft_key(key: str) -> str:
    # peft wraps a LoRA-adapted Linear, so its weight moves from "x.to_q.weight" to "x.to_q.base_layer.weight".
    module, _, leaf = key.rpartition(".")
    return f"{module}.base_layer.{leaf}"


def load_motion_weights(unet: torch.nn.Module, weights: dict[str, torch.Tensor], what: str) -> None:
    """Copy a Lightning checkpoint into the UNet's motion modules, in place, LoRA layers kept."""
    own = unet.state_dict()
    targets: dict[str, torch.Tensor] = {}
    for key, value in weights.items():
        target = key if key in own else _peft_key(key)
        if target not in own or own[target].shape != value.shape:
            raise ModelLoadError(f"{what} does not fit the loaded UNet (no place for {key})")
        targets[target] = value
    expected = {k for k in own if ".motion_modules." in k and ".lora_" not in k}
    if expected - targets.keys():
        raise ModelLoadError(f"{what} does not fit the loaded UNet ({len(expected - targets.keys())} weights missing)")
    with torch.no_grad():
        for key, value in targets.items():
            own[key].copy_(value)


def motion_state(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The motion-module weights of a loaded UNet under MotionAdapter key names, LoRA layers left out."""
    return {
        k.replace(".base_layer.", "."): v
        for k, v in unet.state_dict().items()
        if ".motion_modules." in k and ".lora_" not in k
    }
