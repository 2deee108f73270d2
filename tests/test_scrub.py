"""scrub_secrets: the scrubbing rule table, rule by rule, against corpora; and linear time for both tables."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.config import TrackerConfig
from tracker.fingerprint import fingerprint
from tracker.normalize import MessageNormalizer
from tracker.ruletable import Rule, RuleSet
from tracker.scrub import (
    PROVIDER_TOKENS,
    REDACTED,
    SCRUB_GATES,
    SCRUB_RULES,
    build_scrubber,
    scrub_gates,
    scrub_secrets,
)

CORPUS = Path(__file__).parent / "corpus"

# rule name -> (texts with the secret each must lose, texts it must leave alone)
EXAMPLES: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    "pem_private_key": (
        [("-----BEGIN PRIVATE KEY-----\nMIIBVgIBADANBg\n-----END PRIVATE KEY-----", "MIIBVgIBADANBg")],
        ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"],
    ),
    "jwt": (
        [
            ("t eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJzdWIiOiIxIn0"),
            ("id_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJzdWIiOiIxIn0"),
        ],
        ["eyJ alone"],
    ),
    "provider_token": (
        [
            ("use ghp_" + "a1B2" * 9, "a1B2a1B2"),
            ("key AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE"),
            ("t hf_" + "abcdEFGH" * 4 + "ab", "abcdEFGHabcd"),
        ],
        ["ghp_short", "AKIA is a prefix"],
    ),
    "authorization_header": (
        [
            ("Authorization: Bot MTk4NjIyNDgzNDcx.Cl2FMQ.ZnCjm1XVW7", "MTk4NjIyNDgzNDcx"),
            ("Proxy-Authorization: Basic YWxhZGRpbjpvcGVu", "YWxhZGRpbjpvcGVu"),
        ],
        ['WWW-Authenticate: Bearer realm="api"'],
    ),
    "url_userinfo": ([("postgres://bob:hunter2@db:5432/app", "hunter2")], ["mail bob@example.com"]),
    "url_query_secret": (
        [
            ("GET /f?X-Amz-Signature=abcdef0123456789&x=1", "abcdef0123456789"),
            ("GET /c?sv=2020&sig=QWxhZGRpbjpv%3D&se=1", "QWxhZGRpbjpv"),
            ("GET /cb?code=Zm9vYmFy1234&state=1", "Zm9vYmFy1234"),
        ],
        ["GET /f?page=2&sort=asc"],
    ),
    "cli_option": (
        [
            ("run --password Hunt3r22 now", "Hunt3r22"),
            ("run --token=abc123xyz", "abc123xyz"),
            ("run --key Zm9v1234x", "Zm9v1234x"),
        ],
        ["run --password-file /x"],
    ),
    "cli_user": (
        [("curl --user alice:w0nder https://x", "w0nder"), ("curl -u alice:w0nder https://x", "w0nder")],
        ["curl -u alice https://x"],
    ),
    "cli_short_password": (
        [("mysql -u root -pS3cretPw db", "S3cretPw"), ("sshpass -p S3cretPw ssh h", "S3cretPw")],
        ["mysql -u root -p db"],
    ),
    "secret_key_value": (
        [
            ("DB_PASSWORD_PROD=abc123", "abc123"),
            ("mySecretString: 'xyz9'", "xyz9"),
            ("_gitlab_session=8f2a9c1d", "8f2a9c1d"),
            ("token=ab,cd&ef9", "cd&ef9"),
            ('var githubToken string = "Zf3D0LXCM3EIMb"', "Zf3D0LXCM3EIMb"),
            ('System.setProperty("API_TOKEN", "Zf3D0LXCM3EIMb")', "Zf3D0LXCM3EIMb"),
            ("<apiToken>\n    Zf3D0LXCM3EIMb\n</apiToken>", "Zf3D0LXCM3EIMb"),
        ],
        [
            'api_key = ""',
            "password=None",
            "password=%(password)s",
            "token=${NPM_TOKEN}",
            "token=$API_KEY",
            "(using password: YES)",
            "{'password': ['This field is too short.']}",
            "max_tokens=4096",
            "Invalid token: jwt malformed",
            "KeyError: 'password'",
            "PuttyPassword=0",
            'public_key = "9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit"',
            'CREDENTIALS_ID = "K8S_CRED"',
            "GITHUB_API_KEY=\nDYNATRACE_API_KEY=",
        ],
    ),
    "short_key_value": (
        [
            ("hmac_key=7c1a9e02bb31", "7c1a9e02bb31"),
            ("key=AbC123xyz", "AbC123xyz"),
            ("X-Sig: 9f8e7d6c5b4a3928", "9f8e7d6c5b4a3928"),
        ],
        [
            '<entry key="jetbrains.mps.v8_elimination" value="executed" />',
            "keyPressed = kVK_Return.u16",
            "issuerKeyHash=Xb9Ty-Qw3_ErT.=zUi8oPlK7aSd2Fg5",
            "monkey=banana",
        ],
    ),
    "bearer_token": (
        [("sent Bearer abc.DEF-123_456789xyz", "abc.DEF-123_456789xyz")],
        ["Bearer token expired"],
    ),
    "secret_in_prose": (
        [("password Xy9!kLm2 was rejected", "Xy9!kLm2"), ("the api key is AbC123xyz99", "AbC123xyz99")],
        ["password is required", "token expired"],
    ),
    "card_number": (
        [
            ("card 4111 1111 1111 1111 declined", "4111 1111 1111 1111"),
            ("card 4111111111111111", "4111111111111111"),
        ],
        ["order 1234567812345678", "file 4111111111111111ab.png"],
    ),
}


def test_every_rule_has_examples() -> None:
    assert sorted(EXAMPLES) == sorted(rule.name for rule in SCRUB_RULES)


def test_provider_table_has_at_least_100_shapes() -> None:
    assert len(PROVIDER_TOKENS) >= 100
    assert len({prefix for _, prefix, _ in PROVIDER_TOKENS}) == len(PROVIDER_TOKENS)


@pytest.mark.parametrize("rule", SCRUB_RULES, ids=lambda r: r.name)
def test_rule_examples(rule: Rule) -> None:
    positives, negatives = EXAMPLES[rule.name]
    for text, secret in positives:
        assert secret in text and secret not in scrub_secrets(text), text
        assert REDACTED in scrub_secrets(text)
        assert secret not in fingerprint(scrub_secrets(text))
    for text in negatives:
        assert scrub_secrets(text) == text


def _break(rule: Rule) -> Rule:
    return Rule(rule.name, r"(?!x)x", rule.replacement, rule.reason, starts=rule.starts, gate=rule.gate)


@pytest.mark.parametrize("rule", SCRUB_RULES, ids=lambda r: r.name)
def test_the_rule_examples_catch_a_broken_rule(rule: Rule) -> None:
    """Mutation check: with this rule broken, one of its positive examples leaks."""
    mutant = RuleSet([_break(r) if r is rule else r for r in SCRUB_RULES], SCRUB_GATES, scrub_gates)
    positives, _ = EXAMPLES[rule.name]
    assert any(secret in mutant.apply(text) for text, secret in positives)


def test_disabling_a_rule_by_name() -> None:
    assert build_scrubber(disabled=["secret_key_value"]).apply("password=hunter2") == "password=hunter2"


def test_no_cosmetic_leftovers() -> None:
    assert scrub_secrets("(password=abc)") == f"(password={REDACTED})"
    assert scrub_secrets("{token=abc9}") == f"{{token={REDACTED}}}"
    assert scrub_secrets("[secret=abc9]") == f"[secret={REDACTED}]"


def _corpus(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (CORPUS / name).read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("fingerprinting", [True, False])
def test_secret_corpus_recall_and_ordinary_messages(fingerprinting: bool) -> None:
    normalizer = MessageNormalizer(TrackerConfig(fingerprinting=fingerprinting, max_message_length=4096))
    secrets = _corpus("secrets.jsonl")
    caught = sum(row["secret"] not in normalizer.normalize(row["input"]) for row in secrets)
    ordinary = _corpus("ordinary.jsonl")
    altered = sum(REDACTED in normalizer.normalize(row["input"]) for row in ordinary)
    recall, altered_rate = caught / len(secrets), altered / len(ordinary)
    print(
        f"\nfingerprinting={fingerprinting}: secret recall {caught}/{len(secrets)} ({recall:.1%}), "
        f"ordinary messages altered {altered}/{len(ordinary)} ({altered_rate:.1%})"
    )
    assert len(secrets) >= 150 and recall >= 0.98
    assert altered_rate <= 0.03


# -- linear time, for every token class of both tables ----------------------------------------
# Each unit is repeated to 4 KB and to 16 KB; the larger must cost about 4x the smaller (the
# ratio of medians of many runs is allowed up to 8x for noise). A rule that rescans the rest of
# the text from each start would cost 16x.
UNITS = [
    "1",
    "1.",
    "1:",
    "1-",
    "a1",
    "::",
    "1::",
    "[::",
    '"\\',
    "'\\",
    "='\\",
    '="\\',
    "=",
    "a=",
    "=true ",
    "0x",
    "Jan 1, ",
    "Mon, 02 Jan ",
    "http://",
    "a://",
    "@a.",
    "a@",
    "b@a.b",
    "-----BEGIN PRIVATE KEY-----",
    "eyJ",
    "eyJa.",
    "ghp_",
    "AKIA",
    "password=",
    "password: ",
    "DB_PASSWORD",
    "--password ",
    "--user a:",
    "mysql -p",
    "Authorization: ",
    "Bearer ",
    "4111 ",
    "?sig=",
    "password ",
    "x" * 15 + " ",
    "xoxb-1-",
]


def _median_seconds(function, text: str, runs: int = 15) -> float:
    """Median CPU time of this thread (other processes on the machine do not count)."""
    samples = []
    for _ in range(runs):
        start = time.thread_time()
        function(text)
        samples.append(time.thread_time() - start)
    return statistics.median(samples)


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("function", [fingerprint, scrub_secrets], ids=["fingerprint", "scrub"])
def test_linear_in_the_input(function, unit: str) -> None:
    small = (unit * (4096 // len(unit) + 1))[:4096]
    large = (unit * (16384 // len(unit) + 1))[:16384]
    function(small)  # compile the patterns for these gates first
    ratio = _median_seconds(function, large) / max(_median_seconds(function, small), 1e-6)
    assert ratio < 8, f"{unit!r}: 16 KB costs {ratio:.1f}x 4 KB"


def test_the_quoted_string_case_from_the_issue() -> None:
    text = '"\\' * 2048
    ratio = _median_seconds(fingerprint, text * 4) / max(_median_seconds(fingerprint, text), 1e-6)
    assert ratio < 8


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    st.lists(st.sampled_from([*UNITS, "a", " ", "'", '"', "\\", ":", "/", "@", "."]), min_size=1, max_size=12)
)
def test_no_slow_input_is_found(pieces: list[str]) -> None:
    """Hypothesis searches mixes of token starts for a quadratic case."""
    unit = "".join(pieces)
    small = (unit * (4096 // len(unit) + 1))[:4096]
    large = small * 4
    for function in (fingerprint, scrub_secrets):
        function(small)
        ratio = _median_seconds(function, large, runs=9) / max(_median_seconds(function, small, runs=9), 5e-6)
        assert ratio < 12, f"{unit!r}: {ratio:.1f}x"
