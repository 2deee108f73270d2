# gunicorn.conf.py for the multi-process end-to-end tests: the configuration the README documents.
# The directory in PROMETHEUS_MULTIPROC_DIR is wiped and re-created before gunicorn starts.
from prometheus_client import multiprocess as prometheus_multiprocess

from tracker import multiprocess as tracker_multiprocess


def child_exit(server, worker):
    prometheus_multiprocess.mark_process_dead(worker.pid)  # prometheus_client's live gauges
    tracker_multiprocess.mark_process_dead(worker.pid)  # folds its files into an archive, counts kept
