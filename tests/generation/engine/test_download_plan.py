"""``animatebot models pull`` fetches only what the loader reads (generation.engine.download.base_files)."""

from __future__ import annotations

import pytest

from generation.engine.download import BASE_FOLDERS, DownloadError, base_files, pull

# A listing shaped like Lykon/DreamShaper's on the Hub (written here, not fetched): a diffusers
# layout with fp16 and non-EMA variants, .bin twins of the safetensors, safety checker and feature
# extractor, plus a root full of multi-GB single-file checkpoints of every version.
DREAMSHAPER_LIKE = [
    ".gitattributes",
    "README.md",
    "model_index.json",
    *(f"DreamShaper_{v}.safetensors" for v in ("3.32_baked_vae_clip_fix", "4_BakedVae", "5_beta2_BakedVae")),
    *(f"DreamShaper_{v}_pruned.safetensors" for v in ("6_31", "7", "8")),
    "DreamShaper_8_INPAINTING.inpainting.safetensors",
    "DreamShaper_6_BakedVae.ckpt",
    "dreamshaper_8.fp16.safetensors",
    "images/sample-1.png",
    "feature_extractor/preprocessor_config.json",
    "safety_checker/config.json",
    "safety_checker/model.safetensors",
    "safety_checker/pytorch_model.bin",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "text_encoder/model.fp16.safetensors",
    "text_encoder/pytorch_model.bin",
    "text_encoder/pytorch_model.fp16.bin",
    "tokenizer/merges.txt",
    "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "unet/diffusion_pytorch_model.fp16.safetensors",
    "unet/diffusion_pytorch_model.non_ema.safetensors",
    "unet/diffusion_pytorch_model.bin",
    "unet/diffusion_pytorch_model.fp16.bin",
    "unet/diffusion_flax_model.msgpack",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.fp16.safetensors",
    "vae/diffusion_pytorch_model.bin",
    "vae/diffusion_flax_model.msgpack",
]


def test_a_dreamshaper_like_listing_gives_exactly_the_loaded_files() -> None:
    assert base_files("Lykon/DreamShaper", DREAMSHAPER_LIKE) == [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/merges.txt",
        "tokenizer/special_tokens_map.json",
        "tokenizer/tokenizer_config.json",
        "tokenizer/vocab.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
    ]


def test_nothing_at_the_root_but_model_index_and_no_variants() -> None:
    files = base_files("Lykon/DreamShaper", DREAMSHAPER_LIKE)
    assert [f for f in files if "/" not in f] == ["model_index.json"]
    assert {f.split("/")[0] for f in files if "/" in f} == set(BASE_FOLDERS)
    assert not [f for f in files if ".fp16." in f or "non_ema" in f or f.endswith((".bin", ".ckpt", ".msgpack"))]


def test_bin_weights_are_taken_only_where_no_safetensors_exist() -> None:
    old_repo = [n for n in DREAMSHAPER_LIKE if not (n.startswith("unet/") and n.endswith(".safetensors"))]
    files = base_files("someone/old-sd15", old_repo)
    assert [f for f in files if f.startswith("unet/")] == ["unet/config.json", "unet/diffusion_pytorch_model.bin"]
    assert "vae/diffusion_pytorch_model.safetensors" in files and "vae/diffusion_pytorch_model.bin" not in files


def test_sharded_safetensors_keep_their_index() -> None:
    sharded = [n for n in DREAMSHAPER_LIKE if not n.startswith("unet/diffusion_pytorch_model.")] + [
        "unet/diffusion_pytorch_model.safetensors.index.json",
        "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
        "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
        "unet/diffusion_pytorch_model.bin.index.json",
    ]
    assert [f for f in base_files("someone/sharded", sharded) if f.startswith("unet/")] == [
        "unet/config.json",
        "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
        "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
        "unet/diffusion_pytorch_model.safetensors.index.json",
    ]


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        (["DreamShaper_8_pruned.safetensors", "README.md"], "someone/model has no model_index.json"),
        (
            [n for n in DREAMSHAPER_LIKE if not n.startswith("vae/")],
            "someone/model is not a complete diffusers SD 1.5 repo: nothing usable in vae/",
        ),
        (
            [n for n in DREAMSHAPER_LIKE if n != "unet/diffusion_pytorch_model.safetensors" and not n.endswith(".bin")],
            "nothing usable in unet/",  # only fp16 / non-EMA variants and flax weights: nothing the loader reads
        ),
    ],
)
def test_listings_the_loader_could_not_use_are_refused(listing: list[str], message: str) -> None:
    with pytest.raises(DownloadError) as caught:
        base_files("someone/model", listing)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_pull_offline_says_how_to_download() -> None:
    # tests/conftest.py sets HF_HUB_OFFLINE=1: the listing is refused before any download starts.
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE is set: unset it to download"):
        list(pull(["dreamshaper"]))
