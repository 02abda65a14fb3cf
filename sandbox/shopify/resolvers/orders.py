"""Orders, their line items and fulfillment orders; cancelling orders."""
from __future__ import annotations

import datetime as dt
from typing import Any

from ..connections import Listing
from ..ids import check_gid
from ..registry import resolver
from ..user_errors import ShopifyUserError
from .catalog import searched
from .common import count, mutation_payload, object_of_type

READ_ORDERS = ("read_orders",)
READ_FULFILLMENT_ORDERS = (
    "read_assigned_fulfillment_orders",
    "read_merchant_managed_fulfillment_orders",
    "read_third_party_fulfillment_orders",
)


# Shopify shows an app only the last 60 days of orders unless it holds read_all_orders.
RECENT_ORDERS = dt.timedelta(days=60)


def _visible(info, order_: dict | None) -> bool:
    if order_ is None or info.context.has_any_scope(("read_all_orders",)):
        return True
    now = dt.datetime.fromtimestamp(info.context.store.wall_clock(), dt.timezone.utc)
    created = dt.datetime.fromisoformat(order_["createdAt"].replace("Z", "+00:00"))
    return created >= now - RECENT_ORDERS


def _indexed(info, order_: dict) -> bool:
    """Whether the search index has caught up with the order (ShopState.order_search_lag)."""
    lag = info.context.shop.order_search_lag
    if not lag:
        return True
    created = dt.datetime.fromisoformat(order_["createdAt"].replace("Z", "+00:00")).timestamp()
    return info.context.store.wall_clock() >= created + lag


def _visible_orders(info, query: str | None, sort_key: str | None) -> Listing:
    listing = searched(info, "Order", query, sort_key)
    return Listing([o for o in listing.items if _visible(info, o) and (not query or _indexed(info, o))], listing.key)


@resolver("Query", "orders", scopes=READ_ORDERS)
def orders(root: Any, info, query: str | None = None, sortKey: str | None = None, **_: Any) -> Listing:
    """Orders matching `query` (e.g. `updated_at:>'2025-01-01T00:00:00Z'`), in `sortKey` order; the last 60 days without read_all_orders."""
    return _visible_orders(info, query, sortKey)


@resolver("Query", "ordersCount", scopes=READ_ORDERS)
def orders_count(root: Any, info, query: str | None = None, limit: int | None = 10000, **_: Any) -> dict:
    """How many orders match `query` (Shopify caps the count at `limit`, default 10,000)."""
    n = len(_visible_orders(info, query, None).items)
    if limit is not None and n > limit:
        return {"__typename": "Count", "count": limit, "precision": "AT_LEAST"}
    return count(n)


@resolver("Query", "order", scopes=READ_ORDERS)
def order(root: Any, info, id: str) -> dict | None:
    """One order by GID (null when older than 60 days and the app lacks read_all_orders)."""
    found = object_of_type(info, id, "Order")
    return found if _visible(info, found) else None


@resolver("Query", "fulfillmentOrder", scopes=READ_FULFILLMENT_ORDERS)
def fulfillment_order(root: Any, info, id: str) -> dict | None:
    """One fulfillment order by GID."""
    return object_of_type(info, id, "FulfillmentOrder")


@resolver("Order", "fulfillmentsCount")
def fulfillments_count(order_: dict, info) -> dict:
    """How many fulfillments the order has."""
    return count(len(order_.get("fulfillments") or ()))


@resolver("Mutation", "orderCancel", scopes=("write_orders",))
def order_cancel(root: Any, info, orderId: str, reason: str, restock: bool, refund: bool | None = None, refundMethod: dict | None = None, notifyCustomer: bool | None = None, staffNote: str | None = None) -> dict:
    """Cancel an order; answers with the job doing it (`refundMethod`, or the deprecated `refund`, says whether to refund)."""
    ctx = info.context
    refunds = bool(refund) or bool(refundMethod and (refundMethod.get("originalPaymentMethodsRefund") or refundMethod.get("storeCreditRefund")))
    try:
        job = ctx.store.cancel_order(ctx.shop, check_gid(orderId), reason=reason, refund=refunds, restock=restock, notify_customer=bool(notifyCustomer), staff_note=staffNote)
    except ShopifyUserError as error:
        # The deprecated `userErrors` still lists the same errors, untyped.
        payload = mutation_payload("OrderCancelPayload", error, errors_field="orderCancelUserErrors", error_type="OrderCancelUserError", job=None)
        payload["userErrors"] = [error.as_user_error()]
        return payload
    payload = mutation_payload("OrderCancelPayload", errors_field="orderCancelUserErrors", job=job)
    payload["userErrors"] = []
    return payload


@resolver("Query", "job")
def job(root: Any, info, id: str) -> dict | None:
    """A background job (orderCancel's) by id."""
    found = info.context.shop.get(id)
    return found if found is not None and found["__typename"] == "Job" else None


@resolver("Query", "customer", scopes=("read_customers",))
def customer(root: Any, info, id: str) -> dict | None:
    """One customer by GID."""
    return object_of_type(info, id, "Customer")


@resolver("Mutation", "orderCreate", scopes=("write_orders",))
def order_create(root: Any, info, order: dict, options: dict | None = None) -> dict:
    """Create an order outside a checkout (sandbox/shopify/order_create.py)."""
    from ..order_create import create_order_from_input

    try:
        return mutation_payload("OrderCreatePayload", error_type="OrderCreateUserError", order=create_order_from_input(info.context.store, info.context.shop, order))
    except ShopifyUserError as error:
        return mutation_payload("OrderCreatePayload", error, error_type="OrderCreateUserError", order=None)


@resolver("Mutation", "orderInvoiceSend", scopes=("write_orders",))
def order_invoice_send(root: Any, info, id: str, email: dict | None = None) -> dict:
    """Email the order's invoice (for an outstanding balance, e.g. after an exchange for a dearer item)."""
    try:
        return mutation_payload("OrderInvoiceSendPayload", error_type="OrderInvoiceSendUserError", order=info.context.store.send_order_invoice(info.context.shop, id, email))
    except ShopifyUserError as error:
        return mutation_payload("OrderInvoiceSendPayload", error, error_type="OrderInvoiceSendUserError", order=None)
