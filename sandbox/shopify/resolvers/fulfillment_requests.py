"""Fulfillment and cancellation requests between merchant and fulfillment service, and holds."""
from __future__ import annotations

from typing import Any, Callable

from ..executor import access_denied
from ..fulfillment_state import service_of
from ..ids import check_gid
from ..registry import resolver
from ..user_errors import ShopifyUserError
from .common import mutation_payload
from .fulfillment import WRITE_FULFILLMENT_ORDERS

WRITE_ASSIGNED = ("write_assigned_fulfillment_orders",)
HOLD_SCOPES = ("write_merchant_managed_fulfillment_orders", "write_third_party_fulfillment_orders")


def _require_scope_for_fulfillment_order(info, gid: str, field: str, accepted: tuple[str, ...]) -> None:
    """Shopify checks the scope of the fulfillment order's type: merchant-managed, third-party, or assigned to the caller."""
    ctx = info.context
    with ctx.store.lock:
        fo = ctx.shop.get(gid)
        if fo is None or fo.get("__typename") != "FulfillmentOrder":
            return  # the mutation answers "does not exist" itself
        service = service_of(ctx.shop, fo)
    if service is None:
        needed = "write_merchant_managed_fulfillment_orders"
    elif service["_clientId"] == ctx.client_id:
        needed = "write_assigned_fulfillment_orders"  # the caller's own service: not a scope holds accept
    else:
        needed = "write_third_party_fulfillment_orders"
    if needed not in accepted or not ctx.has_any_scope((needed,)):
        raise access_denied(field, accepted)


def _fulfillment_order_payload(typename: str, action: Callable[[], dict]) -> dict:
    try:
        fo = action()
    except ShopifyUserError as error:
        return mutation_payload(typename, error, fulfillmentOrder=None)
    return mutation_payload(typename, fulfillmentOrder=fo)


@resolver("Mutation", "fulfillmentOrderSubmitFulfillmentRequest", scopes=WRITE_FULFILLMENT_ORDERS)
def submit_fulfillment_request(root: Any, info, id: str, message: str | None = None, notifyCustomer: bool | None = None, fulfillmentOrderLineItems: list[dict] | None = None) -> dict:
    """Send the whole fulfillment order to its fulfillment service."""
    ctx = info.context
    typename = "FulfillmentOrderSubmitFulfillmentRequestPayload"
    try:
        if fulfillmentOrderLineItems:
            fo = ctx.shop.get(check_gid(id)) or {}
            remaining = {line["id"]: line["remainingQuantity"] for line in ctx.shop.deref(fo.get("lineItems") or [])}
            if {item["id"]: item["quantity"] for item in fulfillmentOrderLineItems} != remaining:
                # Shopify would split off the rest; the sandbox only submits whole fulfillment orders.
                raise ShopifyUserError(["fulfillmentOrderLineItems"], "The sandbox only submits whole fulfillment orders (omit fulfillmentOrderLineItems).")
        fo = ctx.store.submit_fulfillment_request(ctx.shop, check_gid(id), message=message, notify_customer=bool(notifyCustomer))
    except ShopifyUserError as error:
        return mutation_payload(typename, error, originalFulfillmentOrder=None, submittedFulfillmentOrder=None, unsubmittedFulfillmentOrder=None)
    return mutation_payload(typename, originalFulfillmentOrder=fo, submittedFulfillmentOrder=fo, unsubmittedFulfillmentOrder=None)


@resolver("Mutation", "fulfillmentOrderAcceptFulfillmentRequest", scopes=WRITE_ASSIGNED)
def accept_fulfillment_request(root: Any, info, id: str, message: str | None = None, estimatedShippedAt: str | None = None) -> dict:
    """The calling fulfillment service accepts a submitted request."""
    ctx = info.context
    return _fulfillment_order_payload("FulfillmentOrderAcceptFulfillmentRequestPayload", lambda: ctx.store.accept_fulfillment_request(ctx.shop, check_gid(id), client_id=ctx.client_id, message=message))


@resolver("Mutation", "fulfillmentOrderRejectFulfillmentRequest", scopes=WRITE_ASSIGNED)
def reject_fulfillment_request(root: Any, info, id: str, reason: str | None = None, message: str | None = None, lineItems: list[dict] | None = None) -> dict:
    """The calling fulfillment service declines a submitted request."""
    ctx = info.context
    return _fulfillment_order_payload(
        "FulfillmentOrderRejectFulfillmentRequestPayload",
        lambda: ctx.store.reject_fulfillment_request(ctx.shop, check_gid(id), client_id=ctx.client_id, reason=reason, message=message, line_items=lineItems or ()),
    )


@resolver("Mutation", "fulfillmentOrderSubmitCancellationRequest", scopes=WRITE_FULFILLMENT_ORDERS)
def submit_cancellation_request(root: Any, info, id: str, message: str | None = None) -> dict:
    """Ask the fulfillment service to cancel work it accepted."""
    ctx = info.context
    return _fulfillment_order_payload("FulfillmentOrderSubmitCancellationRequestPayload", lambda: ctx.store.submit_cancellation_request(ctx.shop, check_gid(id), message=message))


@resolver("Mutation", "fulfillmentOrderAcceptCancellationRequest", scopes=WRITE_ASSIGNED)
def accept_cancellation_request(root: Any, info, id: str, message: str | None = None) -> dict:
    """The calling fulfillment service agrees to stop."""
    ctx = info.context
    return _fulfillment_order_payload("FulfillmentOrderAcceptCancellationRequestPayload", lambda: ctx.store.accept_cancellation_request(ctx.shop, check_gid(id), client_id=ctx.client_id, message=message))


@resolver("Mutation", "fulfillmentOrderRejectCancellationRequest", scopes=WRITE_ASSIGNED)
def reject_cancellation_request(root: Any, info, id: str, message: str | None = None) -> dict:
    """The calling fulfillment service goes on with the fulfillment order."""
    ctx = info.context
    return _fulfillment_order_payload("FulfillmentOrderRejectCancellationRequestPayload", lambda: ctx.store.reject_cancellation_request(ctx.shop, check_gid(id), client_id=ctx.client_id, message=message))


@resolver("Mutation", "fulfillmentOrderHold", scopes=WRITE_FULFILLMENT_ORDERS)
def fulfillment_order_hold(root: Any, info, id: str, fulfillmentHold: dict) -> dict:
    """Put a whole fulfillment order on hold."""
    ctx = info.context
    typename, error_type = "FulfillmentOrderHoldPayload", "FulfillmentOrderHoldUserError"
    _require_scope_for_fulfillment_order(info, check_gid(id), "fulfillmentOrderHold", HOLD_SCOPES)
    try:
        if fulfillmentHold.get("fulfillmentOrderLineItems"):
            raise ShopifyUserError(["fulfillmentHold", "fulfillmentOrderLineItems"], "The sandbox only holds whole fulfillment orders (omit fulfillmentOrderLineItems).", "FULFILLMENT_ORDER_NOT_SPLITTABLE")
        fo, hold = ctx.store.hold_fulfillment_order(ctx.shop, check_gid(id), reason=fulfillmentHold["reason"], reason_notes=fulfillmentHold.get("reasonNotes"), handle=fulfillmentHold.get("handle"), client_id=ctx.client_id)
    except ShopifyUserError as error:
        return mutation_payload(typename, error, error_type=error_type, fulfillmentHold=None, fulfillmentOrder=None, remainingFulfillmentOrder=None)
    return mutation_payload(typename, error_type=error_type, fulfillmentHold=hold, fulfillmentOrder=fo, remainingFulfillmentOrder=None)


@resolver("Mutation", "fulfillmentOrderReleaseHold", scopes=WRITE_FULFILLMENT_ORDERS)
def fulfillment_order_release_hold(root: Any, info, id: str, holdIds: list[str] | None = None, externalId: str | None = None) -> dict:
    """Lift holds from a fulfillment order."""
    ctx = info.context
    typename, error_type = "FulfillmentOrderReleaseHoldPayload", "FulfillmentOrderReleaseHoldUserError"
    try:
        fo = ctx.store.release_fulfillment_hold(ctx.shop, check_gid(id), hold_ids=holdIds)
    except ShopifyUserError as error:
        return mutation_payload(typename, error, error_type=error_type, fulfillmentOrder=None)
    return mutation_payload(typename, error_type=error_type, fulfillmentOrder=fo)
