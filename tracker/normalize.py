"""From a raw error message to the text it is displayed and grouped by."""

from __future__ import annotations

import logging
from collections import OrderedDict

from .config import TrackerConfig
from .fingerprint import build_fingerprinter
from .names import LOGGER_NAME
from .scrub import build_scrubber
from .text import ELLIPSIS, fold_line, to_text, truncate

__all__ = ["EMPTY_MESSAGE", "RAW_LENGTH_LIMIT", "UNPROCESSABLE_MESSAGE", "MessageNormalizer"]

#: Characters of a raw message that are looked at; the rest is dropped first, so a 1 MB
#: message costs no more than a 4 KB one. (Displayed messages are far shorter anyway.)
RAW_LENGTH_LIMIT = 4096
#: Longest raw message whose result is cached: bounds the cache to about
#: ``message_cache_size`` × 1.3 K characters however long the messages are.
CACHEABLE_LENGTH = 1024
#: Shown for a message that is empty once cleaned.
EMPTY_MESSAGE = "<empty>"
#: Shown in the unexpected case that the built-in pipeline itself fails on a message.
UNPROCESSABLE_MESSAGE = "<unprocessable message>"

_log = logging.getLogger(LOGGER_NAME)
_MISSING = object()


def _cap(text: str) -> str:
    """At most about ``RAW_LENGTH_LIMIT`` characters of ``text``, cut between words when possible.

    Cutting at a space keeps a half secret (a key or card number cut in two, which no
    pattern would recognise any more) from surviving at the end.
    """
    if len(text) <= RAW_LENGTH_LIMIT:
        return text
    head = text[:RAW_LENGTH_LIMIT]
    cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    if cut > RAW_LENGTH_LIMIT // 2:
        head = head[:cut]
    return head + ELLIPSIS


class MessageNormalizer:
    """Scrubs, folds, fingerprints and truncates raw messages, remembering recent results.

    ``normalize`` never raises: a failing user hook or fingerprint function falls back to the
    built-in behaviour and logs one warning on the ``tracker`` logger.
    """

    def __init__(self, config: TrackerConfig) -> None:
        # The rule tables of this configuration, compiled once.
        self._scrub = build_scrubber(tuple(config.disabled_rules), tuple(config.extra_scrub_rules)).apply
        self._fingerprint_rules = build_fingerprinter(
            tuple(config.disabled_rules), tuple(config.extra_grouping_rules)
        ).apply
        self._scrubbing = config.scrub_secrets
        self._hook = config.before_record
        self._fingerprinting = config.fingerprinting
        self._fingerprint_function = config.fingerprint_function
        self._max_length = config.max_message_length
        self._cache_size = config.message_cache_size
        # Read and written without a lock: each dict operation is atomic, and eviction
        # tolerates another thread having emptied the cache first.
        self._cache: OrderedDict[str, str | None] = OrderedDict()
        self._lookup = self._cache.get
        self._warned: set[str] = set()

    def normalize(self, raw: str) -> str | None:
        """Display text of a raw message (which is also its grouping key), or None when the
        before_record hook drops it."""
        if type(raw) is not str:
            raw = to_text(raw)
        result = self._lookup(raw, _MISSING)
        if result is not _MISSING:
            return result  # type: ignore[return-value]
        try:
            result = self._process(raw)
        except Exception:  # a bug of ours must not break the caller
            self._warn_once("internal", "tracker: could not normalize an error message", exc_info=True)
            return UNPROCESSABLE_MESSAGE
        if self._cache_size and len(raw) <= CACHEABLE_LENGTH:
            cache = self._cache
            cache[raw] = result
            if len(cache) > self._cache_size:
                self._evict()
        return result

    @property
    def cached_count(self) -> int:
        """How many raw messages have their result remembered."""
        return len(self._cache)

    def clear_cache(self) -> None:
        """Forget every remembered result."""
        self._cache.clear()

    def _evict(self) -> None:
        """Forget the oldest results until the cache fits (other threads may be evicting too)."""
        cache = self._cache
        while len(cache) > self._cache_size:
            try:
                cache.popitem(last=False)
            except KeyError:  # another thread emptied it meanwhile
                break

    def _process(self, raw: str) -> str | None:
        text = raw if len(raw) <= RAW_LENGTH_LIMIT else _cap(raw)
        if self._scrubbing:
            text = self._scrub(text)
        if self._hook is not None:
            hooked = self._run_hook(text)
            if hooked is None:
                return None
            text = hooked
        text = fold_line(text)
        if self._fingerprinting:
            if self._fingerprint_function is None:
                text = self._fingerprint(text)
            else:
                text = self._run_fingerprint_function(text)
        if len(text) > self._max_length:
            text = truncate(text, self._max_length)
        elif not text:
            text = EMPTY_MESSAGE
        return text

    def _run_hook(self, text: str) -> str | None:
        """The hook's text (capped), ``None`` to drop, or ``text`` itself when the hook fails."""
        try:
            result = self._hook(text)  # type: ignore[misc]
        except Exception as exc:
            self._warn_once(
                "hook",
                "tracker: before_record hook raised %s; the scrubbed message is kept",
                type(exc).__name__,
            )
            return text
        if result is None:
            return None
        if not isinstance(result, str):
            self._warn_once(
                "hook",
                "tracker: before_record hook returned %s, not str or None; the scrubbed message is kept",
                type(result).__name__,
            )
            return text
        return _cap(str.__str__(result))

    def _run_fingerprint_function(self, text: str) -> str:
        """The user's fingerprint of ``text`` (folded, capped), or the built-in one when it fails."""
        try:
            result = self._fingerprint_function(text)  # type: ignore[misc]
        except Exception as exc:
            self._warn_once(
                "fingerprint",
                "tracker: fingerprint_function raised %s; the built-in fingerprint is used",
                type(exc).__name__,
            )
            return self._fingerprint(text)
        if not isinstance(result, str):
            self._warn_once(
                "fingerprint",
                "tracker: fingerprint_function returned %s instead of str; the built-in fingerprint is used",
                type(result).__name__,
            )
            return self._fingerprint(text)
        return fold_line(_cap(str.__str__(result)))

    def _fingerprint(self, text: str) -> str:
        # Only the first max_message_length characters are kept: the rules stop there.
        return self._fingerprint_rules(text, self._max_length + 1)

    def _warn_once(self, kind: str, message: str, *args: object, exc_info: bool = False) -> None:
        if kind in self._warned:
            return
        self._warned.add(kind)
        _log.warning(message, *args, exc_info=exc_info)
