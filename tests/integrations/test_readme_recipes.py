"""Every framework recipe of the README, run exactly as written (read from README.md)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.integrations.support import load_module, recipe, reference

_names = itertools.count()


def load(tmp_path: Path, name: str):
    module = f"velo_recipe_{name.replace('-', '_')}_{next(_names)}"
    try:
        yield load_module(tmp_path, module, recipe(name))
    finally:
        sys.modules.pop(module, None)
        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))


@pytest.fixture
def loader(tmp_path: Path):
    loaded = []

    def get(name: str):
        generator = load(tmp_path, name)
        loaded.append(generator)
        return next(generator)

    yield get
    for generator in loaded:
        generator.close()


def samples(text: str) -> dict[str, float]:
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def test_every_recipe_is_found() -> None:
    for name in ("flask", "fastapi", "starlette", "django-settings", "django-urls", "wsgi", "celery",
                 "structlog", "loguru", "dictconfig", "same-registry"):
        assert recipe(name).strip()


def test_flask_recipe(loader) -> None:
    module = loader("flask")

    @module.app.get("/users/<user_id>")
    def user(user_id: str) -> str:
        return {}["user_id"]

    client = module.app.test_client()
    assert [client.get(f"/users/{i}").status_code for i in (1, 2)] == [500, 500]
    assert client.get("/nope").status_code == 404
    assert samples(client.get("/metrics").text)["velo_error_messages_total"] == 2
    assert client.get("/metrics/errors").json["total_errors"] == 2
    assert module.provider.get_top_errors() == reference("KeyError: 'user_id'", "KeyError: 'user_id'")


@pytest.mark.parametrize("name", ["fastapi", "starlette"])
def test_asgi_recipes(loader, name: str) -> None:
    module = loader(name)
    from starlette.routing import Route

    async def boom(request):
        raise KeyError("user_id")

    module.app.router.routes.append(Route("/boom", boom))

    async def main() -> tuple[int, str, int]:
        transport = httpx.ASGITransport(app=module.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            status = (await client.get("/boom")).status_code
            metrics = await client.get("/metrics", follow_redirects=True)
            errors = await client.get("/metrics/errors")
            return status, metrics.text, errors.json()["total_errors"]

    status, metrics, total = asyncio.run(main())
    assert status == 500 and samples(metrics)["velo_error_messages_total"] == 1 and total == 1
    assert module.provider.get_top_errors() == reference("KeyError: 'user_id'")


def test_wsgi_recipe(loader) -> None:
    module = loader("wsgi")
    with pytest.raises(KeyError):
        module.application({"PATH_INFO": "/"}, lambda *a: None)
    assert module.provider.get_top_errors() == reference("KeyError: 'user_id'")


def test_celery_recipe(loader) -> None:
    module = loader("celery")
    from tracker.integrations.celery import disconnect

    module.app.conf.task_always_eager = True  # no Redis here: the task runs in-process
    try:
        with pytest.raises(KeyError):
            module.charge.apply(args=({},)).get(propagate=True)
        assert module.provider.get_top_errors() == reference("KeyError: 'user_id'")
    finally:
        from celery.signals import task_failure

        for _, receiver in list(task_failure.receivers):
            target = receiver() if callable(receiver) else receiver
            if getattr(target, "app", None) is module.app:
                disconnect(target)


def test_structlog_recipe(loader) -> None:
    import structlog

    structlog.reset_defaults()
    try:
        module = loader("structlog")
        module.log.error("payment_failed", order_id=7)
        assert module.provider.get_top_errors() == reference("payment_failed")
    finally:
        structlog.reset_defaults()


def test_loguru_recipe(loader) -> None:
    from loguru import logger

    logger.remove()
    try:
        module = loader("loguru")
        logger.error("payment failed for {}", 7)
        assert module.provider.get_top_errors() == reference("payment failed for 7")
    finally:
        logger.remove()


def test_dictconfig_recipe(loader) -> None:
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        module = loader("dictconfig")
        logging.getLogger("app").error("user %s failed", "alice")
        assert module.provider.get_top_errors() == reference("user %s failed")
    finally:
        for handler in root.handlers[:]:
            if handler not in before[0]:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(before[1])


def test_same_registry_recipe(loader) -> None:
    module = loader("same-registry")
    try:
        @module.app.get("/boom")
        def boom() -> str:
            raise KeyError("user_id")

        module.ORDERS.inc()
        client = module.app.test_client()
        client.get("/boom")
        values = samples(client.get("/metrics").text)
        assert values["shop_orders_total"] == 1 and values["velo_error_messages_total"] == 1
        # Loaded again (an app factory, a reloaded test module): replace=True, no duplicate error
        # from the tracker (the app's own Counter is the app's business: unregistered here).
        REGISTRY.unregister(module.ORDERS)
        again = loader("same-registry")
        assert module.provider.closed and not again.provider.closed
        assert samples(again.app.test_client().get("/metrics").text)["velo_error_messages_total"] == 0
    finally:
        for mod in (module, locals().get("again")):
            if mod is not None:
                mod.provider.close()
                with contextlib.suppress(KeyError):
                    REGISTRY.unregister(mod.ORDERS)
