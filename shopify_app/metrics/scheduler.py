"""The embedded clock and pumps of the process answering the scrape (embedded mode runs them in its one web process)."""
from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

PARTS = (("clock", "running"), ("inbox_pump", "inbox_pump"), ("forwarding_pump", "forwarding_pump"))


class EmbeddedSchedulerCollector:
    """dropship_embedded_scheduler_up{part}: 1 while the APScheduler clock and each pump thread run; absent where no scheduler runs (RUN_SCHEDULER=0)."""

    def __init__(self, services):
        self.services = services

    def describe(self):
        """Nothing up front (the family exists only where a scheduler runs)."""
        return []

    def collect(self):
        """The gauge, read from the scheduler's own status()."""
        scheduler = self.services.scheduler
        if scheduler is None:
            return
        status = scheduler.status()
        family = GaugeMetricFamily("dropship_embedded_scheduler_up", "1 while the embedded clock and each pump thread run in this process.", labels=["part"])
        for part, key in PARTS:
            family.add_metric([part], 1 if status.get(key) else 0)
        yield family
