"""Fulfillments and the fulfillment orders they ship: mutations, listings and derived fields."""
from __future__ import annotations

from typing import Any

from ..connections import Listing
from ..fulfillment_state import FINISHED_STATUSES, location_gid_of, supported_actions
from ..ids import check_gid
from ..registry import resolver
from ..search import filter_records, sort_key_function
from ..user_errors import ShopifyUserError
from .common import mutation_payload
from .orders import READ_FULFILLMENT_ORDERS

# Any one of them lets an app fulfil (which fulfillment orders it may touch is checked per order).
WRITE_FULFILLMENT_ORDERS = (
    "write_assigned_fulfillment_orders",
    "write_merchant_managed_fulfillment_orders",
    "write_third_party_fulfillment_orders",
)
# assignedFulfillmentOrders(assignmentStatus:) -> the request statuses it selects.
ASSIGNMENT_STATUSES = {
    "FULFILLMENT_REQUESTED": ("SUBMITTED",),
    "FULFILLMENT_ACCEPTED": ("ACCEPTED", "CANCELLATION_REJECTED"),
    "CANCELLATION_REQUESTED": ("CANCELLATION_REQUESTED",),
    "FULFILLMENT_UNSUBMITTED": ("UNSUBMITTED",),
}


@resolver("Mutation", "fulfillmentCreate", scopes=WRITE_FULFILLMENT_ORDERS)
def fulfillment_create(root: Any, info, fulfillment: dict, message: str | None = None) -> dict:
    """Ship units of one order's fulfillment orders at one location, with optional tracking."""
    ctx = info.context
    try:
        created = ctx.store.create_fulfillment(
            ctx.shop,
            fulfillment["lineItemsByFulfillmentOrder"],
            tracking_info=fulfillment.get("trackingInfo"),
            notify_customer=bool(fulfillment.get("notifyCustomer")),
            client_id=ctx.client_id,
            message=message,
        )
    except ShopifyUserError as error:
        return mutation_payload("FulfillmentCreatePayload", error, fulfillment=None)
    return mutation_payload("FulfillmentCreatePayload", fulfillment=created)


@resolver("Mutation", "fulfillmentTrackingInfoUpdate", scopes=WRITE_FULFILLMENT_ORDERS)
def fulfillment_tracking_info_update(root: Any, info, fulfillmentId: str, trackingInfoInput: dict, notifyCustomer: bool | None = None) -> dict:
    """Replace a fulfillment's tracking information."""
    ctx = info.context
    try:
        updated = ctx.store.update_fulfillment_tracking(ctx.shop, check_gid(fulfillmentId), trackingInfoInput, notify_customer=bool(notifyCustomer), client_id=ctx.client_id)
    except ShopifyUserError as error:
        return mutation_payload("FulfillmentTrackingInfoUpdatePayload", error, fulfillment=None)
    return mutation_payload("FulfillmentTrackingInfoUpdatePayload", fulfillment=updated)


@resolver("Mutation", "fulfillmentCancel", scopes=WRITE_FULFILLMENT_ORDERS)
def fulfillment_cancel(root: Any, info, id: str) -> dict:
    """Cancel a fulfillment; its units can be fulfilled again."""
    ctx = info.context
    try:
        cancelled = ctx.store.cancel_fulfillment(ctx.shop, check_gid(id), client_id=ctx.client_id)
    except ShopifyUserError as error:
        return mutation_payload("FulfillmentCancelPayload", error, fulfillment=None)
    return mutation_payload("FulfillmentCancelPayload", fulfillment=cancelled)


@resolver("Query", "assignedFulfillmentOrders", scopes=("read_assigned_fulfillment_orders",))
def assigned_fulfillment_orders(root: Any, info, assignmentStatus: str | None = None, locationIds: list[str] | None = None, sortKey: str | None = None, **_: Any) -> Listing:
    """Unfinished fulfillment orders at the calling app's fulfillment service locations."""
    shop, client_id = info.context.shop, info.context.client_id
    own_locations = {s["location"].gid for s in shop.all("FulfillmentService") if s["_clientId"] == client_id}
    if locationIds is not None:
        own_locations &= {check_gid(gid) for gid in locationIds}
    wanted = ASSIGNMENT_STATUSES.get(assignmentStatus) if assignmentStatus else None
    fos = [
        fo for fo in shop.all("FulfillmentOrder")
        if location_gid_of(fo) in own_locations and fo["status"] not in FINISHED_STATUSES and (wanted is None or fo["requestStatus"] in wanted)
    ]
    key = sort_key_function(sortKey)
    return Listing(sorted(fos, key=key), key)


@resolver("Query", "fulfillmentOrders", scopes=READ_FULFILLMENT_ORDERS)
def fulfillment_orders(root: Any, info, includeClosed: bool = False, query: str | None = None, sortKey: str | None = None, **_: Any) -> Listing:
    """The shop's fulfillment orders (closed and cancelled ones only with includeClosed)."""
    fos = filter_records(info.context.shop.all("FulfillmentOrder"), query, "FulfillmentOrder")
    if not includeClosed:
        fos = [fo for fo in fos if fo["status"] not in FINISHED_STATUSES]
    key = sort_key_function(sortKey)
    return Listing(sorted(fos, key=key), key)


@resolver("FulfillmentOrder", "supportedActions")
def fulfillment_order_supported_actions(fo: dict, info) -> list[dict]:
    """What the calling app may do with the fulfillment order now."""
    return [
        {"__typename": "FulfillmentOrderSupportedAction", "action": action, "externalUrl": None}
        for action in supported_actions(info.context.shop, fo, info.context.client_id)
    ]


@resolver("FulfillmentOrder", "merchantRequests")
def fulfillment_order_merchant_requests(fo: dict, info, kind: str | None = None, **_: Any) -> list[dict]:
    """The merchant's fulfillment and cancellation requests, optionally of one kind."""
    requests = info.context.shop.deref(fo.get("merchantRequests") or [])
    return [r for r in requests if kind is None or r["kind"] == kind]


@resolver("Fulfillment", "trackingInfo")
def fulfillment_tracking_info(fulfillment: dict, info, first: int | None = None) -> list[dict]:
    """The fulfillment's tracking entries (the first `first`)."""
    entries = fulfillment.get("trackingInfo") or []
    return entries[:first] if first is not None else entries


@resolver("Order", "fulfillments")
def order_fulfillments(order: dict, info, first: int | None = None, query: str | None = None) -> list[dict]:
    """The order's fulfillments, oldest first (the first `first`)."""
    fulfillments = info.context.shop.deref(order.get("fulfillments") or [])
    return fulfillments[:first] if first is not None else fulfillments


@resolver("FulfillmentHold", "heldByRequestingApp")
def fulfillment_hold_held_by_requesting_app(hold: dict, info) -> bool:
    """True when the calling app placed the hold (the merchant's and other apps' holds are not)."""
    return hold.get("_clientId") is not None and hold.get("_clientId") == info.context.client_id
