"""Stopping a process's services cleanly (production server, dev server, worker role)."""
from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)
_stopping = threading.Lock()


def stop_background_work(services) -> None:
    """Stop the embedded scheduler: pumps stop between rows (unstarted claims released), no new job firings (idempotent)."""
    # The lock is held through the shutdown: gunicorn stops the scheduler from a thread at SIGTERM and
    # again at the worker's exit, and the second call must wait for the first, or the services were
    # closed (and the process exited) while pumps were still stopping.
    with _stopping:
        scheduler, services.scheduler = services.scheduler, None
        if scheduler is not None:
            scheduler.shutdown()
            log.info("scheduler and pumps stopped")


def stop_services(services) -> None:
    """Stop background work, then release connections."""
    stop_background_work(services)
    services.close()
    log.info("services stopped")
