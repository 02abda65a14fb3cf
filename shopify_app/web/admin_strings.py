"""The admin's words for the codes it shows (states, severities, event kinds) and the messages admin.js needs, translated.

Codes stay codes in the database and the API; only the page shows them in the merchant's
language. A code without a label here is shown humanized ("some_state" -> "some state").
"""
from __future__ import annotations

from ..i18n import gettext, lazy_gettext as _l

# States and statuses shown as badges: orders, supplier orders, parcels, fulfillment orders, KPIs, alerts.
STATE_LABELS = {
    "received": _l("Received"), "routed": _l("Routed"), "held": _l("Held"), "forwarded": _l("Forwarded"),
    "partially_shipped": _l("Partially shipped"), "shipped": _l("Shipped"), "cancelled": _l("Cancelled"),
    "nothing_to_ship": _l("Nothing to ship"), "fulfilled_before_install": _l("Fulfilled before install"), "not_ours": _l("Not ours"),
    "pending": _l("Pending"), "on_hold": _l("On hold"), "unknown": _l("Unknown"), "placed": _l("Placed"),
    "cancel_requested": _l("Cancellation requested"), "failed": _l("Failed"), "delivered": _l("Delivered"),
    "in_transit": _l("In transit"), "out_for_delivery": _l("Out for delivery"), "confirmed": _l("Confirmed"),
    "label_printed": _l("Label printed"), "label_purchased": _l("Label purchased"), "attempted_delivery": _l("Delivery attempted"),
    "ready_for_pickup": _l("Ready for pickup"), "picked_up": _l("Picked up"), "failure": _l("Delivery failed"), "fulfilled": _l("Fulfilled"),
    "open": _l("Open"), "in_progress": _l("In progress"), "closed": _l("Closed"), "incomplete": _l("Incomplete"), "scheduled": _l("Scheduled"),
    "service": _l("Fulfillment service"), "merchant": _l("Merchant location"),
    "met": _l("Met"), "missed": _l("Missed"), "no_data": _l("No data"), "ok": _l("OK"),
    "critical": _l("Critical"), "warning": _l("Warning"), "info": _l("Info"),
    "paid": _l("Paid"), "partially_paid": _l("Partially paid"), "authorized": _l("Authorized"), "refunded": _l("Refunded"),
    "partially_refunded": _l("Partially refunded"), "voided": _l("Voided"), "expired": _l("Expired"), "unfulfilled": _l("Unfulfilled"),
    "partially_fulfilled": _l("Partially fulfilled"),
    # Why a fulfillment order is on hold (Shopify's FulfillmentHoldReason).
    "awaiting_payment": _l("Awaiting payment"), "high_risk_of_fraud": _l("High risk of fraud"), "incorrect_address": _l("Incorrect address"),
    "inventory_out_of_stock": _l("Out of stock"), "unknown_delivery_date": _l("Unknown delivery date"), "awaiting_return_items": _l("Awaiting returned items"),
    "other": _l("Other"),
    # Returns: our decision, Shopify's return status, the supplier's RMA, the outcome and its kind, a complaint's answer.
    "approve": _l("Approved"), "decline": _l("Declined"), "review": _l("In review"), "requested": _l("Requested"),
    "declined": _l("Declined"), "canceled": _l("Canceled"), "approved": _l("Approved"), "refused": _l("Refused"),
    "manual": _l("Handled by you"), "none": _l("Not needed"), "sent": _l("Sent"), "done": _l("Done"),
    "refund": _l("Refund"), "store_credit": _l("Store credit"), "exchange": _l("Exchange"),
    "accepted": _l("Accepted"), "rejected": _l("Rejected"), "accepted_by_law": _l("Accepted by law"),
}

# Why a customer returns an item (Shopify's ReturnReason).
RETURN_REASON_LABELS = {
    "size_too_small": _l("Size too small"), "size_too_large": _l("Size too large"), "unwanted": _l("Unwanted"),
    "not_as_described": _l("Not as described"), "wrong_item": _l("Wrong item"), "defective": _l("Damaged or defective"),
    "style": _l("Style"), "color": _l("Color"), "other": _l("Other"), "unknown": _l("Unknown"),
}

# Polaris badge tones: what a state means for the merchant (critical, warning, success, info, attention; none = neutral).
TONES = {
    "critical": ("held", "failed", "missed", "critical", "failure", "dead"),
    "warning": ("pending", "unknown", "on_hold", "cancel_requested", "warning", "partially_shipped", "attempted_delivery", "partially_paid", "incomplete"),
    "success": ("shipped", "delivered", "met", "ok", "fulfilled", "paid", "resolved", "repaired", "sent", "closed"),
    "info": ("forwarded", "placed", "routed", "in_transit", "out_for_delivery", "confirmed", "in_progress", "info", "open", "service", "merchant"),
}
TONE_OF = {state: tone for tone, states in TONES.items() for state in states}

EVENT_LABELS = {
    "received": _l("Received from Shopify"), "routed": _l("Routed to a supplier"), "rerouted": _l("Routed to another supplier"),
    "forwarded": _l("Sent to the supplier"), "acknowledged": _l("Supplier confirmed"), "shipped": _l("Shipped"),
    "delivered": _l("Delivered"), "delayed": _l("Delayed"), "tracking_updated": _l("Tracking updated"), "cancelled": _l("Cancelled in Shopify"),
    "cancel_requested": _l("Cancellation sent to the supplier"), "supplier_cancelled": _l("Supplier order cancelled"),
    "supplier_replaced": _l("Supplier replaced"), "supplier_updated": _l("Supplier order updated"), "address_changed": _l("Address changed"),
    "line_added": _l("Item added"), "line_changed": _l("Item changed"), "not_ours": _l("Not handled by the app"), "problem": _l("Problem"),
    "re_read": _l("Read again from Shopify"), "hold_refused": _l("Hold refused"), "held_in_shopify": _l("Held in Shopify"),
    "hold_released_in_shopify": _l("Hold released in Shopify"), "supplier_order_postponed": _l("Supplier order postponed"),
    "supplier_order_resumed": _l("Supplier order resumed"), "customer_notified": _l("Customer notified"),
    "customer_satisfaction": _l("Customer answered the follow-up"),  # issue 17 part N
    # A fulfillment's events (deliveries/status.py: "delivery_" + Shopify's FulfillmentEventStatus; DELIVERED is "delivered").
    "delivery_label_printed": _l("Label printed"), "delivery_label_purchased": _l("Label purchased"),
    "delivery_confirmed": _l("Shipment confirmed"), "delivery_carrier_picked_up": _l("Picked up by the carrier"),
    "delivery_in_transit": _l("In transit"), "delivery_out_for_delivery": _l("Out for delivery"),
    "delivery_attempted_delivery": _l("Delivery attempted"), "delivery_ready_for_pickup": _l("Ready for pickup"),
    "delivery_picked_up": _l("Picked up by the customer"), "delivery_delayed": _l("Delivery delayed"), "delivery_failure": _l("Delivery failed"),
}
ACTOR_LABELS = {"store": _l("Shopify"), "app": _l("the app"), "supplier": _l("supplier"), "merchant": _l("you"), "carrier": _l("carrier"),
                "customer": _l("customer")}

# The keys of a timeline event's details (the values are data: names, numbers, codes).
DETAIL_LABELS = {
    "supplier": _l("supplier"), "supplier_order_id": _l("supplier order"), "sku": _l("SKU"), "line": _l("line"), "reason": _l("reason"),
    "because": _l("because"), "problem": _l("problem"), "carrier": _l("carrier"), "number": _l("tracking number"), "url": _l("tracking link"),
    "eta": _l("expected delivery"), "shipment": _l("shipment"), "fulfillment_order": _l("fulfillment order"), "fulfillment": _l("fulfillment"),
    "status": _l("status"), "message": _l("message"), "error": _l("error"), "note": _l("note"), "notice": _l("notice"), "name": _l("name"),
    "topic": _l("topic"), "return": _l("return"), "cancelled_supplier_order_id": _l("cancelled supplier order"), "quantity": _l("quantity"),
    "amendment": _l("change"),
    "answer": _l("answer"), "previous": _l("previous answer"),  # issue 17 part N
}

DESYNC_LABELS = {
    "stuck_at_supplier": _l("Stuck at the supplier"), "never_forwarded": _l("Never sent to a supplier"),
    "shipped_not_fulfilled": _l("Shipped but not fulfilled in Shopify"),
    "eta_not_told": _l("Estimated arrival not told to Shopify"), "fulfilled_unknown_to_supplier": _l("Fulfilled, unknown to the supplier"),
    "cancelled_but_open": _l("Cancelled but still open at the supplier"), "inventory_drift": _l("Stock differs from the supplier"),
    "returns_stalled": _l("Return stalled"), "webhook_health": _l("Webhooks missing"), "webhook_subscriptions": _l("Webhook subscriptions differ"),
    "refunds_without_return": _l("Refund without a return"), "order_missing": _l("Order missing"), "delivery_status": _l("Delivery status differs"),
}

KPI_LABELS = {
    "return_rate": _l("Return rate"), "on_time": _l("On-time delivery"), "forward_hours": _l("Order to supplier"),
    "damaged_reaction": _l("Damaged item complaints"), "out_of_stock_reaction": _l("Out-of-stock complaints"),
    "delivery_problem_reaction": _l("Delivery problem complaints"), "reply_time": _l("Replies to customer questions"),
}


def humanize(code) -> str:
    """A code as words when it has no label: 'some_state' -> 'some state'."""
    return str(code or "").replace("_", " ").lower()


def label(code, table: dict = STATE_LABELS) -> str:
    """The translated label of a code, or the code humanized."""
    key = str(code or "").lower()
    return str(table[key]) if key in table else humanize(code)


def return_reason(code) -> str:
    """The translated label of a return reason code ('NOT_AS_DESCRIBED' -> 'Not as described')."""
    return label(code, RETURN_REASON_LABELS)


def tone(code) -> str:
    """The Polaris badge tone of a state ('' for neutral)."""
    return TONE_OF.get(str(code or "").lower(), "")


def js_messages() -> dict:
    """What admin.js may say, in the page's language (read from a JSON blob on the page)."""
    return {
        "done": gettext("Done"),
        "error": gettext("Something went wrong (HTTP %(status)s). Try again.", status="{status}"),
        "network": gettext("Could not reach the app. Check your connection and try again."),
        "token": gettext("Could not get a session token: reload the page."),
        "otherSite": gettext("Refusing to reload another site."),
        "download": gettext("Could not download the file (HTTP %(status)s).", status="{status}"),
    }
