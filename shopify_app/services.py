"""The app's service container: one place that wires settings, database, SDK, tokens and clients."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from shopify_app.sdk import ShopifyApp

from .auth.tokens import OfflineTokenStore, shop_name
from .config import Settings
from .crypto import SecretBox
from .db import make_engine, make_session_factory
from .jobs.doorbell import Doorbell
from .suppliers.event_rings import CoalescedRing
from .jobs.lane_notices import FORWARDING, ORDERS, WAY_BACK, notify_in, notify_now
from .webhooks.group_commit import GroupCommitWriter
from .webhooks.inbox import IncomingWebhook, Recorded, record_delivery
from .webhooks.lanes import is_way_back


@dataclass
class Services:
    """Long-lived collaborators shared by routes, workers and jobs."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker
    box: SecretBox
    shopify: ShopifyApp
    http_client: httpx.Client
    tokens: OfflineTokenStore
    read_session_factory: sessionmaker | None = None  # SQLite: BEGIN DEFERRED (never waits for the writer)
    # Each lane's pump threads share a Doorbell: one new delivery wakes one thread, not the whole lane.
    inbox_wakeup: threading.Event | Doorbell = field(default_factory=Doorbell)
    supplier_events_wakeup: threading.Event | Doorbell = field(default_factory=Doorbell)  # the inbox's supplier-event lane (the way back)
    # SQLite: this process's single inbox writer with group commit (see group_commit.py).
    inbox_writer: GroupCommitWriter | None = None
    scheduler: object | None = None

    # Scaled out (JOB_ENGINE=procrastinate, a web process): the order lanes run in the workers,
    # woken by NOTIFY (shopify_app/jobs/lane_notices.py). A worker's own wake-ups ring its own lanes.
    notify_workers: bool = False
    worker_lanes: object | None = None  # a worker process's lanes and listener (scheduler/distributed.py run_worker), for its /readyz

    def record_webhook(self, hook: IncomingWebhook) -> Recorded:
        """Insert a verified delivery and return once it is committed (the workers' wake-up commits with it)."""
        if self.inbox_writer is not None:
            return self.inbox_writer.record(hook)
        with self.engine.begin() as conn:
            outcome = record_delivery(conn, hook)
            if outcome is Recorded.NEW and self.notify_workers:
                notify_in(conn, WAY_BACK if is_way_back(hook.topic) else ORDERS)
            return outcome

    forwarding_wakeup: threading.Event = field(default_factory=threading.Event)

    def wake_forwarding(self) -> None:
        """Tell the forwarding pump (here, or the workers' by NOTIFY) a supplier order is due."""
        self.forwarding_wakeup.set()
        self._notify_workers(FORWARDING)

    def wake_inbox_worker(self) -> None:
        """Tell both inbox lanes (here, or the workers' by NOTIFY) there is new work (they also poll)."""
        self.inbox_wakeup.set()
        self.supplier_events_wakeup.set()
        self._notify_workers(ORDERS, WAY_BACK)

    def wake_orders_lane(self) -> None:
        """Like wake_inbox_worker, for a delivery only the orders lane handles: the way back sleeps on."""
        self.inbox_wakeup.set()
        self._notify_workers(ORDERS)

    def wake_lane_for(self, topic: str) -> None:
        """Ring this process's lane for a Shopify webhook that record_webhook just committed (it told the workers in that transaction)."""
        (self.supplier_events_wakeup if is_way_back(topic) else self.inbox_wakeup).set()

    def wake_way_back(self) -> None:
        """Like wake_inbox_worker, for a delivery only the way-back lane handles (a supplier's event): the orders lane sleeps on."""
        self.supplier_events_wakeup.set()
        self._notify_workers(WAY_BACK)

    _way_back_soon: CoalescedRing | None = field(default=None, repr=False, compare=False)

    def wake_way_back_soon(self) -> None:
        """wake_way_back within suppliers/event_rings.RING_WINDOW_SECONDS, once for every supplier webhook committed meanwhile (one look claims them)."""
        ring = self._way_back_soon
        if ring is None:  # two threads making one each at first: at worst one ring more
            ring = self._way_back_soon = CoalescedRing(lambda: self.wake_way_back())
        ring()

    def _notify_workers(self, *lanes: str) -> None:
        if self.notify_workers:
            notify_now(self.engine, *lanes)

    def gateway(self, shop_domain: str, *, max_attempts: int = 6):
        """A GraphQL gateway for the shop, using its offline token (background jobs may wait longer: max_attempts)."""
        from integrations.shopify.gateway import ShopifyGateway

        return ShopifyGateway(
            shop_domain, self.tokens.source(shop_domain), api_version=self.settings.api_version, http_client=self.http_client, max_attempts=max_attempts
        )

    def public_shopify_url(self, url: str) -> str:
        """A Shopify admin URL as the merchant's browser should open it (the sandbox in sandbox mode)."""
        base = self.settings.sandbox_shopify_url
        if not base:
            return url
        parts, target = urlsplit(url), urlsplit(base)
        query = parts.query + ("&" if parts.query else "") + f"shop={parts.hostname}"
        return urlunsplit((target.scheme, target.netloc, parts.path, query, parts.fragment))

    def app_home_in_admin_url(self, shop_domain: str) -> str:
        """Where the merchant sees the app inside the admin after installing."""
        if self.settings.sandbox_shopify_url:
            return f"{self.settings.sandbox_shopify_url}/admin/apps/{self.settings.api_key}?shop={shop_domain}"
        return f"https://admin.shopify.com/store/{shop_name(shop_domain)}/apps/{self.settings.api_key}"

    def close(self) -> None:
        """Release connections."""
        self.http_client.close()
        self.engine.dispose()


def _batch_queues(session_factory: sessionmaker, box: SecretBox):
    """runtime.po_batch_queue_for, importing the batch module only when a batched supplier is used (not while services are built)."""
    def queue_for(owner):
        from .suppliers.po_batches import DatabaseBatchQueue

        return DatabaseBatchQueue(session_factory, box, owner)

    return queue_for


def _configure_egress(settings: Settings, session_factory: sessionmaker, box: SecretBox | None = None) -> None:
    """The process-wide egress policy and supplier runtime (timeout cap, operator SMTP, sent log) from settings."""
    from integrations import egress
    from integrations.suppliers import runtime

    from .suppliers.as2_station import as2_station_factory
    from .suppliers.edi_store import DatabaseEdiStore
    from .suppliers.email_po_log import sent_log_factory

    egress.configure(egress.EgressPolicy.from_settings(settings))
    runtime.configure(runtime.SupplierRuntime(
        timeout_max_seconds=settings.supplier_timeout_max_seconds, smtp=runtime.operator_smtp_from(settings), sent_log_for=sent_log_factory(session_factory),
        edi_store_for=lambda owner: DatabaseEdiStore(session_factory, owner),
        as2_station_for=as2_station_factory(session_factory, box, settings.app_url) if box is not None else None,
        file_root=getattr(settings, "file_supplier_root", None),
        po_batch_queue_for=_batch_queues(session_factory, box) if box is not None else None,  # issue 15: batched POs
    ))


def _wire_install_completion(services: Services) -> None:
    """When a shop's install completes: its waiting webhooks are queued and its backfill armed (same transaction), then the workers woken."""
    from . import lifecycle

    services.tokens.on_install = lambda session, shop: lifecycle.complete_install(session, shop, services.settings.backfill_days)
    services.tokens.after_install = lambda shop: services.wake_inbox_worker()


def _wire_printful_credentials(services: Services) -> None:
    """Refreshed Printful OAuth tokens are stored (encrypted) on their supplier."""
    from integrations.suppliers.printful.factory import set_credentials_writer

    from .suppliers.printful_connect import save_refreshed_credentials

    set_credentials_writer(save_refreshed_credentials(services))


def configure_all_models() -> None:
    """Import every model and configure the mappers now, before any thread runs a query.

    Models were imported on first use, inside jobs: a procrastinate worker starting a dozen
    jobs at once configured the mappers in one thread while another was half-way through
    importing a models module (Case before CaseMessage), and that failure poisons every later
    query of the process (bench/peak_orders.py, PostgreSQL: a worker that carried nothing).
    """
    from sqlalchemy.orm import configure_mappers

    from . import all_models  # noqa: F401 - every model registered

    configure_mappers()


def build_services(settings: Settings, engine: Engine | None = None) -> Services:
    """Wire everything from settings."""
    from integrations.shopify.transport import http_client_for

    configure_all_models()
    if engine is None:
        from scheduler.forwarding_capacity import database_pool

        # A pool that fits the process's threads (DATABASE_POOL_SIZE / DATABASE_MAX_OVERFLOW); not for an in-memory SQLite.
        # The embedded per-shop network lane's threads also hold one for short reads and writes: room for them by default.
        pool = database_pool(overflow_floor=10 + settings.shop_job_network_threads)
        engine = make_engine(settings.database_url, **({} if ":memory:" in settings.database_url else pool))
    session_factory = make_session_factory(engine)
    box = SecretBox(settings.encryption_keys)
    shopify = ShopifyApp(settings.api_key, settings.api_secret, settings.api_secret_old)
    http_client = http_client_for(settings.sandbox_shopify_url)
    tokens = OfflineTokenStore(session_factory, box, shopify, http_client, settings.token_refresh_margin_seconds)
    services = Services(settings, engine, session_factory, box, shopify, http_client, tokens, tokens.read_session_factory)
    _wire_install_completion(services)
    _configure_egress(settings, session_factory, box)
    from .suppliers import credentials as supplier_credentials

    supplier_credentials.configure(session_factory, box)  # where adapters' refreshed tokens are stored
    _wire_printful_credentials(services)
    if settings.is_sqlite:
        services.inbox_writer = GroupCommitWriter(engine)
    return services
