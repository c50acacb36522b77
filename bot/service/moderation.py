"""Prompt rules: does a text contain a blocked word, phrase or ``/regular expression/``? Pure, no I/O.

Both the rule and the text go through the same normalisation, so a rule matches however the text
is dressed up: NFKC and case folding (full-width and math letters, ``ß``), accents dropped,
invisible characters removed, look-alike letters from other scripts (Cyrillic ``а``, Greek ``ο``)
made Latin, common digit and symbol swaps inside a word (``4$$``, ``h3ll0``, ``@``), and letters
split by separators (``a.s.s``, ``a-s-s``, ``a s s``). Words and phrases match on word boundaries
only, so a blocked ``ass`` never refuses ``class`` or ``a glass of water``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_RULE_CHARS = 200

# Letters from other scripts that look like Latin ones (after case folding).
_LOOKALIKES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "һ": "h",
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
        "υ": "u", "χ": "x", "ω": "w", "ς": "s", "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h",
    }
)  # fmt: skip
# Digits and symbols people put in place of letters, inside a word.
_SWAPS = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
          "$": "s", "@": "a", "!": "i", "|": "l", "€": "e", "+": "t"}  # fmt: skip
_SWAPS_L = {**_SWAPS, "1": "l", "!": "l"}  # the other reading of 1 and !
_EDGE_SYMBOLS = "".join(c for c in _SWAPS if not c.isalnum())
_SWAP_CHARS = re.escape(_EDGE_SYMBOLS)
# A token: letters, digits and the swap symbols; anything else separates tokens.
_TOKEN = re.compile(rf"[\w{_SWAP_CHARS}]+")
# Inside a token, these join parts of one word: a.s.s, a-s-s, a_s_s, a*s*s.
_INNER = re.compile(r"(?<=[^\W_])[._\-*~'’`]+(?=[^\W_])")
_UNDERSCORE = re.compile(r"_+")


@dataclass(frozen=True)
class Rule:
    """One stored rule: ``id`` for the audit log, ``pattern`` as the admin typed it."""

    id: int
    pattern: str


@dataclass(frozen=True)
class Match:
    rule: Rule
    where: str  # "prompt", "negative prompt"


class RuleError(ValueError):
    """A pattern that cannot be a rule; the message names it and what is allowed."""


def is_regex(pattern: str) -> bool:
    return len(pattern) >= 3 and pattern.startswith("/") and pattern.endswith("/")


def check_pattern(pattern: str) -> str:
    """``pattern`` tidied (one line, single spaces) or RuleError: empty, too long, nothing to match, bad regex."""
    pattern = " ".join(pattern.split())
    if not pattern:
        raise RuleError("a rule needs a word, a phrase or a /regular expression/")
    if len(pattern) > MAX_RULE_CHARS:
        raise RuleError(f"a rule is at most {MAX_RULE_CHARS} characters (got {len(pattern)})")
    if is_regex(pattern):
        try:
            re.compile(pattern[1:-1])
        except re.error as exc:
            raise RuleError(f"{pattern} is not a valid regular expression: {exc}") from None
    elif not _words(pattern)[0]:
        raise RuleError(f"the rule {pattern!r} has no letters or digits to match")
    return pattern


def _clean(text: str) -> str:
    """NFKC, case folded, accents and invisible characters dropped, look-alike letters made Latin."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) not in ("Mn", "Me", "Cf"))
    return unicodedata.normalize("NFC", text).translate(_LOOKALIKES)


def _swap(token: str, table: dict[str, str]) -> str:
    return "".join(table.get(c, c) for c in token)


def _forms(text: str) -> set[str]:
    """The text's readings as lines of space-separated words (see the module docstring)."""
    cleaned = _clean(text)
    forms: set[str] = set()
    for table in (_SWAPS, _SWAPS_L):
        split_words: list[str] = []  # a-s-s -> a s s; kick-ass -> kick ass
        joined: list[str] = []  # a-s-s -> ass; kick-ass -> kickass
        bare: list[str] = []  # a symbol at a word's edge is usually punctuation ("ass!"), not a swapped letter
        for raw in cleaned.split():
            parts = [_swap(t, table) for t in _TOKEN.findall(_INNER.sub(" ", raw))]
            split_words += [w for p in parts for w in _UNDERSCORE.split(p) if w]
            tokens = _TOKEN.findall(_INNER.sub("", raw))
            joined += [w for t in tokens for w in _UNDERSCORE.split(_swap(t, table)) if w]
            edges = [t.strip(_EDGE_SYMBOLS) for t in tokens]
            bare += [w for t in edges if t for w in _UNDERSCORE.split(_swap(t, table)) if w]
        for words in (split_words, joined, bare):
            forms.add(" ".join(words))
            forms.add(" ".join(_join_single_letters(words)))
    return forms


def _join_single_letters(words: Sequence[str]) -> list[str]:
    """Runs of two or more one-letter words become one word: ``a s s`` -> ``ass``."""
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1:
            run.append(word)
            continue
        if len(run) >= 2:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if word:
            out.append(word)
    return out


def _words(pattern: str) -> list[str]:
    """A word or phrase rule as the alternative word sequences it matches (one per swap reading)."""
    seen: list[str] = []
    cleaned = _clean(pattern)
    for table in (_SWAPS, _SWAPS_L):
        words = [w for t in _TOKEN.findall(_INNER.sub("", cleaned)) for w in _UNDERSCORE.split(_swap(t, table)) if w]
        phrase = " ".join(words)
        if phrase not in seen:
            seen.append(phrase)
    return seen


class RuleSet:
    """Compiled rules; ``first_match`` says which rule a text breaks, if any."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._compiled: list[tuple[Rule, list[re.Pattern[str]], bool]] = []
        for rule in rules:
            if is_regex(rule.pattern):
                try:
                    compiled = [re.compile(rule.pattern[1:-1], re.IGNORECASE)]
                except re.error:
                    continue  # checked when added; a rule that no longer compiles matches nothing
                self._compiled.append((rule, compiled, True))
            else:
                phrases = [p for p in _words(rule.pattern) if p]
                patterns = [re.compile(rf"(?<![^\s]){re.escape(p)}(?![^\s])") for p in phrases]
                self._compiled.append((rule, patterns, False))

    def __len__(self) -> int:
        return len(self._compiled)

    def first_match(self, text: str) -> Rule | None:
        if not text.strip() or not self._compiled:
            return None
        forms = _forms(text)
        raw = unicodedata.normalize("NFKC", text).casefold()
        for rule, patterns, regex in self._compiled:
            candidates = [raw, _clean(text), *forms] if regex else forms
            if any(p.search(form) for p in patterns for form in candidates):
                return rule
        return None

    def check(self, fields: Sequence[tuple[str, str]]) -> Match | None:
        """The first rule any of ``(where, text)`` breaks, e.g. ``[("prompt", ...), ("negative prompt", ...)]``."""
        for where, text in fields:
            rule = self.first_match(text)
            if rule is not None:
                return Match(rule, where)
        return None
