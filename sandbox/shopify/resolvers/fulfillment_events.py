"""A fulfillment read by id, its carrier events, and fulfillmentEventCreate."""
from __future__ import annotations

from typing import Any

from ..connections import Listing
from ..ids import check_gid
from ..registry import resolver
from ..search import sort_key_function
from ..user_errors import ShopifyUserError
from .common import mutation_payload, object_of_type
from .orders import READ_FULFILLMENT_ORDERS, READ_ORDERS

LOCATION_FIELDS = ("address1", "city", "province", "country", "zip", "latitude", "longitude")


@resolver("Query", "fulfillment", scopes=READ_ORDERS + ("read_marketplace_orders",) + READ_FULFILLMENT_ORDERS + ("read_marketplace_fulfillment_orders",))
def fulfillment(root: Any, info, id: str) -> dict | None:
    """One fulfillment by GID (null when there is none)."""
    return object_of_type(info, id, "Fulfillment")


@resolver("Fulfillment", "events")
def fulfillment_events(fulfillment: dict, info, sortKey: str | None = None, **_: Any) -> Listing:
    """The fulfillment's events in `sortKey` order (ID: as recorded; HAPPENED_AT: as they happened)."""
    key = sort_key_function(sortKey)
    return Listing(sorted(info.context.shop.deref(fulfillment.get("events") or []), key=key), key)


@resolver("Mutation", "fulfillmentEventCreate", scopes=("write_fulfillments",))
def fulfillment_event_create(root: Any, info, fulfillmentEvent: dict) -> dict:
    """Record a carrier event on a fulfillment; Shopify sends fulfillments/update."""
    ctx = info.context
    try:
        event = ctx.store.create_fulfillment_event(
            ctx.shop, check_gid(fulfillmentEvent["fulfillmentId"]), fulfillmentEvent["status"],
            happened_at=fulfillmentEvent.get("happenedAt"), estimated_delivery_at=fulfillmentEvent.get("estimatedDeliveryAt"),
            message=fulfillmentEvent.get("message"), client_id=ctx.client_id, **{name: fulfillmentEvent.get(name) for name in LOCATION_FIELDS},
        )
    except ShopifyUserError as error:
        return mutation_payload("FulfillmentEventCreatePayload", error, fulfillmentEvent=None)
    return mutation_payload("FulfillmentEventCreatePayload", fulfillmentEvent=event)
