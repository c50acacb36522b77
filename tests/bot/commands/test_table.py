"""The one command table: what is made from it (the Slack manifest, the grammar's keys, help), the typo
refusal of ``word:value`` tokens close to a key, and the /animate-preset grammar."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.chat import ACTIONS
from bot.commands import (
    ANIMATE_KEYS,
    BUTTONS,
    COMMAND_NAMES,
    COMMANDS,
    FORMS,
    CommandError,
    form_for,
    help_text,
    near_key,
    parse_animate,
    parse_command,
)
from bot.commands.manifest import MANIFEST, manifest

REPO = Path(__file__).resolve().parents[3]


def error_of(call, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError) as info:
        call(*args, **kwargs)
    return str(info.value)


def test_the_checked_in_slack_manifest_is_the_one_the_table_makes() -> None:
    # Stale? Run: python -m bot.commands.manifest
    assert MANIFEST == REPO / "slack-manifest.yml"
    assert MANIFEST.read_text(encoding="utf-8") == manifest()
    parsed = yaml.safe_load(manifest())
    commands = {c["command"]: c for c in parsed["features"]["slash_commands"]}
    assert list(commands) == [f"/{spec.name}" for spec in COMMANDS]
    assert commands["/animate-preset"]["usage_hint"].startswith("save <name>")
    assert commands["/animate-history"]["should_escape"] is True and commands["/animate"]["should_escape"] is False


def test_the_manifest_command_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "manifest.yml"
    subprocess.run(
        [sys.executable, "-m", "bot.commands.manifest", str(target)], check=True, timeout=60, capture_output=True
    )
    assert target.read_text(encoding="utf-8") == manifest()


def test_commands_keys_and_help_come_from_the_table() -> None:
    assert tuple(spec.name for spec in COMMANDS) == COMMAND_NAMES
    animate = next(spec for spec in COMMANDS if spec.name == "animate")
    assert tuple(o.key for o in animate.options if o.typed) == ANIMATE_KEYS
    assert "preset" in ANIMATE_KEYS
    text = help_text()
    for spec in COMMANDS:
        assert f"/{spec.name}" in text
        for sub in spec.subcommands:
            assert f"    {sub.name}" in text
    assert "Save as preset" in text and "preset:<name>" in text


@pytest.mark.parametrize(
    ("text", "typed", "meant"),
    [
        ("a cat motoin:zoom-in", "motoin", "motion"),
        ("a cat stpes:8", "stpes", "steps"),
        ("a cat frame:8", "frame", "frames"),
        ("a cat sed:3", "sed", "seed"),
        ("a cat negativ:blur", "negativ", "neg"),
        ("a cat presett:windy", "presett", "preset"),
    ],
)
def test_a_key_one_or_two_letters_off_is_refused_with_the_key_meant(text: str, typed: str, meant: str) -> None:
    message = error_of(parse_animate, text)
    assert message.startswith(f"unknown option '{typed}' (did you mean {meant}?)")


@pytest.mark.parametrize(
    "text",
    [
        "see https://example.com/a cat",
        "a clock at 10:30 ticking",
        "ratio:high contrast city",
        "Note: a cat",
        "a cat fun:yes",
        '"motoin:zoom" a cat',
    ],
)
def test_words_far_from_any_key_stay_in_the_prompt(text: str) -> None:
    assert parse_animate(text).params.prompt == text


def test_near_key_rule() -> None:
    assert near_key("motoin") == "motion"
    assert near_key("ab") is None  # too short to tell
    assert near_key("motion") is None  # a key is not a typo
    assert near_key("weather") is None


def test_preset_tokens_come_first_and_typed_ones_win() -> None:
    request = parse_animate("a kite preset:Windy frames:16", preset_tokens="motion:pan-left frames:8")
    assert request.preset == "windy"
    assert request.params.frames == 16 and [m.name for m in request.params.motions] == ["pan-left"]
    assert parse_animate("a kite", preset_tokens="frames:8").params.frames == 8
    # an image strength in a preset waits for a clip with an image
    assert parse_animate("a kite", preset_tokens="strength:0.5 frames:8").params.frames == 8


def test_preset_commands_parse_and_validate_tokens_with_the_grammar() -> None:
    saved = parse_command("animate-preset", "save Windy motion:pan-left frames:8")
    assert (saved.name, saved.action) == ("preset", "save")
    assert saved.args == {"name": "windy", "tokens": "motion:pan-left frames:8"}
    server = parse_command("animate-preset", "save team steps:8 server:yes")
    assert server.args == {"name": "team", "tokens": "steps:8", "server": "yes"}
    native = parse_command("animate-preset", "", {"action": "save", "name": "n", "tokens": "loop:pp", "server": True})
    assert native.args == {"name": "n", "tokens": "loop:pp", "server": "yes"}
    assert parse_command("animate-preset", "list").action == "list"
    assert parse_command("animate-preset", "delete windy").args == {"name": "windy"}
    assert parse_command("animate-preset", "default off").args == {}
    assert parse_command("animate-preset", "default windy").args == {"name": "windy"}
    assert error_of(parse_command, "animate-preset", "save w frames:999") == (
        "frames must be a whole number from 8 to 64 (got 999)"
    )
    assert "only key:value options" in error_of(parse_command, "animate-preset", "save w a cat frames:8")
    assert "cannot hold image" in error_of(parse_command, "animate-preset", "save w image:a.png")
    assert "did you mean motion" in error_of(parse_command, "animate-preset", "save w motoin:zoom-in")
    assert "needs options" in error_of(parse_command, "animate-preset", "save w")
    assert "preset name" in error_of(parse_command, "animate-preset", "save w!x frames:8")
    assert "needs one of" in error_of(parse_command, "animate-preset", "rename a b")


def test_every_button_is_declared_and_forms_are_filled_from_the_table() -> None:
    assert [b.action for b in BUTTONS] == list(ACTIONS)
    remix = form_for("remix", 3, prompt="a cat")
    assert remix is not None and remix.title == "Remix #3" and remix.job_id == 3
    assert [(f.key, f.value) for f in remix.fields] == [("prompt", "a cat"), ("motion", "")]
    assert form_for("approve", 3) is None  # a click without a form
    assert set(FORMS) == {"remix", "report", "preset", "image"}
