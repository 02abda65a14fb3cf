"""The Printful adapter: our supplier interface over Printful's API v2.

Idempotent placement: the order is created with `external_id` = our idempotency key, then
confirmed. Printful keeps external_id unique per store, so a second create with the same
key is refused (409, or a 400 naming the external ID); we then read `@{external_id}` and
carry on with that order, confirming it if it is still a draft. So after OutcomeUnknown,
`find_order` tells whether the order exists, and calling `place_order` again is always
safe: it never makes a second order. `find_order` may return PENDING for an order whose
create landed but whose confirmation did not; `place_order` again confirms it.

Order changes: Printful's life cycle says an order "can be freely edited" as a draft and
"can no longer be canceled or modified" once in process, so `amend_order` PATCHes the
order (its whole item list and, when changed, the recipient) and a 400/409 from Printful
is AmendmentRefused; the app then cancels and places again, or alerts.

Not offered by Printful v2 and therefore refused here: return authorizations (see
`create_return_authorization`).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, TypeVar
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
from .webhooks import decode_event, translate_event, verify_signature

T = TypeVar("T")
SHIPMENTS_PAGE = 100


def is_duplicate_external_id(rejection: PrintfulRejected) -> bool:
    """Whether a refused create means "that external_id is taken"."""
    if rejection.status == 409:
        return True
    detail = rejection.detail.lower()
    return rejection.status == 400 and "external" in detail and any(word in detail for word in ("exist", "already", "used", "unique"))


class PrintfulAdapter(SupplierAdapter):
    """Printful v2 behind the SupplierAdapter interface."""

    kind = "printful"
    can_update_address = True  # PATCH /v2/orders/{id} recipient, before production
    can_update_lines = True  # PATCH /v2/orders/{id} order_items, before production
    # "inprocess" reads as ACKNOWLEDGED too: Printful's 409 on DELETE/PATCH is the last word.
    can_cancel_when = frozenset({SupplierOrderStatus.PENDING, SupplierOrderStatus.ACKNOWLEDGED, SupplierOrderStatus.ON_HOLD, SupplierOrderStatus.FAILED})

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
    ):
        """`products` maps supplier SKU -> catalog variant (id or PrintfulProduct with print files).

        A SKU that is all digits and not in `products` is taken as a catalog variant id.
        """
        self.products: dict[str, PrintfulProduct] = {
            sku: product if isinstance(product, PrintfulProduct) else PrintfulProduct(int(product))
            for sku, product in (products or {}).items()
        }
        self.webhook_secret_key = webhook_secret_key
        self.webhook_public_key = webhook_public_key
        self.selling_region = selling_region
        self._client = PrintfulClient(token, base_url=base_url, store_id=store_id, timeout=timeout, transport=transport, policy=policy)

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
        """DELETE /v2/orders/{id}; Printful refuses once production has started (CancellationRefused)."""
        path = self._order_path(supplier_order_id)
        try:
            self._client.call("DELETE", path, changes_state=True)
        except PrintfulRejected as rejection:
            if rejection.status in (400, 409):
                raise CancellationRefused(f"Printful will not cancel order {supplier_order_id} (HTTP {rejection.status})") from None
            raise
        try:
            data = self._order_data(supplier_order_id)
        except SupplierOrderNotFound:
            # v2 DELETE may remove a draft outright: gone is cancelled, as far as we are concerned.
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
        """Every shipment that has left, across all pages of GET /v2/orders/{id}/shipments."""
        path = f"{self._order_path(supplier_order_id)}/shipments"
        collected: list[dict[str, Any]] = []
        offset = 0
        while True:
            payload = self._client.call("GET", path, params={"limit": SHIPMENTS_PAGE, "offset": offset})
            page, total = self._parse(mapping.shipments_page, payload, f"GET {path}")
            collected.extend(page)
            offset += len(page)
            if not page or offset >= total:
                break
        return [self._parse(mapping.shipment, data, f"GET {path}") for data in collected if mapping.has_left(data)]

    # -- stock -----------------------------------------------------------------------------

    def get_stock(self, supplier_skus: list[str]) -> list[StockLevel]:
        """In/out of stock per SKU from catalog-variant availability (Printful gives no counts)."""
        levels = []
        for sku in dict.fromkeys(supplier_skus):
            product = self._product_or_none(sku)
            if product is None:
                continue
            path = f"/v2/catalog-variants/{product.catalog_variant_id}/availability"
            try:
                payload = self._client.call("GET", path, params={"selling_region_name": self.selling_region})
            except SupplierOrderNotFound:  # Printful does not know the variant: an unknown SKU
                continue
            in_stock = self._parse(lambda body: mapping.variant_in_stock(body, self.selling_region), payload, f"GET {path}")
            levels.append(StockLevel(supplier_sku=sku, in_stock=in_stock, available=None))
        return levels

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

    @staticmethod
    def _parse(parser: Callable[[Any], T], payload: Any, what: str, *, changes_state: bool = False) -> T:
        try:
            return parser(payload)
        except (MalformedResponse, KeyError, TypeError, ValueError, AttributeError):
            raise _unreadable("Printful", what, changes_state) from None
