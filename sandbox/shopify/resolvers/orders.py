"""Orders, their line items and fulfillment orders."""
from __future__ import annotations

from typing import Any

from ..connections import Listing
from ..registry import resolver
from .catalog import searched
from .common import count, object_of_type

READ_ORDERS = ("read_orders",)
READ_FULFILLMENT_ORDERS = (
    "read_assigned_fulfillment_orders",
    "read_merchant_managed_fulfillment_orders",
    "read_third_party_fulfillment_orders",
)


@resolver("Query", "orders", scopes=READ_ORDERS)
def orders(root: Any, info, query: str | None = None, sortKey: str | None = None, **_: Any) -> Listing:
    """Orders matching `query` (e.g. `updated_at:>'2025-01-01T00:00:00Z'`), in `sortKey` order."""
    return searched(info, "Order", query, sortKey)


@resolver("Query", "order", scopes=READ_ORDERS)
def order(root: Any, info, id: str) -> dict | None:
    """One order by GID."""
    return object_of_type(info, id, "Order")


@resolver("Query", "fulfillmentOrder", scopes=READ_FULFILLMENT_ORDERS)
def fulfillment_order(root: Any, info, id: str) -> dict | None:
    """One fulfillment order by GID."""
    return object_of_type(info, id, "FulfillmentOrder")


@resolver("Order", "fulfillmentsCount")
def fulfillments_count(order_: dict, info) -> dict:
    """How many fulfillments the order has."""
    return count(len(order_.get("fulfillments") or ()))
