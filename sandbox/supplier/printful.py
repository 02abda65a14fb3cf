"""A local supplier speaking Printful's API v2, as a real HTTP server on 127.0.0.1.

    supplier = SandboxSupplier()                  # seeded catalog, Bearer token "sandbox-printful-token"
    supplier.start(port=0)                        # -> http://127.0.0.1:<port>
    supplier.configure_webhooks("http://127.0.0.1:8000/webhooks/suppliers/printful")
    ...                                           # the adapter places orders over HTTP
    supplier.ship(order_id, tracking_number="1Z999", carrier="UPS", items={"line-1": 1})
    supplier.stop()

Endpoints (shapes from ../shared/suppliers/printful-v2/openapi.json): POST/GET /v2/orders,
GET/PATCH/DELETE /v2/orders/{order_id} (numeric id or `@external_id`), POST .../confirmation,
GET .../shipments, GET /v2/catalog-variants/{id}[/availability], GET/POST/DELETE /v2/webhooks.

To the letter of the spec: every request is validated (path, query, headers, body) by
openapi-core; the token's leaky bucket answers 429 with Retry-After and X-Ratelimit-*
headers as the "Rate Limiting" section documents; an operation answers only the statuses
the spec lists for it, plus the API-wide ones (400 for a request the spec refuses, 401,
403, 404 for a path naming nothing, 429).

Choices where the spec is silent (what a client must be ready for):
  - `external_id` is unique per store: creating a second order with a taken external_id is
    refused with 400 (create lists only 200 and 400) naming the external ID; the first
    order is untouched.
  - DELETE deletes, as v2 documents, only a draft, failed or canceled order (the order is
    gone: GET is then 404); any other status is 409 Conflict (DELETE's only listed refusal).
  - PATCH takes changes (recipient, shipping, order_items replacing the item list) until
    production starts: draft, pending, onhold, failed; after that it is 400 (PATCH lists
    only 200 and 400).
  - Confirmation lists only 200: confirming an order that is no longer a draft changes
    nothing and answers 200 with the order as it is.
  - Shipments are the spec's `Shipment`: no `tracking_number` (only webhooks carry it).
  - Order items need no print files (`placements: []` is accepted).
"""
from __future__ import annotations

import collections
import copy
import datetime as dt
import logging
import threading
import uuid
from typing import Any, Callable, Iterable, Mapping

from ..serving import BackgroundServer

from . import representations as rep
from .api import build_app
from .catalog import CatalogVariant, demo_catalog
from .faults import FaultControls, SupplierFaults
from .openapi_spec import PrintfulSpec, load_spec
from .orders import OrderBook, SandboxOrder, ShipmentRecord, utc_now
from .oauth import SandboxOAuth
from .rate_limit import RateLimiter
from .webhooks import DEFAULT_EVENTS, Delivery, WebhookConfig, WebhookDispatcher

log = logging.getLogger(__name__)

__all__ = ["CatalogVariant", "SandboxSupplier", "demo_catalog"]


class SandboxSupplier(FaultControls):
    """The Printful-shaped supplier in a background thread, with controls for tests and demos."""

    def __init__(
        self,
        token: str = "sandbox-printful-token",
        catalog: dict[int, CatalogVariant] | None = None,
        *,
        store_id: int = 1,
        spec: PrintfulSpec | None = None,
        check_responses: bool = False,
        now: Callable[[], dt.datetime] = utc_now,
        rate_limiter: RateLimiter | None = None,
        validate_requests: bool = True,
    ):
        """`rate_limiter`: Printful's documented bucket (120 burst, 2/s) unless given; `validate_requests`: openapi-core on every request."""
        self.token = token
        self.store_id = store_id
        self.catalog = catalog if catalog is not None else demo_catalog()
        self._seed_catalog = copy.deepcopy(self.catalog)
        self.now = now
        self.orders = OrderBook(self.catalog, store_id, now=now)
        self.orders.listeners.append(self._order_event)
        self.faults = SupplierFaults()
        self.webhooks = WebhookDispatcher()
        self.spec = spec if spec is not None else self._load_spec()
        self.check_responses = check_responses
        self.schema_violations: list[tuple[str, list[str]]] = []
        self.rate_limiter = rate_limiter if rate_limiter is not None else RateLimiter()
        self.oauth = SandboxOAuth()  # OAuth connections (issue() one), refreshed at POST /oauth/token
        self.validate_requests = validate_requests and self.spec is not None  # no spec file: nothing to validate against
        # Requests refused by the spec validator as ("METHOD /path", problems): a test can assert there were none.
        self.refused_requests: list[tuple[str, list[str]]] = []
        # Every authenticated request as (method, path, JSON body or None): in memory only, for tests.
        self.received: collections.deque[tuple[str, str, Any]] = collections.deque(maxlen=1000)
        self.base_url = ""
        self._server = BackgroundServer()

    @staticmethod
    def _load_spec() -> PrintfulSpec | None:
        try:
            return load_spec()
        except FileNotFoundError:
            log.warning("sandbox supplier: Printful OpenAPI spec not found; request bodies are not validated")
            return None

    # -- serving ---------------------------------------------------------------------------

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve in a daemon thread (port 0: any free port); returns the base URL."""
        self.base_url = self._server.start(build_app(self), host=host, port=port, name="sandbox-supplier")
        return self.base_url

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def reset(self) -> None:
        """Back to the seeded state: no orders, no faults, no webhook configuration, seeded stock."""
        self.webhooks.flush()
        self.webhooks.disable()
        self.webhooks.deliveries.clear()
        self.orders.clear()
        self.faults.clear()
        self.catalog.clear()
        self.catalog.update(copy.deepcopy(self._seed_catalog))
        self.schema_violations.clear()
        self.refused_requests.clear()
        self.received.clear()
        self.rate_limiter.reset()
        self.oauth.clear()

    # -- catalog and stock -----------------------------------------------------------------

    def variant_ids_by_sku(self) -> dict[str, int]:
        """Supplier SKU -> Printful catalog variant id, for the adapter's product mapping."""
        return {variant.sku: variant.id for variant in self.catalog.values()}

    def variant_by_sku(self, sku: str) -> CatalogVariant:
        """The catalog variant with this SKU."""
        for variant in self.catalog.values():
            if variant.sku == sku:
                return variant
        raise KeyError(sku)

    def set_stock(self, sku: str, in_stock: bool) -> None:
        """Put a SKU in or out of stock everywhere; reports catalog_stock_updated."""
        variant = self.variant_by_sku(sku)
        variant.set_in_stock(in_stock)
        config = self.webhooks.config
        products = config.product_ids_for_stock() if config else None
        if products is None or variant.product_id in products:
            self._send("catalog_stock_updated", rep.stock_event_data([variant]))

    # -- orders: what happens at the supplier ---------------------------------------------

    def order(self, order_ref: str | int) -> SandboxOrder:
        """An order by id or `@external_id`."""
        return self.orders.get(order_ref)

    def orders_created(self, external_id: str) -> int:
        """How many orders were created with this external_id (1 = exactly once)."""
        return self.orders.created_count(external_id)

    def start_production(self, order_ref: str | int) -> SandboxOrder:
        """The order enters production (inprocess): no longer cancellable."""
        return self.orders.set_status(self.order(order_ref), "inprocess")

    def ship(
        self,
        order_ref: str | int,
        tracking_number: str | None = None,
        carrier: str = "USPS",
        items: Mapping[str | int, int] | Iterable[tuple[str | int, int]] | None = None,
        *,
        service: str = "USPS First Class Mail",
        tracking_url: str | None = None,
    ) -> ShipmentRecord:
        """Ship `items` ({item external_id or id: quantity}; None = all that is left); reports shipment_sent."""
        return self.orders.ship(
            self.order(order_ref), items, tracking_number=tracking_number or f"9400{uuid.uuid4().int % 10**18:018d}",
            carrier=carrier, service=service, tracking_url=tracking_url,
        )

    def reschedule(self, order_ref: str | int, estimated_delivery: dt.date, shipment_id: int | None = None) -> ShipmentRecord:
        """The carrier moves a parcel's estimated delivery (the latest, or `shipment_id`); Printful sends no webhook: polls see it."""
        order = self.order(order_ref)
        shipment = next(s for s in reversed(order.shipments) if shipment_id in (None, s.id))
        shipment.estimated_delivery = estimated_delivery
        return shipment

    def fail(self, order_ref: str | int, reason: str = "Payment failed") -> SandboxOrder:
        """The order fails at the supplier; reports order_failed."""
        return self.orders.set_status(self.order(order_ref), "failed", "order_failed", reason=reason)

    def cancel(self, order_ref: str | int, reason: str = "Canceled by Printful staff") -> SandboxOrder:
        """The supplier cancels the order (whatever its state); reports order_canceled."""
        return self.orders.set_status(self.order(order_ref), "canceled", "order_canceled", reason=reason)

    def hold(self, order_ref: str | int, reason: str = "Address needs verification") -> SandboxOrder:
        """The supplier puts the order on hold; reports order_put_hold."""
        return self.orders.set_status(self.order(order_ref), "onhold", "order_put_hold", reason=reason)

    def release_hold(self, order_ref: str | int, reason: str = "Issue resolved") -> SandboxOrder:
        """Back from hold to pending; reports order_remove_hold."""
        return self.orders.set_status(self.order(order_ref), "pending", "order_remove_hold", reason=reason)

    def report_out_of_stock(self, order_ref: str | int, is_out_of_stock: bool = True) -> None:
        """A not-yet-shipped parcel of the order goes out of (or back in) stock; reports shipment_out_of_stock."""
        order = self.order(order_ref)
        now = self.now()
        parcel = ShipmentRecord(
            id=order.id * 10, carrier="", service="", tracking_number="", tracking_url="", created_at=now,
            shipped_at=now, items=[(item, order.remaining(item)) for item in order.items if order.remaining(item)],
            status="outstock" if is_out_of_stock else "pending",
        )
        self.orders.announce("shipment_out_of_stock", order, shipment=parcel, is_out_of_stock=is_out_of_stock)

    def return_shipment(self, order_ref: str | int, shipment_id: int | None = None, reason: str = "Undeliverable address") -> ShipmentRecord:
        """A shipment comes back to the facility; reports shipment_returned."""
        order = self.order(order_ref)
        shipment = next(s for s in reversed(order.shipments) if shipment_id in (None, s.id))
        shipment.status = "returned"
        self.orders.announce("shipment_returned", order, shipment=shipment, reason=reason)
        return shipment

    # -- webhooks --------------------------------------------------------------------------

    def auto_ship(self, after_seconds: float = 5.0, poll_seconds: float = 1.0) -> threading.Thread:
        """Demo mode: ship every confirmed order `after_seconds` after it was confirmed."""
        import time as _time

        confirmed_at: dict[int, float] = {}

        def loop() -> None:
            while True:
                now = _time.monotonic()
                for order in self.orders.all():
                    if order.status == "pending":
                        since = confirmed_at.setdefault(order.id, now)
                        if now - since >= after_seconds:
                            try:
                                self.ship(order.id, carrier="UPS")
                            except ValueError:
                                pass  # cancelled or shipped meanwhile
                _time.sleep(poll_seconds)

        thread = threading.Thread(target=loop, name="sandbox-supplier-autoship", daemon=True)
        thread.start()
        return thread

    def configure_webhooks(self, url: str, events: Iterable[str | Mapping[str, Any]] = DEFAULT_EVENTS) -> WebhookConfig:
        """Send `events` to `url` (as POST /v2/webhooks does); the config holds the secret key."""
        return self.webhooks.configure(url, events)

    def flush_webhooks(self, timeout: float = 10.0) -> list[Delivery]:
        """Wait for queued deliveries; returns every delivery attempted so far."""
        self.webhooks.flush(timeout)
        return list(self.webhooks.deliveries)

    # -- internals -------------------------------------------------------------------------

    def _order_event(self, event_type: str, order: SandboxOrder, extra: Mapping[str, Any]) -> None:
        self._send(event_type, rep.order_event_data(event_type, order, extra))

    def _send(self, event_type: str, data: Any) -> None:
        payload = rep.webhook_event_json(event_type, self.store_id, self.now(), data)
        if self.check_responses and self.spec is not None:
            problems = self.spec.webhook_errors(event_type, payload)
            if problems:
                self.schema_violations.append((f"webhook {event_type}", problems))
        self.webhooks.submit(event_type, payload)

