"""Plain-text helpers: turn what callers pass into text, fold it onto one line, cut it to length.

:func:`to_text` is defensive, because what it converts can come from anywhere: it cuts an input
before any work proportional to its size, normalizes ``str`` and ``bytes`` subclasses to the
plain types without calling their methods, and reads an exception's message without calling
user code when the exception's class keeps a built-in ``__str__``. When it must call a user
``__str__`` (the class overrides it, or the message is not a string), an ``Exception`` raised
there is recorded as a note; anything else (``KeyboardInterrupt``, ``SystemExit``,
``asyncio.CancelledError``, ...) propagates to the caller, as it would from any call; a
``__str__`` that never returns blocks the caller, like any call that never returns.
"""

from __future__ import annotations

import re

__all__ = ["ELLIPSIS", "MAX_DECODED_BYTES", "MAX_TEXT_CHARS", "fold_line", "to_text", "truncate"]

ELLIPSIS = "…"

#: ``bytes`` longer than this are cut before decoding: nothing downstream looks further
#: (the normalizer keeps the first 4,096 characters), and decoding a huge payload would
#: cost time and memory for nothing.
MAX_DECODED_BYTES = 65_536
#: ``str`` subclasses and exception messages are cut to this many characters before any other
#: work (copying, formatting), for the same reason.
MAX_TEXT_CHARS = 65_536

# Every control character (C0, DEL, C1), all Unicode whitespace (which includes U+2028 and
# U+2029), and the invisible formatting characters that can disguise text (zero-width space,
# directional marks, embeddings, overrides and isolates, word joiner, BOM).
_FOLDED = re.compile(
    "[\\s\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]+"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ASCII_CONTROLS = bytes(range(0x20)) + b"\x7f"

# Read through the built-in descriptors, so that an override (or a metaclass) cannot run code.
_TYPE_NAME = type.__dict__["__name__"].__get__
_TYPE_MRO = type.__dict__["__mro__"].__get__
_TYPE_DICT = type.__dict__["__dict__"].__get__
_EXCEPTION_ARGS = BaseException.__dict__["args"].__get__
_CUT_STR = str.__getitem__
_STR_REPR = str.__repr__
_CUT = slice(0, MAX_TEXT_CHARS)
_CUT_BYTES = slice(0, MAX_DECODED_BYTES)


def to_text(value: object) -> str:
    """Text of an error given as ``str``, ``bytes``-like (UTF-8, bad bytes replaced) or exception.

    An exception gives ``"TypeName: message"``, or ``"TypeName"`` when its message is blank, or
    ``"TypeName: <__str__ raised ErrorName>"`` when its ``__str__`` fails. Subclasses of ``str``
    and ``bytes`` become the plain type (their methods are not called). Other types raise
    ``TypeError``; nothing else does, except what a user ``__str__`` raises that is not an
    ``Exception`` (see the module's documentation).
    """
    cls = type(value)
    if cls is str:
        return value  # type: ignore[return-value]
    if issubclass(cls, str):
        return _plain_str(value)  # type: ignore[arg-type]
    if issubclass(cls, (bytes, bytearray, memoryview)):
        try:
            return _decode(value, cls)  # type: ignore[arg-type]
        except Exception:  # an exotic buffer: never the caller's problem
            return f"<undecodable {_type_name(cls)}>"
    if issubclass(cls, BaseException):
        return _exception_text(value)  # type: ignore[arg-type]
    raise TypeError(
        f"expected str, bytes, bytearray, memoryview or an exception, got {_type_name(cls)}"
    )


def _type_name(cls: type) -> str:
    try:
        return _TYPE_NAME(cls)
    except Exception:
        return "object"


def _plain_str(text: str) -> str:
    """A plain ``str`` of at most :data:`MAX_TEXT_CHARS` characters (no method of a subclass runs)."""
    return _CUT_STR(text, _CUT)


def _decode(value: bytes | bytearray | memoryview, cls: type) -> str:
    if issubclass(cls, memoryview):
        data: bytes | bytearray = _memoryview_prefix(value)  # type: ignore[arg-type]
    elif issubclass(cls, bytes):
        data = bytes.__getitem__(value, _CUT_BYTES)
    else:
        data = bytearray.__getitem__(value, _CUT_BYTES)
    return str(data, "utf-8", "replace")


def _memoryview_prefix(view: memoryview) -> bytes:
    """At most :data:`MAX_DECODED_BYTES` of the view's bytes, copying no more than that."""
    try:
        nbytes = view.nbytes
    except ValueError:  # released
        return b"<unprintable>"
    if nbytes <= MAX_DECODED_BYTES or view.ndim == 0:
        return view.tobytes()[:MAX_DECODED_BYTES]
    if view.c_contiguous:
        try:
            return view.cast("B")[:MAX_DECODED_BYTES].tobytes()
        except (TypeError, ValueError):  # a format cast() does not take: slice rows below
            pass
    rows = view.shape[0] if view.shape else 0
    row_bytes = nbytes // rows if rows else 0
    if not 0 < row_bytes <= MAX_DECODED_BYTES:
        return f"<memoryview of {nbytes} bytes, not decoded>".encode()
    keep = -(-MAX_DECODED_BYTES // row_bytes)  # rows covering the limit
    return view[:keep].tobytes()[:MAX_DECODED_BYTES]


def _str_owner(cls: type) -> type | None:
    """The class whose ``__str__`` instances of ``cls`` use."""
    try:
        for klass in _TYPE_MRO(cls):
            if "__str__" in _TYPE_DICT(klass):
                return klass
    except Exception:
        pass
    return None


def _exception_text(exc: BaseException) -> str:
    cls = type(exc)
    name = _type_name(cls)
    message = _builtin_message(exc, cls)
    if message is None:  # the class overrides __str__, or its arguments are not plain text
        try:
            raw = str(exc)  # user code: an Exception is recorded as a note, anything else propagates
        except Exception as error:
            return f"{name}: <__str__ raised {_type_name(type(error))}>"
        message = raw[:MAX_TEXT_CHARS] if type(raw) is str else _plain_str(raw)
    if not message or message.isspace():
        return name
    return f"{name}: {message}"


def _builtin_message(exc: BaseException, cls: type) -> str | None:
    """The message built-in ``__str__`` would give, read without calling user code, or ``None``.

    Only for the common shapes: no argument, or one string argument (cut first, so a 100 MB
    message costs no more than a short one).
    """
    owner = _str_owner(cls)
    if owner is not BaseException and owner is not KeyError:
        return None
    try:
        args = _EXCEPTION_ARGS(exc)
    except Exception:
        return None
    if type(args) is not tuple or len(args) > 1:
        return None
    if not args:
        return ""
    if not issubclass(type(args[0]), str):
        return None
    text = _plain_str(args[0])
    return _STR_REPR(text) if owner is KeyError else text


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
