"""The Celery app of the prefork end-to-end test: every task records an error, then fails.

The broker is kombu's filesystem transport in the directory named by ``VELO_E2E_BROKER_DIR``
(no broker service needed); the tracker follows ``PROMETHEUS_MULTIPROC_DIR``. The provider is
created at import, in the worker's main process, before the pool forks its children.
"""

from __future__ import annotations

import os
import time

from celery import Celery

from tests.e2e.workload import error_text
from tracker import MetricsProvider

#: Long enough that both pool processes are busy at once.
TASK_SECONDS = 0.05


def broker_options(directory: str) -> dict:
    """Everything the filesystem transport writes stays in ``directory`` (its control folder
    defaults to ./control)."""
    return {"data_folder_in": directory, "data_folder_out": directory, "processed_folder": directory,
            "control_folder": os.path.join(directory, "control"), "store_processed": False}


app = Celery("velo_e2e", broker="filesystem://")
app.conf.broker_transport_options = broker_options(os.environ["VELO_E2E_BROKER_DIR"])
app.conf.worker_prefetch_multiplier = 1
app.conf.task_acks_late = False
app.conf.worker_hijack_root_logger = False
provider = MetricsProvider()


@app.task(name="velo_e2e.fail")
def fail(n: int) -> None:
    time.sleep(TASK_SECONDS)
    try:
        raise RuntimeError(error_text(n))
    except RuntimeError as exc:
        provider.record_error_message(exc)
        raise
