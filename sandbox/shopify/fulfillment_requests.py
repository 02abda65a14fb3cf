"""The fulfillment-service conversation on a fulfillment order, and holds.

Merchant side: submit a fulfillment request or a cancellation request (Shopify then POSTs
`<callbackUrl>/fulfillment_order_notification` to the service and sends the
fulfillment_orders/* webhook). Service side: accept or reject either request. Holds
stop any work on a fulfillment order until released. `FulfillmentRequestMixin` is
mixed into Store; every method validates like Shopify and queues what Shopify sends.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .fulfillment_state import (
    ACCEPTED_REQUEST_STATUSES,
    OPEN_STATUSES,
    location_gid_of,
    require_fulfillment_order,
    require_service_owner,
    service_of,
    work_status,
)
from .ids import gid_number, make_gid
from .outbox import FulfillmentServiceCallback
from .records import Ref
from .rest_payloads import fulfillment_order_summary, merchant_request_summary
from .user_errors import ShopifyUserError

if TYPE_CHECKING:
    from .store import ShopState

NOT_API_SERVICE = "The assigned fulfillment service for the fulfillment order must be of api type"
HOLD_REASON_TEXT = {
    "AWAITING_PAYMENT": "Awaiting payment",
    "HIGH_RISK_OF_FRAUD": "High risk of fraud",
    "INCORRECT_ADDRESS": "Incorrect address",
    "INVENTORY_OUT_OF_STOCK": "Inventory out of stock",
    "UNKNOWN_DELIVERY_DATE": "Unknown delivery date",
    "ONLINE_STORE_POST_PURCHASE_CROSS_SELL": "Post purchase cross sell",
    "AWAITING_RETURN_ITEMS": "Awaiting return items",
    "OTHER": "Other",
}


class FulfillmentRequestMixin:
    """Fulfillment and cancellation requests to fulfillment services, and holds (part of Store)."""

    # -- merchant side ----------------------------------------------------------------------

    def submit_fulfillment_request(self, shop: str | ShopState, fulfillment_order_gid: str, *, message: str | None = None, notify_customer: bool = False) -> dict[str, Any]:
        """Ask the fulfillment service the order is assigned to to fulfil it (request status SUBMITTED)."""
        with self.lock:
            state = self.require_shop(shop)
            fo = require_fulfillment_order(state, fulfillment_order_gid)
            service = service_of(state, fo)
            if service is None:
                raise ShopifyUserError(["id"], NOT_API_SERVICE)
            if fo["status"] != "OPEN" or fo["requestStatus"] not in ("UNSUBMITTED", "REJECTED"):
                raise ShopifyUserError(["id"], f"Fulfillment order {gid_number(fo['id'])} cannot be submitted: its status is {fo['status'].lower()} and its request status is {fo['requestStatus'].lower()}.")
            original = fulfillment_order_summary(fo)
            fo["requestStatus"] = "SUBMITTED"
            self.touch(fo)
            request = self._add_merchant_request(state, fo, "FULFILLMENT_REQUEST", message, {"notify_customer": notify_customer})
            self.refresh_fulfillment_status(state, state.deref(fo["order"]))
            if service["callbackUrl"]:  # no callback URL: the service learns of it from the webhook alone
                self.outbox.put(FulfillmentServiceCallback(state.domain, service["callbackUrl"], service["_clientId"], "FULFILLMENT_REQUEST"))
            self.publish(state, "fulfillment_orders/fulfillment_request_submitted", {
                "original_fulfillment_order": original,
                "submitted_fulfillment_order": fulfillment_order_summary(fo),
                "fulfillment_order_merchant_request": merchant_request_summary(request),
            })
            return fo

    def submit_cancellation_request(self, shop: str | ShopState, fulfillment_order_gid: str, *, message: str | None = None) -> dict[str, Any]:
        """Ask the fulfillment service to stop working on a fulfillment order it accepted."""
        with self.lock:
            state = self.require_shop(shop)
            fo = require_fulfillment_order(state, fulfillment_order_gid)
            service = service_of(state, fo)
            if service is None:
                raise ShopifyUserError(["id"], NOT_API_SERVICE)
            if fo["requestStatus"] not in ACCEPTED_REQUEST_STATUSES or fo["status"] not in OPEN_STATUSES:
                raise ShopifyUserError(["id"], f"Fulfillment order {gid_number(fo['id'])} cannot be cancelled: the fulfillment service has not accepted it (request status {fo['requestStatus'].lower()}).")
            self._request_cancellation(state, fo, service, message)
            return fo

    def _request_cancellation(self, state: ShopState, fo: dict[str, Any], service: Mapping[str, Any], message: str | None) -> None:
        fo["requestStatus"] = "CANCELLATION_REQUESTED"
        self.touch(fo)
        request = self._add_merchant_request(state, fo, "CANCELLATION_REQUEST", message, {})
        if service["callbackUrl"]:
            self.outbox.put(FulfillmentServiceCallback(state.domain, service["callbackUrl"], service["_clientId"], "CANCELLATION_REQUEST"))
        self.publish(state, "fulfillment_orders/cancellation_request_submitted", {
            "fulfillment_order": fulfillment_order_summary(fo),
            "fulfillment_order_merchant_request": merchant_request_summary(request),
        })

    def _add_merchant_request(self, state: ShopState, fo: dict[str, Any], kind: str, message: str | None, options: Mapping[str, Any]) -> dict[str, Any]:
        request = state.index({
            "__typename": "FulfillmentOrderMerchantRequest",
            "id": make_gid("FulfillmentOrderMerchantRequest", self.next_number()),
            "kind": kind,
            "message": message,
            "requestOptions": dict(options),
            "responseData": None,
            "sentAt": self.now_iso(),
            "fulfillmentOrder": Ref(fo["id"]),
        })
        fo.setdefault("merchantRequests", []).append(Ref(request["id"]))
        return request

    def _respond(self, state: ShopState, fo: Mapping[str, Any], kind: str, response: Mapping[str, Any]) -> None:
        """Keep the service's answer on the latest merchant request of that kind."""
        for request in reversed(state.deref(fo.get("merchantRequests") or [])):
            if request["kind"] == kind:
                request["responseData"] = dict(response)
                return

    # -- fulfillment service side -----------------------------------------------------------

    def accept_fulfillment_request(self, shop: str | ShopState, fulfillment_order_gid: str, *, client_id: str | None, message: str | None = None) -> dict[str, Any]:
        """The service takes the fulfillment order on (ACCEPTED, IN_PROGRESS)."""
        with self.lock:
            state = self.require_shop(shop)
            fo = self._service_fulfillment_order(state, fulfillment_order_gid, client_id, "SUBMITTED", "accept a fulfillment request")
            fo["requestStatus"] = "ACCEPTED"
            fo["status"] = "IN_PROGRESS"
            self.touch(fo)
            self._respond(state, fo, "FULFILLMENT_REQUEST", {"accepted": True, "message": message})
            self.refresh_fulfillment_status(state, state.deref(fo["order"]))
            self.publish(state, "fulfillment_orders/fulfillment_request_accepted", {"fulfillment_order": fulfillment_order_summary(fo), "message": message})
            return fo

    def reject_fulfillment_request(self, shop: str | ShopState, fulfillment_order_gid: str, *, client_id: str | None, reason: str | None = None, message: str | None = None, line_items: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """The service declines the fulfillment order (REJECTED, back to OPEN for the merchant)."""
        with self.lock:
            state = self.require_shop(shop)
            fo = self._service_fulfillment_order(state, fulfillment_order_gid, client_id, "SUBMITTED", "reject a fulfillment request")
            fo["requestStatus"] = "REJECTED"
            fo["status"] = work_status(state, fo)
            fo["_rejection"] = {"reason": reason, "message": message, "lineItems": [dict(item) for item in line_items]}
            self.touch(fo)
            self._respond(state, fo, "FULFILLMENT_REQUEST", {"accepted": False, "reason": reason, "message": message})
            self.refresh_fulfillment_status(state, state.deref(fo["order"]))
            self.publish(state, "fulfillment_orders/fulfillment_request_rejected", {"fulfillment_order": fulfillment_order_summary(fo), "message": message})
            return fo

    def accept_cancellation_request(self, shop: str | ShopState, fulfillment_order_gid: str, *, client_id: str | None, message: str | None = None) -> dict[str, Any]:
        """The service stops work: the fulfillment order closes; unless the order was cancelled, its units go to a new open one."""
        with self.lock:
            state = self.require_shop(shop)
            fo = self._service_fulfillment_order(state, fulfillment_order_gid, client_id, "CANCELLATION_REQUESTED", "accept a cancellation request")
            order = state.deref(fo["order"])
            fo["requestStatus"] = "CANCELLATION_ACCEPTED"
            fo["status"] = "CLOSED"
            self.touch(fo)
            self._respond(state, fo, "CANCELLATION_REQUEST", {"accepted": True, "message": message})
            if order.get("cancelledAt"):
                if order.get("_restockOnCancel"):
                    self.restock_fulfillment_order(state, fo)
            else:
                # The merchant still owes these units: Shopify hands them back on a new fulfillment order.
                self._replacement_fulfillment_order(state, order, fo)
            self.refresh_fulfillment_status(state, order)
            self.publish(state, "fulfillment_orders/cancellation_request_accepted", {"fulfillment_order": {"id": fo["id"], "status": "closed"}, "message": message})
            return fo

    def reject_cancellation_request(self, shop: str | ShopState, fulfillment_order_gid: str, *, client_id: str | None, message: str | None = None) -> dict[str, Any]:
        """The service goes on with the fulfillment order (CANCELLATION_REJECTED, IN_PROGRESS)."""
        with self.lock:
            state = self.require_shop(shop)
            fo = self._service_fulfillment_order(state, fulfillment_order_gid, client_id, "CANCELLATION_REQUESTED", "reject a cancellation request")
            fo["requestStatus"] = "CANCELLATION_REJECTED"
            fo["status"] = "IN_PROGRESS"
            self.touch(fo)
            self._respond(state, fo, "CANCELLATION_REQUEST", {"accepted": False, "message": message})
            self.refresh_fulfillment_status(state, state.deref(fo["order"]))
            self.publish(state, "fulfillment_orders/cancellation_request_rejected", {"fulfillment_order": fulfillment_order_summary(fo), "message": message})
            return fo

    def _service_fulfillment_order(self, state: ShopState, gid: str, client_id: str | None, needed_request_status: str, action: str) -> dict[str, Any]:
        fo = require_fulfillment_order(state, gid)
        require_service_owner(state, fo, client_id)
        if fo["requestStatus"] != needed_request_status:
            raise ShopifyUserError(["id"], f"Cannot {action} for fulfillment order {gid_number(fo['id'])}: its request status is {fo['requestStatus'].lower()}.")
        return fo

    def _replacement_fulfillment_order(self, state: ShopState, order: dict[str, Any], closed_fo: dict[str, Any]) -> dict[str, Any] | None:
        moving = [line for line in state.deref(closed_fo["lineItems"]) if line["remainingQuantity"] > 0]
        if not moving:
            return None
        location = state.get(location_gid_of(closed_fo))
        replacement = self.add_fulfillment_order(state, order, location, [], commit_inventory=False)
        for old in moving:
            new = self.add_fulfillment_order_line(state, replacement, state.deref(old["lineItem"]), old["remainingQuantity"])
            new["_committed"], old["_committed"] = old.get("_committed", 0), 0
            old["remainingQuantity"] = 0
        return replacement

    def restock_fulfillment_order(self, state: ShopState, fo: Mapping[str, Any]) -> None:
        """Give the units the sale committed back to available stock."""
        location_gid = location_gid_of(fo)
        for line in state.deref(fo["lineItems"]):
            committed = line.get("_committed", 0)
            if committed:
                line["_committed"] = 0
                self.adjust_quantity(state, line["inventoryItemId"], location_gid, "committed", -committed)
                self.adjust_quantity(state, line["inventoryItemId"], location_gid, "available", committed)

    # -- holds ------------------------------------------------------------------------------

    def hold_fulfillment_order(self, shop: str | ShopState, fulfillment_order_gid: str, *, reason: str, reason_notes: str | None = None, handle: str | None = None, client_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Put the whole fulfillment order ON_HOLD; returns (fulfillment order, hold)."""
        with self.lock:
            state = self.require_shop(shop)
            fo = state.get(fulfillment_order_gid)
            if fo is None or fo["__typename"] != "FulfillmentOrder":
                raise ShopifyUserError(["id"], "Fulfillment order does not exist.", "FULFILLMENT_ORDER_NOT_FOUND")
            if fo["status"] not in OPEN_STATUSES + ("ON_HOLD",):
                raise ShopifyUserError(["id"], f"Fulfillment order {gid_number(fo['id'])} cannot be placed on hold: its status is {fo['status'].lower()}.")
            holds = fo.setdefault("fulfillmentHolds", [])
            # The handle defaults to "": an app's second hold on one fulfillment order needs another handle.
            handle = handle or ""
            if client_id is not None and any((h.get("handle") or "") == handle and h["_clientId"] == client_id for h in holds):
                raise ShopifyUserError(["fulfillmentHold", "handle"], "The handle provided for the fulfillment hold is already in use by this app for another hold on this fulfillment order.", "DUPLICATE_FULFILLMENT_HOLD_HANDLE")
            hold = {
                "__typename": "FulfillmentHold",
                "id": make_gid("FulfillmentHold", self.next_number()),
                "reason": reason,
                "reasonNotes": reason_notes,
                "handle": handle,
                "displayReason": HOLD_REASON_TEXT.get(reason, reason.title()),
                "heldByApp": None,
                "heldByRequestingApp": True,
                "_clientId": client_id,
            }
            holds.append(hold)
            fo["status"] = "ON_HOLD"
            self.touch(fo)
            self.refresh_fulfillment_status(state, state.deref(fo["order"]))
            summary = {"id": hold["id"], "handle": handle, "held_by_app": None, "held_by_requesting_app": False, "reason": reason.lower(), "reason_notes": reason_notes}
            self.publish(state, "fulfillment_orders/placed_on_hold", {
                "fulfillment_order": {"id": fo["id"], "status": "on_hold", "fulfillment_holds": [dict(summary, id=h["id"], handle=h["handle"], reason=h["reason"].lower(), reason_notes=h["reasonNotes"]) for h in holds]},
                "created_fulfillment_hold": summary,
                "held_fulfillment_order_line_items": [{"id": line["id"], "quantity": line["remainingQuantity"]} for line in state.deref(fo["lineItems"])],
                "remaining_fulfillment_order": None,
            })
            return fo, hold

    def release_fulfillment_hold(self, shop: str | ShopState, fulfillment_order_gid: str, *, hold_ids: Iterable[str] | None = None) -> dict[str, Any]:
        """Lift holds (the given ones, or all); without holds left the fulfillment order can be worked on again."""
        with self.lock:
            state = self.require_shop(shop)
            fo = state.get(fulfillment_order_gid)
            if fo is None or fo["__typename"] != "FulfillmentOrder":
                raise ShopifyUserError(["id"], "Fulfillment order does not exist.", "FULFILLMENT_ORDER_NOT_FOUND")
            if fo["status"] != "ON_HOLD":
                raise ShopifyUserError(["id"], f"Fulfillment order {gid_number(fo['id'])} is not on hold.")
            wanted = set(hold_ids) if hold_ids else None
            fo["fulfillmentHolds"] = [h for h in fo["fulfillmentHolds"] if wanted is not None and h["id"] not in wanted]
            if not fo["fulfillmentHolds"]:
                fo["status"] = work_status(state, fo)
            self.touch(fo)
            self.refresh_fulfillment_status(state, state.deref(fo["order"]))
            self.publish(state, "fulfillment_orders/hold_released", {"fulfillment_order": {"id": fo["id"], "status": fo["status"].lower()}})
            return fo
