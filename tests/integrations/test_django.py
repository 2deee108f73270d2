"""Django: the middleware and the views, in a minimal project built from the README's recipe."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import pytest

from tests.integrations.support import FailingProvider, load_module, recipe, reference
from tracker import ErrorTrackingHandler, MetricsProvider

BASE_SETTINGS = '''
SECRET_KEY = "only-for-tests"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "myproject.urls"
INSTALLED_APPS = []
DATABASES = {}
USE_TZ = True
'''

VIEWS = '''
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponse
from django.template import engines


def user(request, user_id):
    return HttpResponse({"name": "x"}["user_id"])


async def async_user(request, user_id):
    return HttpResponse({}["user_id"])


def missing(request):
    raise Http404("no such page")


def denied(request):
    raise PermissionDenied("not yours")


def suspicious(request):
    raise SuspiciousOperation("odd request")


def handled(request):
    try:
        {}["nothing"]
    except KeyError:
        return HttpResponse("fine")


def ok(request):
    return HttpResponse("ok")


class Broken:
    def __str__(self):
        raise ValueError("cannot render")


def template(request):
    from django.template.response import SimpleTemplateResponse

    engine = engines["django"]
    return SimpleTemplateResponse(engine.from_string("{{ broken }}"), {"broken": Broken()})
'''

EXTRA_URLS = '''
from myproject import views

urlpatterns += [
    path("users/<user_id>", views.user),
    path("async-users/<user_id>", views.async_user),
    path("missing", views.missing),
    path("denied", views.denied),
    path("suspicious", views.suspicious),
    path("handled", views.handled),
    path("ok", views.ok),
    path("template", views.template),
]
'''

TEMPLATES = '''
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "OPTIONS": {"debug": False}}]
'''

METRICS = "from tracker import MetricsProvider\n\nprovider = MetricsProvider()\n"
URLS = ("/users/1", "/missing", "/denied", "/suspicious", "/handled", "/ok", "/nope", "/template")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory):
    """``myproject`` with the README's settings and urls recipes, set up as Django's settings."""
    root = tmp_path_factory.mktemp("django")
    load_module(root, "myproject.metrics", METRICS)
    load_module(root, "myproject.views", VIEWS)
    load_module(root, "myproject.settings", BASE_SETTINGS + recipe("django-settings") + TEMPLATES)
    load_module(root, "myproject.urls", recipe("django-urls") + EXTRA_URLS)
    os.environ["DJANGO_SETTINGS_MODULE"] = "myproject.settings"
    import django

    django.setup()
    yield sys.modules["myproject.metrics"]
    sys.path.remove(str(root))


@pytest.fixture
def provider(project) -> MetricsProvider:
    project.provider.reset_error_tracking()
    return project.provider


def get_all(urls: tuple[str, ...] = URLS) -> list[tuple[int, bytes, str]]:
    from django.test import Client

    client = Client(raise_request_exception=False)
    return [(r.status_code, r.content, r["Content-Type"]) for r in (client.get(url) for url in urls)]


def test_500s_are_recorded_once_and_4xx_handled_errors_are_not(provider: MetricsProvider) -> None:
    handler = ErrorTrackingHandler(provider)
    logging.getLogger().addHandler(handler)  # Django logs "Internal Server Error: %s": still once
    try:
        results = get_all((*URLS, "/users/2"))
    finally:
        logging.getLogger().removeHandler(handler)
    assert [status for status, _, _ in results] == [500, 404, 403, 400, 200, 200, 404, 500, 500]
    assert provider.get_top_errors(10) == reference(
        "KeyError: 'user_id'", "KeyError: 'user_id'", "ValueError: cannot render"
    )


def test_the_same_exception_propagates(provider: MetricsProvider) -> None:
    from django.test import Client

    with pytest.raises(KeyError, match="user_id"):
        Client().get("/users/1")
    assert provider.get_total_errors() == 1


def test_async_view_under_asgi(provider: MetricsProvider) -> None:
    from django.test import AsyncClient

    async def main() -> int:
        response = await AsyncClient(raise_request_exception=False).get("/async-users/1")
        return response.status_code

    assert asyncio.run(main()) == 500
    assert provider.get_top_errors(10) == reference("KeyError: 'user_id'")


@pytest.mark.parametrize("failing", [False, True])
def test_responses_exactly_as_without_the_middleware(project, failing: bool) -> None:
    from django.conf import settings
    from django.test import override_settings

    without = [m for m in settings.MIDDLEWARE if "tracker" not in m]
    with override_settings(MIDDLEWARE=without):
        plain = get_all()
    broken = FailingProvider()
    calls = FailingProvider.calls
    with override_settings(VELO_TRACKER_PROVIDER=broken if failing else project.provider):
        tracked = get_all()
    assert tracked == plain
    if failing:
        assert FailingProvider.calls > calls


def test_an_exception_in_another_middleware_is_recorded(project, provider: MetricsProvider) -> None:
    from django.conf import settings
    from django.test import override_settings

    load_module(Path(sys.path[0]), "myproject.broken_middleware", (
        "def BrokenMiddleware(get_response):\n"
        "    def middleware(request):\n"
        "        raise ConnectionError('session store down')\n"
        "    return middleware\n"
    ))
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, "myproject.broken_middleware.BrokenMiddleware"]):
        assert [s for s, _, _ in get_all(("/ok",))] == [500]
    assert provider.get_top_errors(10) == reference("ConnectionError: session store down")


def test_missing_or_wrong_setting_fails_with_its_name(project) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings

    from tracker.integrations.django import ErrorTrackingMiddleware

    cases = (
        (None, "set VELO_TRACKER_PROVIDER"),
        ("myproject.metrics.nope", "nope"),
        ("not a path", "VELO_TRACKER_PROVIDER"),
        ("myproject.views.ok", "not a MetricsProvider"),
    )
    for value, message in cases:
        with override_settings(VELO_TRACKER_PROVIDER=value), pytest.raises(
            ImproperlyConfigured, match=message
        ):
            ErrorTrackingMiddleware(lambda request: None)


def test_metrics_and_errors_views(provider: MetricsProvider) -> None:
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.get("/users/1")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics["Content-Type"].startswith("text/plain")
    assert "velo_error_messages_total 1.0" in metrics.content.decode()
    openmetrics = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text")
    assert openmetrics["Content-Type"].startswith("application/openmetrics-text")
    assert openmetrics.content.decode().endswith("# EOF\n")
    errors = client.get("/metrics/errors")
    assert errors.status_code == 200 and errors.json()["total_errors"] == 1
    assert client.post("/metrics").status_code == 405
