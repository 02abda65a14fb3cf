"""Resolver modules; importing this package registers them all (see registry.resolver)."""
from . import bulk_operations, catalog, common, fulfillment, fulfillment_events, fulfillment_requests, fulfillment_services, inventory, nodes, orders, returns, shop, webhook_subscriptions  # noqa: F401
