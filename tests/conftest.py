"""Fixtures shared by test modules.

``tests.servers`` (the demo stack, which needs the bundle's dependencies) is imported only when a
test asks for a stack, so the library's own tests run with only the library's dependencies installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def stack_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Any]]:
    """Start demo stacks for a test module: ``stack_factory(app_options=[...])``; all stopped at its end."""
    from tests.servers import running_stacks

    with running_stacks(tmp_path_factory) as start:
        yield start
