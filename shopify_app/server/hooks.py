"""gunicorn server hooks of the production server (shopify_app/server/gunicorn_app.py wires every one of them).

`on_starting` and `child_exit` serve the metrics (shopify_app/metrics/multiprocess.py):
prometheus_client's multiprocess mode prepares PROMETHEUS_MULTIPROC_DIR in the arbiter
before any worker forks, and marks a worker's files dead when it exits; the app's own
lifecycle is in `post_worker_init` and `worker_exit`.
"""
from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def on_starting(server) -> None:
    """The arbiter is starting, before any worker forks: empty PROMETHEUS_MULTIPROC_DIR (last run's files would count twice)."""
    from ..metrics.multiprocess import prepare_multiprocess_dir

    prepare_multiprocess_dir(server.cfg.workers)


def child_exit(server, worker) -> None:
    """In the arbiter, after a worker exited: forget its live gauges (its counters stay counted)."""
    from ..metrics.multiprocess import mark_process_dead

    mark_process_dead(worker.pid)


def when_ready(server) -> None:
    """The arbiter listens: say where (the URL without anything secret)."""
    log.info("production server listening on %s", ",".join(str(listener) for listener in server.LISTENERS))


def post_worker_init(worker) -> None:
    """In the worker, after the app loaded (and its scheduler started): log which process owns the clock."""
    services = worker.wsgi.extensions["services"]
    # The loaded app (modules, mappers, compiled statements: ~300,000 objects) lives as long as the
    # worker: kept out of the cyclic collector, whose full passes otherwise walked it all again
    # every few seconds under load, each a pause holding the GIL (issue 19 part C).
    gc.collect()
    gc.freeze()
    log.info("worker pid=%s ready (scheduler %s)", worker.pid, "running here" if services.scheduler is not None else "not in this process")


def worker_exit(server, worker) -> None:
    """In the worker, after in-flight requests finished (SIGTERM): stop pumps between rows, release leases, stop the clock."""
    from .lifecycle import stop_services

    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        stop_services(app.extensions["services"])
