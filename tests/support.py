"""What tests need from outside the project: Debian binaries and ``../shared``.

Outside CI a missing dependency skips the test with a reason; under ``CI=true``
it fails, because CI installs everything.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"
#: A wait longer than this is reported as a warning.
SLOW_WAIT = 15.0

T = TypeVar("T")


def unavailable(reason: str) -> None:
    """Skip (or, under CI, fail) the calling test because ``reason``."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: CI must provide it)", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, debian_package: str) -> str:
    """The path of ``name`` on PATH, or skip/fail naming the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} not found on PATH; install it with: apt-get install -y {debian_package}")
    return path


def require_shared(relative: str) -> Path:
    """A path inside ``../shared``, or skip/fail when it is absent (a user's clone has none)."""
    path = SHARED_DIR / relative
    if not path.exists():
        unavailable(f"../shared/{relative} is absent (it exists only in the project's workspace and CI)")
    return path


# -- waiting -------------------------------------------------------------------------------

def wait_until(check: Callable[[], T], timeout: float, what: str | Callable[[], str],
               interval: float = 0.2) -> T:
    """Poll ``check`` until it returns a truthy value (returned) or ``timeout`` seconds pass.

    Exceptions from ``check`` count as "not yet"; the last one is reported on timeout.
    ``what`` names what is awaited; a callable is called only to report a timeout or a slow
    wait (for diagnostics that cost queries).
    """
    started = time.monotonic()
    deadline = started + timeout
    last: object = None
    while True:
        try:
            value = check()
            if value:
                elapsed = time.monotonic() - started
                if elapsed > SLOW_WAIT:  # shown in pytest's summary: a hint before it becomes a timeout
                    warnings.warn(f"slow wait ({elapsed:.1f}s of {timeout:.0f}s) for {_describe(what)}",
                                  stacklevel=2)
                return value
            last = value
        except Exception as exc:  # reported below, on timeout
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {_describe(what)}\n"
                                 f"(last: {last!r})")
        time.sleep(interval)  # poll interval, bounded by the deadline above


def _describe(what: str | Callable[[], str]) -> str:
    if isinstance(what, str):
        return what
    try:
        return what()
    except Exception as exc:  # diagnostics must not hide the failure they describe
        return f"(diagnostics failed: {exc!r})"


# -- HTTP clients ----------------------------------------------------------------------------

def http(method: str, url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_json(url: str) -> Any:
    status, body = http("GET", url)
    assert status == 200, f"GET {url}: HTTP {status}: {body[:500]!r}"
    return json.loads(body)


def post_json(url: str, body: Any = None) -> Any:
    status, data = http("POST", url, body if body is not None else {})
    assert status == 200, f"POST {url}: HTTP {status}: {data[:500]!r}"
    return json.loads(data)
