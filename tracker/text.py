"""Plain-text helpers: turn what callers pass into text, fold it onto one line, cut it to length."""

from __future__ import annotations

import re

__all__ = ["ELLIPSIS", "MAX_DECODED_BYTES", "fold_line", "to_text", "truncate"]

ELLIPSIS = "…"

#: ``bytes`` longer than this are cut before decoding: nothing downstream looks further
#: (the normalizer keeps the first 4,096 characters), and decoding a huge payload would
#: cost time and memory for nothing.
MAX_DECODED_BYTES = 65_536

_BYTES_TYPES = (bytes, bytearray)

# Every control character (C0, DEL, C1), all Unicode whitespace (which includes U+2028 and
# U+2029), and the invisible formatting characters that can disguise text (zero-width space,
# directional marks, embeddings, overrides and isolates, word joiner, BOM).
_FOLDED = re.compile(
    "[\\s\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]+"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ASCII_CONTROLS = bytes(range(0x20)) + b"\x7f"


def to_text(value: object) -> str:
    """Text of an error given as ``str``, ``bytes``-like (UTF-8, bad bytes replaced) or exception.

    An exception gives ``"TypeName: message"``, or ``"TypeName"`` when its message is blank,
    or ``"TypeName: <unprintable>"`` when ``str(exc)`` raises. Other types raise ``TypeError``.
    """
    if type(value) is str:
        return value
    if isinstance(value, str):  # a subclass: its exact-str copy, bypassing any __str__ override
        return str.__str__(value)
    if isinstance(value, _BYTES_TYPES):
        return str(value[:MAX_DECODED_BYTES], "utf-8", "replace")
    if isinstance(value, memoryview):
        return _decode_memoryview(value)
    if isinstance(value, BaseException):
        return _exception_text(value)
    raise TypeError(
        f"expected str, bytes, bytearray, memoryview or an exception, got {type(value).__name__}"
    )


def _decode_memoryview(view: memoryview) -> str:
    try:
        try:
            data = view.cast("B")[:MAX_DECODED_BYTES].tobytes()
        except (TypeError, ValueError):  # not C-contiguous, or an unusual format
            data = view.tobytes()[:MAX_DECODED_BYTES]
    except ValueError:  # released
        return "<unprintable>"
    return str(data, "utf-8", "replace")


def _exception_text(exc: BaseException) -> str:
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:
        return f"{name}: <unprintable>"
    if not message or message.isspace():
        return name
    return f"{name}: {message}"


def fold_line(text: str) -> str:
    """One clean line: controls, line breaks and whitespace runs become one space; ends stripped.

    Lone surrogates become U+FFFD, so the result always encodes as UTF-8.
    """
    if text.isascii():
        encoded = text.encode("ascii")
        if len(encoded.translate(None, _ASCII_CONTROLS)) == len(encoded) and "  " not in text:
            return text.strip(" ")
        return _FOLDED.sub(" ", text).strip(" ")
    if text.isprintable() and "  " not in text:  # no controls, surrogates or odd spaces
        return text.strip(" ")
    return _SURROGATE.sub("\ufffd", _FOLDED.sub(" ", text)).strip(" ")


def truncate(text: str, max_length: int) -> str:
    """``text`` if it fits in ``max_length`` characters, else its start plus ``…`` (exactly that long)."""
    if len(text) <= max_length:
        return text
    if max_length <= 0:
        return ""
    return text[: max_length - 1] + ELLIPSIS
