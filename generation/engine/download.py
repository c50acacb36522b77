"""Filling the Hugging Face cache ahead of time, for hosts that run without internet.

``animatebot models pull`` downloads exactly what ``generation.engine.engine`` reads: base model
snapshots (configs, tokenizer, safetensors weights), the Lightning step checkpoints and the
motion LoRAs. Afterwards ``HF_HUB_OFFLINE=1`` works.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from generation.catalog import (
    BASE_MODELS,
    DEFAULT_BASE_MODEL,
    LIGHTNING_REPO,
    MOTIONS,
    STEP_CHECKPOINTS,
    find_base_model,
    find_motion,
)

BASE_PATTERNS = ["*.json", "*.txt", "tokenizer/*", "*.safetensors"]
BASE_IGNORE = ["*.ckpt", "*.pt", "*.onnx", "*.msgpack", "*.h5", "*non_ema*", "*.fp16.bin"]


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


def pull(names: Sequence[str], *, cache_dir: str | None = None) -> Iterator[str]:
    """Download each planned item into the HF cache, yielding one line per item as it lands."""
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    for kind, repo, filename in plan(names):
        try:
            if filename is not None:
                path = hf_hub_download(repo, filename, cache_dir=cache_dir)
            elif kind == "motion":
                path = snapshot_download(
                    repo, allow_patterns=["*.json", "*.safetensors", "*.ckpt"], cache_dir=cache_dir
                )
            else:
                path = snapshot_download(
                    repo, allow_patterns=BASE_PATTERNS, ignore_patterns=BASE_IGNORE, cache_dir=cache_dir
                )
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


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
