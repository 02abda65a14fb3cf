"""Which inbox lane handles a topic: the way back (suppliers' events, Shopify's fulfillment webhooks) or the orders lane (the rest)."""
from __future__ import annotations

# Supplier events are stored under this internal topic (shopify_app/suppliers/webhooks.py SUPPLIER_EVENT_TOPIC).
WAY_BACK_TOPICS = ("supplier/event", "fulfillments/create", "fulfillments/update")
_WAY_BACK = frozenset(WAY_BACK_TOPICS)


def is_way_back(topic: str) -> bool:
    """Whether the way-back lane (not the orders lane) handles deliveries of `topic`."""
    return topic in _WAY_BACK
