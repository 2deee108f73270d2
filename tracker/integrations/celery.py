"""Celery: record task failures (the ``task_failure`` signal) as the exception.

    from tracker.integrations.celery import connect
    connect(provider, app=celery_app)          # in the module that defines the Celery app

A failure is recorded as ``TypeName: message``; ``include_task_name=True`` puts the task's
name in front (``"billing.charge: KeyError: 'user_id'"``) so each task groups on its own.
Celery also logs the failure ("Task ... raised unexpected"); with an
:class:`~tracker.ErrorTrackingHandler` attached as well, the exception is still counted once.
Retries (``self.retry``) and ``Ignore``/``Reject`` are not failures and are not recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..capture import ProviderRef, guard, record_exception

if TYPE_CHECKING:
    from ..provider import MetricsProvider

__all__ = ["connect", "disconnect"]


class _Receiver:
    def __init__(self, provider: MetricsProvider | str, app: Any, include_task_name: bool) -> None:
        self.provider = ProviderRef(provider)
        self.app = app
        self.include_task_name = include_task_name

    def __call__(self, sender: Any = None, exception: BaseException | None = None, **_: Any) -> None:
        if exception is None:
            return
        with guard("the Celery integration"):
            if self.app is not None and getattr(sender, "app", None) is not self.app:
                return
            name = getattr(sender, "name", None) if self.include_task_name else None
            record_exception(self.provider.get(), exception, name if isinstance(name, str) else None)


def connect(
    provider: MetricsProvider | str, app: Any = None, *, include_task_name: bool = False
) -> Any:
    """Record failures of ``app``'s tasks (every app's when ``app`` is None) with ``provider``.

    Returns the receiver, to pass to :func:`disconnect`. Call it in every process that runs
    tasks (the module defining the app is imported by each worker, which makes it the place).
    """
    from celery.signals import task_failure

    receiver = _Receiver(provider, app, include_task_name)
    task_failure.connect(receiver, weak=False)
    return receiver


def disconnect(receiver: Any) -> None:
    """Stop the receiver :func:`connect` returned."""
    from celery.signals import task_failure

    task_failure.disconnect(receiver)
