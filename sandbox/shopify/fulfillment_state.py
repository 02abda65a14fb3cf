"""Derived fulfillment facts: who owns a location, what a fulfillment order allows, an order's display status.

Pure functions over stored records (no locking, no writes beyond what they name), shared
by the store's fulfillment operations and the GraphQL resolvers.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from .user_errors import ShopifyUserError

if TYPE_CHECKING:
    from .store import ShopState

OPEN_STATUSES = ("OPEN", "IN_PROGRESS")
FINISHED_STATUSES = ("CLOSED", "CANCELLED")
# Request statuses under which a fulfillment service is working on the order.
ACCEPTED_REQUEST_STATUSES = ("ACCEPTED", "CANCELLATION_REJECTED")


def location_gid_of(fo: Mapping[str, Any]) -> str:
    """The GID of the location a fulfillment order is assigned to."""
    return fo["assignedLocation"]["location"].gid


def service_of_location(shop: ShopState, location_gid: str | None) -> dict[str, Any] | None:
    """The third-party FulfillmentService owning a location (None for merchant-managed ones)."""
    location = shop.get(location_gid) if location_gid else None
    return shop.deref(location.get("fulfillmentService")) if location else None


def service_of(shop: ShopState, fo: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fulfillment service a fulfillment order is assigned to, if any."""
    return service_of_location(shop, location_gid_of(fo))


def require_fulfillment_order(shop: ShopState, gid: str, field: list[str] | None = None) -> dict[str, Any]:
    """The stored fulfillment order, or the userError Shopify gives for an unknown id."""
    fo = shop.get(gid)
    if fo is None or fo["__typename"] != "FulfillmentOrder":
        raise ShopifyUserError(field or ["id"], "Fulfillment order does not exist.")
    return fo


def require_service_owner(shop: ShopState, fo: Mapping[str, Any], client_id: str | None) -> dict[str, Any]:
    """The fulfillment order's service when the caller owns it; Shopify's errors otherwise."""
    service = service_of(shop, fo)
    if service is None:
        raise ShopifyUserError(["id"], "The assigned fulfillment service for the fulfillment order must be of api type")
    if client_id is not None and service["_clientId"] != client_id:
        raise ShopifyUserError(["id"], "The fulfillment order is not assigned to the requesting fulfillment service")
    return service


def remaining_quantity(shop: ShopState, fo: Mapping[str, Any]) -> int:
    """Units still to fulfil on a fulfillment order."""
    return sum(line["remainingQuantity"] for line in shop.deref(fo["lineItems"]))


def is_partially_fulfilled(shop: ShopState, fo: Mapping[str, Any]) -> bool:
    """True once some of the fulfillment order's units have shipped."""
    return any(line["remainingQuantity"] < line["totalQuantity"] for line in shop.deref(fo["lineItems"]))


def work_status(shop: ShopState, fo: Mapping[str, Any]) -> str:
    """OPEN or IN_PROGRESS for a fulfillment order that is not finished or held.

    IN_PROGRESS once something shipped or a fulfillment service accepted the request.
    """
    if remaining_quantity(shop, fo) == 0:
        return "CLOSED"
    if is_partially_fulfilled(shop, fo) or fo["requestStatus"] in ACCEPTED_REQUEST_STATUSES + ("CANCELLATION_REQUESTED",):
        return "IN_PROGRESS"
    return "OPEN"


def supported_actions(shop: ShopState, fo: Mapping[str, Any], client_id: str | None) -> list[str]:
    """FulfillmentOrder.supportedActions for the calling app (since 2024-10 only a location's owner may fulfil it)."""
    status, request = fo["status"], fo["requestStatus"]
    if status == "ON_HOLD":
        return ["RELEASE_HOLD"]
    if status in FINISHED_STATUSES:
        return []
    service = service_of(shop, fo)
    if service is None:
        actions = ["CREATE_FULFILLMENT", "HOLD"]
        if status == "OPEN":
            actions += ["MOVE"]
        return actions
    owner = client_id is not None and service["_clientId"] == client_id
    if request in ("UNSUBMITTED", "REJECTED"):
        return ["REQUEST_FULFILLMENT", "HOLD", "MOVE"]
    if request == "SUBMITTED":
        return ["CANCEL_FULFILLMENT_ORDER"]
    if request in ACCEPTED_REQUEST_STATUSES:
        return (["CREATE_FULFILLMENT"] if owner else []) + ["REQUEST_CANCELLATION"]
    if request == "CANCELLATION_REQUESTED":
        return ["CREATE_FULFILLMENT"] if owner else []
    return []


def display_fulfillment_status(shop: ShopState, order: Mapping[str, Any]) -> str:
    """Order.displayFulfillmentStatus from its lines and fulfillment orders."""
    lines = shop.deref(order["lineItems"])
    ordered = sum(line["quantity"] for line in lines)
    fulfilled = sum(line.get("_fulfilledQuantity", 0) for line in lines)
    if ordered and fulfilled >= ordered:
        return "FULFILLED"
    if fulfilled > 0:
        return "PARTIALLY_FULFILLED"
    fos = [fo for fo in shop.deref(order.get("fulfillmentOrders") or []) if fo["status"] not in FINISHED_STATUSES]
    if any(fo["status"] == "ON_HOLD" for fo in fos):
        return "ON_HOLD"
    if any(fo["requestStatus"] == "SUBMITTED" for fo in fos):
        return "PENDING_FULFILLMENT"
    if any(fo["requestStatus"] == "REJECTED" for fo in fos):
        return "REQUEST_DECLINED"
    if any(fo["status"] == "IN_PROGRESS" for fo in fos):
        return "IN_PROGRESS"
    return "UNFULFILLED"
