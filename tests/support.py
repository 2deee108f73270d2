"""What tests need from outside the project: Debian binaries and ``../shared``.

Outside CI a missing dependency skips the test with a reason; under ``CI=true``
it fails, because CI installs everything.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"


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
