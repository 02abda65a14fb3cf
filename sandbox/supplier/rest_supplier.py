"""A local supplier with its own simple REST/JSON API, as a real HTTP server on 127.0.0.1.

    supplier = RestSandboxSupplier()              # seeded catalog, X-Api-Key "sandbox-rest-key"
    supplier.start(port=0)                        # -> http://127.0.0.1:<port>
    supplier.configure_webhooks("http://127.0.0.1:8000/webhooks/suppliers/acme")
    ...                                           # the REST adapter places orders over HTTP
    supplier.ship(order_id, {"line-1": 1}, carrier="DHL")
    supplier.stop()

The generic REST adapter maps onto it with the `sandbox-rest` preset
(integrations/suppliers/rest/presets.py): settings {"preset": "sandbox-rest", "base_url":
supplier.base_url}, credentials supplier.adapter_credentials().

API (JSON in and out; every request needs `X-Api-Key: <api_key>` or an OAuth 2.0 bearer token
from POST /oauth/token (rest_oauth.py), else 401):

  POST /api/v1/orders                         create -> 201 {"order": Order}
       {"reference": str (unique, <= 100 chars), "currency": str, "shipping_method": str,
        "note": str, "ship_to": {"name", "company", "street1", "street2", "city", "region",
        "postcode", "country" (2 letters), "phone", "email"},
        "items": [{"sku", "qty" (>= 1), "line_ref" (unique, echoed on shipments), "title",
                   "retail_price"}]}
       422 {"error": {"code": "invalid" | "unknown_sku", "message"}} for bad input;
       409 {"error": {"code": "duplicate_reference", "message", "order_id"}} for a taken reference
  GET  /api/v1/orders?reference=R             {"orders": [Order]} (empty list when none)
  GET  /api/v1/orders/by-reference/{R}        {"order": Order} or 404
  GET  /api/v1/orders/{id}                    {"order": Order} or 404
  POST /api/v1/orders/{id}/cancel             {"order": Order}; 409 "not_cancellable" once
                                              processing or shipped; cancelled again is a no-op
  PATCH /api/v1/orders/{id}                   {"ship_to"?, "items"?} as in the create body: the new
                                              address and/or the whole item list (replacing it);
                                              {"order": Order}; 409 "not_modifiable" once processing,
                                              shipped or cancelled; reports order.updated
  GET  /api/v1/orders/{id}/shipments          {"shipments": [Shipment]}
  GET  /api/v1/stock?skus=A,B                 {"stock": [{"sku", "available", "in_stock"}]}, unknown SKUs left out
  GET  /api/v1/stock/{sku}                    {"sku", "available", "in_stock"} or 404

  Order    {"id": int, "reference", "status": received | processing | on_hold |
            partially_shipped | shipped | cancelled | failed, "total": "12.34",
            "currency", "shipping_method", "created_at", "updated_at", "failure_reason",
            "items": [{"line_ref", "sku", "qty", "title", "unit_price", "shipped_qty"}]}
            (the ship-to address is kept but never shown back)
  Shipment {"id", "carrier", "service", "tracking": {"number", "url"}, "shipped_at",
            "items": [{"line_ref", "sku", "qty"}]}

Webhooks (after `configure_webhooks(url)`): POST url with {"id": "evt_000001", "type",
"created_at", "order": Order, "shipment"?: Shipment, "reason"?: str, "stock"?: [...]}, types
order.updated, order.shipped, order.failed, order.cancelled, stock.updated, return.received; headers
`X-Signature: sha256=<hex HMAC-SHA256(body, webhook_secret)>` and `X-Event-Id`.

Fault controls (faults.py), as on the Printful sandbox: `fail_next(status, retry_after=)`
refuses without processing; `time_out_next(hold)` processes, then answers late;
`garble_next()` processes, then answers 200 with HTML; `set_latency`, `set_failure_rate`.
"""
from __future__ import annotations

import collections
import copy
import logging
import secrets
from typing import Any, Mapping

from ..serving import BackgroundServer

from .faults import FaultControls, SupplierFaults
from .rest_api import build_rest_app
from .rest_oauth import OAuthServer
from .rest_returns import ReturnsDesk
from .rest_orders import RESTOCK_QUANTITY, Order, Parcel, Product, RestOrderBook, demo_products, utc_now
from .rest_webhooks import RestWebhookDispatcher

log = logging.getLogger(__name__)

__all__ = ["Product", "RestSandboxSupplier", "demo_products"]


class RestSandboxSupplier(FaultControls):
    """The REST sandbox supplier in a background thread, with controls for tests and demos."""

    def __init__(self, api_key: str = "sandbox-rest-key", products: dict[str, Product] | None = None, *, webhook_secret: str | None = None):
        self.api_key = api_key
        self.webhook_secret = webhook_secret or secrets.token_hex(32)
        self._seed_products = copy.deepcopy(products if products is not None else demo_products())
        self.orders = RestOrderBook(copy.deepcopy(self._seed_products))
        self.orders.listeners.append(self._order_event)
        self.faults = SupplierFaults()
        self.returns = ReturnsDesk()
        self.webhooks = RestWebhookDispatcher()
        self.oauth = OAuthServer()  # POST /oauth/token; a live bearer token is accepted instead of X-Api-Key
        # Every authenticated request as (method, path, JSON body or None): in memory only, for tests.
        self.received: collections.deque[tuple[str, str, Any]] = collections.deque(maxlen=1000)
        self.base_url = ""
        self._server = BackgroundServer()

    # -- serving ---------------------------------------------------------------------------

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve in a daemon thread (port 0: any free port); returns the base URL."""
        self.base_url = self._server.start(build_rest_app(self), host=host, port=port, name="sandbox-rest-supplier")
        return self.base_url

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def reset(self) -> None:
        """Back to the seeded state: no orders, no faults, no webhook URL, seeded stock."""
        self.webhooks.flush()
        self.webhooks.configure(None, self.webhook_secret)
        self.webhooks.deliveries.clear()
        self.orders.clear(copy.deepcopy(self._seed_products))
        self.faults.clear()
        self.received.clear()
        self.returns.clear()
        self.oauth.reset()

    def adapter_settings(self) -> dict[str, Any]:
        """Settings for the REST adapter: the sandbox-rest preset at this server's URL."""
        return {"preset": "sandbox-rest", "base_url": self.base_url}

    def adapter_credentials(self) -> dict[str, str]:
        """Credentials for the REST adapter: the API key and the webhook secret."""
        return {"api_key": self.api_key, "webhook_secret": self.webhook_secret}

    # -- stock -----------------------------------------------------------------------------

    def set_stock(self, sku: str, in_stock: bool | None = None, *, available: int | None = None) -> Product:
        """Set a SKU's shelf count (or just in/out of stock); reports stock.updated."""
        product = self.orders.products[sku]
        if in_stock is None and available is None:
            raise ValueError("say in_stock or available")
        if available is None:
            available = (product.available or RESTOCK_QUANTITY) if in_stock else 0
        product.available = max(0, available)
        self.webhooks.submit("stock.updated", utc_now(), {"stock": [product.json()]})
        return product

    # -- orders: what happens at the supplier ---------------------------------------------

    def order(self, order_id: int | str) -> Order:
        """An order by id."""
        return self.orders.get(int(order_id))

    def orders_created(self, reference: str) -> int:
        """How many orders were created with this reference (1 = exactly once)."""
        return self.orders.created_count(reference)

    def ship(
        self,
        order_id: int | str,
        lines: Mapping[str, int] | None = None,
        *,
        carrier: str = "DHL",
        tracking_number: str | None = None,
        tracking_url: str | None = None,
    ) -> Parcel:
        """Ship {line_ref or sku: qty} (None: everything left); reports order.shipped."""
        return self.orders.ship(self.order(order_id), lines, carrier=carrier, tracking_number=tracking_number, tracking_url=tracking_url)

    def start_processing(self, order_id: int | str) -> Order:
        """The order is being picked: no longer cancellable."""
        return self.orders.set_status(self.order(order_id), "processing")

    def hold(self, order_id: int | str, reason: str = "Address needs checking") -> Order:
        """The supplier puts the order on hold; reports order.updated."""
        return self.orders.set_status(self.order(order_id), "on_hold", reason=reason)

    def fail(self, order_id: int | str, reason: str = "Cannot fulfil") -> Order:
        """The supplier gives up on the order; reports order.failed."""
        return self.orders.set_status(self.order(order_id), "failed", "order.failed", reason=reason)

    # -- webhooks --------------------------------------------------------------------------

    def receive_return(self, rma: str, items: dict[str, int] | None = None) -> None:
        """The returned parcel arrived here: reports return.received with what came back."""
        authorization = self.returns.receive(rma, items)
        self.webhooks.submit("return.received", utc_now(), {"return": authorization.json(self.base_url)})

    def refuse_returns(self, reason: str | None = "Our return window for this order has closed") -> None:
        """Refuse every return authorisation (409) until called with None."""
        self.returns.refusal = reason

    def configure_webhooks(self, url: str | None, secret: str | None = None) -> None:
        """Send events to `url`, signed with `secret` (default: this sandbox's webhook_secret)."""
        if secret is not None:
            self.webhook_secret = secret
        self.webhooks.configure(url, self.webhook_secret)

    def flush_webhooks(self) -> None:
        """Wait for queued deliveries."""
        self.webhooks.flush()

    def _order_event(self, event_type: str, order: Order, extra: Mapping[str, Any]) -> None:
        self.webhooks.submit(event_type, utc_now(), {"order": order.json(), **extra})
