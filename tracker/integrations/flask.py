"""Flask: record the exceptions a Flask app does not handle (the ones that become a 500).

    from tracker.integrations.flask import init_app
    init_app(app, provider)

Listens to Flask's ``got_request_exception`` signal for this app only. Exceptions handled by
an ``errorhandler`` and HTTP errors (``abort(404)``) are not recorded. Flask also logs the
exception ("Exception on /path [GET]"); with an :class:`~tracker.ErrorTrackingHandler` on the
root logger as well, the exception is still counted once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..capture import ProviderRef, guard, record_exception

if TYPE_CHECKING:
    from ..provider import MetricsProvider

__all__ = ["EXTENSION_KEY", "init_app"]

#: The key :func:`init_app` sets in ``app.extensions`` (the provider the app records to).
EXTENSION_KEY = "velo_tracker"


def init_app(app: Any, provider: MetricsProvider | str) -> None:
    """Record ``app``'s unhandled exceptions with ``provider`` (an object or a dotted path).

    Calling it again for the same app replaces the provider (one receiver per app).
    """
    from flask import got_request_exception

    ref = ProviderRef(provider)
    previous = app.extensions.get(EXTENSION_KEY)
    app.extensions[EXTENSION_KEY] = ref
    if previous is not None:
        return  # the receiver connected the first time reads the new provider

    def on_exception(sender: Any, exception: BaseException | None = None, **_: Any) -> None:
        if exception is None:
            return
        with guard("the Flask integration"):
            record_exception(sender.extensions[EXTENSION_KEY].get(), exception)

    got_request_exception.connect(on_exception, app, weak=False)
