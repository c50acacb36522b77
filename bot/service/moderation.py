"""Prompt rules: does a text contain a blocked word, phrase or ``/regular expression/``? Pure, no I/O.

Both the rule and the text go through the same normalisation, so a rule matches however the text
is dressed up: NFKC and case folding (full-width and math letters, ``ß``), accents dropped,
invisible characters removed, look-alike letters from other scripts (Cyrillic ``а``, Greek ``ο``)
made Latin, common digit and symbol swaps inside a word (``4$$``, ``h3ll0``, ``@``), letters
split by separators (``a.s.s``, ``a-s-s``, ``a s s``), and digits or symbols glued to a word
(``nude1``, ``2nude``, ``nude!woman``), which CLIP reads past. Each prompt-travel scene (``|``
between scenes) is also read alone. Words and phrases match on word boundaries only, so a
blocked ``ass`` never refuses ``class`` or ``a glass of water``.

Regular expressions run on RE2 (``google-re2``), whose time is linear in the text, so no rule can
stall the bot. A pattern RE2 cannot run (look-arounds, back-references) is refused when added; one
stored before that rule existed runs on the ``regex`` module under a time budget, and a text that
exhausts the budget counts as matching (a block list fails closed).
"""

from __future__ import annotations

import functools
import logging
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import re2  # type: ignore[import-untyped]
import regex

log = logging.getLogger("animatebot.moderation")

MAX_RULE_CHARS = 200
# A stored pattern RE2 cannot run gets this long, in seconds, per text checked; past it the text counts as matching.
FALLBACK_BUDGET_S = 0.25
SCENE_SEPARATOR = "|"  # generation.params.SCENE_SEPARATOR; the matcher stays free of the generation layer

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
# Letters only: in the "glued" reading every digit and symbol separates words (nude1 -> nude, nude!woman -> nude woman).
_LETTERS = re.compile(r"[^\W\d_]+")


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


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # a refused pattern is the caller's one line, not a C++ log on stderr
    return options


@functools.lru_cache(maxsize=1024)
def _compile_re2(body: str) -> re2._Regexp:
    """RE2's compiled pattern (cached: a RuleSet is built for every prompt), or re2.error."""
    return re2.compile(body, _re2_options())


def _re2_reason(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def check_pattern(pattern: str) -> str:
    """``pattern`` tidied (one line, single spaces) or RuleError: empty, too long, nothing to match, bad regex,
    or a regex RE2 cannot run in linear time."""
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
        try:
            _compile_re2(pattern[1:-1])
        except re2.error as exc:
            raise RuleError(
                f"{pattern} uses what this bot's linear-time regex engine (RE2) does not support "
                f"({_re2_reason(exc)}); look-arounds, back-references and repeats over 1000 are not "
                "supported: write the rule without them, or as words"
            ) from None
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


def _forms(cleaned: str) -> set[str]:
    """The cleaned text's readings as lines of space-separated words (see the module docstring)."""
    forms: set[str] = set()
    raws = cleaned.split()
    glued = [w for raw in raws for w in _LETTERS.findall(_INNER.sub("", raw))]  # nude1 -> nude; 2nude -> nude
    readings = [glued]
    for table in (_SWAPS, _SWAPS_L):
        split_words: list[str] = []  # a-s-s -> a s s; kick-ass -> kick ass
        joined: list[str] = []  # a-s-s -> ass; kick-ass -> kickass
        bare: list[str] = []  # a symbol at a word's edge is usually punctuation ("ass!"), not a swapped letter
        for raw in raws:
            parts = [_swap(t, table) for t in _TOKEN.findall(_INNER.sub(" ", raw))]
            split_words += [w for p in parts for w in _UNDERSCORE.split(p) if w]
            tokens = _TOKEN.findall(_INNER.sub("", raw))
            joined += [w for t in tokens for w in _UNDERSCORE.split(_swap(t, table)) if w]
            edges = [t.strip(_EDGE_SYMBOLS) for t in tokens]
            bare += [w for t in edges if t for w in _UNDERSCORE.split(_swap(t, table)) if w]
        readings += [split_words, joined, bare]
    for words in readings:
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


@dataclass(frozen=True)
class _Readings:
    """One text's readings: ``words`` for word and phrase rules (space-padded), ``texts`` for regex rules."""

    words: tuple[str, ...]
    texts: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> _Readings:
        pieces = [text]
        if SCENE_SEPARATOR in text:  # each scene alone: "a nude|a cat" must not read as "nudela cat"
            pieces += text.split(SCENE_SEPARATOR)
        words: set[str] = set()
        texts: set[str] = set()
        for piece in pieces:
            cleaned = _clean(piece)
            forms = _forms(cleaned)
            words |= forms
            texts |= forms | {unicodedata.normalize("NFKC", piece).casefold(), cleaned}
        return cls(tuple(f" {w} " for w in words if w), tuple(texts))


class _Matcher:
    """One rule, compiled: a literal word sequence, an RE2 pattern, or (stored before RE2) a budgeted ``regex``."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.phrases: tuple[str, ...] = ()
        self.re2: re2._Regexp | None = None
        self.fallback: regex.Pattern[str] | None = None
        if not is_regex(rule.pattern):
            self.phrases = tuple(f" {p} " for p in _words(rule.pattern) if p)
            return
        body = rule.pattern[1:-1]
        try:
            self.re2 = _compile_re2(body)
        except re2.error:
            try:
                self.fallback = regex.compile(body, regex.IGNORECASE)
            except regex.error:
                log.warning("block rule #%s %s does not compile; it matches nothing", rule.id, rule.pattern)

    @property
    def usable(self) -> bool:
        return bool(self.phrases) or self.re2 is not None or self.fallback is not None

    def matches(self, readings: _Readings) -> bool:
        if self.phrases:
            # Readings are single-spaced words padded with a space at each end: a substring test is a word match.
            return any(p in form for p in self.phrases for form in readings.words)
        if self.re2 is not None:
            return any(self.re2.search(form) is not None for form in readings.texts)
        assert self.fallback is not None
        deadline = time.monotonic() + FALLBACK_BUDGET_S
        try:
            for form in readings.texts:
                if self.fallback.search(form, timeout=max(deadline - time.monotonic(), 0.001)) is not None:
                    return True
        except TimeoutError:
            log.warning(
                "block rule #%s %s ran out of time on a prompt and refused it; replace it with one RE2 supports",
                self.rule.id,
                self.rule.pattern,
            )
            return True
        return False


class RuleSet:
    """Compiled rules; ``first_match`` says which rule a text breaks, if any."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._matchers = [m for m in (_Matcher(rule) for rule in rules) if m.usable]

    def __len__(self) -> int:
        return len(self._matchers)

    def first_match(self, text: str) -> Rule | None:
        if not text.strip() or not self._matchers:
            return None
        readings = _Readings.of(text)
        for matcher in self._matchers:
            if matcher.matches(readings):
                return matcher.rule
        return None

    def check(self, fields: Sequence[tuple[str, str]]) -> Match | None:
        """The first rule any of ``(where, text)`` breaks, e.g. ``[("prompt", ...), ("negative prompt", ...)]``."""
        for where, text in fields:
            rule = self.first_match(text)
            if rule is not None:
                return Match(rule, where)
        return None
