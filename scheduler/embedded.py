"""The embedded clock: APScheduler in-process, plus the inbox pump thread."""
from __future__ import annotations

import datetime as dt
import logging

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from shopify_app import lifecycle
from shopify_app.auth.tokens import TokenUnavailable
from shopify_app.inventory.jobs import pull_due_stock_feeds, refresh_catalogs, sync_installed_shops
from shopify_app.models import Shop, ShopStatus

from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.polling import poll_shipments
from shopify_app.webhooks.worker import InboxWorker

from .pump import Pump

log = logging.getLogger(__name__)

TOKEN_REFRESH_EVERY = dt.timedelta(minutes=10)
SHIPMENT_POLL_EVERY = dt.timedelta(minutes=10)
DELAY_CHECK_EVERY = dt.timedelta(minutes=15)
STOCK_FEEDS_EVERY = dt.timedelta(minutes=1)  # each supplier is pulled on its own interval
INVENTORY_SYNC_EVERY = dt.timedelta(minutes=2)
CATALOG_REFRESH_EVERY = dt.timedelta(hours=6)
RMA_REQUESTS_EVERY = dt.timedelta(seconds=30)


def purge_inbox(services) -> None:
    """Delete handled webhook deliveries past retention (they carry personal data)."""
    from shopify_app.webhooks.retention import purge_handled_deliveries

    with services.session_factory.begin() as session:
        purge_handled_deliveries(session)


def check_delays_and_notify(services) -> None:
    """Turn passed ETAs into delay notices, then send what is pending."""
    from shopify_app.orders.delays import detect_delays, send_pending_notices

    with services.session_factory.begin() as session:
        detect_delays(session)
    send_pending_notices(services.session_factory, services.settings.smtp)


def request_return_authorizations(services) -> None:
    """Ask suppliers for the RMAs of approved returns (retried with backoff)."""
    from shopify_app.returns.rma import request_due_rmas

    request_due_rmas(services.session_factory, services.box)


def shop_job_id(kind: str, shop_domain: str) -> str:
    """Per-shop jobs are named '<kind>:<shop>' so they can all be found by shop."""
    return f"{kind}:{shop_domain}"


def keep_token_fresh(services, shop_domain: str) -> None:
    """Refresh the shop's offline token well ahead of expiry so requests never wait on it."""
    # Look further ahead than the job's interval: a token must never expire between runs.
    try:
        services.tokens.refresh_if_expiring(shop_domain, TOKEN_REFRESH_EVERY * 2)
    except TokenUnavailable as exc:
        log.warning("cannot refresh token for shop=%s: %s", shop_domain, exc)


class EmbeddedScheduler:
    """APScheduler for periodic jobs and the inbox pump, in the web process."""

    def __init__(self, services):
        self.services = services
        self.scheduler = BackgroundScheduler(timezone=dt.timezone.utc, job_defaults={"coalesce": True, "max_instances": 1})
        self.inbox_worker = InboxWorker(services.session_factory, services.settings, services)
        self.pump = Pump("inbox-pump", self.inbox_worker.drain, services.inbox_wakeup)
        self.forwarding_worker = ForwardingWorker(services.session_factory, services.box)
        self.forwarding_pump = Pump("forwarding-pump", self.forwarding_worker.drain, services.forwarding_wakeup)
        lifecycle.on_shop_uninstalled(self.remove_shop_jobs)

    def start(self) -> None:
        """Start the clock and add the jobs of every installed shop."""
        self.scheduler.add_job(poll_shipments, "interval", seconds=SHIPMENT_POLL_EVERY.total_seconds(), args=(self.services,), id="poll-shipments", replace_existing=True)
        self.scheduler.add_job(check_delays_and_notify, "interval", seconds=DELAY_CHECK_EVERY.total_seconds(), args=(self.services,), id="delays-and-notices", replace_existing=True)
        self.scheduler.add_job(purge_inbox, "interval", hours=6, args=(self.services,), id="purge-inbox", replace_existing=True)
        self.scheduler.add_job(pull_due_stock_feeds, "interval", seconds=STOCK_FEEDS_EVERY.total_seconds(), args=(self.services,), id="stock-feeds", replace_existing=True)
        self.scheduler.add_job(sync_installed_shops, "interval", seconds=INVENTORY_SYNC_EVERY.total_seconds(), args=(self.services,), id="inventory-sync", replace_existing=True)
        self.scheduler.add_job(request_return_authorizations, "interval", seconds=RMA_REQUESTS_EVERY.total_seconds(), args=(self.services,), id="return-authorizations", replace_existing=True)
        self.scheduler.add_job(refresh_catalogs, "interval", seconds=CATALOG_REFRESH_EVERY.total_seconds(), args=(self.services,), id="catalog-refresh", replace_existing=True)
        self.scheduler.start()
        self.pump.start()
        self.forwarding_pump.start()
        with self.services.session_factory() as session:
            shops = session.scalars(select(Shop.domain).where(Shop.status == ShopStatus.INSTALLED.value)).all()
        for shop in shops:
            self.add_shop_jobs(shop)

    def shutdown(self) -> None:
        """Stop the clock and the pump."""
        lifecycle.forget_listener(self.remove_shop_jobs)
        self.pump.stop()
        self.forwarding_pump.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def add_shop_jobs(self, shop_domain: str) -> None:
        """Schedule the per-shop jobs (idempotent)."""
        self.scheduler.add_job(
            keep_token_fresh,
            "interval",
            seconds=TOKEN_REFRESH_EVERY.total_seconds(),
            args=(self.services, shop_domain),
            id=shop_job_id("token-refresh", shop_domain),
            replace_existing=True,
        )

    def remove_shop_jobs(self, shop_domain: str) -> None:
        """Stop every job of a shop (on uninstall)."""
        for job in self.scheduler.get_jobs():
            if job.id.endswith(":" + shop_domain):
                job.remove()
        log.info("stopped jobs for shop=%s", shop_domain)

    def shop_job_ids(self, shop_domain: str) -> list[str]:
        """Ids of the jobs scheduled for a shop."""
        return [job.id for job in self.scheduler.get_jobs() if job.id.endswith(":" + shop_domain)]

    def status(self) -> dict:
        """For /healthz."""
        return {
            "running": bool(self.scheduler.running),
            "inbox_pump": self.pump.alive,
            "forwarding_pump": self.forwarding_pump.alive,
            "jobs": len(self.scheduler.get_jobs()),
        }
