"""Where an Engine's weights come from and how they are read.

A "source" hands the engine its weights: ``HubSource`` (Hugging Face repos through the HF
cache, honouring ``HF_HUB_OFFLINE``, or local directories) or ``generation.engine.tiny.TinySource``
(tiny random weights built in code, for tests and machines without weights). This module also
resolves model names (``resolve_base``) and reads local diffusers SD1.5 directories
(``load_local_base``); every failure is a ModelLoadError saying what is missing or wrong.

Lightning checkpoints are bare ``MotionAdapter`` state dicts for the *default* adapter
config. A local Lightning directory may carry a ``config.json`` (as the tiny files do); when
it does, the adapter is built from that config instead of ``MotionAdapter()`` defaults.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
from huggingface_hub import constants as hf_constants
from huggingface_hub import errors as hf_errors
from huggingface_hub import hf_hub_download
from huggingface_hub.utils import validate_repo_id
from safetensors.torch import load_file
from transformers import CLIPTextModel, CLIPTokenizer

from generation.catalog import BASE_MODELS, LIGHTNING_REPO, MotionLora, find_base_model, step_checkpoint
from generation.engine.download import probe_hub
from generation.errors import ModelLoadError, first_line

__all__ = [
    "LORA_WEIGHT_NAME",
    "WAYS_ON",
    "BaseRef",
    "HubSource",
    "LoraWeights",
    "WeightSource",
    "hub_unreachable",
    "load_local_base",
    "resolve_base",
]

log = logging.getLogger("animatebot.pipeline")

WAYS_ON = (
    "ANIMATEBOT_PIPELINE=tiny tries everything without weights; `animatebot models pull` fills the cache where "
    "the Hub is reachable; HF_HUB_OFFLINE=1 runs from a copied Hugging Face cache"
)

LORA_WEIGHT_NAME = "diffusion_pytorch_model.safetensors"  # what guoyww/animatediff-motion-lora-* ship
_SD15_PIPELINES = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline")

# A LoRA as load_lora_weights takes it: a state dict, or (directory, weight file name).
LoraWeights = dict[str, torch.Tensor] | tuple[str, str]


@dataclass(frozen=True)
class BaseRef:
    """A resolved base model: a catalog entry, a Hub repo id or a local diffusers directory."""

    kind: Literal["catalog", "repo", "local"]
    display: str  # catalog alias, repo id or absolute path: what results and labels show
    location: str  # repo id or absolute path: what gets loaded


def resolve_base(name: str) -> BaseRef:
    """Resolve a model name; raises ModelLoadError naming the problem and what is allowed."""
    text = name.strip()
    known = ", ".join(m.alias for m in BASE_MODELS)
    if not text:
        raise ModelLoadError(f"no model name given; known models: {known}")
    entry = find_base_model(text)
    if entry is not None:
        return BaseRef("catalog", entry.alias, entry.repo_id)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"{text} is a file, not a diffusers directory (convert single-file checkpoints first)")
        resolved = str(path.resolve())
        return BaseRef("local", resolved, resolved)
    if text.startswith(("/", ".", "~")) or "\\" in text or text.count("/") > 1:
        raise ModelLoadError(f"model {text!r} not found: no such directory")
    try:
        validate_repo_id(text)
    except hf_errors.HFValidationError:
        valid = False
    else:
        valid = "/" in text
    if not valid:
        raise ModelLoadError(
            f"unknown model {text!r}; known models: {known}, or a Hugging Face repo id (owner/name) "
            "or a local diffusers directory"
        )
    return BaseRef("repo", text, text)


def _offline() -> bool:
    check = getattr(hf_constants, "is_offline_mode", None)
    return bool(check()) if callable(check) else bool(hf_constants.HF_HUB_OFFLINE)


@functools.cache
def hub_unreachable() -> str | None:
    """Once per process, before the first download: the line saying the Hub is unreachable, or None.

    When it is unreachable, huggingface_hub is switched to offline mode (HF_HUB_OFFLINE's meaning) for the rest of
    the process: everything already in the cache loads at once, and nothing else waits on retries. The line is
    logged here, once, naming the ways on.
    """
    if _offline():
        return None
    reason = probe_hub()
    if reason is None:
        return None
    hf_constants.HF_HUB_OFFLINE = True
    line = f"the Hugging Face Hub at {hf_constants.ENDPOINT} is unreachable ({reason}); only the local cache is used"
    log.error("%s. Ways on: %s", line, WAYS_ON)
    return line


def _hub_file(repo_id: str, filename: str, what: str, cache_dir: str | None) -> Path:
    """Download (or find in the HF cache) one file; ModelLoadError says why it is not there."""
    unreachable = hub_unreachable()
    try:
        return Path(hf_hub_download(repo_id, filename, cache_dir=cache_dir))
    except (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled) as exc:
        if unreachable is not None:
            raise ModelLoadError(
                f"{what} ({repo_id}) is not in the Hugging Face cache and the Hub is unreachable; "
                "`animatebot models pull` fills the cache where it is reachable"
            ) from exc
        if _offline():
            raise ModelLoadError(
                f"{what} ({repo_id}) is not in the Hugging Face cache and offline mode (HF_HUB_OFFLINE=1) "
                "forbids downloading it; run `animatebot models pull` on a machine with internet"
            ) from exc
        raise ModelLoadError(f"could not download {what} ({repo_id}): the Hugging Face Hub is unreachable") from exc
    except (hf_errors.RepositoryNotFoundError, hf_errors.GatedRepoError) as exc:
        raise ModelLoadError(f"{what}: no repo {repo_id} on the Hugging Face Hub (or it is private/gated)") from exc
    except hf_errors.EntryNotFoundError as exc:
        raise ModelLoadError(f"{what}: {repo_id} has no file {filename}") from exc
    except Exception as exc:
        raise ModelLoadError(f"could not download {what} ({repo_id}/{filename}): {first_line(exc)}") from exc


def _check_index(index_file: Path, display: str) -> None:
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{display}: unreadable model_index.json ({first_line(exc)})") from exc
    kind = index.get("_class_name")
    if kind not in _SD15_PIPELINES:
        raise ModelLoadError(
            f"{display} holds a {kind}, not a Stable Diffusion 1.5 pipeline; AnimateDiff-Lightning needs SD 1.5"
        )


def _load_components(src: str, display: str, dtype: torch.dtype, cache_dir: str | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"cache_dir": cache_dir} if cache_dir else {}
    loaders: dict[str, Callable[[], Any]] = {
        "tokenizer": lambda: CLIPTokenizer.from_pretrained(src, subfolder="tokenizer", **extra),
        # transformers spells the dtype argument differently across versions; .to() works in all of them.
        "text_encoder": lambda: CLIPTextModel.from_pretrained(src, subfolder="text_encoder", **extra).to(dtype),
        # The VAE loads in float32 whatever the dtype; the Engine casts it to its vae_dtype
        # (float16 decoding can overflow to NaN/black; bfloat16 has float32's range).
        "vae": lambda: AutoencoderKL.from_pretrained(src, subfolder="vae", torch_dtype=torch.float32, **extra),
        "unet": lambda: UNet2DConditionModel.from_pretrained(src, subfolder="unet", torch_dtype=dtype, **extra),
        "scheduler": lambda: EulerDiscreteScheduler.from_pretrained(src, subfolder="scheduler", **extra),
    }
    parts = {}
    for part, load in loaders.items():
        try:
            parts[part] = load()
        except Exception as exc:
            raise ModelLoadError(f"could not load the {part} of {display}: {first_line(exc)}") from exc
    return parts


def load_local_base(path: Path, display: str, dtype: torch.dtype) -> dict[str, Any]:
    """Components (unet 2D, vae, text_encoder, tokenizer, scheduler) of a local diffusers SD1.5 directory.

    Raises ModelLoadError saying what is wrong with the directory or which component failed.
    """
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise ModelLoadError(f"{display} is not a diffusers SD1.5 directory: it has no model_index.json")
    _check_index(index_file, display)
    missing = [p for p in ("unet", "vae", "text_encoder", "tokenizer", "scheduler") if not (path / p).is_dir()]
    if missing:
        raise ModelLoadError(f"{display} is not a complete diffusers SD1.5 directory: no {', '.join(missing)}")
    return _load_components(str(path), display, dtype, None)


class WeightSource(Protocol):
    """Where an Engine gets its weights from."""

    def adapter_config(self) -> dict[str, Any]: ...  # {} means the default MotionAdapter()
    def base_components(self, ref: BaseRef, dtype: torch.dtype) -> dict[str, Any]: ...
    def motion_weights(self, steps: int) -> dict[str, torch.Tensor]: ...
    def motion_lora(self, motion: MotionLora) -> LoraWeights: ...


class HubSource:
    """Real weights: Hugging Face repos through the HF cache, or local directories."""

    def __init__(self, *, cache_dir: str | None, lightning_source: str | None, motion_lora_source: str | None) -> None:
        self._cache_dir = cache_dir
        self._lightning = lightning_source or LIGHTNING_REPO
        self._loras = Path(motion_lora_source).expanduser() if motion_lora_source else None

    def _lightning_dir(self) -> Path | None:
        path = Path(self._lightning).expanduser()
        if path.is_dir():
            return path
        if self._lightning.startswith(("/", ".", "~")):
            raise ModelLoadError(f"Lightning source {self._lightning} not found: no such directory")
        return None

    def adapter_config(self) -> dict[str, Any]:
        local = self._lightning_dir()
        if local is None or not (local / "config.json").is_file():
            return {}
        try:
            return dict(json.loads((local / "config.json").read_text()))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"unreadable {local / 'config.json'}: {first_line(exc)}") from exc

    def base_components(self, ref: BaseRef, dtype: torch.dtype) -> dict[str, Any]:
        if ref.kind == "local":
            return load_local_base(Path(ref.location), ref.display, dtype)
        index_file = _hub_file(ref.location, "model_index.json", f"base model {ref.display}", self._cache_dir)
        _check_index(index_file, ref.display)
        return _load_components(ref.location, ref.display, dtype, self._cache_dir)

    def motion_weights(self, steps: int) -> dict[str, torch.Tensor]:
        ckpt = step_checkpoint(steps)
        what = f"the {steps}-step Lightning checkpoint"
        local = self._lightning_dir()
        if local is None:
            path = _hub_file(self._lightning, ckpt.filename, what, self._cache_dir)
        else:
            path = local / ckpt.filename
            if not path.is_file():
                raise ModelLoadError(f"{what} is missing: no {ckpt.filename} in {local}")
        try:
            return load_file(str(path))
        except Exception as exc:
            raise ModelLoadError(f"could not read {what} ({path}): {first_line(exc)}") from exc

    def motion_lora(self, motion: MotionLora) -> LoraWeights:
        what = f"motion LoRA {motion.name}"
        if self._loras is None:
            path = _hub_file(motion.repo_id, LORA_WEIGHT_NAME, what, self._cache_dir)
            return (str(path.parent), path.name)
        folder = self._loras / motion.name
        files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
        named = [f for f in files if f.name in (LORA_WEIGHT_NAME, "pytorch_lora_weights.safetensors")]
        chosen = named[:1] or (files if len(files) == 1 else [])
        if not chosen:
            raise ModelLoadError(f"{what} is missing: expected {folder}/{LORA_WEIGHT_NAME}")
        return (str(folder), chosen[0].name)
