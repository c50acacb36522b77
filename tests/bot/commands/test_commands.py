"""The command grammar: what people type, what the bot understands, and what it says when it can't."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from bot.commands import (
    ADMIN_ACTIONS,
    ANIMATE_KEYS,
    COMMAND_NAMES,
    KEY_ALIASES,
    MAX_PROMPT_CHARS,
    AnimateRequest,
    Command,
    CommandError,
    format_animate,
    help_text,
    parse_animate,
    parse_command,
    parse_line,
    parse_user_ref,
)
from generation.catalog import ALLOWED_STEPS, BASE_MODELS, MOTION_NAMES, MOTIONS, find_base_model
from generation.params import (
    ASPECTS,
    FORMATS,
    FPS_MAX,
    FPS_MIN,
    FRAMES_MAX,
    FRAMES_MIN,
    MAX_SCENES,
    SEED_MAX,
    GenerationParams,
    MotionSpec,
)

FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def params_of(text: str, options: dict[str, object] | None = None) -> GenerationParams:
    return parse_animate(text, options).params


def error_of(call, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message, message
    return message


def assert_one_line(error: CommandError) -> None:
    message = str(error)
    assert message.strip(), "empty CommandError"
    assert len(message.splitlines()) == 1, repr(message)
    assert len(message) < 400, message


# --- good /animate input ----------------------------------------------------------------------

GOOD = [
    ("a smiling girl", {"prompt": "a smiling girl", "motions": (), "steps": 4, "frames": 16, "seed": None}),
    ("a cat motion:zoom-in", {"prompt": "a cat", "motions": (MotionSpec("zoom-in", 0.75),)}),
    (
        "a cat motion:zoom-in@0.5+pan-left@.25",
        {"motions": (MotionSpec("zoom-in", 0.5), MotionSpec("pan-left", 0.25))},
    ),
    ("a cat motion:ZoomOut@1+rolling-clockwise", {"motions": (MotionSpec("zoom-out", 1.0), MotionSpec("roll-cw"))}),
    ("a cat motion:tilt-up@0", {"motions": (MotionSpec("tilt-up", 0.0),)}),
    ("a cat motion:none", {"motions": ()}),
    ("steps:8 a cat", {"prompt": "a cat", "steps": 8}),
    ("a STEPS:1 cat", {"prompt": "a cat", "steps": 1}),
    ("a cat frames:32", {"frames": 32}),
    ("a cat frames:8", {"frames": 8}),
    ("a cat seed:0", {"seed": 0}),
    (f"a cat seed:{SEED_MAX}", {"seed": SEED_MAX}),
    ("a cat seed:random", {"seed": None}),
    ("a cat neg:blurry", {"negative_prompt": "blurry", "prompt": "a cat"}),
    ('a cat neg:"blurry, text" guidance:2', {"negative_prompt": "blurry, text", "guidance": 2.0}),
    ("a cat negative:'low quality' guidance:1.5", {"negative_prompt": "low quality", "guidance": 1.5}),
    ("a cat neg:“no text, please” guidance:3", {"negative_prompt": "no text, please", "prompt": "a cat"}),
    ("a cat Neg:‘it’s ugly’ dancing", {"negative_prompt": "it’s ugly", "prompt": "a cat dancing"}),
    ("a cat neg:'cat's toy, blur'", {"negative_prompt": "cat's toy, blur"}),
    ('a cat neg:"two\n  lines"', {"negative_prompt": "two lines"}),
    ('a cat neg:""', {"negative_prompt": ""}),
    ("a cat guidance:0", {"guidance": 0.0}),
    ("a cat guidance:20", {"guidance": 20.0}),
    ("a cat model:dream", {"model": "dreamshaper"}),
    ("a cat model:EpiCRealism", {"model": "epicrealism"}),
    ("a cat model:emilianJR/epiCRealism", {"model": "epicrealism"}),
    ("a cat model:someone/My_Model-v2.1", {"model": "someone/My_Model-v2.1"}),
    ("a cat model:./models/mine", {"model": "./models/mine"}),
    ('a cat model:"/srv/my models/x"', {"model": "/srv/my models/x"}),
    ("a cat fps:1", {"fps": 1}),
    ("a cat fps:30", {"fps": 30}),
    ("a cat format:MP4", {"format": "mp4"}),
    ("a cat format:webp", {"format": "webp"}),
    ("a cat aspect:16:9", {"aspect": "16:9", "prompt": "a cat"}),
    ("a cat ASPECT:9:16", {"aspect": "9:16"}),
    ("a cat aspect:4x3", {"aspect": "4:3"}),
    ("a cat aspect:portrait", {"aspect": "9:16"}),
    # Ordinary colons and unknown keys stay in the prompt.
    ("see http://x.org ratio:high 10:30 am", {"prompt": "see http://x.org ratio:high 10:30 am"}),
    ('she said "hello there"', {"prompt": 'she said "hello there"'}),
    # A token at the end of a sentence keeps its trailing punctuation out of the value.
    ("a cat, motion:zoom-in, steps:2.", {"prompt": "a cat,", "motions": (MotionSpec("zoom-in"),), "steps": 2}),
    ("  spaced\tout\n\nprompt  ", {"prompt": "spaced out prompt"}),
    (
        "猫が走る 🐱 café naïve motion:pan-right",
        {"prompt": "猫が走る 🐱 café naïve", "motions": (MotionSpec("pan-right"),)},
    ),
    ("👩‍🚀 floating frames:１２", {"prompt": "👩‍🚀 floating", "frames": 12}),
    (
        "everything motion:zoom-in@0.3+tilt-down steps:2 frames:24 seed:7 neg:bad guidance:1.2 "
        "model:rv fps:12 format:gif aspect:3:4",
        {
            "prompt": "everything",
            "motions": (MotionSpec("zoom-in", 0.3), MotionSpec("tilt-down")),
            "steps": 2,
            "frames": 24,
            "seed": 7,
            "negative_prompt": "bad",
            "guidance": 1.2,
            "model": "realisticvision",
            "fps": 12,
            "format": "gif",
            "aspect": "3:4",
        },
    ),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_animate_input(text: str, expected: dict[str, object]) -> None:
    params = params_of(text)
    assert {name: getattr(params, name) for name in expected} == expected


OPTIONS = [
    (
        "a lighthouse format:webp",
        {"steps": 8, "motion": "zoom-in@0.5+pan-left"},
        {"steps": 8, "motions": (MotionSpec("zoom-in", 0.5), MotionSpec("pan-left")), "format": "webp"},
    ),
    (
        "a lighthouse aspect:16:9",
        {"frames": 24.0, "guidance": 1.5, "seed": 12345},
        {"frames": 24, "guidance": 1.5, "seed": 12345, "aspect": "16:9"},
    ),
    ("a lighthouse", {"neg": "blurry, text", "guidance": "2"}, {"negative_prompt": "blurry, text", "guidance": 2.0}),
    ("a lighthouse", {"negative": '"quoted in the option"'}, {"negative_prompt": "quoted in the option"}),
    (
        "a lighthouse",
        {"model": "dream", "fps": "12", "format": "MP4", "aspect": "16:9"},
        {"model": "dreamshaper", "fps": 12, "format": "mp4", "aspect": "16:9"},
    ),
    ("a lighthouse steps:2", {"steps": None, "seed": None}, {"steps": 2, "seed": None}),  # Discord's unset options
]


@pytest.mark.parametrize(("text", "options", "expected"), OPTIONS)
def test_native_options_merge_with_text(text: str, options: dict[str, object], expected: dict[str, object]) -> None:
    params = params_of(text, options)
    assert params.prompt == "a lighthouse"
    assert {name: getattr(params, name) for name in expected} == expected


def test_notes_warn_about_ignored_negative_research_only_steps_and_opposite_motions() -> None:
    notes = parse_animate('a cat neg:"blurry" steps:1 motion:zoom-in+zoom-out').notes
    assert "negative prompt ignored: it only acts when guidance > 1" in notes
    assert any("research only" in note for note in notes)
    assert any("zoom-in and zoom-out" in note for note in notes)
    assert parse_animate('a cat neg:"blurry" guidance:2 steps:4').notes == ()


def test_long_prompt_note_names_the_last_word_read() -> None:
    words = [f"w{i}" for i in range(40)]
    request = parse_animate(" ".join(words), count_tokens=lambda text: 2 * len(text.split()))
    (note,) = request.notes
    assert note == "the prompt is 80 tokens; the text encoder reads 77, so words after 'w36' will be cut"
    estimated = parse_animate("a photo of a castle " * 20).notes
    assert len(estimated) == 1 and estimated[0].startswith("the prompt is about ")
    assert parse_animate("a smiling girl with a red umbrella in the rain").notes == ()


def test_remix_starts_from_the_parent_but_picks_a_new_seed() -> None:
    parent = params_of('a red fox motion:pan-left@0.4 steps:8 seed:42 neg:"fog" guidance:2 aspect:16:9')
    same = parse_animate("", base=parent).params
    assert same == parent.with_changes(seed=None)
    changed = parse_animate("a blue fox seed:7 motion:none format:mp4", base=parent).params
    assert changed == parent.with_changes(prompt="a blue fox", seed=7, motions=(), format="mp4")
    assert parse_animate("frames:24", base=parent).params.prompt == "a red fox"


def test_animate_through_parse_command_and_parse_line() -> None:
    by_name = parse_command("/ANIMATE", "a cat steps:2", {"seed": 5})
    by_line = parse_line("/animate a cat steps:2 seed:5")
    assert by_name.name == by_line.name == "animate"
    assert isinstance(by_line.animate, AnimateRequest)
    assert by_name.animate == by_line.animate
    assert by_line.text == "a cat steps:2 seed:5"


# --- bad /animate input -----------------------------------------------------------------------

BAD = [
    ("x motion:warp", ["unknown motion 'warp'", "allowed:", *MOTION_NAMES]),
    ("x steps:3", ["steps must be one of 1, 2, 4, 8 (got 3)"]),
    ("x steps:four", ["steps must be one of 1, 2, 4, 8 (got 'four')"]),
    ("x frames:500", ["frames must be a whole number from 8 to 64 (got 500)"]),
    ("x frames:7", ["frames must be a whole number from 8 to 64 (got 7)"]),
    ("x frames:12.5", ["frames must be a whole number from 8 to 64 (got 12.5)"]),
    ("x seed:abc", ["seed must be a whole number from 0 to 4294967295 (got 'abc')"]),
    ("x seed:-1", ["seed must be a whole number from 0 to 4294967295 (got -1)"]),
    (f"x seed:{SEED_MAX + 1}", [f"(got {SEED_MAX + 1})"]),
    ("x seed:" + "9" * 5000, ["seed must be a whole number", "…"]),
    ("x motion:zoom-in@7", ["motion strength must be from 0 to 1 (got 7)"]),
    ("x motion:zoom-in@lots", ["motion strength must be from 0 to 1 (got 'lots')"]),
    ("x motion:zoom-in+pan-left+tilt-up", ["at most 2 motions at once", "got 3"]),
    ("x motion:zoom-in+zoomin", ["motion 'zoom-in' is given twice"]),
    ("x guidance:25", ["guidance must be from 0 to 20 (got 25)"]),
    ("x guidance:nan", ["guidance must be from 0 to 20 (got 'nan')"]),
    ("x guidance:1e400", ["guidance must be from 0 to 20"]),
    ("x fps:60", ["fps must be a whole number from 1 to 30 (got 60)"]),
    ("x format:avi", ["format must be one of gif, mp4, webp (got 'avi')"]),
    ("x aspect:2:1", ["aspect must be one of 1:1, 16:9, 9:16, 4:3, 3:4 (got '2:1')"]),
    ("x model:warpdrive", ["unknown model 'warpdrive'", "allowed:", *(m.alias for m in BASE_MODELS), "owner/name"]),
    ("x model:a/../b", ["unknown model 'a/../b'"]),
    ("x steps:4 STEPS:8", ["steps is given twice"]),
    ("x neg:a negative:b", ["neg is given twice", "negative: is the same key"]),
    ('x neg:"blurry, text', ["the quote after neg: is never closed", 'neg:"blurry, text"']),
    ("x neg:“blurry", ["the quote after neg: is never closed"]),
    ('x neg:"a"b', ["the quote after neg: is never closed"]),
    ("x steps: 4", ["steps: needs a value right after the colon", "steps:4"]),
    ("x motion:", ["motion: needs a value", "motion:zoom-in"]),
    ("", ["the prompt is empty; describe what to animate, e.g. /animate a smiling girl motion:zoom-in"]),
    ("   \n\t ", ["the prompt is empty"]),
    ("steps:4 motion:zoom-in", ["the prompt is empty"]),
    ("x" * 5000, ["the prompt is 5000 characters; at most 1000 are allowed"]),
    ("ok neg:" + "n" * 1001, ["the negative prompt is 1001 characters; at most 1000 are allowed"]),
]


@pytest.mark.parametrize(("text", "fragments"), BAD)
def test_bad_animate_input_names_the_problem_and_what_is_allowed(text: str, fragments: list[str]) -> None:
    message = error_of(parse_animate, text)
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    ("text", "options", "fragment"),
    [
        ("a cat steps:2", {"steps": 8}, "steps is given both as an option and in the text"),
        ("a cat neg:x", {"negative": "y"}, "neg is given both as an option and in the text"),
        ("a cat", {"colour": "red"}, "unknown option 'colour'; allowed: motion, steps"),
        ("a cat", {"steps": True}, "steps must be one of 1, 2, 4, 8 (got 'True')"),
        ("a cat", {"frames": 12.5}, "frames must be a whole number from 8 to 64 (got 12.5)"),
        ("a cat", {"motion": "zoom-in + pan-left + roll-cw"}, "at most 2 motions at once"),
    ],
)
def test_bad_options(text: str, options: dict[str, object], fragment: str) -> None:
    assert fragment in error_of(parse_animate, text, options)


# --- the other commands -----------------------------------------------------------------------

COMMANDS = [
    ("/animate-queue", Command("queue", "")),
    ("/Animate-Queue", Command("queue", "")),
    ("/animate-cancel", Command("cancel", "")),
    ("/animate-cancel #12", Command("cancel", "#12", job_id=12)),
    ("/animate-show 7", Command("show", "7", job_id=7)),
    ("/animate-show   #7  ", Command("show", "#7", job_id=7)),
    ("/animate-review", Command("review", "")),
    ("/animate-review 3", Command("review", "3", job_id=3)),
    ("/animate-history", Command("history", "")),
    ("/animate-history mine", Command("history", "mine", user="me")),
    ("/animate-history mine red fox", Command("history", "mine red fox", user="me", search="red fox")),
    ("/animate-history <@!123> fox", Command("history", "<@!123> fox", user="123", search="fox")),
    ("/animate-history <@U42|bob>", Command("history", "<@U42|bob>", user="U42")),
    ("/animate-history user:Bob", Command("history", "user:Bob", user="bob")),
    ("/animate-history user:me cats", Command("history", "user:me cats", user="me", search="cats")),
    ("/animate-history red fox", Command("history", "red fox", search="red fox")),
    ("/animate-admin models", Command("admin", "models", admin_action="models")),
    ("/animate-admin PAUSE", Command("admin", "PAUSE", admin_action="pause")),
    ("/animate-admin resume", Command("admin", "resume", admin_action="resume")),
    (
        "/animate-admin model dream",
        Command("admin", "model dream", admin_action="model", admin_args={"model": "dreamshaper"}),
    ),
    (
        "/animate-admin model me/mine",
        Command("admin", "model me/mine", admin_action="model", admin_args={"model": "me/mine"}),
    ),
    ("/animate-admin limits", Command("admin", "limits", admin_action="limits")),
    (
        "/animate-admin limits per_user:3 per_hour:30 queue_cap:100",
        Command(
            "admin",
            "limits per_user:3 per_hour:30 queue_cap:100",
            admin_action="limits",
            admin_args={"per_user": "3", "per_hour": "30", "queue_cap": "100"},
        ),
    ),
    (
        "/animate-admin limits PER-HOUR:05",
        Command("admin", "limits PER-HOUR:05", admin_action="limits", admin_args={"per_hour": "5"}),
    ),
    (
        "/animate-admin ban <@123> spamming the queue",
        Command(
            "admin",
            "ban <@123> spamming the queue",
            user="123",
            admin_action="ban",
            admin_args={"reason": "spamming the queue"},
        ),
    ),
    ("/animate-admin ban @Bob", Command("admin", "ban @Bob", user="bob", admin_action="ban")),
    ("/animate-admin unban bob", Command("admin", "unban bob", user="bob", admin_action="unban")),
    ("/animate-help", Command("help", "")),
    ("/animate-help motions", Command("help", "motions")),
]


@pytest.mark.parametrize(("line", "expected"), COMMANDS)
def test_commands(line: str, expected: Command) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize(
    ("name", "text", "options", "expected"),
    [
        ("animate-show", "", {"job": 12}, Command("show", "", job_id=12)),
        ("ANIMATE_CANCEL", "", {"job": "#3"}, Command("cancel", "", job_id=3)),
        ("animate-history", "", {"user": "<@99>", "search": "fox"}, Command("history", "", user="99", search="fox")),
        ("animate-history", "mine", {"search": "fox"}, Command("history", "mine", user="me", search="fox")),
        (
            "animate-admin",
            "",
            {"action": "model", "model": "sd1.5"},
            Command("admin", "", admin_action="model", admin_args={"model": "sd15"}),
        ),
        (
            "animate-admin",
            "",
            {"action": "limits", "per_user": 2, "queue_cap": 50, "per_hour": None},
            Command("admin", "", admin_action="limits", admin_args={"per_user": "2", "queue_cap": "50"}),
        ),
        (
            "/animate-admin",
            "",
            {"action": "ban", "user": "<@5>", "reason": "spam"},
            Command("admin", "", user="5", admin_action="ban", admin_args={"reason": "spam"}),
        ),
    ],
)
def test_commands_with_native_options(name: str, text: str, options: dict[str, object], expected: Command) -> None:
    assert parse_command(name, text, options) == expected


BAD_COMMANDS = [
    ("", ["type a command", "/animate-help"]),
    ("animate a cat", ["commands start with '/'", "/animate a smiling girl"]),
    ("/animate-dance", ["unknown command '/animate-dance'", *("/" + name for name in COMMAND_NAMES)]),
    ("/animate-show", ["/animate-show needs a job number, e.g. /animate-show 12"]),
    ("/animate-show twelve", ["a job must be a job number like 12 or #12 (got 'twelve')"]),
    ("/animate-show 0", ["a job must be a job number like 12 or #12 (got '0')"]),
    ("/animate-show 12 13", ["/animate-show does not take '13'"]),
    ("/animate-cancel -1", ["a job must be a job number like 12 or #12"]),
    ("/animate-queue now", ["/animate-queue does not take 'now'; usage: /animate-queue"]),
    ("/animate-review best", ["a job must be a job number"]),
    ("/animate-history <@&55> x", ["is a role or channel, not a user"]),
    ("/animate-history user:", ["a user must be a mention like @bob or <@123>, or a user name (got '')"]),
    ("/animate-admin", ["/animate-admin needs an action:", *ADMIN_ACTIONS]),
    ("/animate-admin explode", ["/animate-admin needs an action:", "(got 'explode')", "unban"]),
    ("/animate-admin model", ["/animate-admin model needs a model; allowed:", "epicrealism"]),
    ("/animate-admin model nope", ["unknown model 'nope'"]),
    ("/animate-admin pause now", ["/animate-admin does not take 'now'"]),
    ("/animate-admin limits per_user:0", ["per_user must be a whole number from 1 to 1000000 (got 0)"]),
    ("/animate-admin limits per_user:x", ["per_user must be a whole number from 1 to 1000000 (got 'x')"]),
    ("/animate-admin limits speed:3", ["unknown limit 'speed:3'", "per_user", "per_hour", "queue_cap"]),
    ("/animate-admin limits per_user:1 per_user:2", ["per_user is given twice"]),
    ("/animate-admin ban", ["/animate-admin ban needs a user, e.g. /animate-admin ban @bob"]),
    ("/animate-admin unban bob today", ["/animate-admin does not take 'today'"]),
    ("/animate-admin ban bob " + "x" * 600, ["the ban reason is 600 characters; at most 500 are allowed"]),
]


@pytest.mark.parametrize(("line", "fragments"), BAD_COMMANDS)
def test_bad_commands_say_what_is_allowed(line: str, fragments: list[str]) -> None:
    message = error_of(parse_line, line)
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    ("name", "text", "options", "fragment"),
    [
        ("animate-show", "12", {"job": 12}, "job is given both as an option and in the text"),
        ("animate-history", "<@1>", {"user": "<@2>"}, "user is given both as an option and in the text"),
        ("animate-queue", "", {"job": 1}, "/animate-queue has no option 'job'; allowed: none"),
        ("animate-admin", "", {"action": "pause", "model": "dream"}, "/animate-admin pause has no option 'model'"),
        ("animate-admin", "model dream", {"action": "model", "model": "rv"}, "model is given both"),
    ],
)
def test_bad_native_options(name: str, text: str, options: dict[str, object], fragment: str) -> None:
    assert fragment in error_of(parse_command, name, text, options)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("<@123>", "123"),
        ("<@!123>", "123"),
        ("<@U123|bob>", "U123"),
        ("<@W0ABC>", "W0ABC"),
        ("@bob", "bob"),
        ("Bob", "bob"),
        (" @jean.dupont ", "jean.dupont"),
        ("José", "josé"),
    ],
)
def test_user_refs(ref: str, expected: str) -> None:
    assert parse_user_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "@", "<#123>", "<@&123>", "<!here>", "bob smith", "<@12"])
def test_bad_user_refs(ref: str) -> None:
    assert "user" in error_of(parse_user_ref, ref)


def test_help_covers_every_command_key_motion_checkpoint_and_model() -> None:
    text = help_text()
    assert len(text.splitlines()) > 30
    for name in COMMAND_NAMES:
        assert "/" + name in text
    for key in (*ANIMATE_KEYS, *KEY_ALIASES):
        assert f"{key}:" in text
    for motion in MOTIONS:
        assert motion.name in text and motion.description in text
    for model in BASE_MODELS:
        assert model.alias in text and model.repo_id in text
    for value in (*FORMATS, *ASPECTS, *map(str, ALLOWED_STEPS)):
        assert value in text
    steps_one = next(line for line in text.splitlines() if line.strip().startswith("steps:1 "))
    assert "research only" in steps_one
    assert "/animate a smiling girl motion:zoom-in" in text
    examples = text.split("Examples:\n", 1)[1].splitlines()
    assert len(examples) >= 3
    for line in examples:
        parse_line(line)


def test_parsing_does_not_import_the_model_libraries() -> None:
    code = (
        "import sys, bot.commands.command; heavy = {'torch', 'diffusers', 'transformers'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


# --- properties -------------------------------------------------------------------------------

KEY_SPELLINGS = [*ANIMATE_KEYS, *KEY_ALIASES, "STEPS", "Motion", "NEG", "Aspect"]
NEAR_VALUES = [
    "zoom-in",
    "zoom-in@0.5+pan-left",
    "zoomin@1",
    "roll-cw@",
    "@",
    "+",
    "zoom-in+",
    "none",
    "4",
    "3",
    "8",
    "16",
    "0",
    "-1",
    "1e400",
    "nan",
    "inf",
    "1.5",
    ".5",
    "16:9",
    "4x3",
    "gif",
    "MP4",
    "dream",
    "a/b",
    "./x",
    "/",
    "random",
    "#12",
    "１２",
    "٣",
    '"a b"',
    "'it's'",
    "“curly”",
    "‘x",
    '"',
    "''",
    "x" * 60,
    "9" * 400,
]
value_st = st.one_of(st.sampled_from(NEAR_VALUES), st.text(max_size=12))
token_st = st.one_of(
    st.text(min_size=1, max_size=10),
    st.builds(lambda k, v: f"{k}:{v}", st.sampled_from(KEY_SPELLINGS), value_st),
    st.sampled_from(["http://x.org", "ratio:high", "10:30", "«quoted»", "a", "🐱", "<@123>", "#4"]),
)
grammar_text_st = st.builds(
    lambda parts, seps: "".join(p + s for p, s in zip(parts, seps, strict=False)),
    st.lists(token_st, max_size=12),
    st.lists(st.sampled_from([" ", "  ", "\n", "\t", "\u3000", ""]), min_size=12, max_size=12),
)
option_value_st = st.one_of(st.none(), st.integers(-5, 2**40), st.floats(allow_nan=True), value_st)
options_st = st.dictionaries(st.sampled_from([*ANIMATE_KEYS, "negative", "bogus"]), option_value_st, max_size=4)


def _parse_or_fail_politely(call, *args) -> object:  # type: ignore[no-untyped-def]
    try:
        result = call(*args)
    except CommandError as error:
        assert_one_line(error)
        event(f"{call.__name__}: refused, " + str(error).split(" ")[0])
        return error
    event(f"{call.__name__}: parsed")
    return result


@FAST
@given(st.text())
def test_any_text_is_parsed_or_refused_politely(text: str) -> None:
    _parse_or_fail_politely(parse_animate, text)
    _parse_or_fail_politely(parse_line, text)
    _parse_or_fail_politely(parse_line, "/" + text)
    _parse_or_fail_politely(parse_user_ref, text)


@FAST
@given(grammar_text_st, options_st)
def test_grammar_shaped_text_is_parsed_or_refused_politely(text: str, options: dict[str, object]) -> None:
    result = _parse_or_fail_politely(parse_animate, text, options)
    if isinstance(result, AnimateRequest):
        assert result.params.prompt and len(result.params.prompt) <= MAX_PROMPT_CHARS
        assert all(note and "\n" not in note for note in result.notes)


@FAST
@given(
    st.sampled_from([*COMMAND_NAMES, "ANIMATE-ADMIN", "animate_show", "nope"]),
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    *ADMIN_ACTIONS,
                    "mine",
                    "user:",
                    "user:bob",
                    "<@1>",
                    "<@&1>",
                    "#0",
                    "#12",
                    "12",
                    "per_user:3",
                    "queue_cap:x",
                    "per_hour:99999999999999999999",
                    "@",
                    "dream",
                ]
            ),
            st.text(max_size=8),
        ),
        max_size=5,
    ),
)
def test_command_lines_are_parsed_or_refused_politely(name: str, words: list[str]) -> None:
    result = _parse_or_fail_politely(parse_line, " ".join(["/" + name, *words]))
    if isinstance(result, Command):
        assert result.name in {
            "animate",
            "queue",
            "cancel",
            "history",
            "show",
            "review",
            "board",
            "admin",
            "help",
            "extend",
        }
        assert result.job_id is None or result.job_id >= 1


word_st = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1, max_size=8).filter(
    lambda w: not any(c.isspace() for c in w) and w.split(":")[0].lower() not in {*ANIMATE_KEYS, *KEY_ALIASES}
)
repo_st = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,10}/[A-Za-z0-9][A-Za-z0-9._-]{0,10}", fullmatch=True).filter(
    lambda r: ".." not in r and "--" not in r and find_base_model(r) is None
)
motions_st = st.lists(st.sampled_from(MOTION_NAMES), unique=True, max_size=2).flatmap(
    lambda names: st.tuples(
        *(st.builds(MotionSpec, st.just(n), st.one_of(st.just(0.75), st.floats(0, 1))) for n in names)
    )
)
params_st = st.builds(
    GenerationParams,
    prompt=st.lists(word_st, min_size=1, max_size=20).map(" ".join),
    negative_prompt=st.lists(word_st, max_size=6).map(" ".join),
    motions=motions_st,
    steps=st.sampled_from(ALLOWED_STEPS),
    frames=st.integers(FRAMES_MIN, FRAMES_MAX),
    seed=st.one_of(st.none(), st.integers(0, SEED_MAX)),
    guidance=st.floats(0, 20),
    model=st.one_of(st.none(), st.sampled_from([m.alias for m in BASE_MODELS]), repo_st, st.just("/srv/my models/x")),
    aspect=st.sampled_from(list(ASPECTS)),
    fps=st.integers(FPS_MIN, FPS_MAX),
    format=st.sampled_from(FORMATS),
).filter(
    # a prompt the grammar accepts: words may hold "|", which splits it into scenes (none empty, not too many)
    lambda p: len(p.scenes) == 1 or (all(p.scenes) and len(p.scenes) <= min(MAX_SCENES, p.frames))
)


@FAST
@given(params_st)
@example(GenerationParams(prompt="a calm sea | a storm at sea", frames=8))  # prompt travel, two scenes
def test_formatted_params_parse_back_to_the_same_params(params: GenerationParams) -> None:
    try:
        text = format_animate(params)
    except ValueError:
        assume(False)  # a negative prompt that uses every kind of quote before a space
    assert parse_animate(text).params == params
    assert parse_line("/animate " + text).animate == parse_animate(text)
