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
- A rule starts a word, or a camelCase part of one: the engine skips a lowercase letter
  after a letter or digit, a digit after a letter, digit or underscore, and a capital after
  a capital or digit (unless a lowercase letter follows: ``CLIENTToken``), without trying
  any rule (``_`` separates words for letters: ``DB_PASSWORD``, ``x_eyJhbGci...``).
- Every quantifier that could run far is bounded, or stops at a character that also ends
  the rule (a quoted string at its closing quote), so no start position rescans the rest
  of the text: the work is linear in the length of the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
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
            raise ValueError(
                f"rule name must be lowercase letters, digits and underscores (got {self.name!r})"
            )
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
            raise ValueError(
                f"rule {self.name}: only groups named pre and post are allowed (got {sorted(unknown)})"
            )
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

    def __init__(self, rules: Sequence[Rule], gate_names: Sequence[str], gates: Callable[[str], int]) -> None:
        """``gates(text)`` returns a bit mask: bit ``i`` set when gate ``gate_names[i]`` passes."""
        self.rules = tuple(rules)
        self._gate_bits = {name: 1 << index for index, name in enumerate(gate_names)}
        for rule in self.rules:
            if rule.gate is not None and rule.gate not in self._gate_bits:
                raise ValueError(
                    f"rule {rule.name}: unknown gate {rule.gate!r}; gates: {', '.join(gate_names)}"
                )
        self._gates = gates
        self._all = sum(self._gate_bits.values())
        # Per key (the gates that passed): the compiled pattern, and what each of its marker
        # groups means: (replacement, group of the kept prefix, group of the kept suffix).
        self._compiled: dict[int, tuple[re.Pattern[str] | None, dict[int, _Action]]] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)

    def pattern(self) -> re.Pattern[str] | None:
        """The pattern with every rule, whatever the gates (for reading and tests)."""
        return self._compile(self._all)[0]

    def _compile(self, key: int) -> tuple[re.Pattern[str] | None, dict[int, _Action]]:
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled
        rules = [r for r in self.rules if r.gate is None or key & self._gate_bits[r.gate]]
        if not rules:
            compiled = (None, {})
            self._compiled[key] = compiled
            return compiled
        # Each rule is one branch that opens with its own start class, which the engine
        # checks before anything else, so at a given character only the rules that can
        # start there are entered. The look-behind steps back onto that character and the
        # look-ahead inside it runs the rule from there; an empty group after the rule
        # marks where its text ends (the match itself is one character long). A rule
        # starts a word or a camelCase part: a lowercase letter after a letter or digit, a
        # digit after a letter, digit or underscore, and a capital after a capital or digit
        # (unless a lowercase letter follows: CLIENTToken) are skipped before any branch is
        # entered.
        branches = []
        markers: list[tuple[str, Rule]] = []
        for rule in rules:
            branches.append(f"[{rule.starts}](?<=(?=(?:{_scoped(rule, rule.name)})(?P<{rule.name}>)).)")
            markers.append((rule.name, rule))
        union = _class(c for c in map(chr, range(_CHARS)) if any(_starts(r)(c) for r in rules))
        pattern = re.compile(
            f"[{union}](?<![A-Za-z0-9][a-z])(?<![A-Za-z0-9_][0-9])(?:(?<![A-Z0-9][A-Z])|(?=[a-z]))"
            f"(?<={'|'.join(branches)})",
            re.VERBOSE | re.DOTALL,
        )
        index = pattern.groupindex
        actions = {
            index[tag]: (
                rule.replacement,
                index.get(f"{tag}__pre", 0),
                index.get(f"{tag}__post", 0),
            )
            for tag, rule in markers
        }
        compiled = (pattern, actions)
        self._compiled[key] = compiled
        return compiled

    def apply(self, text: str, limit: int | None = None) -> str:
        """``text`` with every rule's matches replaced, left to right, first rule first.

        With a ``limit``, the work stops once that many characters of output are done: the
        rest of ``text`` follows unchanged (for a caller that keeps only the first ``limit``).
        """
        key = self._gates(text)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compile(key) if len(self._compiled) < _MAX_PATTERNS else self._compile(self._all)
        pattern, actions = compiled
        if pattern is None:
            return text
        match = pattern.search(text)
        if match is None:
            return text
        pieces = []
        done = 0
        written = 0  # characters in pieces
        stop = limit if limit is not None else _NO_LIMIT
        while match is not None:
            marker = match.lastindex
            end = match.start(marker)  # type: ignore[arg-type]
            replacement, pre, post = actions[marker]  # type: ignore[index]
            keep_from = match.end(pre) if pre and match.end(pre) >= 0 else match.start()
            keep_to = match.start(post) if post and match.start(post) >= 0 else end
            before = text[done:keep_from]
            after = replacement if type(replacement) is str else replacement(text[keep_from:keep_to])
            pieces.append(before)
            pieces.append(after)
            done = keep_to
            written += len(before) + len(after)
            if written >= stop:
                break
            match = pattern.search(text, end)
        pieces.append(text[done:])
        return "".join(pieces)


#: Patterns compiled per rule set (one per combination of gates seen); past this, texts whose
#: combination is new use the pattern with every rule (the same result, a little slower).
_MAX_PATTERNS = 64
_NO_LIMIT = 1 << 62
_Action = tuple[str | Callable[[str], str], int, int]
#: Rules may start with characters below this code point (ASCII and Latin letters).
_CHARS = 0x250


def _starts(rule: Rule) -> Callable[[str], object]:
    return re.compile(f"[{rule.starts}]").match


def _class(chars: Iterable[str]) -> str:
    """A character-class body for exactly ``chars``."""
    return "".join(c if c.isalnum() and c.isascii() else re.escape(c) for c in chars)


def _scoped(rule: Rule, tag: str) -> str:
    """The rule's regex with its ``pre``/``post`` groups renamed after ``tag``."""
    pattern = rule.pattern
    for group in ("pre", "post"):
        pattern = pattern.replace(f"(?P<{group}>", f"(?P<{tag}__{group}>")
    return pattern + "\n"  # a trailing comment must not swallow what follows
