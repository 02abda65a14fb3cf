"""The returns world (app on loopback, sandbox Shopify) with a preset's sandbox as the supplier: helpers the preset end-to-end tests share."""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

from sqlalchemy import select
from werkzeug.serving import make_server

from returns.returns_world import SHOP, World
from shopify_app.orders.models import Order
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import SupplierOrder


@contextlib.contextmanager
def served_world(app, shopify, supplier_server: Any) -> Iterator[World]:
    """The app served on loopback, with `supplier_server` (adapter_settings/adapter_credentials/ship) as its supplier."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield World(app, shopify, supplier_server, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()


def forwarded(world: World, sku: str, quantity: int) -> tuple[dict, SupplierOrder]:
    """A Shopify checkout, taken in and forwarded to the supplier: (Shopify order, our delivery row)."""
    order = world.shopify.place_order(SHOP, [{"sku": sku, "quantity": quantity}], email="buyer@example.com")
    world.drain()
    ForwardingWorker(world.services.session_factory, world.services.box).drain()
    with world.services.session_factory() as session:
        ours = session.scalar(select(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]))
        return order, session.scalar(select(SupplierOrder).where(SupplierOrder.order_id == ours.id))


def tracking_numbers(world: World, order: dict) -> list[str]:
    """The tracking numbers of the Shopify fulfillment of `order` (exactly one fulfillment expected)."""
    [fulfillment] = [f for f in world.store.require_shop(SHOP).all("Fulfillment") if f["order"].gid == order["id"]]
    return [entry["number"] for entry in fulfillment["trackingInfo"]]
