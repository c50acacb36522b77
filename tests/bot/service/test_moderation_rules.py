"""Prompt rules as a pure function: normalisation, word boundaries, phrases and regular expressions."""

from __future__ import annotations

import time

import pytest

from bot.service.moderation import Rule, RuleError, RuleSet, check_pattern

RULES = RuleSet([Rule(1, "ass"), Rule(2, "big cat"), Rule(3, "/n[a4]zi/")])


@pytest.mark.parametrize(
    "text",
    [
        "ass",
        "ASS!",
        "a 4$$ joke",  # digit and symbol swaps
        "a55",
        "a.s.s",  # separators inside a word
        "a-s-s hat",
        "a s s",  # spaced letters
        "kick-ass",
        "ass_hat",
        "аss",  # Cyrillic а
        "ａｓｓ",  # full width
        "àss",  # an accent
        "a\u200bss",  # an invisible character
    ],
)
def test_disguised_blocked_words_match(text: str) -> None:
    rule = RULES.first_match(text)
    assert rule is not None and rule.id == 1, text


@pytest.mark.parametrize(
    "text", ["a class photo", "a glass of water", "assassin", "bass", "brass band", "sass", "a s sembly", ""]
)
def test_innocent_words_containing_a_blocked_one_pass(text: str) -> None:
    assert RULES.first_match(text) is None


def test_phrases_match_whole_words_in_order() -> None:
    assert RULES.first_match("a BIG  cat at dawn") == Rule(2, "big cat")
    assert RULES.first_match("a big-cat") == Rule(2, "big cat")
    assert RULES.first_match("big cats") is None and RULES.first_match("a cat, big") is None


def test_regular_expressions_see_the_raw_and_the_normalised_text() -> None:
    assert RULES.first_match("Nazi") == Rule(3, "/n[a4]zi/")
    assert RULES.first_match("n4zi") == Rule(3, "/n[a4]zi/")
    assert RULES.first_match("naive") is None


def test_check_names_the_field_that_matched() -> None:
    match = RULES.check([("prompt", "a calm sea"), ("negative prompt", "blurry, ass")])
    assert match is not None and match.where == "negative prompt" and match.rule.id == 1


def test_bad_patterns_are_refused_with_one_line() -> None:
    with pytest.raises(RuleError, match="not a valid regular expression"):
        check_pattern("/a(b/")
    with pytest.raises(RuleError, match="no letters or digits"):
        check_pattern("... --- ...")
    with pytest.raises(RuleError, match="at most 200"):
        check_pattern("x" * 201)
    assert check_pattern("  big   cat ") == "big cat"


NUDE = RuleSet([Rule(1, "nude"), Rule(2, "ass")])


@pytest.mark.parametrize(
    "text",
    [
        "a nude|a cat",
        "a cat | a nude",
        "nude1 woman",
        "2nude",
        "nude!woman",
        "nude+woman",
        "nude@beach",
        "a_nude_",
        "n.u.d.e9",
    ],
)
def test_digits_symbols_and_scene_separators_glued_to_a_word_do_not_hide_it(text: str) -> None:
    rule = NUDE.first_match(text)
    assert rule is not None and rule.id == 1, text


@pytest.mark.parametrize(
    "text", ["a nudibranch", "denuded hills", "a class photo", "bass guitar", "an assistant", "a calm sea | a storm"]
)
def test_innocent_words_containing_a_rule_still_pass(text: str) -> None:
    assert NUDE.first_match(text) is None


def test_each_scene_is_read_alone_by_a_regular_expression_too() -> None:
    anchored = RuleSet([Rule(1, "/^nude/")])
    assert anchored.first_match("a cat|nude woman") == Rule(1, "/^nude/")
    assert anchored.first_match("a cat, nude woman") is None


def test_regexes_that_re2_cannot_run_are_refused_with_a_line_naming_what_is_not_supported() -> None:
    for pattern in ("/(a)\\1/", "/(?<=x)ass/", "/ass(?!et)/"):
        with pytest.raises(RuleError, match=r"RE2\) does not support .*look-arounds, back-references") as info:
            check_pattern(pattern)
        assert "\n" not in str(info.value) and pattern in str(info.value)
    assert check_pattern("/(a+)+$/") == "/(a+)+$/"  # catastrophic for a backtracking engine, linear on RE2


CATASTROPHIC_BOUND_S = 10.0  # a safety net for a linear-time check that takes milliseconds; not a speed test


@pytest.mark.timeout(60)
def test_a_catastrophic_regex_against_a_long_prompt_returns() -> None:
    rules = RuleSet([Rule(7, "/(a+)+$/")])
    started = time.monotonic()
    assert rules.first_match("a" * 100_000) == Rule(7, "/(a+)+$/")
    assert rules.first_match("a" * 100_000 + "b") is None  # the near miss that makes backtracking exponential
    assert time.monotonic() - started < CATASTROPHIC_BOUND_S


@pytest.mark.timeout(60)
def test_a_stored_rule_re2_cannot_run_still_works_and_is_bounded() -> None:
    # Rows from before RE2: a back-reference runs on the regex module within a time budget.
    repeated = RuleSet([Rule(3, "/(\\w+) \\1/")])
    assert repeated.first_match("a big big cat") == Rule(3, "/(\\w+) \\1/")
    assert repeated.first_match("a big cat") is None
    stalling = RuleSet([Rule(4, "/(a+)+\\1$/")])
    started = time.monotonic()
    # Exponential for any backtracking engine: the budget runs out and the block list fails closed.
    assert stalling.first_match("a" * 100_000 + "b") == Rule(4, "/(a+)+\\1$/")
    assert time.monotonic() - started < CATASTROPHIC_BOUND_S
