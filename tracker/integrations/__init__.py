"""Framework integrations: one small module per framework, each importing its framework only inside itself.

- :mod:`tracker.integrations.wsgi` — ``ErrorTrackingMiddleware(app, provider)`` for any WSGI app
- :mod:`tracker.integrations.asgi` — ``ErrorTrackingMiddleware(app, provider)`` for any ASGI app
  (Starlette and FastAPI: ``app.add_middleware(ErrorTrackingMiddleware, provider=provider)``)
- :mod:`tracker.integrations.flask` — ``init_app(app, provider)``
- :mod:`tracker.integrations.django` — ``ErrorTrackingMiddleware``, ``metrics_view``, ``errors_view``
- :mod:`tracker.integrations.celery` — ``connect(provider, app=None)``
- :mod:`tracker.integrations.structlog` — ``ErrorTrackingProcessor(provider)``
- :mod:`tracker.integrations.loguru` — ``sink(provider)``

Each records an exception as ``TypeName: message`` through :func:`tracker.capture.record_exception`
(so one exception object is counted once however many integrations see it), and does the
tracker's own work under :func:`tracker.capture.guard`, so a failure of the tracker never
changes the application's response.
"""
