"""The errors the end-to-end apps record (imported by the apps and by the tests)."""

KINDS = ("database offline", "payment declined", "upstream timeout", "cache stampede", "disk full")


def error_text(n: int) -> str:
    """The message of the ``n``-th request or task: one of several error types."""
    return f"{KINDS[n % len(KINDS)]}: request failed"
