"""scrub_secrets: every kind of secret is removed, wherever it sits, and ordinary text is kept."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tracker.scrub import REDACTED, scrub_secrets


def assert_scrubbed(text: str, secret: str) -> str:
    scrubbed = scrub_secrets(text)
    assert secret in text, "the test itself is wrong"
    assert secret not in scrubbed, f"{secret!r} survived in {scrubbed!r}"
    assert REDACTED in scrubbed
    return scrubbed


# -- key = value ------------------------------------------------------------------------------

KEY_VALUE_CASES = [
    ("login failed: password=hunter2 for bob", "hunter2"),
    ("login failed: password = hunter2", "hunter2"),
    ("login failed: password: hunter2", "hunter2"),
    ('config {"password": "hunter2", "user": "bob"}', "hunter2"),
    ("config {'password': 'hunter2'}", "hunter2"),
    ("PASSWORD=Hunter2", "Hunter2"),
    ("db_password=s3cr3t!x", "s3cr3t!x"),
    ("passwd=letmein99", "letmein99"),
    ("pwd=letmein99", "letmein99"),
    ("pass=letmein99", "letmein99"),
    ("passphrase=correct-horse-battery", "correct-horse-battery"),
    ("secret=abcd1234", "abcd1234"),
    ("client_secret=abcd1234", "abcd1234"),
    ("token=abcd1234", "abcd1234"),
    ("access_token=abcd1234&next=1", "abcd1234"),
    ("refresh_token: abcd1234", "abcd1234"),
    ("X-Auth-Token: abcd1234", "abcd1234"),
    ("api_key=abcd1234", "abcd1234"),
    ("apikey=abcd1234", "abcd1234"),
    ("X-Api-Key: abcd1234", "abcd1234"),
    ("aws_secret_access_key = abcd1234", "abcd1234"),
    ("private_key=abcd1234", "abcd1234"),
    ("auth=abcd1234", "abcd1234"),
    ("credentials=abcd1234", "abcd1234"),
    ("credential: abcd1234", "abcd1234"),
    ("session_id=abcd1234", "abcd1234"),
    ("sessionid=abcd1234", "abcd1234"),
    ("Session ID: abcd1234", "abcd1234"),
    ("JSESSIONID=abcd1234", "abcd1234"),
    ("PHPSESSID=abcd1234", "abcd1234"),
    ("sid=abcd1234", "abcd1234"),
    ("jwt=abcd1234", "abcd1234"),
    ("X-Amz-Signature=abcd1234", "abcd1234"),
    ("GET /cb?code=1&token=abcd1234&state=x", "abcd1234"),
    ("password:=abcd1234", "abcd1234"),
    ("password => abcd1234", "abcd1234"),
    ("(password=abcd1234)", "abcd1234"),
    ("password=ab)cd1234", "ab)cd1234"),
    ('log {\\"password\\": \\"abcd1234\\"} end', "abcd1234"),
    ('password="two words here"', "two words here"),
    ('password="unterminated quote', "unterminated quote"),
    ("Cookie: session=abcd1234; theme=dark", "abcd1234"),
    ("Set-Cookie: sid=abcd1234; Path=/; HttpOnly", "abcd1234"),
]


@pytest.mark.parametrize(("text", "secret"), KEY_VALUE_CASES)
def test_key_value_secrets_are_redacted(text: str, secret: str) -> None:
    assert_scrubbed(text, secret)


def test_key_and_surroundings_are_kept() -> None:
    scrubbed = scrub_secrets("auth failed (password=hunter2 user=bob)")
    assert scrubbed == f"auth failed (password={REDACTED} user=bob)"
    assert scrub_secrets("(password=hunter2), next") == f"(password={REDACTED}), next"
    assert scrub_secrets('{"password": "hunter2", "n": 1}') == f'{{"password": "{REDACTED}", "n": 1}}'
    assert scrub_secrets("{'token': 'abc'}") == f"{{'token': '{REDACTED}'}}"


def test_every_secret_of_a_message_is_redacted() -> None:
    text = "password=aaa1 token=bbb2 api_key=ccc3 secret: ddd4"
    scrubbed = scrub_secrets(text)
    for secret in ("aaa1", "bbb2", "ccc3", "ddd4"):
        assert secret not in scrubbed
    assert scrubbed.count(REDACTED) == 4


def test_a_whole_cookie_header_is_redacted() -> None:
    scrubbed = assert_scrubbed("Cookie: a=abcd1234; b=efgh5678\nnext", "efgh5678")
    assert scrubbed.endswith("\nnext")


@pytest.mark.parametrize(
    "text",
    [
        "bypass=1",
        "compass: north",
        "oauth=enabled",
        "considered: yes",
        "tokens: 5 remaining",
        "passed: 12 tests",
        "author: bob",
        "keyboard: us",
        "partition_key=7",
        "password:",
        "no secrets here, just an error",
    ],
)
def test_lookalike_keys_are_left_alone(text: str) -> None:
    assert scrub_secrets(text) == text


# -- Authorization and bearer tokens ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        ("Authorization: Bearer abc.DEF-123", "abc.DEF-123", f"Authorization: Bearer {REDACTED}"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", f"Authorization: Basic {REDACTED}"),
        ("authorization=Token 9944b09199c62bcf", "9944b09199c62bcf", f"authorization=Token {REDACTED}"),
        ("Proxy-Authorization: Digest abc123", "abc123", f"Proxy-Authorization: Digest {REDACTED}"),
        ("request had Bearer abc.DEF-123 attached", "abc.DEF-123", f"request had Bearer {REDACTED} attached"),
        ("BEARER ABCdef123==", "ABCdef123==", f"BEARER {REDACTED}"),
    ],
)
def test_authorization_values_and_bare_bearer_tokens(text: str, secret: str, expected: str) -> None:
    assert assert_scrubbed(text, secret) == expected


def test_bearer_followed_by_a_plain_word_is_not_a_credential() -> None:
    assert scrub_secrets("Bearer token expired") == "Bearer token expired"


# -- JWTs ---------------------------------------------------------------------------------------

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def test_jwt_is_redacted() -> None:
    assert assert_scrubbed(f"invalid token {JWT} rejected", JWT) == f"invalid token {REDACTED} rejected"


def test_truncated_two_segment_jwt_is_redacted() -> None:
    truncated = JWT[: JWT.rindex(".") - 5]
    payload = truncated.split(".")[1]
    scrubbed = assert_scrubbed(f"token {truncated}", payload)
    assert "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" not in scrubbed


# -- credentials in URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        ("postgres://bob:hunter2@db:5432/app failed", "hunter2", f"postgres://{REDACTED}@db:5432/app failed"),
        ("redis://:hunter2@cache:6379", "hunter2", f"redis://{REDACTED}@cache:6379"),
        ("https://x-access-token:ghs_abc@github.com/o/r", "ghs_abc", f"https://{REDACTED}@github.com/o/r"),
        ("amqp://user:p@ss@broker/vhost", "p@ss", f"amqp://{REDACTED}@broker/vhost"),
        ("clone https://TOKEN123@gitlab.com/x.git", "TOKEN123", f"clone https://{REDACTED}@gitlab.com/x.git"),
    ],
)
def test_credentials_inside_urls(text: str, secret: str, expected: str) -> None:
    assert assert_scrubbed(text, secret) == expected


def test_an_email_in_a_query_string_is_not_user_info() -> None:
    text = "GET https://example.com/invite?to=bob@example.com failed"
    assert scrub_secrets(text) == text


# -- private keys -----------------------------------------------------------------------------

PEM_BODY = "MIIEowIBAAKCAQEA7bq9mHxQ1x\nZm9vYmFyYmF6cXV4cXV1eA==\nc2VjcmV0a2V5bWF0ZXJpYWw="


@pytest.mark.parametrize("kind", ["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "])
def test_pem_private_key_block_is_redacted(kind: str) -> None:
    text = f"bad key: -----BEGIN {kind}PRIVATE KEY-----\n{PEM_BODY}\n-----END {kind}PRIVATE KEY----- (loaded)"
    scrubbed = scrub_secrets(text)
    for line in PEM_BODY.splitlines():
        assert line not in scrubbed
    assert scrubbed == f"bad key: {REDACTED} (loaded)"


def test_pem_private_key_without_its_end_is_redacted_to_the_end() -> None:
    text = f"key -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}"
    assert scrub_secrets(text) == f"key {REDACTED}"


def test_a_public_key_or_certificate_is_not_a_secret() -> None:
    text = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    assert scrub_secrets(text) == text


# -- cloud and service keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "kept_prefix"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "AKIA"),
        ("ASIAY34FZKBOKMUTVV7A", "ASIA"),
        ("AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", "AIza"),
        ("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", "ghp_"),
        ("gho_16C7e42F292c6912E7710c838347Ae178B4a", "gho_"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ", "github_pat_"),
        ("glpat-xxxxxxxxxxxxxxxxxxxx1234", "glpat-"),
        ("xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy", "xoxb-"),
        ("xoxp-17653672481-19874698323-19874698323-0123456789abcdef0123456789abcdef", "xoxp-"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_"),
        ("rk_test_4eC39HqLyjWDarjtT1zdp7dc", "rk_test_"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
        ("npm_1234567890abcdefghijABCDEFGHIJ123456", "npm_"),
        ("sk-proj-abcdefghijklmnopqrstuvwxyz0123456789", "sk-"),
    ],
)
def test_service_keys_are_redacted_keeping_their_prefix(secret: str, kept_prefix: str) -> None:
    body = secret[len(kept_prefix) :]
    scrubbed = assert_scrubbed(f"upload failed with {secret}, retrying", body)
    assert scrubbed == f"upload failed with {kept_prefix}{REDACTED}, retrying"


@pytest.mark.parametrize(
    "text",
    [
        "AKIA is a prefix, ASIA a continent",
        "task-scheduler-worker-pool-abcdefghijklmnop stopped",
        "mask_live_abcdefghijklmnop",
        "ALGORITHM_NAME_TOO_LONG_FOR_FIELD",
    ],
)
def test_lookalikes_of_service_keys_are_left_alone(text: str) -> None:
    assert scrub_secrets(text) == text


# -- card numbers -------------------------------------------------------------------------------

CARDS = ["4111111111111111", "5500000000000004", "340000000000009", "6011000000000004", "4222222222222"]


@pytest.mark.parametrize("card", CARDS)
@pytest.mark.parametrize("separator", ["", " ", "-"])
def test_card_numbers_are_redacted(card: str, separator: str) -> None:
    if separator and len(card) == 15:
        grouped = separator.join((card[:4], card[4:10], card[10:]))
    else:
        grouped = separator.join(card[i : i + 4] for i in range(0, len(card), 4))
    scrubbed = assert_scrubbed(f"charge failed for card {grouped} (declined)", grouped)
    assert scrubbed == f"charge failed for card {REDACTED} (declined)"
    for group in grouped.replace("-", " ").split():
        if len(group) >= 4:
            assert f" {group} " not in f" {scrubbed} "


def test_a_card_followed_by_another_short_number_is_still_found() -> None:
    assert scrub_secrets("card 4111 1111 1111 1111 22 left") == f"card {REDACTED} 22 left"


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 not found",  # fails the Luhn check
        "timestamp 1700000000000 ms",  # starts with 1
        "trace id 12345678901234567890123",  # too long to be a card
        "ids 4111 1111 and 1111 1111",
        "version 2024.01.15.1234567",
    ],
)
def test_ordinary_numbers_are_not_cards(text: str) -> None:
    assert scrub_secrets(text) == text


# -- everything together ----------------------------------------------------------------------


def test_secret_inside_quotes_or_url_is_removed() -> None:
    text = "failed: \"postgres://bob:hunter2@db/app\" and 'token=abc123'"
    scrubbed = scrub_secrets(text)
    assert "hunter2" not in scrubbed and "abc123" not in scrubbed


def test_scrubbing_is_idempotent_on_examples() -> None:
    for text, _ in KEY_VALUE_CASES:
        once = scrub_secrets(text)
        assert scrub_secrets(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "a" * 4096,
        "=" * 4096,
        ":" * 4096,
        "password" * 512,
        "password=" * 455,
        "password" + " " * 4000 + "x",
        '"password": "' + "\\" * 4000,
        "://" * 1365,
        "://" + "a" * 4000,
        "-----BEGIN PRIVATE KEY-----" + "-" * 4000,
        "eyJ" + "a." * 2000,
        "A" * 4096,
        "AKIA" + "A" * 4092 + "a",
        "_" * 4096,
        "ghp_" * 1024,
        "4" * 4096,
        "4 " * 2048,
        "4-" * 2048,
        "Bearer " * 585,
        "Cookie:" + " " * 4000,
    ],
)
def test_adversarial_inputs_complete(text: str) -> None:
    # Each pattern is linear; a catastrophic backtracking would make this test hang.
    assert isinstance(scrub_secrets(text), str)


# -- generated secrets --------------------------------------------------------------------------

SECRET_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#$%*+./:?@^_~"
SECRET_CHARS = st.text(alphabet=SECRET_ALPHABET, min_size=6, max_size=24)
CONTEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40).map(lambda s: s + " ")
KEY_NAMES = st.sampled_from(
    [
        "password", "Password", "DB_PASSWORD", "passwd", "pwd", "secret", "client_secret", "token",
        "access_token", "api_key", "apikey", "X-Api-Key", "auth", "Authorization", "credentials",
        "session_id", "sessionid",
    ]
)  # fmt: skip
SEPARATORS = st.sampled_from(["=", ": ", " = ", ":", '": "', "': '"])


def _quoted(key: str, separator: str, value: str) -> str:
    if separator == '": "':
        return f'"{key}": "{value}"'
    if separator == "': '":
        return f"'{key}': '{value}'"
    return f"{key}{separator}{value}"


@settings(max_examples=300)
@given(CONTEXT, KEY_NAMES, SEPARATORS, SECRET_CHARS.filter(lambda s: "'" not in s and '"' not in s), CONTEXT)
def test_generated_key_value_secrets_never_survive(
    before: str, key: str, separator: str, secret: str, after: str
) -> None:
    text = before + _quoted(key, separator, secret) + " " + after
    assume(text.count(secret) == 1 and secret not in REDACTED)
    assert secret not in scrub_secrets(text)


def _luhn_complete(digits: str) -> str:
    for check in "0123456789":
        candidate = digits + check
        total = 0
        for position, char in enumerate(reversed(candidate)):
            value = int(char)
            if position % 2:
                value = value * 2 - 9 if value > 4 else value * 2
            total += value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


CARD_NUMBERS = st.builds(
    lambda first, rest: _luhn_complete(first + rest),
    st.sampled_from("23456"),
    st.text(alphabet="0123456789", min_size=14, max_size=14),
)
NON_DIGIT_CONTEXT = st.text(alphabet="abc xyz,.()", max_size=20).map(lambda s: f"{s} ")


@settings(max_examples=200)
@given(NON_DIGIT_CONTEXT, CARD_NUMBERS, st.sampled_from(["", " ", "-"]), NON_DIGIT_CONTEXT)
def test_generated_card_numbers_never_survive(before: str, card: str, separator: str, after: str) -> None:
    grouped = separator.join(card[i : i + 4] for i in range(0, 16, 4))
    scrubbed = scrub_secrets(f"{before}{grouped} {after}")
    assert grouped not in scrubbed
    assert card not in scrubbed.replace(" ", "").replace("-", "")


@settings(max_examples=200)
@given(
    CONTEXT,
    st.sampled_from(["AKIA", "ASIA"]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16),
    CONTEXT,
)
def test_generated_aws_key_ids_never_survive(before: str, prefix: str, body: str, after: str) -> None:
    text = f"{before}{prefix}{body} {after}"
    assume(text.count(body) == 1 and body not in REDACTED)
    assert body not in scrub_secrets(text)


@settings(max_examples=200)
@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.sampled_from(["postgres", "mysql", "redis", "https", "amqp"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12),
    SECRET_CHARS.filter(lambda s: not set(s) & set("/?#@\"'<>")),
)
def test_generated_url_passwords_never_survive(before: str, scheme: str, user: str, password: str) -> None:
    text = f"{before} {scheme}://{user}:{password}@host.example:5432/db"
    assume(text.count(f":{password}@") == 1)
    scrubbed = scrub_secrets(text)
    assert f"{user}:{password}" not in scrubbed
    assert f":{password}@" not in scrubbed


@settings(max_examples=300)
@given(st.text(st.characters(blacklist_categories=())))
def test_scrub_never_raises_and_is_idempotent(text: str) -> None:
    once = scrub_secrets(text)
    assert scrub_secrets(once) == once
