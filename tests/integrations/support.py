"""Helpers of the framework tests: README recipes, reference texts, a failing provider, a real uvicorn."""

from __future__ import annotations

import contextlib
import importlib
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support import PROJECT_ROOT
from tracker import MetricsProvider, TrackerConfig

README = PROJECT_ROOT / "README.md"
_RECIPE = re.compile(r"<!-- recipe: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)\n```", re.S)


def recipe(name: str) -> str:
    """The code of the README block marked ``<!-- recipe: name -->``, exactly as written."""
    found = {m["name"]: m["code"] + "\n" for m in _RECIPE.finditer(README.read_text(encoding="utf-8"))}
    if name not in found:
        raise LookupError(f"no recipe {name!r} in README.md (found: {sorted(found)})")
    return found[name]


def load_module(directory: Path, module: str, source: str) -> Any:
    """Write ``source`` as ``directory/<module path>.py`` and import it (``directory`` goes on sys.path)."""
    path = directory.joinpath(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in path.parents:
        if parent == directory:
            break
        (parent / "__init__.py").touch()
    path.write_text(source, encoding="utf-8")
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    importlib.invalidate_caches()
    sys.modules.pop(module, None)
    return importlib.import_module(module)


def reference(*raw: str, config: TrackerConfig | None = None) -> list[tuple[str, int]]:
    """The top errors a fresh provider shows after recording ``raw`` directly: what an
    integration must produce for the same raw texts, whatever the grouping rules are."""
    provider = MetricsProvider(config)
    for text in raw:
        provider.record_error_message(text)
    return provider.get_top_errors(100)


class FailingProvider(MetricsProvider):
    """A provider whose recording itself fails: the tracker's own failure."""

    calls = 0

    def record_error_message(self, message: object) -> None:  # type: ignore[override]
        type(self).calls += 1
        raise RuntimeError("the tracker is broken")


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # not yet
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@contextlib.contextmanager
def uvicorn_server(app: Any, timeout: float = 15.0) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on 127.0.0.1 (ephemeral port); yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout, "uvicorn to start")
        if not server.started:
            raise RuntimeError("uvicorn exited before it started")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("uvicorn did not stop")
