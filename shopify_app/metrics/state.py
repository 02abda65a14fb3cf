"""Gauges computed at scrape time from the database: queues, dead letters, job recency, open alerts.

The database is the truth and the queue, so every process (any gunicorn worker) answers the
same; nothing here is kept in process memory. Each query filters on an indexed status
column so a scrape stays cheap with millions of handled rows kept for retention.
"""
from __future__ import annotations

import datetime as dt
import logging

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select, text

from ..jobs.models import JobRun
from ..models import InboxStatus, WebhookDelivery, utcnow
from ..suppliers.models import Alert, DeliveryState, SupplierOrder
from .jobs import job_kind
from .shop_job_lag import shop_job_lags

log = logging.getLogger(__name__)

INBOX_STATES = (InboxStatus.PENDING.value, InboxStatus.WAITING.value, InboxStatus.DEAD.value)
# Supplier orders still to be sent (or resolved) by the forwarding worker, and the failed ones.
DELIVERY_WAITING_STATES = (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.ON_HOLD.value, DeliveryState.CANCEL_REQUESTED.value)
DELIVERY_DUE_STATES = (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.CANCEL_REQUESTED.value)
RECENT_RUNS = dt.timedelta(hours=1)
def _per_shop_jobs() -> frozenset[str]:
    """Kinds of the per-shop jobs (scheduler/embedded.py SHOP_JOBS; their runs are named <kind>:<shop>)."""
    from scheduler.embedded import SHOP_JOBS

    return frozenset(job.name for job in SHOP_JOBS)


def job_intervals() -> dict[str, float]:
    """Seconds between runs per job kind, from the schedule itself (alert rules compare lag with it)."""
    from scheduler.embedded import PERIODIC_JOBS, SHOP_JOBS

    intervals = {job_id: every.total_seconds() for job_id, every, _ in PERIODIC_JOBS}
    # Per-shop jobs that run only for shops with work (a token due, a supplier feeding stock) can rightly
    # go quiet for longer than any interval: only those run for every installed shop carry the lag alert.
    intervals.update({job.name: job.interval.total_seconds() for job in SHOP_JOBS if job.with_work is None})
    return intervals


class DatabaseStateCollector:
    """A prometheus_client collector reading the current state from the database on each scrape."""

    def __init__(self, session_factory, services=None):
        self.session_factory = session_factory
        self.services = services  # with them, the per-shop jobs' lag for the shops with work (their work probes take the services)

    def describe(self):
        """Nothing up front: registering must not query the database."""
        return []

    def collect(self):
        """The gauges; on a database error only dropship_database_up (0), so the scrape still answers."""
        up = GaugeMetricFamily("dropship_database_up", "1 when this scrape could read the database.")
        try:
            with self.session_factory() as session:
                session.execute(text("SELECT 1"))
                families = list(self._families(session, utcnow()))
            if self.services is not None:  # after that session: the work probes open their own (some on the writer's factory)
                families += self._shop_jobs(utcnow())
        except Exception as exc:  # noqa: BLE001 - a scrape reports, never raises
            log.warning("metrics: database state unavailable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, session, now: dt.datetime):
        yield from self._inbox(session, now)
        yield from self._deliveries(session, now)
        yield self._alerts(session)
        yield from self._jobs(session)

    def _inbox(self, session, now):
        rows = {status: (count, oldest) for status, count, oldest in session.execute(
            select(WebhookDelivery.status, func.count(), func.min(WebhookDelivery.received_at))
            .where(WebhookDelivery.status.in_(INBOX_STATES)).group_by(WebhookDelivery.status))}
        depth = GaugeMetricFamily("dropship_inbox_rows", "Webhook inbox rows not yet handled, by status (pending: queued for the worker; waiting: shop install incomplete; dead: dead letters).", labels=["status"])
        for status in INBOX_STATES:
            depth.add_metric([status], rows.get(status, (0, None))[0])
        yield depth
        dead = GaugeMetricFamily("dropship_inbox_dead_letters", "Webhook deliveries the worker gave up on (poison input or too many failures), retryable from the admin.")
        dead.add_metric([], rows.get(InboxStatus.DEAD.value, (0, None))[0])
        yield dead
        yield _age("dropship_inbox_oldest_pending_age_seconds", "Age of the oldest pending inbox row (0 when none).", rows.get(InboxStatus.PENDING.value, (0, None))[1], now)

    def _deliveries(self, session, now):
        rows = {state: (count, oldest) for state, count, oldest in session.execute(
            select(SupplierOrder.state, func.count(), func.min(SupplierOrder.created_at))
            .where(SupplierOrder.state.in_(DELIVERY_WAITING_STATES + (DeliveryState.FAILED.value,))).group_by(SupplierOrder.state))}
        queue = GaugeMetricFamily("dropship_supplier_orders_waiting", "Supplier orders not yet placed (or cancelled) at the supplier, by state.", labels=["state"])
        for state in DELIVERY_WAITING_STATES:
            queue.add_metric([state], rows.get(state, (0, None))[0])
        yield queue
        due = session.scalar(select(func.count()).select_from(SupplierOrder).where(SupplierOrder.state.in_(DELIVERY_DUE_STATES), SupplierOrder.next_attempt_at <= now))
        yield _gauge("dropship_supplier_orders_due", "Supplier orders due for an attempt now (the forwarding worker's backlog).", due or 0)
        yield _gauge("dropship_supplier_orders_failed", "Supplier orders that failed for good (alert raised; rerouted or handled by hand).", rows.get(DeliveryState.FAILED.value, (0, None))[0])
        oldest = min((rows[s][1] for s in DELIVERY_DUE_STATES if s in rows and rows[s][1] is not None), default=None)
        yield _age("dropship_supplier_orders_oldest_waiting_age_seconds", "Age of the oldest supplier order still to be placed or cancelled (0 when none).", oldest, now)

    def _alerts(self, session):
        family = GaugeMetricFamily("dropship_alerts_open", "Open alerts by kind and severity (all shops).", labels=["kind", "severity"])
        for kind, severity, count in session.execute(
            select(Alert.kind, Alert.severity, func.count()).where(Alert.resolved_at.is_(None)).group_by(Alert.kind, Alert.severity)
        ):
            family.add_metric([kind, severity], count)
        return family

    def _jobs(self, session):
        intervals = job_intervals()
        now = utcnow()
        last_success: dict[str, float] = {}
        per_shop = _per_shop_jobs()
        for kind in sorted(set(intervals) - per_shop):
            # One indexed look backwards per global job kind (a dozen). Per-shop jobs are judged per
            # shop with work (dropship_shop_job_lag_*): their kind's newest run of any shop hid one
            # stopped shop behind the others, and a kind without recent runs scanned every job's
            # runs of two days (1.2 s a scrape next to 288,000 token-refresh runs).
            finished = session.scalar(self._last_success_query(kind))
            if finished is not None:
                last_success[kind] = finished.timestamp()
        running: dict[str, int] = {}
        for job in session.scalars(select(JobRun.job).where(JobRun.started_at > now - RECENT_RUNS, JobRun.status == "running")):
            running[job_kind(job)] = running.get(job_kind(job), 0) + 1
        interval = GaugeMetricFamily("dropship_job_interval_seconds", "Seconds between the runs of a periodic job (its schedule).", labels=["job"])
        success = GaugeMetricFamily("dropship_job_last_success_timestamp_seconds", "When a global job last finished well, Unix time (per-shop jobs: dropship_shop_job_lag_seconds, per shop with work).", labels=["job"])
        active = GaugeMetricFamily("dropship_job_runs_in_progress", "Job runs claimed in the last hour and not finished.", labels=["job"])
        for kind, seconds in sorted(intervals.items()):
            interval.add_metric([kind], seconds)
        for family, values in ((success, last_success), (active, running)):
            for kind, value in sorted(values.items()):
                family.add_metric([kind], value)
        return interval, success, active

    def _shop_jobs(self, now: dt.datetime):
        from scheduler.embedded import SHOP_JOBS

        lags = shop_job_lags(self.services, SHOP_JOBS, now)
        work = GaugeMetricFamily("dropship_shop_jobs_with_work", "Installed shops a per-shop job has work for now (its work probe; every installed shop for jobs without one).", labels=["job"])
        behind = GaugeMetricFamily("dropship_shop_jobs_behind", "Shops with work whose unit of a per-shop job is more than one interval late.", labels=["job"])
        seconds = GaugeMetricFamily("dropship_shop_job_lag_seconds", "How late the latest shop with work is for a per-shop job (0: every such shop's current slot claimed).", labels=["job"])
        intervals = GaugeMetricFamily("dropship_shop_job_lag_intervals", "dropship_shop_job_lag_seconds in the job's intervals (above 1: a slot missed while the shop had work).", labels=["job"])
        for lag in lags:
            work.add_metric([lag.job], lag.with_work)
            behind.add_metric([lag.job], lag.behind)
            seconds.add_metric([lag.job], lag.lag)
            intervals.add_metric([lag.job], lag.lag / lag.interval)
            if lag.behind:
                log.info("metrics: per-shop job %s is %.0f s late for %s (%d shops with work behind)", lag.job, lag.lag, lag.shop, lag.behind)
        return [work, behind, seconds, intervals]

    @staticmethod
    def _last_success_query(kind: str):
        # One row per slot of this job: the (job, slot) unique index, backwards.
        return select(JobRun.finished_at).where(JobRun.status == "done", JobRun.finished_at.is_not(None), JobRun.job == kind).order_by(JobRun.slot.desc()).limit(1)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def _age(name: str, documentation: str, oldest: dt.datetime | None, now: dt.datetime) -> GaugeMetricFamily:
    return _gauge(name, documentation, max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
