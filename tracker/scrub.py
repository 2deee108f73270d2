"""Remove secrets from message text before anything is stored.

Each kind of secret has its own pattern, tried only when a cheap test says it could be
present (a substring, or a byte translation that shows a long word or a long digit run),
and each pattern starts with a literal where it can, which the regex engine finds far
faster than a character class. Every pattern is linear in the length of the text: no two
unbounded quantifiers can trade the same characters.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "scrub_secrets"]

REDACTED = "[REDACTED]"

# -- private keys -------------------------------------------------------------------------------
# A whole PEM block, or everything after its header when the END line is missing (cut text).
_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
    r"[\s\S]*?(?:-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----|\Z)"
)

# -- service keys; the non-secret prefix is kept to show what leaked ----------------------------
# Each has a run of at least 16 letters, digits or underscores, which one byte translation
# detects; only then are these patterns tried.
_WORD_RUN_MAP = bytes(0x61 if chr(i).isalnum() or i == 0x5F else 0x20 for i in range(128)) + b" " * 128
_LONG_WORD_RUN = b"a" * 16
_JWT = re.compile(  # also a truncated one with only two segments
    r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*){1,4}"
)
_AWS_GOOGLE = re.compile(
    r"A(?<![A-Za-z0-9]A)"
    r"(?:(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)[A-Z0-9]{12,}"  # AWS key ids
    r"|Iza[0-9A-Za-z_-]{30,})"  # Google API keys
    r"(?![A-Za-z0-9])"
)
# These start at the "_" or "-" that ends the service's prefix.
_UNDERSCORE_TOKENS = re.compile(
    r"_(?:(?<=gh[pousr]_)[A-Za-z0-9]{20,}"  # GitHub
    r"|(?<=github_pat_)[A-Za-z0-9_]{20,}"
    r"|(?<=k_live_)(?<![A-Za-z0-9][sr]k_live_)[A-Za-z0-9]{10,}"  # Stripe
    r"|(?<=k_test_)(?<![A-Za-z0-9][sr]k_test_)[A-Za-z0-9]{10,}"
    r"|(?<=whsec_)[A-Za-z0-9]{20,}"
    r"|(?<=npm_)[A-Za-z0-9]{30,})"  # npm
)
_DASH_TOKENS = re.compile(
    r"-(?:(?<=glpat-)[A-Za-z0-9_-]{20,}"  # GitLab
    r"|(?<=xox[abposre]-)(?<![A-Za-z0-9]xox.-)[A-Za-z0-9-]{10,}"  # Slack
    r"|(?<=xapp-)(?<![A-Za-z0-9]xapp-)[A-Za-z0-9-]{10,}"
    r"|(?<=sk-)(?<![A-Za-z0-9]sk-)[A-Za-z0-9_-]{20,})"  # OpenAI-style
)

# -- credentials inside URLs --------------------------------------------------------------------
# scheme://user:pass@host -> scheme://[REDACTED]@host. Any user-info goes: tokens are often
# passed as the user name alone. The run stops at what ends an authority.
_URL_USERINFO = re.compile(r"://[^\s/?#\"'<>]+@")
_URL_USERINFO_REPLACEMENT = "://" + REDACTED + "@"

# -- key = value --------------------------------------------------------------------------------
# Key names are matched case-insensitively as a suffix of the key, so ``db_password`` and
# ``X-Auth-Token`` count. To start from the rare separator rather than from every letter, the
# search runs over the reversed, lower-cased text, where ``password = "x"`` reads
# ``"x" = drowssap``: the separator, optional spaces and closing quote, then the reversed key.
_KEY_NAMES = (
    "password", "passwd", "passphrase", "pwd", "secret", "token", "authorization",
    "credential", "credentials", "signature",
)  # fmt: skip
_SHORT_KEY_NAMES = ("pass", "auth", "sid", "jwt")  # not the end of a longer word: bypass, oauth
_KEY_PREFIXES = (  # <prefix>key, <prefix>_key, <prefix>-key, <prefix> key
    "api", "access", "private", "secret", "account", "master", "encryption", "signing", "session", "app",
)  # fmt: skip
_ID_PREFIXES = ("session", "sess")  # sessionid, session_id, PHPSESSID...
_REVERSED_KEYS = "|".join(
    [name[::-1] for name in _KEY_NAMES]
    + [name[::-1] + "(?![a-z])" for name in _SHORT_KEY_NAMES]
    + ["yek[ _-]?(?:" + "|".join(prefix[::-1] for prefix in _KEY_PREFIXES) + ")"]
    + ["di[ _-]?(?:" + "|".join(prefix[::-1] for prefix in _ID_PREFIXES) + ")"]
    + ["(eikooc)"]  # the only group: a Cookie header, whose value is the rest of the line
)
_KEY_AFTER_SEPARATOR = r"[ \t]*+(?:[\"']\\?)?(?:" + _REVERSED_KEYS + ")"
_REVERSED_KEY_PATTERNS = (  # one per separator, each starting with its literal
    (re.compile("=" + _KEY_AFTER_SEPARATOR), "="),
    (re.compile(":" + _KEY_AFTER_SEPARATOR), ":"),
)
# The value after such a separator, matched forwards on the original text: a quoted string
# (plain or JSON-escaped, closed or not), or a run up to a space, quote, comma, semicolon or
# ampersand, or a closing bracket that ends it: "(password=x)". ">" and "=" skip the rest of
# "=>" and ":=".
_PLAIN = r"[^\s\"',;&\\)\]}]"  # what an unquoted value is mostly made of
_SPECIAL = r"\\[^\s\"']|[)\]}](?![\s,;)\]}]|$)"  # an escape, or a bracket that does not end it
_VALUE = re.compile(
    r"[=>]?[ \t]*+"
    r"(\\\"[^\"\\\n]*+(?:\\[^\"\n][^\"\\\n]*+)*+(?:\\\")?"
    r"|\"[^\"\\\n]*+(?:\\.[^\"\\\n]*+)*+\"?"
    r"|'[^'\\\n]*+(?:\\.[^'\\\n]*+)*+'?"
    f"|(?:{_PLAIN}|{_SPECIAL})(?:{_PLAIN}++|{_SPECIAL})*+)"
)
_COOKIE_VALUE = re.compile(
    r"[=>]?[ \t]*+"
    r"(\"[^\"\\\n]*+(?:\\.[^\"\\\n]*+)*+\"?"
    r"|'[^'\\\n]*+(?:\\.[^'\\\n]*+)*+'?"
    r"|[^\r\n\"']*[^\s\"'])"
)
# "Authorization: Bearer abc": the scheme is kept and the credential after it redacted.
_AUTH_SCHEMES = frozenset(("basic", "bearer", "digest", "negotiate", "ntlm", "token", "aws4-hmac-sha256"))
_AUTH_SCHEME_INITIALS = "aAbBdDnNtT"
_VALUE_AFTER_SCHEME = re.compile(r"[ \t]+([^\s\"',;&]+)")

# -- bearer tokens outside a key = value --------------------------------------------------------
_BEARER = re.compile(r"(?i:\bbearer)[ \t]+([A-Za-z0-9._~+/-]+=*)")

# -- payment card numbers -----------------------------------------------------------------------
# 13-19 digits starting 2-6 (the card networks' ranges; Unix timestamps and most ids start with
# 1), unseparated or grouped 4-4-4-4(-3) or 4-6-5 with one consistent space or dash, then
# Luhn-checked, so ordinary ids are not eaten. One byte translation first shows whether there
# are 13 digits in a row once spaces and dashes are dropped.
_CARD = re.compile(
    r"[2-6](?<![0-9].)"
    r"(?:[0-9]{3}([ -]?)[0-9]{4}\1[0-9]{4}\1[0-9]{1,4}(?:\1[0-9]{1,3})?"
    r"|[0-9]{3}([ -])[0-9]{6}\2[0-9]{4,5})"
    r"(?![0-9])"
)
_DIGIT_RUN_MAP = bytes(0x30 if 0x30 <= i <= 0x39 else 0x78 for i in range(256))
_DIGIT_RUN_SEPARATORS = b" -"
_THIRTEEN_DIGITS = b"0" * 13


def scrub_secrets(text: str) -> str:
    """``text`` with passwords, tokens, keys, credentials and card numbers replaced by ``[REDACTED]``."""
    # The byte tests look at the text as given: later steps only ever replace parts of it.
    data = text.encode("utf-8", "surrogatepass")
    if "PRIVATE KEY" in text:
        text = _PEM.sub(REDACTED, text)
    if _LONG_WORD_RUN in data.translate(_WORD_RUN_MAP):
        if "eyJ" in text:
            text = _JWT.sub(REDACTED, text)
        if "A" in text:
            text = _AWS_GOOGLE.sub(_redact_after_prefix, text)
        if "_" in text:
            text = _UNDERSCORE_TOKENS.sub("_" + REDACTED, text)
        if "-" in text:
            text = _DASH_TOKENS.sub("-" + REDACTED, text)
    if "@" in text:
        text = _URL_USERINFO.sub(_URL_USERINFO_REPLACEMENT, text)
    if "=" in text or ":" in text:
        text = _scrub_key_values(text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(_redact_bearer, text)
    if _THIRTEEN_DIGITS in data.translate(_DIGIT_RUN_MAP, _DIGIT_RUN_SEPARATORS):
        text = _CARD.sub(_redact_card, text)
    return text


def _redact_after_prefix(match: re.Match[str]) -> str:
    return match.group()[:4] + REDACTED  # AKIA[REDACTED], AIza[REDACTED]


# -- key = value --------------------------------------------------------------------------------


def _lowered(text: str) -> str:
    """Lower-case ``text`` with each character staying at its index."""
    low = text.lower()
    if len(low) == len(text):
        return low
    # A few characters lower-case to two (U+0130 İ): those are kept as they are.
    return "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)


def _scrub_key_values(text: str) -> str:
    reversed_low = _lowered(text)[::-1]
    keys = []  # matches in reversed_low, each ending at a key name
    for pattern, separator in _REVERSED_KEY_PATTERNS:
        key = pattern.search(reversed_low)
        while key is not None:
            keys.append(key)
            after = reversed_low.find(separator, key.end())
            key = pattern.search(reversed_low, after) if after >= 0 else None
    if not keys:
        return text
    if len(keys) > 1:
        keys.sort(key=re.Match.start, reverse=True)  # the leftmost in text first
    length = len(text)
    pieces = []
    done = 0  # text before this index is already in pieces
    for key in keys:
        value_at = length - key.start()  # just after the separator
        if value_at <= done:  # inside a value already redacted
            continue
        match = (_VALUE if key.lastindex is None else _COOKIE_VALUE).match(text, value_at)
        if match is None:
            continue
        start, end = match.span(1)
        first = text[start]
        if first in _AUTH_SCHEME_INITIALS and text[start:end].lower() in _AUTH_SCHEMES:
            credential = _VALUE_AFTER_SCHEME.match(text, end)  # "Bearer abc": keep the scheme
            if credential is not None:
                start, end = credential.span(1)
                first = text[start]
        if first in "\"'\\":
            replacement = _redacted_like(text[start:end])
        elif end <= start + len(REDACTED) and text.startswith(REDACTED, start):  # scrubbed already
            continue
        else:
            replacement = REDACTED
        pieces.append(text[done:start])
        pieces.append(replacement)
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _redacted_like(value: str) -> str:
    """``[REDACTED]`` wrapped in the same quotes as the quoted ``value``."""
    quote = '\\"' if value.startswith('\\"') else value[0]
    return quote + REDACTED + quote if quote != "\\" else REDACTED


def _redact_bearer(match: re.Match[str]) -> str:
    token = match.group(1)
    # "Bearer token expired", "bearer authentication": a plain word, not a credential.
    if token.isalpha() and token.islower() and len(token) < 20:
        return match.group()
    return match.group()[: match.start(1) - match.start()] + REDACTED


# -- card numbers -------------------------------------------------------------------------------


def _redact_card(match: re.Match[str]) -> str:
    candidate = match.group()
    separator = match.group(1) or match.group(2) or ""
    digits = candidate.replace(separator, "") if separator else candidate
    if _luhn_valid(digits):
        return REDACTED
    # "4111 1111 1111 1111 22": a short fifth group may be something else that follows.
    if separator and candidate.count(separator) == 4:
        tail = candidate.rpartition(separator)[2]
        if _luhn_valid(digits[: -len(tail)]):
            return REDACTED + separator + tail
    return candidate


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position & 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0
