"""Fulfillments: shipping some or all of the units of fulfillment orders, with tracking; cancelling them.

`FulfillmentMixin` is mixed into Store. Its public methods validate like Shopify
(raising ShopifyUserError with Shopify's messages), change the order, its fulfillment
orders and inventory, and queue the webhooks Shopify would send.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from . import records
from .fulfillment_state import OPEN_STATUSES, display_fulfillment_status, location_gid_of, service_of, work_status
from .ids import gid_number, is_gid, make_gid
from .records import Ref
from .rest_payloads import fulfillment_payload
from .user_errors import ShopifyUserError

if TYPE_CHECKING:
    from .store import ShopState

INVALID_QUANTITY = "Invalid fulfillment order line item quantity requested."
NO_ACCESS = "The api_client does not have access to the fulfillment order."
# Carriers whose tracking page Shopify links by itself when no URL is given.
CARRIER_TRACKING_URLS = {
    "UPS": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={number}",
}

# What to fulfil: for each fulfillment order, (its line, quantity) pairs.
FulfillmentPlan = list[tuple[dict[str, Any], list[tuple[dict[str, Any], int]]]]


def tracking_entries(tracking: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """FulfillmentTrackingInput -> FulfillmentTrackingInfo list (numbers and urls pair up by position)."""
    if not tracking:
        return []
    company = tracking.get("company")
    numbers = list(tracking.get("numbers") or []) or ([tracking["number"]] if tracking.get("number") else [])
    urls = list(tracking.get("urls") or []) or ([tracking["url"]] if tracking.get("url") else [])
    entries = []
    for i, number in enumerate(numbers):
        url = urls[i] if i < len(urls) else None
        if url is None and company in CARRIER_TRACKING_URLS:
            url = CARRIER_TRACKING_URLS[company].format(number=number)
        entries.append({"__typename": "FulfillmentTrackingInfo", "company": company, "number": number, "url": url})
    if not numbers and (company or urls):
        entries.append({"__typename": "FulfillmentTrackingInfo", "company": company, "number": None, "url": urls[0] if urls else None})
    return entries


class FulfillmentMixin:
    """Creating, re-tracking and cancelling fulfillments (part of Store)."""

    # -- fulfillmentCreate -------------------------------------------------------------

    def create_fulfillment(self, shop: str | ShopState, line_items_by_fulfillment_order: Iterable[Mapping[str, Any]], *, tracking_info: Mapping[str, Any] | None = None, notify_customer: bool = False, client_id: str | None = None, message: str | None = None) -> dict[str, Any]:
        """fulfillmentCreate: ship the given (or all remaining) units of fulfillment orders of one order at one location.

        `client_id` is the calling app: fulfillment orders at a fulfillment service's
        location can only be fulfilled by the app owning that service.
        """
        with self.lock:
            state = self.require_shop(shop)
            plan = self._fulfillment_plan(state, list(line_items_by_fulfillment_order), client_id)
            fulfillment = self._fulfill(state, plan, tracking_entries(tracking_info), notify_customer=notify_customer, message=message)
            order = state.deref(fulfillment["order"])
            self.publish(state, "fulfillments/create", fulfillment_payload(state, fulfillment))
            shipped_all = order["displayFulfillmentStatus"] == "FULFILLED"
            self.publish_order(state, order, "orders/updated", "orders/fulfilled" if shipped_all else "orders/partially_fulfilled")
            return fulfillment

    def _fulfillment_plan(self, state: ShopState, specs: list[Mapping[str, Any]], client_id: str | None) -> FulfillmentPlan:
        if not specs:
            raise ShopifyUserError(["fulfillment", "lineItemsByFulfillmentOrder"], "Line items by fulfillment order must contain at least one fulfillment order.")
        plan: FulfillmentPlan = []
        for i, spec in enumerate(specs):
            field = ["fulfillment", "lineItemsByFulfillmentOrder", str(i), "fulfillmentOrderId"]
            gid = spec.get("fulfillmentOrderId")
            fo = state.get(gid) if is_gid(gid) else None
            if fo is None or fo["__typename"] != "FulfillmentOrder":
                raise ShopifyUserError(field, "Fulfillment order does not exist.")
            self._check_fulfillable(state, fo, client_id)
            plan.append((fo, self._line_quantities(state, fo, spec.get("fulfillmentOrderLineItems"), i)))
        orders = {fo["order"].gid for fo, _ in plan}
        if len(orders) > 1:
            raise ShopifyUserError(["fulfillment"], "All fulfillment orders must belong to the same order.")
        locations = sorted({gid_number(location_gid_of(fo)) for fo, _ in plan})
        if len(locations) > 1:
            raise ShopifyUserError(["fulfillment"], f"All fulfillment orders must be assigned to a single location. Multiple locations with IDs {locations} were found")
        if not any(qty for _, pairs in plan for _, qty in pairs):
            raise ShopifyUserError(["fulfillment"], INVALID_QUANTITY)
        return plan

    def _check_fulfillable(self, state: ShopState, fo: Mapping[str, Any], client_id: str | None) -> None:
        service = service_of(state, fo)
        # Since 2024-10 a fulfillment service's orders can only be fulfilled by its own app.
        if service is not None and client_id is not None and service["_clientId"] != client_id:
            raise ShopifyUserError(["fulfillment"], NO_ACCESS)
        if fo["status"] not in OPEN_STATUSES:
            raise ShopifyUserError(["fulfillment"], f"Fulfillment order {gid_number(fo['id'])} has an unfulfillable status= {fo['status'].lower()}.")
        if service is not None and fo["requestStatus"] in ("UNSUBMITTED", "SUBMITTED", "REJECTED"):
            raise ShopifyUserError(["fulfillment"], f"Fulfillment order {gid_number(fo['id'])} has an unfulfillable request status= {fo['requestStatus'].lower()}.")

    def _line_quantities(self, state: ShopState, fo: Mapping[str, Any], requested: list[Mapping[str, Any]] | None, index: int) -> list[tuple[dict[str, Any], int]]:
        lines = state.deref(fo["lineItems"])
        if requested is None:  # no line items given: everything that remains
            return [(line, line["remainingQuantity"]) for line in lines if line["remainingQuantity"] > 0]
        by_id = {line["id"]: line for line in lines}
        totals: dict[str, int] = {}
        for j, item in enumerate(requested):
            if item["id"] not in by_id:
                raise ShopifyUserError(["fulfillment", "lineItemsByFulfillmentOrder", str(index), "fulfillmentOrderLineItems", str(j), "id"], "Fulfillment order line item does not exist.")
            totals[item["id"]] = totals.get(item["id"], 0) + item["quantity"]
        for gid, quantity in totals.items():
            if quantity <= 0 or quantity > by_id[gid]["remainingQuantity"]:
                raise ShopifyUserError(["fulfillment"], INVALID_QUANTITY)
        return [(by_id[gid], quantity) for gid, quantity in totals.items()]

    def _fulfill(self, state: ShopState, plan: FulfillmentPlan, tracking: list[dict[str, Any]], *, notify_customer: bool = False, message: str | None = None, gift_card: bool = False) -> dict[str, Any]:
        """Record a validated fulfillment: quantities, statuses, inventory. Queues nothing."""
        first_fo = plan[0][0]
        order = state.deref(first_fo["order"])
        location_gid = location_gid_of(first_fo)
        service = service_of(state, first_fo)
        now = self.now_iso()
        order["_fulfillmentCount"] = order.get("_fulfillmentCount", 0) + 1
        fulfillment_gid = make_gid("Fulfillment", self.next_number())
        shipped: dict[str, int] = {}  # order line gid -> units in this fulfillment
        allocations = []
        for fo, pairs in plan:
            for fo_line, quantity in pairs:
                if quantity <= 0:
                    continue
                fo_line["remainingQuantity"] -= quantity
                line = state.deref(fo_line["lineItem"])
                line["_fulfilledQuantity"] = line.get("_fulfilledQuantity", 0) + quantity
                line["unfulfilledQuantity"] -= quantity
                shipped[line["id"]] = shipped.get(line["id"], 0) + quantity
                # Shipped units leave on_hand by way of committed (what the sale reserved).
                released = min(quantity, fo_line.get("_committed", 0))
                if released:
                    fo_line["_committed"] -= released
                    self.adjust_quantity(state, fo_line["inventoryItemId"], location_gid, "committed", -released)
                allocations.append({"fulfillmentOrderLineItem": fo_line["id"], "quantity": quantity, "released": released})
            fo["status"] = work_status(state, fo)
            fo.setdefault("fulfillments", []).append(Ref(fulfillment_gid))
            fo["updatedAt"] = now
        currency = order["currencyCode"]
        line_refs = []
        for line_gid, quantity in shipped.items():
            line = state.get(line_gid)
            total = Decimal(line["originalUnitPriceSet"]["shopMoney"]["amount"]) * quantity
            fli = state.index({
                "__typename": "FulfillmentLineItem",
                "id": make_gid("FulfillmentLineItem", self.next_number()),
                "lineItem": Ref(line_gid),
                "quantity": quantity,
                "originalTotalSet": records.money_bag(total, currency),
                "discountedTotalSet": records.money_bag(total, currency),
            })
            line_refs.append(Ref(fli["id"]))
        fulfillment = state.index({
            "__typename": "Fulfillment",
            "id": fulfillment_gid,
            "name": f"{order['name']}.{order['_fulfillmentCount']}",
            "status": "SUCCESS",
            "displayStatus": "FULFILLED",
            "order": Ref(order["id"]),
            "location": Ref(location_gid),
            "service": Ref(service["id"]) if service else None,
            "trackingInfo": tracking,
            "fulfillmentLineItems": line_refs,
            "fulfillmentOrders": [Ref(fo["id"]) for fo, _ in plan],
            "totalQuantity": sum(shipped.values()),
            "requiresShipping": any(state.get(g)["requiresShipping"] for g in shipped),
            "deliveredAt": None,
            "inTransitAt": None,
            "estimatedDeliveryAt": None,
            "originAddress": None,
            "events": [],
            "createdAt": now,
            "updatedAt": now,
            "_notifyCustomer": notify_customer,
            "_message": message,
            "_giftCard": gift_card,
            "_allocations": allocations,
        })
        order["fulfillments"].append(Ref(fulfillment_gid))
        self.refresh_fulfillment_status(state, order)
        return fulfillment

    def refresh_fulfillment_status(self, state: ShopState, order: dict[str, Any]) -> None:
        """Recompute the order's displayFulfillmentStatus and bump updatedAt."""
        order["displayFulfillmentStatus"] = display_fulfillment_status(state, order)
        self.touch(order)

    # -- fulfillmentTrackingInfoUpdate ---------------------------------------------------

    def update_fulfillment_tracking(self, shop: str | ShopState, fulfillment_gid: str, tracking_info: Mapping[str, Any], *, notify_customer: bool = False, client_id: str | None = None) -> dict[str, Any]:
        """fulfillmentTrackingInfoUpdate: replace a fulfillment's tracking numbers, company and URLs."""
        with self.lock:
            state = self.require_shop(shop)
            fulfillment = self._fulfillment_for_app(state, fulfillment_gid, client_id, ["fulfillmentId"])
            if fulfillment["status"] == "CANCELLED":
                raise ShopifyUserError(["fulfillmentId"], "Tracking information cannot be updated on a cancelled fulfillment.")
            fulfillment["trackingInfo"] = tracking_entries(tracking_info)
            fulfillment["_notifyCustomer"] = notify_customer
            self.touch(fulfillment)
            self.publish(state, "fulfillments/update", fulfillment_payload(state, fulfillment))
            return fulfillment

    def _fulfillment_for_app(self, state: ShopState, gid: str, client_id: str | None, field: list[str]) -> dict[str, Any]:
        fulfillment = state.get(gid) if is_gid(gid) else None
        if fulfillment is None or fulfillment["__typename"] != "Fulfillment":
            raise ShopifyUserError(field, "Fulfillment does not exist.")
        service = state.deref(fulfillment.get("service"))
        if service is not None and client_id is not None and service["_clientId"] != client_id:
            raise ShopifyUserError(field, "The api_client does not have access to the fulfillment.")
        return fulfillment

    # -- fulfillmentCancel ----------------------------------------------------------------

    def cancel_fulfillment(self, shop: str | ShopState, fulfillment_gid: str, *, client_id: str | None = None) -> dict[str, Any]:
        """fulfillmentCancel: undo a fulfillment; its units are open to fulfil again."""
        with self.lock:
            state = self.require_shop(shop)
            fulfillment = self._fulfillment_for_app(state, fulfillment_gid, client_id, ["id"])
            if fulfillment["status"] == "CANCELLED":
                raise ShopifyUserError(["id"], "Fulfillment has already been cancelled.")
            fulfillment["status"], fulfillment["displayStatus"] = "CANCELLED", "CANCELED"
            self.touch(fulfillment)
            location_gid = fulfillment["location"].gid
            for allocation in fulfillment["_allocations"]:
                fo_line = state.get(allocation["fulfillmentOrderLineItem"])
                fo_line["remainingQuantity"] += allocation["quantity"]
                line = state.deref(fo_line["lineItem"])
                line["_fulfilledQuantity"] -= allocation["quantity"]
                line["unfulfilledQuantity"] += allocation["quantity"]
                if allocation["released"]:
                    # The units come back to stock as committed to this order again.
                    fo_line["_committed"] = fo_line.get("_committed", 0) + allocation["released"]
                    self.adjust_quantity(state, fo_line["inventoryItemId"], location_gid, "committed", allocation["released"])
            for fo in state.deref(fulfillment["fulfillmentOrders"]):
                if fo["status"] in OPEN_STATUSES + ("CLOSED",):
                    fo["status"] = work_status(state, fo)
                self.touch(fo)
            order = state.deref(fulfillment["order"])
            self.refresh_fulfillment_status(state, order)
            self.publish(state, "fulfillments/update", fulfillment_payload(state, fulfillment))
            self.publish_order(state, order, "orders/updated")
            return fulfillment
