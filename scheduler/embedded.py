"""The embedded clock: APScheduler in-process, plus the inbox pump thread."""
from __future__ import annotations

import datetime as dt
import logging

from apscheduler.schedulers.background import BackgroundScheduler

from shopify_app import lifecycle
from shopify_app.auth.tokens import TokenUnavailable
from shopify_app.inventory.jobs import mirror_shop_catalog, pull_due_stock_feeds, refresh_shop_catalog, shops_to_mirror_of, shops_to_sync_of, shops_with_stock_feeds_of, sync_shop_inventory
from shopify_app.jobs.fanout import ShopJob, forget_installed_shops, installed_shops, purge_unit_runs, unit_name
from shopify_app.shop_profile import refresh_if_stale, stale_profiles

from shopify_app.suppliers.edi_polling import poll_edi_partners
from shopify_app.suppliers.as2_watch import CHECK_EVERY as AS2_PARTNERS_EVERY, watch_as2_partners
from shopify_app.suppliers.email_inbox import poll_mailboxes
from shopify_app.suppliers.file_channel import poll_file_suppliers
from shopify_app.suppliers.po_batches import close_due_batches, shops_with_due_batches
from shopify_app.suppliers.polling import poll_shipments
from shopify_app.suppliers.printful_connect import maintain_printful_connections

from shopify_app.jobs.claims import purge_old_runs, run_claimed
from shopify_app.reconcile.runner import run_reconciliation
from shopify_app.notify.alert_channels import deliver_alert_notifications
from shopify_app.kpis.evaluate import check_shop_kpis
from shopify_app.kpis.snapshots import close_shop_days
from shopify_app.kpis.state_counts import fold_state_counts, recount_shop_states

from .shop_jobs import DISPATCH_EVERY, ShopJobPool

from .lanes import ORDERS_LANE_BATCH, ORDERS_LANE_THREADS, SIBLING_POLL_SECONDS, WAY_BACK_BATCH, WAY_BACK_THREADS, OrderLanes  # noqa: F401 - re-exported (tests, bench)

log = logging.getLogger(__name__)

TOKEN_REFRESH_EVERY = dt.timedelta(minutes=10)
SHIPMENT_POLL_EVERY = dt.timedelta(minutes=10)
DELAY_CHECK_EVERY = dt.timedelta(minutes=5)  # also the customer notices' job: "out for delivery" must not wait long
STOCK_FEEDS_EVERY = dt.timedelta(minutes=1)  # each supplier is pulled on its own interval
INVENTORY_SYNC_EVERY = dt.timedelta(minutes=2)
CATALOG_REFRESH_EVERY = dt.timedelta(hours=6)
# A shop's first catalog mirror (a bulk export) happens at its own moment in this window: on a
# first start with 1,000 shops they spread over it instead of all exporting in the first minutes.
FIRST_MIRROR_EVERY = dt.timedelta(minutes=15)
RMA_REQUESTS_EVERY = dt.timedelta(seconds=30)
RECONCILE_EVERY = dt.timedelta(minutes=15)
RETURN_DEADLINES_EVERY = dt.timedelta(minutes=15)  # far inside the 48 h an alert comes ahead of a deadline
PRINTFUL_CONNECTIONS_EVERY = dt.timedelta(minutes=15)  # registers new connections, renews days ahead, refreshes OAuth an hour ahead
EMAIL_REPLIES_EVERY = dt.timedelta(minutes=1)
FILE_SUPPLIERS_EVERY = dt.timedelta(minutes=1)
PO_BATCHES_EVERY = dt.timedelta(minutes=1)  # a batch goes out at most this late after its slot (issue 15: batched POs)
CASE_CLOCKS_EVERY = dt.timedelta(minutes=5)  # far inside the 2 h warning before a case's target
SHOP_PROFILE_EVERY = dt.timedelta(hours=1)  # a shop is read only when its profile is missing or a day old: this is the retry after a failed read
KPI_CHECK_EVERY = dt.timedelta(days=1)
KPI_SNAPSHOTS_EVERY = dt.timedelta(minutes=15)  # today's figures on the dashboard are at most this old (kpis/snapshots.py TODAY_MAX_AGE)


def purge_inbox(services) -> None:
    """Delete handled webhook deliveries past retention (they carry personal data), and old job runs."""
    from shopify_app.webhooks.inbox import expire_waiting_deliveries
    from shopify_app.webhooks.retention import purge_handled_deliveries

    with services.session_factory.begin() as session:
        expire_waiting_deliveries(session)  # shops that never completed their install
        purge_handled_deliveries(session)
    purge_old_runs(services.session_factory)
    purge_unit_runs(services.session_factory, SHOP_JOBS)  # per-shop units keep two intervals, not a week (issue 19)


def check_delays_and_notify(services) -> None:
    """Turn passed ETAs into delay notices, queue the lifecycle notices that are due, then send what is pending."""
    from shopify_app.notify.customer_notices import send_pending_notices, send_sender_verifications
    from shopify_app.notify.lifecycle_notices import queue_due_notices
    from shopify_app.orders.delays import detect_delays

    with services.session_factory.begin() as session:
        detect_delays(session)
    with services.session_factory.begin() as session:
        queue_due_notices(session)
    send_sender_verifications(services.session_factory, services.settings.smtp, services.settings)
    send_pending_notices(services.session_factory, services.settings.smtp, services.settings)


def request_return_authorizations(services) -> None:
    """Ask suppliers for the RMAs of approved returns (retried with backoff)."""
    from shopify_app.returns.rma import request_due_rmas

    request_due_rmas(services.session_factory, services.box)


def carry_out_return_outcomes(services) -> None:
    """Refunds, store credit and exchanges of returns through Shopify (once; unknown outcomes asked about first)."""
    from shopify_app.returns.outcomes import carry_out_due

    carry_out_due(services)


def watch_return_deadlines(services) -> None:
    """Alert before statutory refund and complaint deadlines, and damaged returns' reaction targets, pass; accept unanswered Polish complaints."""
    from shopify_app.returns.deadlines import check_deadlines

    check_deadlines(services)


def watch_case_clocks(services) -> None:
    """Alert on customer cases about to miss (or past) their answer time; drop old lookup rate counters."""
    from shopify_app.cases.clock import watch_case_clocks as watch
    from shopify_app.proxy.rate_limit import purge_counters

    watch(services)
    with services.session_factory.begin() as session:
        purge_counters(session)


def backfill_installed_shops(services) -> None:
    """Import the recent orders of shops that just completed their install (BACKFILL_DAYS)."""
    from shopify_app.orders.backfill import run_install_backfills

    run_install_backfills(services)


def keep_token_fresh(services, shop_domain: str) -> None:
    """Refresh the shop's offline token well ahead of expiry so requests never wait on it."""
    # Look further ahead than the job's interval: a token must never expire between runs.
    try:
        services.tokens.refresh_if_expiring(shop_domain, TOKEN_REFRESH_EVERY * 2)
    except TokenUnavailable as exc:
        log.warning("cannot refresh token for shop=%s: %s", shop_domain, exc)


def tokens_due(services) -> list[str]:
    """Shops whose token expires within the refresh look-ahead (one query)."""
    return services.tokens.refresh_due(TOKEN_REFRESH_EVERY * 2)


# (job id, interval, function of the services): global jobs, one run per slot. Their work is
# rows with claims of their own (notifications, RMAs, mailboxes...), not a loop over shops.
PERIODIC_JOBS = (
    ("poll-shipments", SHIPMENT_POLL_EVERY, poll_shipments),
    ("delays-and-notices", DELAY_CHECK_EVERY, check_delays_and_notify),
    ("purge-inbox", dt.timedelta(hours=6), purge_inbox),
    ("return-authorizations", RMA_REQUESTS_EVERY, request_return_authorizations),
    ("return-outcomes", RMA_REQUESTS_EVERY, carry_out_return_outcomes),
    ("return-deadlines", RETURN_DEADLINES_EVERY, watch_return_deadlines),
    ("alert-notifications", dt.timedelta(minutes=1), deliver_alert_notifications),
    ("install-backfills", dt.timedelta(minutes=1), backfill_installed_shops),
    ("printful-connections", PRINTFUL_CONNECTIONS_EVERY, maintain_printful_connections),
    ("email-replies", EMAIL_REPLIES_EVERY, poll_mailboxes),  # each mailbox is polled on its own interval
    ("edi-partners", dt.timedelta(minutes=1), poll_edi_partners),  # each partner backs off on its own when unreachable
    ("file-suppliers", FILE_SUPPLIERS_EVERY, poll_file_suppliers),  # each file supplier is polled on its own interval
    ("case-clocks", CASE_CLOCKS_EVERY, watch_case_clocks),  # issue 17 part P
    ("state-counts", dt.timedelta(minutes=1), fold_state_counts),  # issue 19 part J: keeps the pipeline's sums a few rows
    ("as2-partners", AS2_PARTNERS_EVERY, watch_as2_partners),  # issue 15: AS2 partners' certificates expiring, asynchronous MDNs overdue
)

# Per-shop jobs: each shop's run is its own claimed unit at its own offset in the interval
# (shopify_app/jobs/fanout.py), for the shops the last function names (None: every installed shop).
SHOP_JOBS = (
    ShopJob("stock-feeds", STOCK_FEEDS_EVERY, pull_due_stock_feeds, shops_with_stock_feeds_of),  # each supplier is pulled on its own interval
    ShopJob("inventory-sync", INVENTORY_SYNC_EVERY, sync_shop_inventory, shops_to_sync_of),  # shops whose catalog is mirrored (issue 19 part E)
    ShopJob("catalog-mirror", FIRST_MIRROR_EVERY, mirror_shop_catalog, shops_to_mirror_of, lane="bulk", one_off=True,
           first_run_now_if_new=True),  # each shop's first mirror: at once for a shop just installed (onboarding), else spread
    ShopJob("catalog-refresh", CATALOG_REFRESH_EVERY, refresh_shop_catalog, shops_to_sync_of, lane="bulk"),  # re-exports mirrored shops; the first mirror is catalog-mirror's
    ShopJob("reconcile", RECONCILE_EVERY, run_reconciliation),
    ShopJob("kpi-snapshots", KPI_SNAPSHOTS_EVERY, close_shop_days, waits_on_network=False),
    ShopJob("kpi-check", KPI_CHECK_EVERY, check_shop_kpis),
    ShopJob("token-refresh", TOKEN_REFRESH_EVERY, keep_token_fresh, tokens_due, first_run_now=True),
    ShopJob("shop-profile", SHOP_PROFILE_EVERY, refresh_if_stale, stale_profiles, first_run_now_if_new=True),  # read at install; 1,000 stale ones spread over the hour
    ShopJob("state-recount", dt.timedelta(days=1), recount_shop_states, waits_on_network=False),  # repairs drift of the kept pipeline counts
    ShopJob("po-batches", PO_BATCHES_EVERY, close_due_batches, shops_with_due_batches),  # file suppliers' batched POs at their slots
)


class EmbeddedScheduler:
    """APScheduler for periodic jobs, plus the order lanes (the inbox's two lanes and the forwarding pump), in the web process."""

    def __init__(self, services):
        self.services = services
        self.scheduler = BackgroundScheduler(timezone=dt.timezone.utc, job_defaults={"coalesce": True, "max_instances": 1})
        self.lanes = OrderLanes(services)  # the same lanes a scaled-out worker runs (scheduler/lanes.py)
        self.shop_jobs = ShopJobPool(services, SHOP_JOBS)
        lifecycle.on_shop_uninstalled(self.remove_shop_jobs)

    def start(self) -> None:
        """Start the clock: the global jobs, and the tick that hands every shop's due units to the pool."""
        for job_id, every, fn in PERIODIC_JOBS:
            self.every(job_id, every, fn, self.services)
        # Not through run_claimed: the tick only finds units, each of which is claimed on its own.
        self.scheduler.add_job(self.shop_jobs.dispatch, "interval", seconds=DISPATCH_EVERY.total_seconds(), id="shop-jobs",
                               next_run_time=dt.datetime.now(dt.timezone.utc), replace_existing=True)
        self.scheduler.start()
        self.lanes.start()

    def shutdown(self) -> None:
        """Stop the clock and the pumps (between rows)."""
        lifecycle.forget_listener(self.remove_shop_jobs)
        # Drains stop between rows and give back the leases of rows they claimed but did not start.
        self.lanes.request_stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)  # no new firings; a running job finishes its own unit (slots are claimed)
        self.shop_jobs.shutdown()
        self.lanes.stop()

    def every(self, job_id: str, interval: dt.timedelta, fn, *args, first_run_now: bool = False) -> None:
        """Schedule `fn(*args)` every `interval` (first right away when `first_run_now`); each firing runs only if it claims its slot (one clock across processes)."""
        first = {"next_run_time": dt.datetime.now(dt.timezone.utc)} if first_run_now else {}
        self.scheduler.add_job(
            run_claimed, "interval", seconds=interval.total_seconds(),
            args=(self.services.session_factory, job_id, interval, fn, *args), id=job_id, replace_existing=True, **first,
        )

    def soon(self, job_id: str, fn, *args) -> None:
        """Run `fn(*args)` once, now, on the scheduler's threads (a later `soon` with the same id replaces a pending one)."""
        self.scheduler.add_job(fn, "date", run_date=dt.datetime.now(dt.timezone.utc), args=args, id=job_id, replace_existing=True)

    def add_shop_jobs(self, shop_domain: str) -> None:
        """A shop was installed: dispatch now, so its token and profile are read at once (its current slots are unclaimed)."""
        forget_installed_shops(self.services)  # the tick's cached installed shops (other processes see the shops' fingerprint move)
        self.soon("shop-jobs-now", self.shop_jobs.dispatch)

    def remove_shop_jobs(self, shop_domain: str) -> None:
        """A shop was uninstalled: nothing to remove, units are only found for installed shops (read again on the next tick)."""
        forget_installed_shops(self.services)
        log.info("no more per-shop units for shop=%s", shop_domain)

    def shop_job_ids(self, shop_domain: str) -> list[str]:
        """Names of the per-shop units this shop takes part in now ('<job>:<shop>'); none once uninstalled."""
        with self.services.session_factory() as session:
            if shop_domain not in installed_shops(session):
                return []
        return [unit_name(job.name, shop_domain) for job in SHOP_JOBS if job.with_work is None or shop_domain in job.with_work(self.services)]

    def silent_seconds(self) -> float:
        """How long the quieter pump has gone without a beat (for /readyz)."""
        return self.lanes.silent_seconds()

    def status(self) -> dict:
        """For /healthz."""
        return {"running": bool(self.scheduler.running), **self.lanes.status(), "jobs": len(self.scheduler.get_jobs())}
