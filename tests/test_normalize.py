"""MessageNormalizer: the whole pipeline, its order, its hooks, its cache and its guarantees."""

from __future__ import annotations

import logging
import threading
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.config import TrackerConfig
from tracker.normalize import EMPTY_MESSAGE, RAW_LENGTH_LIMIT, MessageNormalizer
from tracker.scrub import REDACTED
from tracker.text import ELLIPSIS


def normalizer(**settings: object) -> MessageNormalizer:
    return MessageNormalizer(TrackerConfig(**settings))  # type: ignore[arg-type]


class Recorder:
    """A hook or fingerprint function that remembers what it saw."""

    def __init__(self, result: object = "same", error: Exception | None = None) -> None:
        self.seen: list[str] = []
        self.result = result
        self.error = error

    def __call__(self, text: str) -> object:
        self.seen.append(text)
        if self.error is not None:
            raise self.error
        return text if self.result == "same" else self.result


# -- the default pipeline -----------------------------------------------------------------------


def test_default_pipeline() -> None:
    raw = (
        "Query failed for user 3f2b8a9e-1c4d-4e5f-8a9b-0c1d2e3f4a5b from 10.0.0.7:5432 after 31ms:\n"
        '  relation "orders" does not exist (password=hunter2)'
    )
    assert normalizer().normalize(raw) == (
        # a quoted name ("orders") tells bugs apart and is kept; a port is a number
        f'Query failed for user <uuid> from <ip>:<num> after <duration>: relation "orders" does not exist '
        f"(password={REDACTED})"
    )


def test_look_alike_messages_share_one_key() -> None:
    n = normalizer()
    assert n.normalize("Connection timeout after 31ms to 10.0.0.7") == n.normalize(
        "Connection timeout after 45ms to 10.0.0.9"
    )


def test_secret_inside_a_quoted_string_or_url_is_still_removed() -> None:
    n = normalizer(fingerprinting=False)
    result = n.normalize("failed: \"postgres://bob:hunter2@db/app\" and 'token=abc123'")
    assert "hunter2" not in result and "abc123" not in result
    n = normalizer()
    assert n.normalize('failed: "postgres://bob:hunter2@db/app"') == 'failed: "<url>"'


def test_scrubbing_happens_before_the_cut_to_length() -> None:
    result = normalizer(max_message_length=20).normalize("password=hunter2hunter2hunter2hunter2")
    assert "hunter" not in result
    assert result == f"password={REDACTED}"


def test_long_message_is_cut_with_an_ellipsis() -> None:
    result = normalizer(max_message_length=32).normalize("word " * 100)
    assert len(result) == 32
    assert result.endswith(ELLIPSIS)


def test_output_is_one_line() -> None:
    assert normalizer().normalize("line one\nline two\r\n\tline three\x00") == "line one line two line three"


def test_an_empty_message_gets_a_visible_key() -> None:
    assert normalizer().normalize("") == EMPTY_MESSAGE
    assert normalizer().normalize(" \n\t ") == EMPTY_MESSAGE


def test_switches() -> None:
    raw = "user 42 failed: password=hunter2"
    assert normalizer(fingerprinting=False).normalize(raw) == f"user 42 failed: password={REDACTED}"
    assert normalizer(scrub_secrets=False).normalize(raw) == "user <num> failed: password=hunter2"


def test_str_subclass_is_accepted() -> None:
    class Text(str):
        def __hash__(self) -> int:
            raise RuntimeError("must not be hashed")

    assert normalizer().normalize(Text("retry 3")) == "retry <num>"


# -- the raw length cap -------------------------------------------------------------------------


def test_huge_message_is_capped_before_any_work() -> None:
    hook = Recorder()
    raw = "password=hunter2 " + "x" * 1_000_000
    result = normalizer(before_record=hook).normalize(raw)
    assert "hunter2" not in result
    assert len(hook.seen[0]) <= RAW_LENGTH_LIMIT + len(REDACTED)


def test_the_cap_cuts_between_words_so_no_half_secret_survives() -> None:
    card = "4111 1111 1111 1111"
    raw = "a " * ((RAW_LENGTH_LIMIT - 10) // 2) + "key AKIAIOSFODNN7EXAMPLE " + card
    hook = Recorder()
    normalizer(before_record=hook).normalize(raw)
    seen = hook.seen[0]
    assert "IOSFODNN" not in seen
    assert seen.endswith(ELLIPSIS)


# -- the before_record hook ---------------------------------------------------------------------


def test_hook_sees_scrubbed_text() -> None:
    hook = Recorder()
    normalizer(before_record=hook).normalize("login failed password=hunter2\nnext line")
    assert hook.seen == [f"login failed password={REDACTED}\nnext line"]


def test_hook_can_rewrite() -> None:
    n = normalizer(before_record=lambda text: text.replace("login", "sign-in"))
    assert n.normalize("login failed for user 42") == "sign-in failed for user <num>"


def test_hook_returning_none_drops_the_message() -> None:
    hook = Recorder(result=None)
    n = normalizer(before_record=hook)
    assert n.normalize("health check failed") is None
    assert n.normalize("health check failed") is None
    assert len(hook.seen) == 1, "a dropped message is remembered too"


def test_hook_output_is_folded_fingerprinted_and_cut() -> None:
    n = normalizer(before_record=lambda text: "rewritten\n" + "x" * 500 + " 42", max_message_length=16)
    result = n.normalize("anything")
    assert result == "rewritten xxxxx" + ELLIPSIS


@pytest.mark.parametrize("failure", [Recorder(error=RuntimeError("boom")), Recorder(result=42)])
def test_failing_hook_keeps_the_scrubbed_text_and_warns_once(
    failure: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    n = normalizer(before_record=failure)
    with caplog.at_level(logging.WARNING, logger="velo_tracker"):
        assert n.normalize("retry 3 password=hunter2") == f"retry <num> password={REDACTED}"
        assert n.normalize("other 4 message") == "other <num> message"
    warnings = [r for r in caplog.records if r.name == "velo_tracker" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "before_record" in warnings[0].getMessage()
    assert "hunter2" not in caplog.text


# -- the fingerprint function -------------------------------------------------------------------


def test_fingerprint_function_replaces_the_built_in_one() -> None:
    function = Recorder(result="custom key")
    n = normalizer(fingerprint_function=function)
    assert n.normalize("user 42 failed\npassword=hunter2") == "custom key"
    assert function.seen == [f"user 42 failed password={REDACTED}"], "it sees scrubbed, folded text"


def test_fingerprint_function_output_is_folded_and_cut() -> None:
    n = normalizer(fingerprint_function=lambda text: "a\n\nb\x00" + "c" * 100, max_message_length=16)
    assert n.normalize("x") == "a b " + "c" * 11 + ELLIPSIS


def test_fingerprint_function_is_not_used_when_fingerprinting_is_off() -> None:
    function = Recorder(result="custom")
    assert normalizer(fingerprint_function=function, fingerprinting=False).normalize("user 42") == "user 42"
    assert function.seen == []


@pytest.mark.parametrize("failure", [Recorder(error=ValueError("boom")), Recorder(result=None)])
def test_failing_fingerprint_function_falls_back_to_the_built_in_one(
    failure: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    n = normalizer(fingerprint_function=failure)
    with caplog.at_level(logging.WARNING, logger="velo_tracker"):
        assert n.normalize("user 42 failed") == "user <num> failed"
        assert n.normalize("user 43 failed again") == "user <num> failed again"
    warnings = [r for r in caplog.records if r.name == "velo_tracker" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "fingerprint_function" in warnings[0].getMessage()


# -- the cache ----------------------------------------------------------------------------------


def test_repeated_message_is_computed_once() -> None:
    hook = Recorder()
    n = normalizer(before_record=hook)
    first = n.normalize("retry 3 of 5")
    for _ in range(10):
        assert n.normalize("retry 3 of 5") is first
    assert len(hook.seen) == 1


def test_cache_never_exceeds_its_size_and_forgets_the_oldest() -> None:
    hook = Recorder()
    n = normalizer(before_record=hook, message_cache_size=3)
    for i in range(10):
        n.normalize(f"message {i}")
        assert n.cached_count <= 3
    assert n.cached_count == 3
    n.normalize("message 9")
    assert len(hook.seen) == 10, "recent ones are remembered"
    n.normalize("message 0")
    assert len(hook.seen) == 11, "the oldest was forgotten"


def test_cache_size_zero_disables_it() -> None:
    hook = Recorder()
    n = normalizer(before_record=hook, message_cache_size=0)
    n.normalize("same")
    n.normalize("same")
    assert len(hook.seen) == 2
    assert n.cached_count == 0


def test_messages_over_the_cap_are_not_cached() -> None:
    hook = Recorder()
    n = normalizer(before_record=hook)
    raw = "y" * (RAW_LENGTH_LIMIT + 1)
    n.normalize(raw)
    n.normalize(raw)
    assert len(hook.seen) == 2
    assert n.cached_count == 0


def test_clear_cache() -> None:
    n = normalizer()
    n.normalize("a")
    n.clear_cache()
    assert n.cached_count == 0


def test_many_threads_share_a_small_cache() -> None:
    n = normalizer(message_cache_size=8)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(offset: int) -> None:
        try:
            barrier.wait()
            for i in range(2000):
                assert n.normalize(f"error {(i + offset) % 50} at 10.0.0.{i % 7}") == "error <num> at <ip>"
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k * 13,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert n.cached_count <= 8


# -- guarantees for any input -------------------------------------------------------------------

ANY_TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=())),
    st.lists(
        st.sampled_from([*"\x00\n\r\t\u2028\ud800\udfff 0123456789abcdef.:-'\"@/=", "password=", "://"])
    ).map("".join),
    st.builds(lambda text, n: text * n, st.text(max_size=8), st.integers(0, 2000)),
)


@settings(max_examples=400, deadline=None)
@given(ANY_TEXT, st.integers(16, 300), st.booleans(), st.booleans())
def test_normalize_never_raises_and_gives_one_clean_bounded_line(
    raw: str, max_length: int, fingerprinting: bool, scrub: bool
) -> None:
    n = normalizer(max_message_length=max_length, fingerprinting=fingerprinting, scrub_secrets=scrub)
    result = n.normalize(raw)
    assert isinstance(result, str)
    assert 0 < len(result) <= max_length
    result.encode("utf-8")
    assert result == result.strip()
    for char in result:
        assert char == " " or not char.isspace()
        assert unicodedata.category(char) not in ("Cc", "Cs", "Zl", "Zp")
    assert n.normalize(raw) == result


def test_a_megabyte_of_strange_text_is_handled() -> None:
    raw = ("\ud800\x00é\n\u2028password=x 4111 1111 1111 1111 " * 40_000)[:1_000_000]
    result = normalizer().normalize(raw)
    assert len(result) <= 256
    result.encode("utf-8")
    assert "4111" not in result


def test_long_raw_messages_are_not_cached() -> None:
    from tracker.normalize import CACHEABLE_LENGTH

    normalizer = MessageNormalizer(TrackerConfig())
    normalizer.normalize("short message")
    normalizer.normalize("word " * (CACHEABLE_LENGTH // 5 + 1))
    assert normalizer.cached_count == 1


# -- rules chosen by name in the config -----------------------------------------------------------


def test_a_rule_can_be_disabled_by_name() -> None:
    assert normalizer().normalize("retry 3 of 5") == "retry <num> of <num>"
    assert normalizer(disabled_rules=("number",)).normalize("retry 3 of 5") == "retry 3 of 5"
    assert (
        normalizer(disabled_rules=("secret_key_value",), fingerprinting=False).normalize("password=hunter2")
        == "password=hunter2"
    )


def test_an_extra_rule_is_applied() -> None:
    from tracker import Rule

    order = Rule("order_id", r"\bORD-\d{6}\b", "<order>", "order numbers", starts="O")
    n = normalizer(extra_grouping_rules=(order,))
    assert n.normalize("order ORD-123456 failed") == "order <order> failed"
    secret = Rule("employee_pin", r"(?P<pre>PIN\ )\d{4}", "[REDACTED]", "badge PINs", starts="P")
    n = normalizer(extra_scrub_rules=(secret,), fingerprinting=False)
    assert n.normalize("bad PIN 1234") == "bad PIN [REDACTED]"


def test_an_unknown_rule_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown rule 'nope'"):
        TrackerConfig(disabled_rules=("nope",))
    from tracker import Rule

    with pytest.raises(ValueError, match="already taken"):
        TrackerConfig(extra_grouping_rules=(Rule("number", r"x", "y", starts="x"),))
    with pytest.raises(ValueError, match="disabled_rules must be a sequence"):
        TrackerConfig(disabled_rules="number")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["1 ", "10.0.0.1 ", "'x' ", "a=true ", "word ", "3f2b8a9e-1c4d-4e5f-8a9b-0c1d2e3f4a5b "]
        ),
        max_size=120,
    )
)
def test_grouping_stops_at_the_displayed_length_without_changing_the_result(pieces: list[str]) -> None:
    """The rules stop once max_message_length characters are done; what is shown is the same."""
    from tracker.fingerprint import fingerprint
    from tracker.scrub import scrub_secrets
    from tracker.text import fold_line, truncate

    raw = "".join(pieces) or "x"
    expected = truncate(fingerprint(fold_line(scrub_secrets(raw))), 64)
    assert normalizer(max_message_length=64).normalize(raw) == expected


def test_the_readme_example_of_rules_by_name_runs() -> None:
    """The README's example of disabling and adding rules works as written."""
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("**Turning rules off and adding your own**") :]
    code = section[section.index("```python\n") + len("```python\n") : section.index("```\n", 10)]
    exec(compile(code, "README.md", "exec"), {})
