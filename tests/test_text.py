"""to_text, fold_line and truncate: what callers pass becomes one clean, bounded line."""

from __future__ import annotations

import array
import tracemalloc
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.text import ELLIPSIS, MAX_DECODED_BYTES, MAX_TEXT_CHARS, fold_line, to_text, truncate

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

    assert to_text(Broken()) == "Broken: <__str__ raised RuntimeError>"


def test_exception_whose_str_returns_a_non_string() -> None:
    class Weird(Exception):
        def __str__(self):  # type: ignore[override]
            return 42

    assert to_text(Weird()) == "Weird: <__str__ raised TypeError>"  # str() refuses the int


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


# -- hostile input: subclasses, failing or odd __str__, huge inputs (memory bounded) -------------


class _Hostile(str):
    """A str subclass whose every method raises: nothing of it may be called."""

    def _boom(self, *args, **kwargs):
        raise RuntimeError("hostile method called")

    __str__ = __repr__ = __len__ = __getitem__ = __iter__ = __hash__ = __eq__ = _boom
    isspace = strip = split = encode = isascii = isprintable = replace = lower = __format__ = _boom


def test_a_str_subclass_whose_methods_raise_becomes_a_plain_str() -> None:
    result = to_text(_Hostile("disk full on /dev/sda1"))
    assert type(result) is str and result == "disk full on /dev/sda1"


def test_an_exception_whose_str_returns_a_hostile_subclass() -> None:
    class Odd(Exception):
        def __str__(self):
            return _Hostile("odd failure")

    assert to_text(Odd()) == "Odd: odd failure"


def test_a_hostile_string_argument_is_read_without_calling_its_methods() -> None:
    assert to_text(ValueError(_Hostile("bad value"))) == "ValueError: bad value"
    assert to_text(KeyError(_Hostile("user_id"))) == "KeyError: 'user_id'"


def test_a_failing_str_is_recorded_as_the_type_name_with_a_note() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    class BadArg:
        def __str__(self) -> str:
            raise LookupError("no")

    assert to_text(Broken()) == "Broken: <__str__ raised RuntimeError>"
    assert to_text(ValueError(BadArg())) == "ValueError: <__str__ raised LookupError>"


@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_what_is_not_an_exception_propagates_from_a_user_str(raised: type) -> None:
    class Interrupted(Exception):
        def __str__(self) -> str:
            raise raised()

    with pytest.raises(raised):
        to_text(Interrupted())


def test_builtin_str_is_not_called_for_the_common_shapes() -> None:
    class Spy(ValueError):
        pass  # keeps BaseException.__str__

    calls = []

    class Arg(str):
        def __str__(self) -> str:
            calls.append(1)
            return "via __str__"

    assert to_text(Spy(Arg("direct"))) == "Spy: direct" and calls == []
    assert to_text(Spy()) == "Spy"
    assert to_text(Spy("a", 2)) == "Spy: ('a', 2)"  # other shapes: the built-in __str__


def test_overridden_args_and_a_metaclass_name_do_not_fool_it() -> None:
    class Meta(type):
        @property
        def __name__(cls):  # type: ignore[override]
            raise RuntimeError("metaclass name")

    class Weird(Exception, metaclass=Meta):
        @property
        def args(self):  # type: ignore[override]
            raise RuntimeError("args")

    assert to_text(Weird("real message")) == "Weird: real message"


def test_an_object_pretending_to_be_a_str_is_a_type_error() -> None:
    class Fake:
        __class__ = str  # type: ignore[assignment]

    with pytest.raises(TypeError, match="Fake"):
        to_text(Fake())


def test_a_bytes_subclass_is_decoded_without_calling_its_methods() -> None:
    class HostileBytes(bytes):
        def __getitem__(self, item):
            raise RuntimeError("hostile")

        decode = __getitem__

    assert to_text(HostileBytes(b"caf\xc3\xa9")) == "caf\u00e9"


def _peak_bytes(call) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


HUGE = 32 * 1024 * 1024
BOUND = 1024 * 1024  # what converting one huge input may allocate, at most


def test_a_huge_exception_message_is_cut_before_formatting() -> None:
    exc = ValueError("x" * HUGE)
    result: list[str] = []
    peak = _peak_bytes(lambda: result.append(to_text(exc)))
    assert peak < BOUND
    assert result[0].startswith("ValueError: xxx") and len(result[0]) == len("ValueError: ") + MAX_TEXT_CHARS


def test_a_huge_str_subclass_is_cut_before_copying() -> None:
    class Tagged(str):
        pass

    text = Tagged("y" * HUGE)
    result: list[str] = []
    assert _peak_bytes(lambda: result.append(to_text(text))) < BOUND
    assert type(result[0]) is str and len(result[0]) == MAX_TEXT_CHARS


@pytest.mark.parametrize("make_view", [
    lambda data: memoryview(data)[::2],                         # not contiguous
    lambda data: memoryview(data)[::-1],
    lambda data: memoryview(data).cast("I")[::3],               # not contiguous, 4-byte items
    lambda data: memoryview(data).cast("B", shape=[len(data) // 1024, 1024]),  # 2-D, contiguous
    lambda data: memoryview(data).cast("H"),
])
def test_huge_memoryviews_are_cut_before_copying(make_view) -> None:
    data = bytearray(b"ab" * (HUGE // 2))
    view = make_view(data)
    result: list[str] = []
    assert _peak_bytes(lambda: result.append(to_text(view))) < BOUND
    assert 0 < len(result[0]) <= MAX_DECODED_BYTES
    assert set(result[0]) <= {"a", "b", "\x00"}
    view.release()


def test_a_small_non_contiguous_view_is_decoded_whole() -> None:
    assert to_text(memoryview(b"a-b-c-")[::2]) == "abc"


def test_through_the_provider_nothing_but_a_wrong_type_raises() -> None:
    from tracker import MetricsProvider

    class Odd(Exception):
        def __str__(self):
            return _Hostile("odd failure 42")

    class Broken(Exception):
        def __str__(self):
            raise ValueError("no")

    provider = MetricsProvider()
    for value in (_Hostile("hostile str"), Odd(), Broken(), ValueError(_Hostile("hostile arg")),
                  memoryview(b"x-y-z-")[::2], ValueError("z" * HUGE)):
        provider.record_error_message(value)
    assert provider.get_total_errors() == 6
    messages = {e.message for e in provider.get_error_messages()}
    assert "hostile str" in messages and "Broken: <__str__ raised ValueError>" in messages
    with pytest.raises(TypeError):
        provider.record_error_message(42)  # type: ignore[arg-type]


def test_a_huge_query_type_is_cut_before_any_work() -> None:
    from tracker.sql import clean_query_type

    query_type = "select  users\t" * (HUGE // 14)
    result: list[str] = []
    assert _peak_bytes(lambda: result.append(clean_query_type(query_type))) < BOUND
    assert result[0] == clean_query_type(query_type[:1000])
    assert len(result[0]) <= 64

    class HostileQuery(str):
        def isprintable(self):
            raise RuntimeError("hostile")

        split = isprintable

    assert clean_query_type(HostileQuery("insert\norders")) == "insert orders"


ODD_ARGS = st.lists(
    st.one_of(st.text(), st.binary(), st.integers(), st.none(), st.floats(allow_nan=True),
              st.builds(_Hostile, st.text())),
    max_size=3,
)


@settings(max_examples=200)
@given(ODD_ARGS, st.sampled_from([ValueError, KeyError, OSError, UnicodeError, Exception, KeyboardInterrupt]))
def test_any_exception_arguments_give_one_plain_string(args: list, kind: type) -> None:
    result = to_text(kind(*args))
    assert type(result) is str and result.startswith(kind.__name__)


def test_keyboard_interrupt_from_a_user_str_propagates_through_the_provider() -> None:
    from tracker import MetricsProvider

    class Interrupted(Exception):
        def __str__(self) -> str:
            raise KeyboardInterrupt

    provider = MetricsProvider()
    with pytest.raises(KeyboardInterrupt):
        provider.record_error_message(Interrupted())
    provider.record_error_message("still recording")
    assert provider.get_total_errors() == 1
