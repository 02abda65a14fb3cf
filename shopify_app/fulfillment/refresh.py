"""Re-read an order and its fulfillment orders from Shopify, then sync and route it (jobs and callbacks)."""
from __future__ import annotations

from sqlalchemy import select

from ..orders.graph import order_payload_from_graphql, read_order
from ..orders.models import Order
from ..orders.payloads import parse_order
from ..privacy import gid_number
from .holds import sync_app_holds
from .sync import read_fulfillment_orders


def refresh_order(services, shop_domain: str, order_gid: str) -> bool:
    """Read (no transaction open), write in one short transaction, then make Shopify's holds agree. False if Shopify has no such order."""
    from ..webhooks.handlers.orders import apply_fulfillment_orders, sync_snapshot  # the handlers import this package

    gateway = services.gateway(shop_domain)
    data = read_order(gateway, order_gid)
    if data.get("order") is None:
        return False
    fulfillment_orders = read_fulfillment_orders(gateway, order_gid)
    with services.session_factory.begin() as session:
        order = sync_snapshot(session, services, shop_domain, parse_order(order_payload_from_graphql(data["order"])), fulfillment_orders=fulfillment_orders)
        if order is None:  # we hold a newer order: its fulfillment orders are still news
            order = session.scalar(select(Order).where(Order.shop_domain == shop_domain, Order.shopify_id == gid_number(order_gid)))
            apply_fulfillment_orders(session, order, fulfillment_orders)
    sync_app_holds(services, shop_domain)
    services.wake_forwarding()
    return True
