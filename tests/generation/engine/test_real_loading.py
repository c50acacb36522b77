"""The REAL loading path (HubSource) on tiny files written to disk, with HF_HUB_OFFLINE=1.

Base models as local diffusers directories and as repo ids in a Hugging Face cache, Lightning
checkpoints as bare state dicts, motion LoRAs in the diffusers format: the same code that
loads epiCRealism and ByteDance/AnimateDiff-Lightning on a GPU host.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from generation.engine import Engine
from generation.engine.tiny import write_tiny_base_model, write_tiny_model_files
from generation.errors import ModelLoadError
from generation.params import GenerationParams, MotionSpec
from tests.generation.engine.frames import same

PARAMS = GenerationParams(prompt="a lighthouse at dusk", steps=1, frames=8, seed=5)
ZOOM = PARAMS.with_changes(motions=(MotionSpec("zoom-in", 0.8),))


def put_in_hf_cache(cache: Path, repo_id: str, source: Path) -> None:
    """Lay ``source`` out as a cached snapshot of ``repo_id`` (what hf_hub_download leaves behind)."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(source, repo_dir / "snapshots" / commit)
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_tiny_model_files(tmp_path_factory.mktemp("tiny-files"))


@pytest.fixture(scope="module")
def engine(files):
    eng = Engine(
        pipeline="real",
        base_model=str(files.base_dir),
        lightning_source=str(files.lightning_dir),
        motion_lora_source=str(files.lora_dir),
    )
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def baseline(engine):
    return engine.generate(PARAMS)


@pytest.fixture(scope="module")
def zoom(engine):
    return engine.generate(ZOOM)


@pytest.fixture
def no_network(monkeypatch):
    attempts: list[object] = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_written_layouts(files):
    index = json.loads((files.base_dir / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (files.base_dir / part).is_dir()
    names = sorted(p.name for p in files.lightning_dir.glob("*.safetensors"))
    assert names == [f"animatediff_lightning_{n}step_diffusers.safetensors" for n in (1, 2, 4, 8)]
    one, two = (load_file(files.lightning_dir / names[i]) for i in (0, 1))
    assert one.keys() == two.keys() and any(not torch.equal(one[k], two[k]) for k in one)
    lora = load_file(files.lora_dir / "zoom-in" / "diffusion_pytorch_model.safetensors")
    assert lora and all(k.startswith("unet.") and ".motion_modules." in k for k in lora)


def test_generates_from_local_directories(engine, files, baseline):
    assert not engine.is_tiny
    assert baseline.model == str(files.base_dir.resolve())
    assert engine.label == f"{files.base_dir.resolve()} · 1 step"
    assert baseline.tiny is False and baseline.notes == ()
    assert len(baseline.frames) == 8 and baseline.frames[0].size == (512, 512)


def test_same_weights_as_the_in_memory_tiny_model(baseline, zoom):
    # The files hold exactly the tiny weights, so the disk path must reproduce the in-memory one.
    with Engine(pipeline="tiny") as tiny:
        assert same(tiny.generate(PARAMS), baseline)
        assert same(tiny.generate(ZOOM), zoom)


def test_loras_and_steps_from_local_files(engine, files, baseline, zoom):
    assert not same(zoom, baseline)
    engine.generate(PARAMS.with_changes(steps=2))
    stored = load_file(files.lightning_dir / "animatediff_lightning_2step_diffusers.safetensors")
    key = "mid_block.motion_modules.0.proj_out.weight"
    assert torch.equal(engine.pipeline.unet.state_dict()[key], stored[key])
    assert same(engine.generate(PARAMS), baseline)


def test_switch_to_a_second_local_base_and_back(engine, files, baseline, tmp_path):
    other_dir = write_tiny_base_model(tmp_path / "other-model", "dreamshaper")
    assert engine.switch_model(str(other_dir)) == str(other_dir.resolve())
    other = engine.generate(PARAMS)
    assert other.model == str(other_dir.resolve())
    assert not same(other, baseline)
    assert engine.switch_model(str(files.base_dir)) == str(files.base_dir.resolve())


def test_uncached_repo_fails_offline_without_touching_the_network(engine, baseline, tmp_path, no_network):
    engine_with_empty_cache = Engine(
        pipeline="real",
        base_model="someone/not-cached-model",
        cache_dir=str(tmp_path / "hf-cache"),
        lightning_source=str(tmp_path),
    )
    with pytest.raises(ModelLoadError) as caught:
        engine_with_empty_cache.load()
    message = str(caught.value)
    assert "someone/not-cached-model" in message
    assert "not in the Hugging Face cache" in message and "HF_HUB_OFFLINE=1" in message
    with pytest.raises(ModelLoadError, match=r"epicrealism .* not in the Hugging Face cache"):
        engine.switch_model("epicrealism")
    assert no_network == []
    assert same(engine.generate(PARAMS), baseline)  # the old model still works


def test_default_lightning_repo_not_cached(files, tmp_path, no_network):
    eng = Engine(pipeline="real", base_model=str(files.base_dir), cache_dir=str(tmp_path / "hf-cache"))
    with pytest.raises(ModelLoadError, match=r"4-step Lightning checkpoint \(ByteDance/AnimateDiff-Lightning\) is not"):
        eng.load()
    assert no_network == []


def test_repo_ids_load_from_the_hf_cache(files, baseline, tmp_path, no_network):
    cache = tmp_path / "hf-cache"
    put_in_hf_cache(cache, "tiny-org/tiny-sd15", files.base_dir)
    put_in_hf_cache(cache, "guoyww/animatediff-motion-lora-zoom-in", files.lora_dir / "zoom-in")
    eng = Engine(
        pipeline="real",
        base_model="tiny-org/tiny-sd15",
        cache_dir=str(cache),
        lightning_source=str(files.lightning_dir),
    )
    result = eng.generate(PARAMS)
    assert result.model == "tiny-org/tiny-sd15"
    assert same(result, baseline)
    assert not same(eng.generate(ZOOM), baseline)  # the LoRA came from the cached guoyww repo
    with pytest.raises(ModelLoadError, match=r"motion LoRA pan-left .* not in the Hugging Face cache"):
        eng.generate(PARAMS.with_changes(motions=(MotionSpec("pan-left", 0.5),)))
    assert no_network == []
    eng.close()


def test_not_an_sd15_directory(engine, files, tmp_path):
    with pytest.raises(ModelLoadError, match=r"is not a diffusers SD1\.5 directory: it has no model_index\.json"):
        engine.switch_model(str(files.lightning_dir))
    xl = tmp_path / "sdxl"
    xl.mkdir()
    (xl / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    with pytest.raises(ModelLoadError, match=r"holds a StableDiffusionXLPipeline, not a Stable Diffusion 1\.5"):
        engine.switch_model(str(xl))
    partial = tmp_path / "partial"
    shutil.copytree(files.base_dir, partial, ignore=shutil.ignore_patterns("vae"))
    with pytest.raises(ModelLoadError, match=r"not a complete diffusers SD1\.5 directory: no vae"):
        engine.switch_model(str(partial))
    assert engine.active_model == str(files.base_dir.resolve())


def test_missing_checkpoint_and_lora_files(files, tmp_path):
    lightning = tmp_path / "lightning"
    shutil.copytree(files.lightning_dir, lightning, ignore=shutil.ignore_patterns("*8step*"))
    loras = tmp_path / "loras"
    shutil.copytree(files.lora_dir / "zoom-in", loras / "zoom-in")
    eng = Engine(
        pipeline="real",
        base_model=str(files.base_dir),
        steps=1,
        lightning_source=str(lightning),
        motion_lora_source=str(loras),
    )
    with pytest.raises(ModelLoadError, match="8-step Lightning checkpoint is missing"):
        eng.generate(PARAMS.with_changes(steps=8))
    with pytest.raises(ModelLoadError, match="motion LoRA tilt-up is missing"):
        eng.generate(PARAMS.with_changes(motions=(MotionSpec("tilt-up"),)))
    assert len(eng.generate(ZOOM).frames) == 8
    eng.close()


def test_checkpoint_that_does_not_fit_the_adapter(files, tmp_path):
    # Without config.json the loader builds the default (real-size) MotionAdapter, which the
    # tiny checkpoints do not fit: the error says so instead of failing deep inside torch.
    lightning = tmp_path / "no-config"
    shutil.copytree(files.lightning_dir, lightning, ignore=shutil.ignore_patterns("config.json"))
    eng = Engine(pipeline="real", base_model=str(files.base_dir), lightning_source=str(lightning))
    with pytest.raises(ModelLoadError, match="4-step Lightning checkpoint does not fit the motion adapter config"):
        eng.load()
