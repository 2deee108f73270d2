"""Group look-alike messages: replace their variable parts with placeholders.

In the manner of Sentry's message parameterization, ``Connection timeout after 31ms to
10.0.0.7`` becomes ``Connection timeout after <duration> to <ip>``.

A token is replaced only when it stands on its own: not glued to a word character before or
after it, so words that merely contain digits (``utf8``, ``http2``, ``v2``, ``S3``, ``x86_64``,
``utf-8``) are left alone. Placeholders count as word characters on both sides (``>`` before a
token and ``<`` after it block it like a letter or digit would), which makes the function
idempotent: ``fingerprint(fingerprint(x)) == fingerprint(x)``.

Every pattern is linear in the length of the text (no two unbounded quantifiers can trade the
same characters), and each starts with a literal or a small character class, so the regex
engine skips quickly to the few places where a token can start.
"""

from __future__ import annotations

import re

from .scrub import REDACTED

__all__ = ["PLACEHOLDERS", "fingerprint"]

#: Every placeholder the built-in fingerprint writes.
PLACEHOLDERS = ("<uuid>", "<ip>", "<email>", "<url>", "<hex>", "<duration>", "<num>", "<str>", "<date>")

# -- URLs and e-mail addresses: their own passes, each run only when a substring shows up -----
_URL = re.compile(
    r"[A-Za-z](?<![\w>+.-].)[A-Za-z0-9+.-]{0,30}://"
    r"[^\s\"'<>]*(?<![.,;:!?)\]}])"  # a sentence's closing punctuation is not part of the URL
)
_EMAIL = re.compile(r"[\w+-](?<![\w>.+-].)[\w.+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?![\w<-]|\.[\w<])")

# -- everything else: one pass ------------------------------------------------------------------
# The leading class consumes a token's first character (or, for a hex id that starts with
# letters, its first digit or its first dash): that is what lets the engine skip through the
# text. Look-behinds then check which character it was and what stands before the token, and
# each branch matches the rest of its token. Branch order is precedence: a date wins over a
# number, and so on. Possessive quantifiers (``*+``) and atomic groups (``(?>...)``) mark
# where giving characters back could not help, which saves the engine from trying.
_H = "[0-9a-fA-F]"
_H4 = "[0-9a-fA-F]{1,4}"
_BEFORE = r"(?<![\w>].)"  # the character before the token is not a word character or ">"
_NOT_AFTER = r"(?<![.-].)"  # nor, for numbers, "." (1.2.3) or "-" (utf-8, item-5)
_END = r"(?![\w<])"  # the character after the token is not a word character or "<"
_STRUCTURED_END = r"(?![\w<]|[.:][0-9<])"  # nor, for addresses and dates, a further part
_FRACTION = r"(?:\.[0-9]+)?"
_SHORT_UNIT = "(?:ns|us|µs|μs|ms|s|m|h)"
_LONG_UNIT = (
    "(?:nanoseconds?|nsecs?|microseconds?|usecs?|milliseconds?|millis|msecs?|ms|us|µs|μs|ns"
    "|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?)"
)
# After a number: "ms", "1h30m", " seconds"...
_DURATION_UNIT = (
    rf"(?=[ ]?[nuµμmshdw])(?:{_SHORT_UNIT}(?:[0-9]+{_FRACTION}{_SHORT_UNIT})*|[ ]?{_LONG_UNIT})"
    r"(?![\w<]|\.[0-9<])"
)
# After a number that nothing longer (a range, an address, a date) continues.
_PLAIN_NUMBER_END = r"(?![\w<]|[.:-][\w<:])"
# After a number with an exponent or a range ("1e5", "5-10", "1-800-555-0199").
_NUMBER_TAIL = rf"(?:[eE][+-]?[0-9]+)?(?:-[0-9]+{_FRACTION})*(?![\w<]|\.[\w<])"
_UUID_AFTER_8 = rf"-{_H}{{4}}-{_H}{{4}}-{_H}{{4}}-{_H}{{12}}{_END}"
_IPV4 = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
_IPV6_END = r"(?![\w<:]|\.[0-9<])"
# An IPv6 address after its first group: seven more, or "::" somewhere, maybe ending in IPv4.
_IPV6_TAIL = (
    rf"(?:(?::{_H4}){{7}}|(?::{_H4}){{5}}:{_IPV4}"
    rf"|(?::{_H4}){{0,5}}::(?:(?:{_H4}:){{0,4}}{_IPV4}|{_H4}(?::{_H4}){{0,5}})?)"
)
# An IPv6 address that starts with "::", after its first colon.
_IPV6_AFTER_COLON = rf":(?:(?:{_H4}:){{0,5}}{_IPV4}|{_H4}(?::{_H4}){{0,6}})?"


def _hex_id_after_letters(k: int) -> str:
    """A uuid, IPv6 address or hex id that starts with ``k`` hex letters, after its first digit."""
    branches = [rf"{_H}{{{7 - k}}}{_UUID_AFTER_8}(?P<uuid_{k}>)"]
    if k <= 3:
        branches.append(rf"(?<![.:].{{{k + 1}}}){_H}{{0,{3 - k}}}{_IPV6_TAIL}{_IPV6_END}(?P<ipv6_{k}>)")
    branches.append(rf"(?={_H}{{{max(0, 6 - k)}}}){_H}*+{_END}(?P<hex_{k}>)")
    return rf"(?<![\w>].{{{k + 1}}})(?<=[a-fA-F]{{{k}}}.)(?:{'|'.join(branches)})"


_TOKENS = re.compile(
    "[0-9\"'\\[:-]"
    # Nothing starts right after a digit or a letter other than a-f (inside a word or number),
    # except at a dash: the end of a uuid's first group.
    "(?<![0-9g-zG-Z_>][^-])"
    "(?:"
    + _BEFORE
    + "(?:"
    # -- a token starting with a digit -------------------------------------------------------
    + r"(?<=[0-9])(?:"
    # the common case first: a number or duration that nothing longer continues
    + rf"{_NOT_AFTER}[0-9]*+(?>{_FRACTION})(?:{_DURATION_UNIT}(?P<duration>)|{_PLAIN_NUMBER_END}(?P<num>))"
    # then the structured tokens, most common first (none can start like another)
    + rf"|{_NOT_AFTER}(?:"
    + rf"[0-9]{{0,2}}(?:\.[0-9]{{1,3}}){{3}}(?::[0-9]{{1,5}})?{_STRUCTURED_END}(?P<ipv4>)"
    + r"|[0-9]{3}-[01][0-9]-[0-3][0-9]"  # 2024-01-15, 2024-01-15T10:00:00.123+02:00
    + r"(?:[T ][0-2][0-9]:[0-5][0-9](?::[0-5][0-9](?:[.,][0-9]{1,9})?)?"
    + r"(?:Z|[+-][0-2][0-9](?::?[0-5][0-9])?)?)?"
    + rf"{_STRUCTURED_END}(?P<date>)"
    + rf"|(?<!:.)[0-9]?:[0-5][0-9]:[0-5][0-9](?:[.,][0-9]{{1,9}})?{_STRUCTURED_END}(?P<time>)"
    + ")"
    + rf"|{_H}{{7}}{_UUID_AFTER_8}(?P<uuid>)"
    # an IPv6 address before a number: "2001:db8::1" is not "2001" and the rest
    + rf"|{_NOT_AFTER}(?:"
    + rf"(?<!:.){_H}{{0,3}}{_IPV6_TAIL}{_IPV6_END}(?P<ipv6>)"
    + rf"|[0-9]*{_FRACTION}{_NUMBER_TAIL}(?P<long_num>)"
    + ")"
    + rf"|(?<=0)[xX]{_H}+{_END}(?P<hex_0x>)"
    + rf"|(?={_H}{{6}}){_H}*+{_END}(?P<hex>)"
    + ")"
    # -- a minus sign: a negative number or duration ------------------------------------------
    + rf"|(?<=-){_NOT_AFTER}[0-9]+{_FRACTION}"
    + rf"(?:{_DURATION_UNIT}(?P<neg_duration>)|{_NUMBER_TAIL}(?P<neg_num>))"
    # -- quoted strings -------------------------------------------------------------------------
    + r"|(?<=\")[^\"\\]*+(?:\\.[^\"\\]*+)*+\"" + _END + "(?P<double_quoted>)"
    + r"|(?<=')[^'\\]*+(?:\\.[^'\\]*+)*+'" + _END + "(?P<single_quoted>)"
    # -- "::1" and "[::1]:8080" -----------------------------------------------------------------
    + rf"|(?<=:)(?<![.:].){_IPV6_AFTER_COLON}{_IPV6_END}(?P<ipv6_colon>)"
    + rf"|(?<=\[)(?:{_H}{_H}{{0,3}}{_IPV6_TAIL}|:{_IPV6_AFTER_COLON})\](?::[0-9]{{1,5}})?{_END}"
    + "(?P<ipv6_bracket>)"
    + ")"
    # -- a hex id starting with 1-6 letters, found at its first digit (see _MARK) ---------------
    + r"|(?<=[a-fA-F][0-9])(?:"
    + "|".join(_hex_id_after_letters(k) for k in range(1, 7))
    + ")"
    # -- a uuid whose first group has no digit in its first seven characters, found at its dash --
    + rf"|(?<=-)(?<![\w>].{{9}})(?<={_H}{{8}}.){_H}{{4}}-{_H}{{4}}-{_H}{{4}}-{_H}{{12}}{_END}(?P<uuid_8>)"
    + ")",
    re.DOTALL,
)

# Written before the placeholder of a token that started ``k`` characters before the match,
# with ``k`` as a digit: those characters were already copied to the output, and
# ``_drop_prefixes`` removes them. Text that holds the mark itself is done piece by piece.
_MARK = "\x00"
_PLACEHOLDER_BY_KIND = {
    "duration": "<duration>",
    "num": "<num>",
    "uuid": "<uuid>",
    "date": "<date>",
    "time": "<date>",
    "ipv4": "<ip>",
    "ipv6": "<ip>",
    "long_num": "<num>",
    "hex_0x": "<hex>",
    "hex": "<hex>",
    "neg_duration": "<duration>",
    "neg_num": "<num>",
    "ipv6_bracket": "<ip>",
    "uuid_8": f"{_MARK}8<uuid>",
}
for _k in range(1, 7):
    for _kind, _placeholder in (("uuid", "<uuid>"), ("ipv6", "<ip>"), ("hex", "<hex>")):
        _PLACEHOLDER_BY_KIND[f"{_kind}_{_k}"] = f"{_MARK}{_k}{_placeholder}"
# Indexed by the number of the (empty) group that closes each branch; None: decided by _replace.
_KIND_BY_GROUP = {index: kind for kind, index in _TOKENS.groupindex.items()}
_PLACEHOLDER_BY_GROUP: tuple[str | None, ...] = tuple(
    _PLACEHOLDER_BY_KIND.get(_KIND_BY_GROUP.get(index, "")) for index in range(_TOKENS.groups + 1)
)
_QUOTED_REDACTED = (f'"{REDACTED}"', f"'{REDACTED}'")
_DIGIT = re.compile("[0-9]")


def _replace(match: re.Match[str], placeholders: tuple[str | None, ...] = _PLACEHOLDER_BY_GROUP) -> str:
    placeholder = placeholders[match.lastindex]  # type: ignore[index]
    if placeholder is not None:
        return placeholder
    token = match.group()
    if token[0] in "\"'":
        # A redacted value stays readable: it says a secret was there.
        return token if token in _QUOTED_REDACTED else "<str>"
    # "::" alone, or "::beef": not an address without a digit.
    return "<ip>" if _DIGIT.search(token) else token


def _drop_prefixes(text: str) -> str:
    pieces = text.split(_MARK)
    for i in range(1, len(pieces)):
        count = ord(pieces[i][0]) - 48
        pieces[i - 1] = pieces[i - 1][:-count]
        pieces[i] = pieces[i][1:]
    return "".join(pieces)


def fingerprint(text: str) -> str:
    """``text`` with its variable parts (ids, addresses, numbers, quoted strings...) as placeholders."""
    if _MARK in text:
        return _MARK.join(map(fingerprint, text.split(_MARK)))
    if "://" in text:
        text = _URL.sub("<url>", text)
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    text = _TOKENS.sub(_replace, text)
    if _MARK in text:
        text = _drop_prefixes(text)
    return text
