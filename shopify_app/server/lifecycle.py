"""Stopping a process's services cleanly (production server, dev server, worker role)."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def stop_services(services) -> None:
    """Stop the embedded scheduler (pumps stop between rows, unstarted claims released) and release connections."""
    if services.scheduler is not None:
        services.scheduler.shutdown()
        services.scheduler = None
    services.close()
    log.info("services stopped")
