"""The animatebot command as a person uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main

BAD_INPUTS = [
    ("x motion:warp", "unknown motion 'warp'", "zoom-in"),
    ("x steps:3", "steps", "1, 2, 4, 8"),
    ("x frames:500", "frames", "8 to 64"),
    ("x seed:abc", "seed", "whole number"),
    ("", "prompt is empty", "/animate"),
    ("x" * 5000, "5000 characters", "at most"),
    ("x motion:zoom-in@7", "strength", "0 to 1"),
    ("a cat motoin:zoom-in", "unknown option 'motoin'", "did you mean motion?"),
    ("a kite preset:windy", "preset:windy works in chat", "give the options here"),
]


@pytest.mark.parametrize(("prompt", "problem", "allowed"), BAD_INPUTS)
def test_bad_input_exits_2_with_one_line(
    prompt: str, problem: str, allowed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", prompt, "-o", "never.gif"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("animatebot: ")
    assert problem in err and allowed in err
    assert "Traceback" not in err
    assert not Path("never.gif").exists()


def test_bad_input_in_a_real_process_exits_2_without_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "generate", "x steps:3"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "steps" in done.stderr and "Traceback" not in done.stderr


def gif_frames(path: Path) -> tuple[int, int | None]:
    with Image.open(path) as image:
        return image.n_frames, image.info.get("loop")


def test_generate_tiny_is_deterministic_per_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b, c = tmp_path / "a.gif", tmp_path / "b.gif", tmp_path / "c.gif"
    command = "a smiling girl motion:zoom-in@0.8 steps:4 frames:16 seed:7"
    assert main(["generate", command, "-o", str(a)]) == 0
    out = capsys.readouterr().out
    assert str(a) in out and "seed 7" in out and "4 steps" in out and "zoom-in@0.8" in out
    assert "denoise" in out and "tiny test model" in out
    assert gif_frames(a) == (16, 0)  # 16 frames, loops forever
    assert main(["generate", command, "-o", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    assert main(["generate", command.replace("seed:7", "seed:8"), "-o", str(c)]) == 0
    assert a.read_bytes() != c.read_bytes()


def test_generate_with_variants_writes_every_take(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "kite.gif"
    assert main(["generate", "a kite in the wind variants:2 steps:1 frames:8 seed:5", "-o", str(out_file)]) == 0
    second = tmp_path / "kite-v2.gif"
    assert gif_frames(out_file)[0] == 8 and gif_frames(second)[0] == 8
    assert out_file.read_bytes() != second.read_bytes()
    assert f"{second}  (take 2, seed 6)" in capsys.readouterr().out


def test_generate_flags_and_format_from_the_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "clip.webp"
    code = main(["generate", "a lighthouse", "--motion", "pan-left+tilt-up@0.5", "--steps", "1", "--frames", "8",
                 "--aspect", "16:9", "--seed", "3", "-o", str(out_file)])  # fmt: skip
    assert code == 0
    with Image.open(out_file) as image:
        assert image.format == "WEBP" and image.n_frames == 8 and image.size == (680, 384)
    assert "pan-left@0.75+tilt-up@0.5" in capsys.readouterr().out
    assert main(["generate", "x motion:zoom-in", "--motion", "pan-left"]) == 2  # given twice


def test_models_list_and_pull_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    assert "emilianJR/epiCRealism" in listed and "Lykon/DreamShaper" in listed
    assert "animatediff_lightning_4step_diffusers.safetensors" in listed and "research only" in listed
    assert "guoyww/animatediff-motion-lora-rolling-anticlockwise" in listed
    assert main(["models", "pull", "dreamshaper"]) == 1  # conftest sets HF_HUB_OFFLINE=1
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err
    assert main(["models", "pull", "nosuch"]) == 1
    assert "unknown model 'nosuch'" in capsys.readouterr().err


def test_db_upgrade_and_history_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANIMATEBOT_DATABASE_URL", f"sqlite:///{tmp_path}/h.db")
    assert main(["db", "upgrade"]) == 0
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config(f"sqlite:///{tmp_path}/h.db")).get_current_head()
    assert f"at revision {head}" in capsys.readouterr().out
    assert main(["history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
