"""Periodic job figures, recorded by the one clock (shopify_app/jobs/claims.py)."""
from __future__ import annotations

import datetime as dt

from .instruments import JOB_DURATION_SECONDS, JOB_RUNS, JOB_START_LAG_SECONDS
from .safety import never_raises


def job_kind(job: str) -> str:
    """The job's kind for a label: per-shop jobs are '<kind>:<shop>' and share one series."""
    return job.split(":", 1)[0]


@never_raises
def job_started(job: str, slot: dt.datetime, started: dt.datetime) -> None:
    """A run was claimed: how late after its slot began it starts."""
    JOB_START_LAG_SECONDS.labels(job_kind(job)).observe(max(0.0, (started - slot).total_seconds()))


@never_raises
def job_finished(job: str, status: str, seconds: float) -> None:
    """A claimed run finished (status done or failed) after `seconds`."""
    kind = job_kind(job)
    JOB_RUNS.labels(kind, status).inc()
    JOB_DURATION_SECONDS.labels(kind).observe(seconds)
