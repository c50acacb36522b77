"""Filling the Hugging Face cache ahead of time, for hosts that run without internet.

``animatebot models pull`` downloads exactly what ``generation.engine.engine`` reads: of a base
model, ``model_index.json`` and the ``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/`` and
``scheduler/`` folders (``base_files`` picks them from the repo's listing: no variant duplicates
such as ``*.fp16.*`` or ``*non_ema*``, no single-file checkpoints at the root, which some repos
such as Lykon/DreamShaper hold by the dozen); the Lightning step checkpoints; the motion LoRAs.
Afterwards ``HF_HUB_OFFLINE=1`` works.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Sequence

from generation.catalog import (
    BASE_MODELS,
    DEFAULT_BASE_MODEL,
    LIGHTNING_REPO,
    MOTIONS,
    STEP_CHECKPOINTS,
    find_base_model,
    find_motion,
)

# The folders of a diffusers SD 1.5 repo that generation.engine.sources loads, and nothing else
# (no safety_checker/, feature_extractor/: the engine runs without them).
BASE_FOLDERS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
# Variants the loader never asks for (it loads without ``variant=``): fp16/bf16 copies, EMA splits.
_VARIANT_MARKS = (".fp16.", ".bf16.", "non_ema", "ema_only")
# Weight formats: safetensors is read when present, else PyTorch .bin; the rest never.
_WEIGHTS = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx", ".pb", ".gguf")


# One request, no retries: huggingface_hub retries each file five times with back-off (~25 s a file, ~80 s before
# the first useful line on a first start without network), so whether the Hub answers at all is asked first.
HUB_PROBE_TIMEOUT_S = 5.0


def probe_hub(endpoint: str | None = None, timeout_s: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """Why the Hugging Face Hub at ``endpoint`` (HF_ENDPOINT by default) cannot be reached, or None when it
    answers (any HTTP status). One request through huggingface_hub's own client (proxies honoured), no retry."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    try:
        get_session().head(endpoint or constants.ENDPOINT, timeout=timeout_s, follow_redirects=False)
    except Exception as exc:  # the HTTP client's connection errors are its own types, not OSError
        return _short(exc)
    return None


class DownloadError(Exception):
    """Something could not be fetched; ``str(e)`` says what and why in one line."""


def plan(names: Sequence[str]) -> list[tuple[str, str, str | None]]:
    """What to fetch for ``names``: (kind, repo id, file or None for a snapshot). Raises DownloadError."""
    wanted = [n.strip() for n in names if n.strip()] or [DEFAULT_BASE_MODEL, "lightning", "motions"]
    items: list[tuple[str, str, str | None]] = []
    for name in wanted:
        lower = name.lower()
        if lower == "all":
            items += [("base", m.repo_id, None) for m in BASE_MODELS]
            items += [("lightning", LIGHTNING_REPO, c.filename) for c in STEP_CHECKPOINTS.values()]
            items += [("motion", m.repo_id, None) for m in MOTIONS]
        elif lower == "lightning":
            items += [("lightning", LIGHTNING_REPO, c.filename) for c in STEP_CHECKPOINTS.values()]
        elif lower == "motions":
            items += [("motion", m.repo_id, None) for m in MOTIONS]
        elif (base := find_base_model(name)) is not None:
            items.append(("base", base.repo_id, None))
        elif (motion := find_motion(name)) is not None:
            items.append(("motion", motion.repo_id, None))
        elif "/" in name:
            items.append(("base", name, None))
        else:
            known = ", ".join([m.alias for m in BASE_MODELS] + ["lightning", "motions", "all"])
            raise DownloadError(f"unknown model {name!r}; allowed: {known}, a motion name, or a repo id owner/name")
    seen: set[tuple[str, str, str | None]] = set()
    return [i for i in items if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def base_files(repo: str, listing: Iterable[str]) -> list[str]:
    """The files of base model ``repo`` (its listing, as the Hub gives it) that the loader reads, sorted.

    ``model_index.json`` plus, per folder in ``BASE_FOLDERS``, its configs and tokenizer files and
    its weights: the ``.safetensors`` files (shards and their index included) when the folder has
    any, else the ``.bin`` ones. Raises DownloadError when the listing is not a diffusers SD 1.5 layout.
    """
    names = set(listing)
    if "model_index.json" not in names:
        raise DownloadError(
            f"{repo} has no model_index.json: not a diffusers model repo (single-file checkpoints must be converted)"
        )
    chosen = ["model_index.json"]
    missing = []
    for folder in BASE_FOLDERS:
        files = sorted(
            n
            for n in names
            if posixpath.dirname(n) == folder and not any(mark in posixpath.basename(n) for mark in _VARIANT_MARKS)
        )
        weights = [n for n in files if _weight_format(n) is not None]
        plain = [n for n in files if _weight_format(n) is None]
        safetensors = [n for n in weights if _weight_format(n) == ".safetensors"]
        picked = safetensors or [n for n in weights if _weight_format(n) == ".bin"]
        if not plain or (folder not in ("tokenizer", "scheduler") and not picked):
            missing.append(f"{folder}/")
        chosen += plain + picked
    if missing:
        raise DownloadError(f"{repo} is not a complete diffusers SD 1.5 repo: nothing usable in {', '.join(missing)}")
    return sorted(chosen)


def _weight_format(name: str) -> str | None:
    # Sharded weights come with an index ("x.safetensors.index.json"): it belongs to its format.
    stem = name.removesuffix(".index.json")
    return next((suffix for suffix in _WEIGHTS if stem.endswith(suffix)), None)


def pull(names: Sequence[str], *, cache_dir: str | None = None) -> Iterator[str]:
    """Download each planned item into the HF cache, yielding one line per item as it lands."""
    from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    items = plan(names)
    unreachable = None if constants.HF_HUB_OFFLINE else probe_hub()
    if unreachable is not None:
        raise DownloadError(
            f"cannot reach the Hugging Face Hub at {constants.ENDPOINT} ({unreachable}); check the network or proxy "
            "(HTTPS_PROXY), or copy a filled Hugging Face cache from a machine that can and set HF_HUB_OFFLINE=1"
        )
    for kind, repo, filename in items:
        try:
            if filename is not None:
                path = hf_hub_download(repo, filename, cache_dir=cache_dir)
            elif kind == "motion":
                path = snapshot_download(
                    repo, allow_patterns=["*.json", "*.safetensors", "*.ckpt"], cache_dir=cache_dir
                )
            else:
                # Listing first, so the exact files are known; patterns alone cannot say "the .bin
                # only where no .safetensors exists".
                files = base_files(repo, _listing(HfApi(), repo))
                path = snapshot_download(repo, allow_patterns=files, cache_dir=cache_dir)
        except OfflineModeIsEnabled:
            raise DownloadError(
                "HF_HUB_OFFLINE is set: unset it to download, then set it again to run offline"
            ) from None
        except LocalEntryNotFoundError as exc:
            raise DownloadError(
                f"could not reach the Hugging Face Hub for {repo} ({_short(exc)}); check the network or proxy"
            ) from None
        except HfHubHTTPError as exc:
            raise DownloadError(f"the Hub refused {repo}: {_short(exc)}") from None
        except OSError as exc:
            raise DownloadError(f"could not download {repo}: {_short(exc)}") from None
        yield f"{kind:<9} {repo}{' ' + filename if filename else ''} -> {path}"


def _listing(api: object, repo: str) -> list[str]:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        return list(api.list_repo_files(repo))  # type: ignore[attr-defined]
    except (OfflineModeIsEnabled, HfHubHTTPError):
        raise  # pull() words these
    except Exception as exc:  # the HTTP client's own connection errors are not OSError
        raise DownloadError(
            f"could not reach the Hugging Face Hub for {repo} ({_short(exc)}); check the network or proxy"
        ) from None


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
