"""fingerprint: the grouping rule table, rule by rule, against a public corpus, and on hostile input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.fingerprint import GROUPING_RULES, PLACEHOLDERS, build_fingerprinter, fingerprint
from tracker.ruletable import Rule, RuleSet

CORPUS = Path(__file__).parent / "corpus"

# rule name -> (texts it must change as shown, texts it must leave alone)
EXAMPLES: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    "traceparent": (
        [("tp 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tp <traceparent>")],
        ["00-12-34"],
    ),
    "url": (
        [
            ("GET https://api.example.com/v2/users/42?x=1 failed", "GET <url> failed"),
            ("see http://example.com/a.", "see <url>."),
        ],
        ["no scheme example.com/a"],
    ),
    "email": ([("mail to bob.smith+tag@example.co.uk failed", "mail to <email> failed")], ["user@localhost"]),
    "date_text": (
        [("at Mon, 02 Jan 2006 15:04:05 -0700", "at <date>"), ("on Jan 18, 2019", "on <date>")],
        ["Jan is a name", "May I help"],
    ),
    "datetime_repr": ([("at datetime.datetime(2025, 6, 24, 18, 33)", "at <date>")], ["datetime.now()"]),
    "uuid": (
        [("user f47ac10b-58cc-4372-a567-0e02b2c3d479 gone", "user <uuid> gone")],
        ["f47ac10b-58cc-4372"],
    ),
    "date_iso": (
        [("at 2024-01-15T10:00:00Z", "at <date>"), ("at 20060102T150405+0100", "at <date>")],
        ["v2024"],
    ),
    "time": (
        [("at 11:21PM", "at <date>"), ("at 12:31 pm", "at <date>"), ("at 23:21:12", "at <date>")],
        ["Fee::add"],
    ),
    "ipv4": ([("to 10.0.0.7", "to <ip>"), ("net 10.0.0.0/8", "net <ip>")], ["version 1.2.3"]),
    "ipv6": (
        [("to fe80::1ff:fe23:4567:890a", "to <ip>"), ("to ::1", "to <ip>")],
        ["Bee::buzz()", "Option::unwrap()"],
    ),
    "ipv6_bracketed": ([("to [2001:db8::1]", "to <ip>")], ["list [a]"]),
    "hex_prefixed": ([("at 0x7f3a2b1c", "at <hex>")], ["0xyz"]),
    "duration": (
        [
            ("took 31ms", "took <duration>"),
            ("took 1h30m", "took <duration>"),
            ("in 5 seconds", "in <duration>"),
        ],
        ["v5s", "utf-8ms"],
    ),
    "hex": ([("id 9af8c3be", "id <hex>")], ["9af"]),
    "hex_id": (
        [("commit a93c7d2", "commit <hex>"), ("id deadbeef", "id <hex>")],
        ["commit cabcafe", "a decade"],
    ),
    "number": (
        [("retry 3 of 5", "retry <num> of <num>"), ("value:-17502", "value:<num>")],
        ["utf-8", "x86_64", "http2", "S3"],
    ),
    "quoted_value": (
        [
            ("b='1'", "b=<str>"),
            ('{"user": "bob"}', '{"user": <str>}'),
            ("where name = 'bob'", "where name = <str>"),
        ],
        ["KeyError: 'user_id'", "has no attribute 'split'", "b='value\""],
    ),
    "bool_value": ([("a=true", "a=<bool>"), ('{"ok": false}', '{"ok": <bool>}')], ["a = true", "true"]),
}


def test_every_rule_has_examples() -> None:
    assert sorted(EXAMPLES) == sorted(rule.name for rule in GROUPING_RULES)


@pytest.mark.parametrize("rule", GROUPING_RULES, ids=lambda r: r.name)
def test_rule_examples(rule: Rule) -> None:
    positives, negatives = EXAMPLES[rule.name]
    for text, expected in positives:
        assert fingerprint(text) == expected
        # the rule itself is what does it: without it, the text comes out differently
        assert build_fingerprinter(disabled=[rule.name]).apply(text) != expected
    for text in negatives:
        assert build_fingerprinter().apply(text) == fingerprint(text)
        assert not any(p in fingerprint(text) for p in _placeholder_of(rule)), text


def _placeholder_of(rule: Rule) -> list[str]:
    return [rule.replacement] if isinstance(rule.replacement, str) else []


def _break(rule: Rule) -> Rule:
    """A mutant of ``rule`` that never matches."""
    return Rule(rule.name, r"(?!x)x", rule.replacement, rule.reason, starts=rule.starts, gate=rule.gate)


@pytest.mark.parametrize("rule", GROUPING_RULES, ids=lambda r: r.name)
def test_the_rule_examples_catch_a_broken_rule(rule: Rule) -> None:
    """Mutation check: with this rule broken, at least one of its positive examples fails."""
    from tracker.fingerprint import GROUPING_GATES, grouping_gates

    mutant = RuleSet([_break(r) if r is rule else r for r in GROUPING_RULES], GROUPING_GATES, grouping_gates)
    positives, _ = EXAMPLES[rule.name]
    assert any(mutant.apply(text) != expected for text, expected in positives)


def test_issue_cases() -> None:
    assert fingerprint("KeyError: 'user_id'") != fingerprint("KeyError: 'order_id'")
    assert fingerprint("x: Mon, 02 Jan 2006 15:04:05 GMT") == fingerprint("x: Tue, 03 Jan 2006 10:00:00 GMT")
    assert fingerprint("at 11:21PM") == fingerprint("at 11:22 PM") == "at <date>"
    assert fingerprint("enabled=true") == fingerprint("enabled=false")
    assert fingerprint("connect db.example.com failed") == "connect db.example.com failed"  # hosts kept


def test_redacted_values_stay_readable() -> None:
    assert fingerprint("password='[REDACTED]' for user 42") == "password='[REDACTED]' for user <num>"


def _corpus(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (CORPUS / name).read_text().splitlines() if line.strip()]


def test_grouping_corpus_agreement() -> None:
    rows = _corpus("grouping.jsonl")
    agree = 0
    for row in rows:
        forms = [
            (row["input"], row["expected"]),
            (f"prefix {row['input']} suffix", f"prefix {row['expected']} suffix"),
        ]
        agree += all(fingerprint(text) == expected for text, expected in forms)
    rate = agree / len(rows)
    print(f"\ngrouping corpus: {agree}/{len(rows)} agree ({rate:.1%})")
    assert len(rows) >= 150 and rate >= 0.95


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789abcdefABCDEF:.-'\"\\=@/ xT Jan,PM")), max_size=60))
def test_idempotent_and_placeholders_survive(text: str) -> None:
    once = fingerprint(text)
    assert fingerprint(once) == once
    for placeholder in PLACEHOLDERS:
        assert fingerprint(placeholder) == placeholder


def test_a_user_rule_is_compiled_with_the_others() -> None:
    extra = Rule("ticket", r"\bTKT-\d+\b", "<ticket>", "ticket ids", starts="T")
    assert build_fingerprinter(extra=[extra]).apply("TKT-42 at 10.0.0.1") == "<ticket> at <ip>"
    with pytest.raises(ValueError, match="already taken"):
        build_fingerprinter(extra=[Rule("number", r"x", "y", starts="x")])
    with pytest.raises(ValueError, match="invalid regex"):
        Rule("bad", r"(", "y", starts="x")
    assert re.compile(build_fingerprinter().pattern().pattern)  # the whole table is one pattern
