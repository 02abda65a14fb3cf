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

Not offered without a create_return endpoint: return authorizations (PermanentSupplierError).

Tokens that expire (settings.token): the adapter says when its `access_token` credential
expires (`expires_at`; a missing token counts as expired) and fetches a new one with the
refresh token, or the first grant when there is none or it was refused. The app stores the
answer and rebuilds the adapter (shopify_app/suppliers/credentials.py).

Stock given per warehouse is summed over the rows of warehouses that ship to the supplier's
countries (settings.stock_warehouses), never "the last row wins".
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from typing import Any, Callable, Mapping, TypeVar

import httpx

from ..base import (
    Amendment,
    AmendmentRefused,
    CancellationRefused,
    CredentialsRejected,
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
    summed_stock,
    supplier_order,
    update_order_body,
    warehouse_counts,
)
from .paths import get_path
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
        if settings.cancellable_when is not None:
            self.can_cancel_when = settings.cancellable_when
        self._webhook_secret = credentials.get("webhook_secret") if isinstance(credentials, Mapping) else None
        self._client = RestClient(settings, credentials, transport=transport, policy=policy)
        self._clock: Callable[[], float] = time.time

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
        except SupplierOrderNotFound as missing:
            # "Not found" to a create names what the order refers to (a variant, a path): never retried.
            raise PermanentSupplierError(str(missing)) from None
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
        placed = self._parse(lambda p: supplier_order(order_object(p, self.settings), self.settings), payload, "create_order", changes_state=True)
        # Some answers to a create name our reference differently from later reads (CJ: orderNumber, then orderNum).
        return placed if placed.external_id is not None else dataclasses.replace(placed, external_id=order.external_id)

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
            if rejection.kind == "too_late" or (rejection.kind is None and rejection.status in self.settings.cancel_refused_statuses):
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
            if rejection.kind == "too_late" or (rejection.kind is None and rejection.status in self.settings.update_refused_statuses):
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
        return self._parse(lambda p: [shipment(s, self.settings) for s in shipment_list(p, self.settings) if self._has_left(s)], payload, endpoint.name)

    def _has_left(self, data: Any) -> bool:
        # A supplier that lists parcels before they leave (ShipBob: "Processing") names the statuses that have.
        path, statuses = self.settings.response.get("shipment.status"), self.settings.shipped_statuses
        return not (path and statuses) or str(get_path(data, path)) in statuses

    # -- stock -----------------------------------------------------------------------------

    def get_stock(self, supplier_skus: list[str]) -> list[StockLevel]:
        """Stock per SKU (unknown SKUs left out); [] when the settings have no stock endpoint."""
        endpoint = self.settings.endpoints.get("get_stock")
        skus = list(dict.fromkeys(supplier_skus))
        if endpoint is None or not skus:
            return []
        rows: dict[str, list[StockLevel]] = {}

        def keep(payload: Any) -> None:
            entries = self._parse(lambda p: stock_entries(p, self.settings), payload, "get_stock")
            for entry in entries:
                level = self._parse(lambda e: stock_level(e, self.settings), entry, "get_stock")
                if warehouse_counts(entry, self.settings):
                    rows.setdefault(level.supplier_sku, []).append(level)
                else:
                    rows.setdefault(level.supplier_sku, [])  # known, but nowhere that ships here

        if "skus" in endpoint.placeholders():
            for start in range(0, len(skus), STOCK_BATCH):
                keep(self._client.call(endpoint, {"skus": ",".join(skus[start:start + STOCK_BATCH])}))
        else:
            for sku in skus:
                try:
                    payload = self._client.call(endpoint, {"sku": sku})
                except SupplierOrderNotFound:  # the supplier does not know this SKU
                    continue
                keep(payload)
        found = {sku: summed_stock(levels) if levels else StockLevel(sku, in_stock=False, available=0) for sku, levels in rows.items()}
        return [found[sku] for sku in skus if sku in found]

    # -- credentials -------------------------------------------------------------------------

    def credentials_expire_at(self, credentials: Mapping[str, Any]) -> float | None:
        """With a token endpoint: when `access_token` expires (0 when there is none yet); else never."""
        if self.settings.token is None:
            return None
        if not credentials.get("access_token"):
            return 0.0
        return super().credentials_expire_at(credentials) or 0.0

    def refresh_credentials(self, credentials: Mapping[str, Any]) -> dict[str, Any] | None:
        """A new access token: by the refresh token when there is one (falling back to the first grant), else the first grant."""
        token = self.settings.token
        if token is None:
            return None
        answer = None
        if token.refresh_endpoint is not None and credentials.get("refresh_token"):
            try:
                answer = self._client.request_token(token, credentials, refresh=True)
            except (CredentialsRejected, RestRejected, SupplierOrderNotFound):
                log.info("rest supplier: the refresh token was refused; asking for a new grant")
        if answer is None:
            try:
                answer = self._client.request_token(token, credentials, refresh=False)
            except (RestRejected, SupplierOrderNotFound) as exc:
                raise CredentialsRejected(f"the supplier's token endpoint refused our credentials ({exc})") from None
        access = get_path(answer, token.access_token)
        if not isinstance(access, str) or not access:
            raise TransientSupplierError("the supplier's token answer has no access token where settings.token.access_token points")
        fresh = {key: value for key, value in credentials.items() if key not in ("access_token", "expires_at")}
        fresh["access_token"] = access
        refresh = get_path(answer, token.refresh_token) if token.refresh_token else None
        if isinstance(refresh, str) and refresh:
            fresh["refresh_token"] = refresh
        fresh["expires_at"] = self._expiry(answer, token)
        return fresh

    def _expiry(self, answer: Any, token: Any) -> float:
        now = self._clock()
        if token.expires_in:
            seconds = get_path(answer, token.expires_in)
            if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
                return now + float(seconds)
        if token.expires_at:
            value = get_path(answer, token.expires_at)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value) / 1000 if value > 10**11 else float(value)  # epoch milliseconds or seconds
            if isinstance(value, str):
                try:
                    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).timestamp()
                except ValueError:
                    pass
        return now + token.lifetime_seconds

    def check_connection(self) -> str:
        """Look an order up by a reference that cannot exist: "not found" means the address and credentials work.

        With a path-per-order find endpoint a 404 is the expected answer; with a list endpoint
        a 404 means the path itself is wrong, which is reported.
        """
        endpoint = self._endpoint("find_order")
        probe = "connection-test-0000000000"
        try:
            self._client.call(endpoint, {"external_id": probe})
        except SupplierOrderNotFound:
            if endpoint.returns == "list" and "external_id" not in set(_path_placeholders(endpoint.path)):
                raise PermanentSupplierError("the supplier answered 404 to the find_order path: check base_url and endpoints.find_order") from None
        return f"{endpoint.method} {endpoint.path} answered"

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
        if rejection.kind == "duplicate" or (rejection.kind is None and rejection.status in self.settings.duplicate_statuses):
            return True
        detail = rejection.detail.lower()
        return any(fragment in detail for fragment in self.settings.duplicate_message_contains)

    @staticmethod
    def _parse(parser: Callable[[Any], T], payload: Any, what: str, *, changes_state: bool = False) -> T:
        try:
            return parser(payload)
        except (MalformedResponse, KeyError, TypeError, ValueError, AttributeError, ArithmeticError):  # ArithmeticError: int() of 1e400 (inf)
            raise _unreadable("the supplier", what, changes_state) from None


def _path_placeholders(path: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(path) if name]
