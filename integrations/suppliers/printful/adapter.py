"""The Printful adapter: our supplier interface over Printful's API v2.

Idempotent placement: the order is created with `external_id` = our idempotency key, then
confirmed. Printful keeps external_id unique per store, so a second create with the same
key is refused (409, or a 400 naming the external ID); we then read `@{external_id}` and
carry on with that order, confirming it if it is still a draft. So after OutcomeUnknown,
`find_order` tells whether the order exists, and calling `place_order` again is always
safe: it never makes a second order. `find_order` may return PENDING for an order whose
create landed but whose confirmation did not; `resume_order` confirms it (one call).

Order changes: Printful's life cycle says an order "can be freely edited" as a draft and
"can no longer be canceled or modified" once in process, so `amend_order` PATCHes the
order (its whole item list and, when changed, the recipient) and a 400/409 from Printful
is AmendmentRefused; the app then cancels and places again, or alerts.

Cancelling (spec, DELETE /v2/orders/{order_id}): v2 DELETE *deletes* an order, and only
one whose status is draft, failed or canceled (and not charged). A confirmed order cannot
be cancelled through the API: `cancel_order` reads the order first and refuses such an
order with CancellationRefused telling the merchant what to do in Printful; the app turns
that into an alert. A 409 ("already being updated, try again") is retried a few times.

Lists are read page by page with a hard page cap, stopping when a page repeats, and
de-duplicated by id: `paging.total` is not trusted to end the loop.

Not offered by Printful v2 and therefore refused here: return authorizations (see
`create_return_authorization`).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable, Mapping, TypeVar
from urllib.parse import quote

import httpx

from ..base import (
    Amendment,
    AmendmentRefused,
    CancellationRefused,
    PermanentSupplierError,
    PlaceOrder,
    ReturnAuthorization,
    ReturnLine,
    Shipment,
    StockLevel,
    SupplierAdapter,
    SupplierEvent,
    SupplierOrder,
    SupplierOrderNotFound,
    SupplierOrderStatus,
    TransientSupplierError,
)
from . import mapping
from ..http import unreadable as _unreadable
from .client import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, PrintfulClient, PrintfulRejected
from .mapping import MalformedResponse, PrintfulProduct
from .oauth import OAuthTokens
from .pacing import LeakyBucket
from .webhooks import decode_event, translate_event, verify_signature

log = logging.getLogger(__name__)
T = TypeVar("T")
PAGE_SIZE = 100  # the spec's maximum `limit`
MAX_PAGES = 50  # no order has 5,000 shipments, no product 5,000 variants: past this, the paging is broken
DELETABLE = {"draft", "failed", "canceled", "cancelled"}  # the spec: DELETE only for these
CONFLICT_RETRIES = 3
CONFLICT_PAUSE_SECONDS = 1.0
# What the app acts on (webhooks.EVENT_TRANSLATORS), registered with POST /v2/webhooks on connect.
WEBHOOK_EVENTS = (
    "shipment_sent", "shipment_returned", "shipment_out_of_stock", "shipment_put_hold", "shipment_remove_hold",
    "order_failed", "order_canceled", "order_put_hold", "order_remove_hold", "order_updated", "catalog_stock_updated",
)


def refusal_reason(supplier_order_id: str, status: Any) -> str:
    """Why Printful cannot cancel this order through its API, and what the merchant does instead."""
    if str(status).lower() in ("pending", "onhold"):
        return (f"Printful order {supplier_order_id} is confirmed ({status}) and Printful's API deletes only draft, failed or canceled orders: "
                "cancel it in the Printful dashboard (Orders, open the order, Cancel order) before production starts, "
                "or ask Printful support")
    return (f"Printful order {supplier_order_id} is {status}: it is in production or shipped and can no longer be cancelled; "
            "ask Printful support to stop it, or handle it as a return")


def is_duplicate_external_id(rejection: PrintfulRejected) -> bool:
    """Whether a refused create means "that external_id is taken" (the spec lists only 400 for create; 409 is tolerated)."""
    if rejection.status == 409:
        return True
    detail = rejection.detail.lower()
    return rejection.status == 400 and "external" in detail and any(word in detail for word in ("exist", "already", "used", "unique"))


class PrintfulAdapter(SupplierAdapter):
    """Printful v2 behind the SupplierAdapter interface."""

    kind = "printful"
    can_update_address = True  # PATCH /v2/orders/{id} recipient, before production
    can_update_lines = True  # PATCH /v2/orders/{id} order_items, before production
    # Draft (PENDING) and failed orders only: v2 DELETE refuses confirmed ones (see the module docstring).
    can_cancel_when = frozenset({SupplierOrderStatus.PENDING, SupplierOrderStatus.FAILED})

    def __init__(
        self,
        token: str,
        *,
        products: Mapping[str, PrintfulProduct | int] | None = None,
        base_url: str = DEFAULT_BASE_URL,
        store_id: str | int | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        webhook_secret_key: str | None = None,
        webhook_public_key: str | None = None,
        selling_region: str = "worldwide",
        transport: httpx.BaseTransport | None = None,
        policy: Any = None,
        oauth: OAuthTokens | None = None,
        bucket: LeakyBucket | None = None,
        conflict_pause: float = CONFLICT_PAUSE_SECONDS,
    ):
        """`products` maps supplier SKU -> catalog variant (id or PrintfulProduct with print files).

        A SKU that is all digits and not in `products` is taken as a catalog variant id. With
        `oauth`, its (refreshed) access token is used instead of `token`.
        """
        self.products: dict[str, PrintfulProduct] = {
            sku: product if isinstance(product, PrintfulProduct) else PrintfulProduct(int(product))
            for sku, product in (products or {}).items()
        }
        self.webhook_secret_key = webhook_secret_key
        self.webhook_public_key = webhook_public_key
        self.selling_region = selling_region
        self.conflict_pause = conflict_pause
        self._client = PrintfulClient(token, base_url=base_url, store_id=store_id, timeout=timeout, transport=transport, policy=policy,
                                      bucket=bucket, oauth=oauth)

    @property
    def oauth(self) -> OAuthTokens | None:
        """The OAuth tokens this adapter calls with (None: a static token)."""
        return self._client.oauth

    @property
    def bucket(self) -> LeakyBucket:
        """The leaky bucket this adapter's calls draw from (shared by every adapter of the token)."""
        return self._client.bucket

    def close(self) -> None:
        """Release HTTP connections."""
        self._client.close()

    def __enter__(self) -> "PrintfulAdapter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- orders ----------------------------------------------------------------------------

    def place_order(self, order: PlaceOrder) -> SupplierOrder:
        """Create (external_id = our key) and confirm; a taken external_id continues with that order."""
        body = mapping.create_order_body(order, self._products_for([line.supplier_sku for line in order.lines]))
        try:
            created = self._client.call("POST", "/v2/orders", json=body, changes_state=True)
            data = self._parse(mapping.order_data, created, "POST /v2/orders", changes_state=True)
        except PrintfulRejected as rejection:
            if not is_duplicate_external_id(rejection):
                raise
            data = self._existing_for_duplicate(order.external_id)
        if data["status"] == "draft":
            data = self._confirm(data)
        return mapping.supplier_order(data)

    def resume_order(self, found: SupplierOrder, order: PlaceOrder) -> SupplierOrder:
        """Confirm a draft `find_order` found (one call), instead of creating it again to be refused and read back."""
        if found.status is not SupplierOrderStatus.PENDING or not found.supplier_order_id:
            return self.place_order(order)
        return mapping.supplier_order(self._confirm({"id": found.supplier_order_id}))

    def find_order(self, external_id: str) -> SupplierOrder | None:
        """GET /v2/orders/@{external_id}; None when Printful has no such order."""
        try:
            return mapping.supplier_order(self._order_data(f"@{external_id}"))
        except SupplierOrderNotFound:
            return None

    def get_order(self, supplier_order_id: str) -> SupplierOrder:
        """GET /v2/orders/{id}."""
        return mapping.supplier_order(self._order_data(supplier_order_id))

    def cancel_order(self, supplier_order_id: str) -> SupplierOrder:
        """DELETE /v2/orders/{id} for a draft, failed or canceled order; a confirmed one is CancellationRefused with what to do."""
        path = self._order_path(supplier_order_id)
        for attempt in range(CONFLICT_RETRIES + 1):
            data = self._order_data(supplier_order_id)  # SupplierOrderNotFound when there is no such order
            if str(data["status"]).lower() not in DELETABLE:
                raise CancellationRefused(refusal_reason(supplier_order_id, data["status"]))
            try:
                self._client.call("DELETE", path, changes_state=True)
                break
            except PrintfulRejected as rejection:
                if rejection.status != 409 or attempt == CONFLICT_RETRIES:
                    raise CancellationRefused(f"Printful would not delete order {supplier_order_id} (HTTP {rejection.status}); "
                                              "cancel it in the Printful dashboard") from None
                # "Already being updated, try again": let the other update finish, then look again.
                time.sleep(self.conflict_pause * (attempt + 1))
            except SupplierOrderNotFound:
                break  # deleted meanwhile (our own earlier request whose answer was lost)
        try:
            data = self._order_data(supplier_order_id)
        except SupplierOrderNotFound:
            # v2 DELETE removes the order outright: gone is cancelled, as far as we are concerned.
            return SupplierOrder(supplier_order_id=supplier_order_id, external_id=None, status=SupplierOrderStatus.CANCELLED)
        return mapping.supplier_order(data)

    def amend_order(self, supplier_order_id: str, amendment: Amendment) -> SupplierOrder:
        """PATCH /v2/orders/{id} to the amendment's items and recipient; AmendmentRefused once Printful will not (400/409)."""
        products = self._products_for([line.supplier_sku for line in amendment.lines if line.quantity > 0])
        path = self._order_path(supplier_order_id)
        try:
            payload = self._client.call("PATCH", path, json=mapping.update_order_body(amendment, products), changes_state=True)
        except PrintfulRejected as rejection:
            if rejection.status in (400, 409):
                raise AmendmentRefused(f"Printful will not change order {supplier_order_id} (HTTP {rejection.status}: {rejection.detail})") from None
            raise
        return mapping.supplier_order(self._parse(mapping.order_data, payload, f"PATCH {path}", changes_state=True))

    def get_shipments(self, supplier_order_id: str) -> list[Shipment]:
        """Every shipment that has left, across the pages of GET /v2/orders/{id}/shipments, once each."""
        path = f"{self._order_path(supplier_order_id)}/shipments"
        collected = self._paged(path, {}, mapping.shipments_page, lambda data: data.get("id"))
        return [self._parse(mapping.shipment, data, f"GET {path}") for data in collected if mapping.has_left(data)]

    # -- stock -----------------------------------------------------------------------------

    def get_stock(self, supplier_skus: list[str]) -> list[StockLevel]:
        """In/out of stock per SKU (Printful gives no counts): per catalog product (100 variants a request) when known, else per variant."""
        wanted = {sku: product for sku in dict.fromkeys(supplier_skus) if (product := self._product_or_none(sku)) is not None}
        by_product: dict[int, dict[int, str]] = {}
        for sku, product in wanted.items():
            if product.catalog_product_id is not None:
                by_product.setdefault(product.catalog_product_id, {})[product.catalog_variant_id] = sku
        in_stock: dict[str, bool] = {}
        for product_id, sku_by_variant in by_product.items():
            in_stock.update(self._product_stock(product_id, sku_by_variant))
        for sku, product in wanted.items():
            if product.catalog_product_id is None:
                known = self._variant_stock(product.catalog_variant_id)
                if known is not None:
                    in_stock[sku] = known
        return [StockLevel(supplier_sku=sku, in_stock=in_stock[sku], available=None) for sku in wanted if sku in in_stock]

    def _product_stock(self, product_id: int, sku_by_variant: dict[int, str]) -> dict[str, bool]:
        path = f"/v2/catalog-products/{product_id}/availability"
        try:
            variants = self._paged(path, {"selling_region_name": self.selling_region}, mapping.product_availability_page,
                                   lambda data: data.get("catalog_variant_id"))
        except SupplierOrderNotFound:  # Printful does not know the product: its SKUs are unknown
            return {}
        return {sku_by_variant[data["catalog_variant_id"]]: self._parse(self._techniques_in_stock, data, f"GET {path}")
                for data in variants if data["catalog_variant_id"] in sku_by_variant}

    def _techniques_in_stock(self, availability: Mapping[str, Any]) -> bool:
        return mapping.techniques_in_stock(availability, self.selling_region)

    def _variant_stock(self, variant_id: int) -> bool | None:
        path = f"/v2/catalog-variants/{variant_id}/availability"
        try:
            payload = self._client.call("GET", path, params={"selling_region_name": self.selling_region})
        except SupplierOrderNotFound:  # Printful does not know the variant: an unknown SKU
            return None
        return self._parse(lambda body: mapping.variant_in_stock(body, self.selling_region), payload, f"GET {path}")

    # -- webhook registration --------------------------------------------------------------

    def register_webhooks(self, url: str, events: Iterable[str] = WEBHOOK_EVENTS, *, expires_at: str | None = None,
                          stock_product_ids: Iterable[int] = ()) -> dict[str, Any]:
        """POST /v2/webhooks: send `events` to `url`, replacing the store's configuration; returns the answer's `result`.

        catalog_stock_updated needs the products it reports on (spec): those of our SKUs plus
        `stock_product_ids`; without any it is left out. The result holds the new
        `secret_key` (shown once) and `public_key`, which this adapter then verifies with.
        """
        products = sorted({*stock_product_ids, *(p.catalog_product_id for p in self.products.values() if p.catalog_product_id)})
        configs: list[dict[str, Any]] = []
        for event in dict.fromkeys(events):
            if event != "catalog_stock_updated":
                configs.append({"type": event})
            elif products:
                configs.append({"type": event, "params": [{"name": "products", "value": [{"id": pid} for pid in products]}]})
        body = {"default_url": url, "expires_at": expires_at, "events": configs}
        payload = self._client.call("POST", "/v2/webhooks", json=body, changes_state=True)
        result = self._parse(mapping.webhook_created, payload, "POST /v2/webhooks", changes_state=True)
        self.webhook_secret_key, self.webhook_public_key = result["secret_key"], result.get("public_key")
        return result

    def webhook_configuration(self) -> dict[str, Any]:
        """GET /v2/webhooks: the store's current configuration (never the secret)."""
        return self._parse(mapping.webhook_info, self._client.call("GET", "/v2/webhooks"), "GET /v2/webhooks")

    # -- returns ---------------------------------------------------------------------------

    def create_return_authorization(self, supplier_order_id: str, lines: list[ReturnLine]) -> ReturnAuthorization:
        """Printful v2 has no return-authorization API: always a PermanentSupplierError."""
        raise PermanentSupplierError(
            "Printful offers no return authorizations through its API: customer returns go to the merchant's own "
            "return address (Printful only takes back undeliverable parcels, reported as shipment_returned); "
            "handle this return without a supplier RMA"
        )

    # -- webhooks --------------------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[SupplierEvent]:
        """Verify x-pf-webhook-signature over the raw body, then translate the event."""
        verify_signature(headers, body, self.webhook_secret_key, self.webhook_public_key)
        sku_by_variant = {product.catalog_variant_id: sku for sku, product in self.products.items()}
        return translate_event(decode_event(body), sku_by_variant)

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _order_path(order_ref: str) -> str:
        # Encode everything, "/" included, so an external_id stays one path segment.
        return f"/v2/orders/{quote(str(order_ref), safe='@')}"

    def _order_data(self, order_ref: str) -> dict[str, Any]:
        path = self._order_path(order_ref)
        return self._parse(mapping.order_data, self._client.call("GET", path), f"GET {path}")

    def _existing_for_duplicate(self, external_id: str) -> dict[str, Any]:
        try:
            return self._order_data(f"@{external_id}")
        except SupplierOrderNotFound:
            raise TransientSupplierError(f"Printful says external_id {external_id} is taken but cannot find it yet") from None

    def _confirm(self, data: dict[str, Any]) -> dict[str, Any]:
        path = f"/v2/orders/{data['id']}/confirmation"
        try:
            payload = self._client.call("POST", path, changes_state=True)
            return self._parse(mapping.order_data, payload, f"POST {path}", changes_state=True)
        except PrintfulRejected as rejection:
            if rejection.status not in (400, 409):
                raise
            # Most likely confirmed already (an earlier answer was lost): the order says.
            current = self._order_data(str(data["id"]))
            if current["status"] == "draft":
                raise
            return current

    def _products_for(self, skus: list[str]) -> dict[str, PrintfulProduct]:
        resolved = {sku: self._product_or_none(sku) for sku in skus}
        unknown = sorted(sku for sku, product in resolved.items() if product is None)
        if unknown:
            raise PermanentSupplierError(f"no Printful catalog variant for SKU(s) {', '.join(unknown)}")
        return {sku: product for sku, product in resolved.items() if product is not None}

    def _product_or_none(self, sku: str) -> PrintfulProduct | None:
        if sku in self.products:
            return self.products[sku]
        return PrintfulProduct(int(sku)) if sku.isascii() and sku.isdigit() else None

    def _paged(self, path: str, params: Mapping[str, Any], parse_page: Callable[[Any], tuple[list[dict[str, Any]], int]],
               key: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
        """Every item of a paged list, once per `key`: at most MAX_PAGES pages, stopping at an empty or repeated page."""
        seen: dict[Any, dict[str, Any]] = {}
        without_id: list[dict[str, Any]] = []  # kept apart, never merged: reading them says whether they are usable
        offset = 0
        for _ in range(MAX_PAGES):
            payload = self._client.call("GET", path, params={**params, "limit": PAGE_SIZE, "offset": offset})
            page, total = self._parse(parse_page, payload, f"GET {path}")
            fresh = [item for item in page if key(item) is None or key(item) not in seen]
            for item in fresh:
                if key(item) is None:
                    without_id.append(item)
                else:
                    seen[key(item)] = item
            offset += len(page)
            if not fresh or offset >= total:
                break  # the end, or a page of items seen already (a server repeating itself)
        else:
            log.warning("printful: %s stopped at the page cap (%d pages)", path, MAX_PAGES)
        return [*seen.values(), *without_id]

    @staticmethod
    def _parse(parser: Callable[[Any], T], payload: Any, what: str, *, changes_state: bool = False) -> T:
        try:
            return parser(payload)
        except (MalformedResponse, KeyError, TypeError, ValueError, AttributeError):
            raise _unreadable("Printful", what, changes_state) from None
