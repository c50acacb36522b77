"""The issue's "Done when" checks for the CLI: an image, a long ping-pong loop, prompt travel, a bad image."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANIMATEBOT_PIPELINE", "tiny")
    monkeypatch.setenv("ANIMATEBOT_MEDIA_DIR", str(tmp_path / "media"))
    Image.new("RGB", (640, 400), (30, 90, 160)).save(tmp_path / "photo.png")
    return tmp_path


def frames_of(path: Path) -> int:
    with Image.open(path) as image:
        return int(image.n_frames)


def test_an_image_with_strength_and_motion_makes_a_16_frame_gif(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "a lighthouse image:photo.png strength:0.5 motion:zoom-in", "-o", "a.gif"]) == 0
    assert frames_of(Path("a.gif")) == 16
    out = capsys.readouterr().out
    assert "zoom-in@0.75" in out and "16 frames 512x512" in out


def test_48_frames_ping_pong_from_an_image_makes_94_frames(capsys: pytest.CaptureFixture[str]) -> None:
    # steps:1 only keeps the test quick; the frame count does not depend on it.
    command = "a lighthouse image:photo.png strength:0.5 motion:zoom-in frames:48 loop:pingpong steps:1"
    assert main(["generate", command, "-o", "a.gif"]) == 0
    assert frames_of(Path("a.gif")) == 94  # default settings: a file written by generate has no upload budget
    assert "94 frames" in capsys.readouterr().out
    # Asked to fit a chat's upload limit, the long loop gives up scale before frame rate: every frame, smaller.
    assert main(["generate", command, "-o", "small.gif", "--max-bytes", str(2 * 1024 * 1024)]) == 0
    assert Path("small.gif").stat().st_size <= 2 * 1024 * 1024 and frames_of(Path("small.gif")) == 94
    with Image.open("small.gif") as clip:
        assert clip.width < 512


def test_prompt_travel_over_40_frames_works_with_the_image_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "a calm sea | a storm frames:40 steps:1", "--image", "photo.png", "-o", "b.webp"]) == 0
    with Image.open("b.webp") as clip:
        assert clip.n_frames == 40


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: Path("photo.txt").write_text("not a picture\n"), "is not an image"),
        (lambda: None, "there is no file"),
        (lambda: Image.new("RGB", (5000, 10)).save("photo.txt", format="PNG"), "at most 4096 pixels"),
    ],
)
def test_a_bad_image_exits_2_with_one_line(make, problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    make()
    assert main(["generate", "a lighthouse image:photo.txt", "-o", "never.gif"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("animatebot: ") and problem in err
    assert "Traceback" not in err and not Path("never.gif").exists()


def test_strength_without_an_image_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "a lighthouse strength:0.5", "-o", "never.gif"]) == 2
    assert "strength only applies when animating an image" in capsys.readouterr().err
