"""Derived return facts: what is still returnable, what a return has been through, an order's return status.

Pure functions over stored records (no locking, no writes), shared by the returns, reverse
fulfillment and refund mixins and by the GraphQL resolvers.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .ids import gid_number, make_gid
from .records import Ref

if TYPE_CHECKING:
    from .store import ShopState

RETURN_REASONS = ("SIZE_TOO_SMALL", "SIZE_TOO_LARGE", "UNWANTED", "NOT_AS_DESCRIBED", "WRONG_ITEM", "DEFECTIVE", "STYLE", "COLOR", "OTHER", "UNKNOWN")
DECLINE_REASONS = ("RETURN_PERIOD_ENDED", "FINAL_SALE", "OTHER")
DISPOSITIONS = ("RESTOCKED", "PROCESSING_REQUIRED", "NOT_RESTOCKED", "MISSING")
# Returns whose units are spoken for: a declined or cancelled return frees its units again.
ACTIVE_RETURN_STATUSES = ("REQUESTED", "OPEN", "CLOSED")
DECLINE_NOTE_MAX = 500


def ref_gid(value: Any) -> str:
    """The GID a Ref or a stored record stands for."""
    return value.gid if isinstance(value, Ref) else value["id"]


def returns_of(shop: ShopState, order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The order's returns, oldest first."""
    return shop.deref(order.get("_returns") or [])


def return_lines(shop: ShopState, order: Mapping[str, Any], statuses: Iterable[str] = ACTIVE_RETURN_STATUSES) -> list[dict[str, Any]]:
    """Return line items of the order's returns in the given statuses."""
    wanted = tuple(statuses)
    return [rli for ret in returns_of(shop, order) if ret["status"] in wanted for rli in ret["returnLineItems"]]


def units_in_returns(shop: ShopState, order: Mapping[str, Any], *, fulfillment_line_gid: str | None = None, line_item_gid: str | None = None) -> int:
    """Units of one fulfillment line (or of one order line, over all its fulfillments) in active returns."""
    total = 0
    for rli in return_lines(shop, order):
        fli_gid = ref_gid(rli["fulfillmentLineItem"])
        if fulfillment_line_gid is not None and fli_gid != fulfillment_line_gid:
            continue
        if line_item_gid is not None and ref_gid(shop.get(fli_gid)["lineItem"]) != line_item_gid:
            continue
        total += rli["quantity"]
    return total


def returnable_quantity(shop: ShopState, order: Mapping[str, Any], fli: Mapping[str, Any]) -> int:
    """Units of a fulfillment line a new return may take: shipped, not in another return, not refunded.

    Refunds name order lines, not fulfillment lines, and a refund of returned units does not
    say so: a refunded unit is assumed to be a returned one first, so the order line has
    max(units in returns, fulfilled units refunded) units that cannot be returned again.
    """
    fulfillment = fulfillment_of_line(shop, fli["id"])
    if fulfillment is None or fulfillment["status"] != "SUCCESS":
        return 0
    line = shop.get(ref_gid(fli["lineItem"]))
    for_line = line.get("_fulfilledQuantity", 0) - max(units_in_returns(shop, order, line_item_gid=line["id"]), line.get("_refundedFulfilled", 0))
    for_fli = fli["quantity"] - units_in_returns(shop, order, fulfillment_line_gid=fli["id"])
    return max(0, min(for_line, for_fli))


def fulfillment_of_line(shop: ShopState, fulfillment_line_gid: str) -> dict[str, Any] | None:
    """The fulfillment a fulfillment line item belongs to (fulfillment lines keep no back reference)."""
    for fulfillment in shop.all("Fulfillment"):
        if any(ref.gid == fulfillment_line_gid for ref in fulfillment["fulfillmentLineItems"]):
            return fulfillment
    return None


def order_of_fulfillment_line(shop: ShopState, fulfillment_line_gid: str) -> dict[str, Any] | None:
    """The order a fulfillment line item was shipped for."""
    fulfillment = fulfillment_of_line(shop, fulfillment_line_gid)
    return shop.deref(fulfillment["order"]) if fulfillment else None


def returnable_fulfillments(shop: ShopState, order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Query.returnableFulfillments: each successful fulfillment with units still returnable."""
    found = []
    for fulfillment in shop.deref(order.get("fulfillments") or []):
        if fulfillment["status"] != "SUCCESS" or fulfillment.get("_giftCard"):
            continue
        found_lines = []
        for fli in shop.deref(fulfillment["fulfillmentLineItems"]):
            quantity = returnable_quantity(shop, order, fli)
            if quantity > 0:
                found_lines.append({"__typename": "ReturnableFulfillmentLineItem", "fulfillmentLineItem": fli, "quantity": quantity})
        if found_lines:
            found.append(returnable_fulfillment(fulfillment, found_lines))
    return found


def returnable_fulfillment(fulfillment: Mapping[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """A ReturnableFulfillment (its id shares the fulfillment's number, as Shopify's does)."""
    return {
        "__typename": "ReturnableFulfillment",
        "id": make_gid("ReturnableFulfillment", gid_number(fulfillment["id"])),
        "fulfillment": fulfillment,
        "returnableFulfillmentLineItems": lines,
    }


def disposed_quantity(line: Mapping[str, Any]) -> int:
    """Units of a reverse fulfillment order line already disposed of."""
    return sum(d["quantity"] for d in line["dispositions"])


def work_started(shop: ShopState, ret: Mapping[str, Any]) -> bool:
    """True once units of the return were disposed of or refunded (it can no longer be cancelled)."""
    disposed = any(line["dispositions"] for rfo in shop.deref(ret["reverseFulfillmentOrders"]) for line in shop.deref(rfo["lineItems"]))
    return disposed or bool(ret["refunds"])


def fully_disposed(shop: ShopState, rfo: Mapping[str, Any]) -> bool:
    """True when every unit of the reverse fulfillment order has a disposition."""
    return all(disposed_quantity(line) >= line["totalQuantity"] for line in shop.deref(rfo["lineItems"]))


def order_return_status(shop: ShopState, order: Mapping[str, Any]) -> str:
    """Order.returnStatus: the furthest any of the order's returns has come."""
    returns = returns_of(shop, order)
    statuses = {ret["status"] for ret in returns}
    if "REQUESTED" in statuses:
        return "RETURN_REQUESTED"
    open_returns = [ret for ret in returns if ret["status"] == "OPEN"]
    if open_returns:
        # Every unit back and disposed of: inspected, waiting to be closed.
        if all(ret["reverseFulfillmentOrders"] and all(fully_disposed(shop, rfo) for rfo in shop.deref(ret["reverseFulfillmentOrders"])) for ret in open_returns):
            return "INSPECTION_COMPLETE"
        return "IN_PROGRESS"
    if "CLOSED" in statuses:
        return "RETURNED"
    return "NO_RETURN"
