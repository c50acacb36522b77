"""Prompt rules as a pure function: normalisation, word boundaries, phrases and regular expressions."""

from __future__ import annotations

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
