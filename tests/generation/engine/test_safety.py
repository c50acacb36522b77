"""The NSFW classifier: the tiny random twin of Falconsai/nsfw_image_detection, built in code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.app import make_safety
from generation.engine.safety import LABELS, SafetyUnavailable, load_classifier, pick_frames, tiny_classifier
from tests.harness import make_settings


def frames(count: int = 8) -> list[Image.Image]:
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for _ in range(count)]


def test_a_few_frames_spread_over_the_clip_are_checked() -> None:
    assert pick_frames(list(range(16))) == [0, 8, 15]
    assert pick_frames([1, 2]) == [1, 2]


def test_tiny_twin_has_the_real_classes_and_the_threshold_decides() -> None:
    classifier = tiny_classifier()
    assert classifier.model.config.id2label == LABELS
    score, flagged = classifier(frames())
    assert score is not None and 0.0 < score < 1.0 and not flagged  # random weights: near 0.5, below 0.7
    assert tiny_classifier(threshold=0.0)(frames()) == (score, True)  # same weights, same score, flagged
    assert tiny_classifier(threshold=1.0)(frames())[1] is False
    arrays = [np.asarray(f) for f in frames()]  # HxWx3 arrays are accepted too
    assert classifier(arrays)[0] == pytest.approx(score)


def test_a_model_that_cannot_load_is_named(tmp_path: Path) -> None:
    with pytest.raises(SafetyUnavailable, match="could not load the safety classifier"):
        load_classifier(str(tmp_path / "no-such-model"))


def test_the_bot_says_so_at_start_and_follows_the_unavailable_setting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = str(tmp_path / "no-such-model")
    settings = make_settings(tmp_path, ANIMATEBOT_PIPELINE="real", ANIMATEBOT_SAFETY_MODEL=missing)
    check, status = make_safety(settings)
    assert check is not None and check(frames()) == (None, True)
    assert "UNAVAILABLE" in status and "ANIMATEBOT_SAFETY_UNAVAILABLE=block" in status
    assert any("safety check UNAVAILABLE" in r.getMessage() for r in caplog.records)
    allow = make_settings(tmp_path, ANIMATEBOT_PIPELINE="real", ANIMATEBOT_SAFETY_MODEL=missing,
                          ANIMATEBOT_SAFETY_UNAVAILABLE="allow")  # fmt: skip
    check, status = make_safety(allow)
    assert check is not None and check(frames()) == (None, False) and "posted unchecked" in status
    assert make_safety(make_settings(tmp_path, ANIMATEBOT_SAFETY="off")) == (None, "off (ANIMATEBOT_SAFETY=off)")
