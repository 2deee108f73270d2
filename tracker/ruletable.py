"""Tables of named regex rules, compiled into one pattern and applied in one left-to-right pass.

Grouping (``fingerprint.py``) and scrubbing (``scrub.py``) are each a list of :class:`Rule`:
a name, a verbose regex with examples in its comments, the text that replaces a match, and
why the rule exists. A :class:`RuleSet` joins the enabled rules into one alternation, so at
any position the first rule of the table that matches wins, and the text is scanned once.

How the pattern is built, and why (this is what keeps it fast and linear):

- Each rule says which characters a match can start with (``starts``). The compiled pattern
  opens with that character class, which the regex engine turns into a fast skip through
  text where no rule can start; a look-behind then steps back one character and tries the
  rules from there. Each rule ends with an empty group named after it, so the match says
  which rule it was and where that rule's text ends.
- A rule may have a ``gate``: a cheap test of the whole text (a substring, a run of digits)
  that must pass for the rule to be able to match at all. Rules whose gate fails are left
  out of the pattern for that text; the patterns for each combination of gates are compiled
  once, when first needed, and kept.
- A rule's regex may contain groups named ``pre`` and ``post``: text matched by them is kept
  around the replacement (``password=`` before a redacted value, say).
- A rule that starts with a letter starts a word, or a camelCase part of one: the engine
  skips a lowercase letter after a letter or digit, and a capital after a capital or digit,
  without trying any rule (``_`` separates words: ``DB_PASSWORD``, ``x_eyJhbGci...``).
- Every quantifier that could run far is bounded, or stops at a character that also ends
  the rule (a quoted string at its closing quote), so no start position rescans the rest
  of the text: the work is linear in the length of the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

__all__ = ["Rule", "RuleSet", "select_rules"]

_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}\Z")


@dataclass(frozen=True)
class Rule:
    """One named rule: where ``pattern`` matches, the text becomes ``replacement``."""

    name: str
    """Identifier (lowercase, digits, underscores), used to disable the rule in the config."""
    pattern: str
    """Verbose regex (``re.VERBOSE``); groups ``pre``/``post`` are kept around the replacement."""
    replacement: Union[str, Callable[[str], str]]  # noqa: UP007 (a dataclass field read at runtime)
    """What replaces the matched text (between ``pre`` and ``post``); or a function of that text
    that returns its replacement (or the text itself to leave it alone)."""
    reason: str = ""
    """Why the rule exists."""
    starts: str = ""
    """Regex character-class body of every character a match can start with, e.g. ``0-9``."""
    gate: str | None = None
    """Name of a cheap test of the whole text that must pass for the rule to run."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"rule name must be lowercase letters, digits and underscores (got {self.name!r})")
        if not isinstance(self.replacement, str) and not callable(self.replacement):
            raise ValueError(f"rule {self.name}: replacement must be a str or a function")
        for field_name in ("pattern", "starts"):
            if not isinstance(getattr(self, field_name), str):
                raise ValueError(f"rule {self.name}: {field_name} must be a str")
        if not self.starts:
            raise ValueError(f"rule {self.name}: starts must list the characters a match can start with")
        try:
            compiled = re.compile(self.pattern, re.VERBOSE)
            re.compile(f"[{self.starts}]")
        except re.error as exc:
            raise ValueError(f"rule {self.name}: invalid regex: {exc}") from None
        unknown = set(compiled.groupindex) - {"pre", "post"}
        if unknown:
            raise ValueError(f"rule {self.name}: only groups named pre and post are allowed (got {sorted(unknown)})")
        if compiled.match(""):
            raise ValueError(f"rule {self.name}: the pattern must not match empty text")


def select_rules(
    table: Sequence[Rule], disabled: Iterable[str], extra: Sequence[Rule], what: str
) -> tuple[Rule, ...]:
    """The built-in ``table`` without the ``disabled`` rule names, then the ``extra`` rules.

    An extra rule whose name is already taken raises ``ValueError``.
    """
    known = {rule.name for rule in table}
    extra_names = [rule.name for rule in extra]
    disabled = set(disabled)  # names of the other table's rules are that table's business
    for rule in extra:
        if not isinstance(rule, Rule):
            raise ValueError(f"extra {what} rules must be tracker.Rule instances (got {rule!r})")
    duplicates = {name for name in extra_names if name in known or extra_names.count(name) > 1}
    if duplicates:
        raise ValueError(f"extra {what} rule name(s) already taken: {', '.join(sorted(duplicates))}")
    return tuple(rule for rule in (*table, *extra) if rule.name not in disabled)


class RuleSet:
    """Enabled rules compiled for one configuration; :meth:`apply` rewrites a text."""

    def __init__(self, rules: Sequence[Rule], gates: Mapping[str, Callable[[str], bool]]) -> None:
        self.rules = tuple(rules)
        self._gates = dict(gates)
        for rule in self.rules:
            if rule.gate is not None and rule.gate not in self._gates:
                raise ValueError(f"rule {rule.name}: unknown gate {rule.gate!r}")
        # The gates some enabled rule depends on, in a fixed order.
        self._gate_tests = tuple(
            (name, self._gates[name]) for name in dict.fromkeys(r.gate for r in self.rules if r.gate is not None)
        )
        # What to do for each rule's match: its replacement, and its kept groups' names.
        self._actions = {
            rule.name: (
                rule.replacement,
                f"{rule.name}__pre" if "(?P<pre>" in rule.pattern else None,
                f"{rule.name}__post" if "(?P<post>" in rule.pattern else None,
            )
            for rule in self.rules
        }
        self._patterns: dict[frozenset[str], re.Pattern[str] | None] = {}
        self._always = self._pattern_for(frozenset())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)

    def pattern(self) -> re.Pattern[str] | None:
        """The pattern with every rule, whatever the gates (for reading and tests)."""
        return self._pattern_for(frozenset(name for name, _ in self._gate_tests))

    def _pattern_for(self, passed: frozenset[str]) -> re.Pattern[str] | None:
        pattern = self._patterns.get(passed, False)
        if pattern is not False:
            return pattern  # type: ignore[return-value]
        rules = [r for r in self.rules if r.gate is None or r.gate in passed]
        if not rules:
            compiled = None
        else:
            starts = _union(r.starts for r in rules)
            # Each branch opens with its rule's own start class, which the engine checks
            # before anything else, so at a given character only the rules that can start
            # there are tried. The look-behind steps back onto that character and the
            # look-ahead inside it runs the rule from there; the empty group named after the
            # rule marks where its text ends (the match itself is one character long).
            branches = "|".join(
                f"[{r.starts}](?<=(?=(?:{_scoped(r)})(?P<{r.name}>)).)" for r in rules
            )
            # A rule starting with a letter starts at the beginning of a word: a letter
            # after a letter, digit or underscore is skipped before any rule is tried.
            compiled = re.compile(f"[{starts}](?<![A-Za-z0-9][a-z])(?<![A-Z0-9][A-Z])(?<={branches})", re.VERBOSE | re.DOTALL)
        self._patterns[passed] = compiled
        return compiled

    def apply(self, text: str) -> str:
        """``text`` with every rule's matches replaced, left to right, first rule first."""
        if self._gate_tests:
            passed = frozenset(name for name, test in self._gate_tests if test(text))
            pattern = self._patterns.get(passed) if passed else self._always
            if pattern is None and passed:
                pattern = self._pattern_for(passed)
        else:
            pattern = self._always
        if pattern is None:
            return text
        match = pattern.search(text)
        if match is None:
            return text
        pieces = []
        done = 0
        actions = self._actions
        while match is not None:
            name = match.lastgroup
            end = match.start(name)  # type: ignore[arg-type]
            replacement, pre, post = actions[name]  # type: ignore[index]
            keep_from = match.start() if pre is None or match.end(pre) < 0 else match.end(pre)
            keep_to = end if post is None or match.start(post) < 0 else match.start(post)
            pieces.append(text[done:keep_from])
            pieces.append(replacement if type(replacement) is str else replacement(text[keep_from:keep_to]))
            done = keep_to
            match = pattern.search(text, end)
        pieces.append(text[done:])
        return "".join(pieces)


def _union(classes: Iterable[str]) -> str:
    """One character-class body holding every character of the given class bodies."""
    classes = list(classes)
    matchers = [re.compile(f"[{body}]").match for body in classes]
    chars = [chr(i) for i in range(0x250) if any(match(chr(i)) for match in matchers)]
    union = "".join(re.escape(c) if not c.isalnum() else c for c in chars)
    return union + ("\\w" if any("\\w" in body for body in classes) else "")


def _scoped(rule: Rule) -> str:
    """The rule's regex with its ``pre``/``post`` groups renamed after the rule."""
    pattern = rule.pattern
    for group in ("pre", "post"):
        pattern = pattern.replace(f"(?P<{group}>", f"(?P<{rule.name}__{group}>")
    return pattern + "\n"  # a trailing comment must not swallow what follows
