"""The generic REST adapter: our supplier interface over any simple JSON API described in settings.

Idempotent placement relies on the supplier keeping our external_id (the request field
mapped from `external_id`) unique, or at least findable: a create refused as a duplicate
(a status in `duplicate_statuses`, default 409, or a 4xx whose message contains one of
`duplicate_message_contains`) is answered by looking the order up with `find_order`. After
OutcomeUnknown, `find_order` tells whether the order exists, so `place_order` again never
makes a second order at a supplier that refuses duplicates. A supplier that accepts the
same reference twice cannot be made safe by any client: check that before onboarding it.

Lines are checked before anything is sent (at least one, whole quantities of at least 1,
a SKU on each): a supplier that silently accepts a zero quantity should not decide that.

Order changes: with an `update_order` endpoint the adapter sends the create body's address
and/or lines (what `update_accepts` names) as they should be now; a status in
`update_refused_statuses` is AmendmentRefused (too late), and the app cancels and places
again or alerts. Without the endpoint, every change is a cancel and place again.

Not offered: return authorizations (no generic shape exists; PermanentSupplierError).
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, TypeVar

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
    TransientSupplierError,
)
from ..http import unreadable as _unreadable
from .client import RestClient, RestRejected
from .config import Endpoint, RestSettings
from .mapping import (
    MalformedResponse,
    create_order_body,
    order_list,
    order_object,
    return_authorization,
    shipment,
    shipment_list,
    stock_entries,
    stock_level,
    supplier_order,
    update_order_body,
)
from .webhooks import decode_event, translate_event, verify_signature

log = logging.getLogger(__name__)

T = TypeVar("T")
STOCK_BATCH = 50  # SKUs per call for batch stock endpoints, to keep query strings short


def check_order(order: PlaceOrder) -> None:
    """PermanentSupplierError for an order no supplier should be sent."""
    if not order.external_id:
        raise PermanentSupplierError("the order has no external_id (our idempotency key)")
    if not order.lines:
        raise PermanentSupplierError("the order has no lines")
    for line in order.lines:
        if not line.supplier_sku:
            raise PermanentSupplierError(f"line {line.line_ref} has no supplier SKU")
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or line.quantity < 1:
            raise PermanentSupplierError(f"line {line.line_ref} has quantity {line.quantity!r}; it must be a whole number of at least 1")


class RestAdapter(SupplierAdapter):
    """A configured REST/JSON supplier behind the SupplierAdapter interface."""

    kind = "rest"

    def __init__(self, settings: RestSettings, credentials: Mapping[str, Any], *, transport: httpx.BaseTransport | None = None, policy: Any = None):
        """`settings` from config.parse_settings; `credentials` fill the auth template and hold `webhook_secret`; `policy`: egress (default: the process's)."""
        self.settings = settings
        self.can_update_address = "address" in settings.update_accepts
        self.can_update_lines = "lines" in settings.update_accepts
        self._webhook_secret = credentials.get("webhook_secret") if isinstance(credentials, Mapping) else None
        self._client = RestClient(settings, credentials, transport=transport, policy=policy)

    def close(self) -> None:
        """Release HTTP connections."""
        self._client.close()

    def __enter__(self) -> "RestAdapter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- orders ----------------------------------------------------------------------------

    def place_order(self, order: PlaceOrder) -> SupplierOrder:
        """Create with our external_id; a duplicate external_id continues with the existing order."""
        check_order(order)
        body = create_order_body(order, self.settings)
        try:
            payload = self._client.call(self._endpoint("create_order"), {"external_id": order.external_id}, json=body, changes_state=True)
        except RestRejected as rejection:
            if not self._is_duplicate(rejection):
                raise
            existing = self.find_order(order.external_id)
            if existing is None:
                raise TransientSupplierError(f"the supplier says external_id {order.external_id} is taken but cannot find it yet") from None
            return existing
        if payload is None:
            # Created without a body (201 + Location, say): our key finds it.
            found = self.find_order(order.external_id)
            if found is None:
                raise _unreadable("the supplier", "create_order", changes_state=True)
            return found
        return self._parse(lambda p: supplier_order(order_object(p, self.settings), self.settings), payload, "create_order", changes_state=True)

    def find_order(self, external_id: str) -> SupplierOrder | None:
        """Look the order up by our key, by path or by query; None when the supplier has none."""
        endpoint = self._endpoint("find_order")
        try:
            payload = self._client.call(endpoint, {"external_id": external_id})
        except SupplierOrderNotFound:
            return None
        if payload is None:
            return None
        if endpoint.returns == "order":
            found = self._parse(lambda p: supplier_order(order_object(p, self.settings), self.settings), payload, "find_order")
            if found.external_id is not None and found.external_id != external_id:
                raise TransientSupplierError("find_order answered with an order for another external_id")
            return found
        candidates = self._parse(lambda p: [supplier_order(o, self.settings) for o in order_list(p, self.settings)], payload, "find_order")
        matching = [candidate for candidate in candidates if candidate.external_id == external_id]
        if len(matching) > 1:
            log.warning("rest supplier: %d orders share one external_id; using the first", len(matching))
        return matching[0] if matching else None

    def get_order(self, supplier_order_id: str) -> SupplierOrder:
        """The supplier's current view of the order (SupplierOrderNotFound on 404)."""
        payload = self._client.call(self._endpoint("get_order"), {"supplier_order_id": supplier_order_id})
        return self._parse(lambda p: supplier_order(order_object(p, self.settings), self.settings), payload, "get_order")

    def cancel_order(self, supplier_order_id: str) -> SupplierOrder:
        """Call the cancel endpoint; a status in `cancel_refused_statuses` is CancellationRefused."""
        endpoint = self.settings.endpoints.get("cancel_order")
        if endpoint is None:
            raise PermanentSupplierError("this supplier's settings have no cancel_order endpoint: cancel with the supplier directly")
        try:
            payload = self._client.call(endpoint, {"supplier_order_id": supplier_order_id}, changes_state=True)
        except RestRejected as rejection:
            if rejection.status in self.settings.cancel_refused_statuses:
                raise CancellationRefused(f"the supplier will not cancel order {supplier_order_id} (HTTP {rejection.status})") from None
            raise
        try:
            return supplier_order(order_object(payload, self.settings), self.settings)
        except MalformedResponse:
            return self.get_order(supplier_order_id)  # the answer carries no order: ask for it

    def amend_order(self, supplier_order_id: str, amendment: Amendment) -> SupplierOrder:
        """Call update_order with the lines and/or address as they should be; AmendmentRefused when too late or not configured."""
        endpoint = self.settings.endpoints.get("update_order")
        if endpoint is None:
            raise AmendmentRefused("this supplier's settings have no update_order endpoint")
        if amendment.shipping_address is not None and not self.can_update_address:
            raise AmendmentRefused("this supplier's update_order does not take an address (settings.update_accepts)")
        try:
            payload = self._client.call(endpoint, {"supplier_order_id": supplier_order_id}, json=update_order_body(amendment, self.settings), changes_state=True)
        except RestRejected as rejection:
            if rejection.status in self.settings.update_refused_statuses:
                raise AmendmentRefused(f"the supplier will not change order {supplier_order_id} (HTTP {rejection.status})") from None
            raise
        try:
            return supplier_order(order_object(payload, self.settings), self.settings)
        except MalformedResponse:
            return self.get_order(supplier_order_id)

    def get_shipments(self, supplier_order_id: str) -> list[Shipment]:
        """Shipments from the shipments endpoint, or from the order when there is none."""
        endpoint = self.settings.endpoints.get("get_shipments") or self._endpoint("get_order")
        payload = self._client.call(endpoint, {"supplier_order_id": supplier_order_id})
        if "shipments" not in self.settings.response and endpoint.name == "get_order":
            return []  # this supplier reports shipments only by webhook
        return self._parse(lambda p: [shipment(s, self.settings) for s in shipment_list(p, self.settings)], payload, endpoint.name)

    # -- stock -----------------------------------------------------------------------------

    def get_stock(self, supplier_skus: list[str]) -> list[StockLevel]:
        """Stock per SKU (unknown SKUs left out); [] when the settings have no stock endpoint."""
        endpoint = self.settings.endpoints.get("get_stock")
        skus = list(dict.fromkeys(supplier_skus))
        if endpoint is None or not skus:
            return []
        found: dict[str, StockLevel] = {}
        if "skus" in endpoint.placeholders():
            for start in range(0, len(skus), STOCK_BATCH):
                payload = self._client.call(endpoint, {"skus": ",".join(skus[start:start + STOCK_BATCH])})
                for level in self._parse(lambda p: [stock_level(e, self.settings) for e in stock_entries(p, self.settings)], payload, "get_stock"):
                    found[level.supplier_sku] = level
        else:
            for sku in skus:
                try:
                    payload = self._client.call(endpoint, {"sku": sku})
                except SupplierOrderNotFound:  # the supplier does not know this SKU
                    continue
                for level in self._parse(lambda p: [stock_level(e, self.settings) for e in stock_entries(p, self.settings)], payload, "get_stock"):
                    found[level.supplier_sku] = level
        return [found[sku] for sku in skus if sku in found]

    # -- returns ---------------------------------------------------------------------------

    def create_return_authorization(self, supplier_order_id: str, lines: list[ReturnLine]) -> ReturnAuthorization:
        """POST {"items": [{"sku", "qty", "line_ref", "reason"}]} to `create_return`.

        The supplier saying no (a 4xx other than 404, or a status of "refused") is a
        ReturnAuthorization with status "refused" and its reason in `note`; no such order
        is SupplierOrderNotFound; no endpoint configured is a PermanentSupplierError.
        """
        endpoint = self.settings.endpoints.get("create_return")
        if endpoint is None:
            raise PermanentSupplierError("this supplier's settings have no create_return endpoint: arrange this return with the supplier directly")
        body = {"items": [{"sku": line.supplier_sku, "qty": line.quantity, "line_ref": line.line_ref, "reason": line.reason} for line in lines]}
        try:
            payload = self._client.call(endpoint, {"supplier_order_id": supplier_order_id}, json=body, changes_state=True)
        except RestRejected as rejection:
            if rejection.status == 404:
                raise
            return ReturnAuthorization(rma_number="", status="refused", note=f"the supplier refused the return (HTTP {rejection.status})")
        return self._parse(lambda p: return_authorization(p, self.settings), payload, "create_return", changes_state=True)

    # -- webhooks --------------------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[SupplierEvent]:
        """Verify the HMAC signature over the raw body, then translate by settings.webhook.events."""
        webhook = self.settings.webhook
        if webhook is None:
            raise NotImplementedError("this REST supplier has no webhook settings")
        verify_signature(headers, body, self._webhook_secret, webhook)
        event, event_type = decode_event(body, webhook)
        return translate_event(event, event_type, self.settings)

    # -- internals -------------------------------------------------------------------------

    def _endpoint(self, name: str) -> Endpoint:
        return self.settings.endpoints[name]

    def _is_duplicate(self, rejection: RestRejected) -> bool:
        if rejection.status in self.settings.duplicate_statuses:
            return True
        detail = rejection.detail.lower()
        return any(fragment in detail for fragment in self.settings.duplicate_message_contains)

    @staticmethod
    def _parse(parser: Callable[[Any], T], payload: Any, what: str, *, changes_state: bool = False) -> T:
        try:
            return parser(payload)
        except (MalformedResponse, KeyError, TypeError, ValueError, AttributeError):
            raise _unreadable("the supplier", what, changes_state) from None
