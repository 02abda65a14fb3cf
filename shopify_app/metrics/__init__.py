"""Prometheus metrics: event counters where things happen, database state gauges at scrape time, /metrics.

- instruments.py: every counter and histogram (names used by deploy/grafana and deploy/prometheus)
- intake.py, supplier_calls.py, breakers.py, shopify.py, jobs.py: the hooks that record them
- state.py: gauges read from the database on each scrape (queues, dead letters, jobs, alerts)
- endpoint.py: GET /metrics behind METRICS_TOKEN; multiprocess.py: gunicorn/worker processes
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Serve /metrics and measure webhook intake in this app."""
    from .endpoint import blueprint
    from .intake import measure_intake
    from .multiprocess import ensure_multiprocess_dir

    ensure_multiprocess_dir()
    app.register_blueprint(blueprint)
    measure_intake(app)
