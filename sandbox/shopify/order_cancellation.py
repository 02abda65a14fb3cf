"""orderCancel: the order is cancelled at once; its fulfillment orders are cancelled, or, where a
fulfillment service already accepted them, asked to be cancelled (the service decides).

`OrderCancellationMixin` is mixed into Store.
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .fulfillment_state import ACCEPTED_REQUEST_STATUSES, FINISHED_STATUSES, service_of
from .ids import is_gid
from .user_errors import ShopifyUserError

if TYPE_CHECKING:
    from .store import ShopState


class OrderCancellationMixin:
    """Cancelling orders (part of Store)."""

    def cancel_order(self, shop: str | ShopState, order_gid: str, *, reason: str, refund: bool, restock: bool, notify_customer: bool = False, staff_note: str | None = None) -> dict[str, Any]:
        """Cancel an order; returns the Job Shopify answers with (done on its next read)."""
        with self.lock:
            state = self.require_shop(shop)
            order = state.get(order_gid) if is_gid(order_gid) else None
            if order is None or order["__typename"] != "Order":
                raise ShopifyUserError(["orderId"], "Order does not exist", "NOT_FOUND")
            if order.get("cancelledAt"):
                raise ShopifyUserError(["orderId"], "Order has already been cancelled", "INVALID")
            shipped = [f for f in state.deref(order["fulfillments"]) if f["status"] == "SUCCESS" and not f.get("_giftCard")]
            if shipped:
                raise ShopifyUserError(["orderId"], "Cannot cancel an order that has fulfillments. Cancel the fulfillments first.", "INVALID")
            now = self.now_iso()
            order.update({
                "cancelledAt": now,
                "cancelReason": reason,
                "cancellation": {"__typename": "OrderCancellation", "staffNote": staff_note},
                "_restockOnCancel": restock,
                "_notifyCustomerOfCancel": notify_customer,
            })
            self._settle_payment_on_cancel(order, refund)
            for fo in state.deref(order["fulfillmentOrders"]):
                if fo["status"] in FINISHED_STATUSES:
                    continue
                service = service_of(state, fo)
                if service is not None and fo["requestStatus"] in ACCEPTED_REQUEST_STATUSES and fo["status"] != "ON_HOLD":
                    # The service already works on it: only it can agree to stop.
                    self._request_cancellation(state, fo, service, f"Order {order['name']} was cancelled")
                    continue
                fo["status"] = "CANCELLED"
                self.touch(fo)
                if restock:
                    self.restock_fulfillment_order(state, fo)
                self.publish(state, "fulfillment_orders/cancelled", {"fulfillment_order": {"id": fo["id"], "status": "cancelled"}, "replacement_fulfillment_order": None})
            self.refresh_fulfillment_status(state, order)
            # The work is done here and now; the job says so from its first read on.
            job = state.index({"__typename": "Job", "id": f"gid://shopify/Job/{uuid.uuid4()}", "done": True, "query": None})
            self.publish_order(state, order, "orders/cancelled", "orders/updated")
            return dict(job, done=False)

    def _settle_payment_on_cancel(self, order: dict[str, Any], refund: bool) -> None:
        status = order.get("displayFinancialStatus")
        if status in ("AUTHORIZED", "PENDING"):
            # Authorizations are voided whatever `refund` says.
            order.update(displayFinancialStatus="VOIDED", capturable=False, canMarkAsPaid=False)
        elif refund and status in ("PAID", "PARTIALLY_PAID"):
            order.update(displayFinancialStatus="REFUNDED", refundable=False, totalRefundedSet=order["totalReceivedSet"])
