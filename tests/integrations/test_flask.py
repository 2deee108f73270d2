"""Flask: init_app records unhandled exceptions once; the app behaves exactly as without it."""

from __future__ import annotations

import logging

import pytest
from flask import Flask, abort
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from tests.integrations.support import FailingProvider, reference
from tracker import ErrorTrackingHandler, MetricsProvider, TrackerConfig, make_wsgi_app
from tracker.integrations.flask import init_app

RAW = TrackerConfig(fingerprinting=False)


def make_app(provider: MetricsProvider | None, testing: bool = False) -> Flask:
    app = Flask(__name__)
    app.testing = testing
    if provider is not None:
        init_app(app, provider)

    @app.get("/users/<user_id>")
    def user(user_id: str) -> str:
        return {"name": "x"}["user_id"]

    @app.get("/missing")
    def missing() -> str:
        abort(404)

    @app.get("/handled")
    def handled() -> str:
        try:
            {}["nothing"]
        except KeyError:
            return "fine"

    @app.get("/conflict")
    def conflict() -> str:
        raise LookupError("handled by an errorhandler")

    @app.errorhandler(LookupError)
    def on_lookup(exc: LookupError) -> tuple[str, int]:
        if isinstance(exc, KeyError):
            raise exc  # not this one: KeyError stays unhandled
        return "conflict", 409

    @app.get("/ok")
    def ok() -> str:
        return "ok"

    return app


@pytest.fixture
def root_handler():
    """An ErrorTrackingHandler on the root logger, as a user would add."""
    attached: list[logging.Handler] = []

    def attach(provider: MetricsProvider) -> None:
        handler = ErrorTrackingHandler(provider)
        logging.getLogger().addHandler(handler)
        attached.append(handler)

    yield attach
    for handler in attached:
        logging.getLogger().removeHandler(handler)


def test_unhandled_exceptions_are_recorded_once_as_type_and_message(root_handler) -> None:
    provider = MetricsProvider(RAW)
    app = make_app(provider)
    root_handler(provider)  # Flask also logs "Exception on /users/... [GET]": still once
    client = app.test_client()
    for url in ("/users/1", "/users/2"):
        assert client.get(url).status_code == 500
    assert provider.get_top_errors(10) == [("KeyError: 'user_id'", 2)]


def test_default_pipeline_groups_the_same_exception_on_different_urls() -> None:
    provider = MetricsProvider()
    app = make_app(provider)

    @app.get("/orders/<order_id>")
    def order(order_id: str) -> str:
        return {}["order_id"]

    client = app.test_client()
    for url in ("/users/1", "/users/abc", "/orders/9"):
        client.get(url)
    # Exactly what the provider's own pipeline makes of the exceptions' texts.
    assert provider.get_top_errors(10) == reference(
        "KeyError: 'user_id'", "KeyError: 'user_id'", "KeyError: 'order_id'"
    )
    # One type for the same key on different URLs, another for another key.
    assert provider.get_top_errors(10) == [("KeyError: 'user_id'", 2), ("KeyError: 'order_id'", 1)]


def test_handled_errors_and_4xx_are_not_recorded(root_handler) -> None:
    provider = MetricsProvider(RAW)
    root_handler(provider)
    client = make_app(provider).test_client()
    assert client.get("/missing").status_code == 404
    assert client.get("/handled").data == b"fine"
    assert client.get("/conflict").status_code == 409
    assert client.get("/nope").status_code == 404
    assert client.get("/ok").status_code == 200
    assert provider.get_total_errors() == 0


@pytest.mark.parametrize("provider_factory", [lambda: MetricsProvider(RAW), FailingProvider])
def test_responses_are_exactly_as_without_the_integration(provider_factory) -> None:
    plain = make_app(None).test_client()
    tracked = make_app(provider_factory()).test_client()
    for url in ("/users/1", "/missing", "/handled", "/conflict", "/ok"):
        a, b = plain.get(url), tracked.get(url)
        assert (a.status_code, a.data, a.headers.get("Content-Type")) == (
            b.status_code, b.data, b.headers.get("Content-Type")
        ), url


def test_testing_mode_still_propagates_the_same_exception() -> None:
    provider = MetricsProvider(RAW)
    client = make_app(provider, testing=True).test_client()
    with pytest.raises(KeyError, match="user_id"):
        client.get("/users/1")
    assert provider.get_top_errors(10) == [("KeyError: 'user_id'", 1)]


def test_a_failing_tracker_still_propagates_the_same_exception() -> None:
    client = make_app(FailingProvider(), testing=True).test_client()
    before = FailingProvider.calls
    with pytest.raises(KeyError, match="user_id"):
        client.get("/users/1")
    assert FailingProvider.calls == before + 1


def test_init_app_again_switches_provider_without_double_recording() -> None:
    first, second = MetricsProvider(RAW), MetricsProvider(RAW)
    app = make_app(first)
    init_app(app, second)
    app.test_client().get("/users/1")
    assert first.get_total_errors() == 0
    assert second.get_top_errors(10) == [("KeyError: 'user_id'", 1)]


def test_other_apps_are_not_recorded() -> None:
    provider = MetricsProvider(RAW)
    make_app(provider)
    make_app(None).test_client().get("/users/1")
    assert provider.get_total_errors() == 0


def test_metrics_through_dispatcher_middleware() -> None:
    provider = MetricsProvider(RAW)
    app = make_app(provider)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": make_wsgi_app(provider)})
    client = app.test_client()
    client.get("/users/1")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.mimetype == "text/plain"
    assert "velo_error_messages_total 1.0" in metrics.text
    errors = client.get("/metrics/errors")
    assert errors.status_code == 200 and errors.json["total_errors"] == 1
    assert [e["message"] for e in errors.json["entries"]] == ["KeyError: 'user_id'"]
