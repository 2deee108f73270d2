"""to_text, fold_line and truncate: what callers pass becomes one clean, bounded line."""

from __future__ import annotations

import array
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.text import ELLIPSIS, MAX_DECODED_BYTES, fold_line, to_text, truncate

ANY_TEXT = st.text(st.characters(blacklist_categories=()))  # surrogates and controls included


# -- to_text ----------------------------------------------------------------------------------


def test_str_is_returned_as_is() -> None:
    text = "plain message"
    assert to_text(text) is text


def test_str_subclass_becomes_a_plain_str_without_calling_its_str() -> None:
    class Sneaky(str):
        def __str__(self) -> str:
            raise AssertionError("must not be called")

    result = to_text(Sneaky("hello"))
    assert type(result) is str
    assert result == "hello"


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_bytes_like_is_decoded_as_utf8(kind: type) -> None:
    assert to_text(kind("caf\u00e9 \u2713".encode())) == "caf\u00e9 \u2713"


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert to_text(b"bad \xff\xfe byte") == "bad \ufffd\ufffd byte"


def test_non_contiguous_and_typed_memoryviews() -> None:
    assert to_text(memoryview(b"abcdef")[::2]) == "ace"
    assert to_text(memoryview(array.array("B", b"xyz"))) == "xyz"
    assert to_text(memoryview(array.array("H", [0x6968]))) in ("hi", "ih")  # native byte order


def test_released_memoryview_does_not_raise() -> None:
    view = memoryview(b"gone")
    view.release()
    assert to_text(view) == "<unprintable>"


def test_huge_bytes_are_cut_before_decoding() -> None:
    assert len(to_text(b"x" * (MAX_DECODED_BYTES * 4))) == MAX_DECODED_BYTES


def test_exception_gives_type_and_message() -> None:
    assert to_text(ValueError("bad value")) == "ValueError: bad value"
    assert to_text(KeyError("user")) == "KeyError: 'user'"


@pytest.mark.parametrize("exc", [ValueError(), RuntimeError(""), OSError("   ")])
def test_exception_without_message_gives_type_name(exc: BaseException) -> None:
    assert to_text(exc) == type(exc).__name__


def test_exception_whose_str_raises() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert to_text(Broken()) == "Broken: <unprintable>"


def test_exception_whose_str_returns_a_non_string() -> None:
    class Weird(Exception):
        def __str__(self):  # type: ignore[override]
            return 42

    assert to_text(Weird()) == "Weird: <unprintable>"


def test_base_exceptions_are_accepted() -> None:
    assert to_text(KeyboardInterrupt()) == "KeyboardInterrupt"


@pytest.mark.parametrize("value", [42, 1.5, None, object(), ["a"], {"a": 1}])
def test_other_types_raise_type_error_naming_the_type(value: object) -> None:
    with pytest.raises(TypeError) as caught:
        to_text(value)
    message = str(caught.value)
    assert type(value).__name__ in message
    assert "str" in message and "bytes" in message and "exception" in message


# -- fold_line --------------------------------------------------------------------------------


def test_clean_line_is_unchanged() -> None:
    assert fold_line("Connection refused by db:5432") == "Connection refused by db:5432"


def test_line_breaks_tabs_and_runs_become_one_space() -> None:
    assert fold_line("Traceback:\n  File 'x.py'\r\n\tline 3") == "Traceback: File 'x.py' line 3"
    assert fold_line("a    b") == "a b"


def test_ends_are_stripped() -> None:
    assert fold_line("  \n padded \t ") == "padded"


CONTROLS = list("\x00\x07\x1b\x7f\x85\x9b\u2028\u2029\u202e\u200b\ufeff\xa0\u3000")


@pytest.mark.parametrize("control", CONTROLS)
def test_control_and_invisible_characters_become_spaces(control: str) -> None:
    assert fold_line(f"a{control}b") == "a b"
    assert fold_line(f"a {control} b") == "a b"


def test_lone_surrogates_are_replaced_so_the_text_encodes() -> None:
    folded = fold_line("bad \ud800 and \udfff end")
    assert folded == "bad \ufffd and \ufffd end"
    folded.encode("utf-8")


def test_non_ascii_text_is_kept() -> None:
    text = "Ошибка: файл не найден — ファイル ✓ émoji 🎉"
    assert fold_line(text) == text


@settings(max_examples=300)
@given(ANY_TEXT)
def test_fold_line_gives_one_clean_encodable_line(text: str) -> None:
    folded = fold_line(text)
    folded.encode("utf-8")
    assert folded == folded.strip()
    assert "  " not in folded
    for char in folded:
        assert char == " " or not char.isspace()
        assert unicodedata.category(char) not in ("Cc", "Cs", "Zl", "Zp")
    assert fold_line(folded) == folded


# -- truncate ---------------------------------------------------------------------------------


def test_short_text_is_unchanged() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("exactly10!", 10) == "exactly10!"


def test_long_text_is_cut_to_exactly_the_limit_with_an_ellipsis() -> None:
    cut = truncate("abcdefghijklmnop", 10)
    assert cut == "abcdefghi" + ELLIPSIS
    assert len(cut) == 10


@pytest.mark.parametrize(("limit", "expected"), [(1, ELLIPSIS), (0, ""), (-5, "")])
def test_tiny_limits_do_not_raise(limit: int, expected: str) -> None:
    assert truncate("abc", limit) == expected


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_truncate_never_exceeds_the_limit(text: str, limit: int) -> None:
    cut = truncate(text, limit)
    assert len(cut) <= limit
    assert cut == text or (cut.endswith(ELLIPSIS) and text.startswith(cut[:-1]))
