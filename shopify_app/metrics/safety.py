"""Recording a metric must never change what the app does: a failing write is logged, not raised."""
from __future__ import annotations

import functools
import logging

log = logging.getLogger(__name__)


def never_raises(record):
    """Wrap a recording function so an error in it (a full disk under PROMETHEUS_MULTIPROC_DIR, a bug) is logged and swallowed."""

    @functools.wraps(record)
    def guarded(*args, **kwargs):
        try:
            record(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a webhook, a supplier order or a job must not fail for a figure
            log.warning("metrics: %s failed; the figure is lost, the work goes on", record.__name__, exc_info=True)

    return guarded
