"""A shop with real history for the admin pages: orders shipped and stuck, a return waiting for review, a dead letter, a desync."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import threading

from sqlalchemy import select, update
from werkzeug.serving import make_server

from conftest import API_KEY, webhook_headers
from returns.returns_world import SHOP, World
from sandbox.supplier.rest_supplier import RestSandboxSupplier
from shopify_app.models import ShopSetting
from shopify_app.orders.models import Order
from shopify_app.reconcile.runner import run_reconciliation
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import SupplierOrder


class SeededShop(World):
    """The returns world, seeded through the real flows."""

    def seed(self) -> None:
        self.shipped = [self.delivered_order("MUG-WHT", 2, delivered_days_ago=3) for _ in range(2)]
        with self.services.session_factory.begin() as session:
            session.add(ShopSetting(shop_domain=SHOP, key="return_policy", value={"auto_decide": False}))
        self.review = self.request_return(self.shipped[0], "MUG-WHT", reason="NOT_AS_DESCRIBED")
        # An order the supplier sits on, past its SLA: reconciliation finds it.
        self.stuck = self.shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}], email="buyer@example.com")
        self.drain()
        ForwardingWorker(self.services.session_factory, self.services.box).drain()
        with self.services.session_factory.begin() as session:
            order_id = session.scalar(select(Order.id).where(Order.shopify_id == self.stuck["id"].rsplit("/", 1)[-1]))
            session.execute(update(SupplierOrder).where(SupplierOrder.order_id == order_id)
                            .values(placed_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=100)))
        run_reconciliation(self.services, SHOP, only=("stuck_at_supplier",))
        # A webhook we cannot handle: dead-lettered at once.
        body = json.dumps({"id": 1}).encode()
        assert self.app.test_client().post("/webhooks", data=body, headers=webhook_headers("returns/request", body, shop=SHOP)).status_code == 200
        self.drain()

    def admin_url(self, path: str = "") -> str:
        """Where the merchant opens the app in the (sandbox) Shopify admin."""
        return f"{self.shopify.base_url}/admin/apps/{API_KEY}{path}?shop={SHOP}"

    def page(self, path: str):
        """GET an admin page with a fresh id_token, as the admin loads it."""
        token = self.shopify.mint_session_token(SHOP, API_KEY)
        joiner = "&" if "?" in path else "?"
        return self.app.test_client().get(f"{path}{joiner}shop={SHOP}&host=abc&embedded=1&id_token={token}")


@contextlib.contextmanager
def served(app):
    """The app on a loopback port (its APP_URL pointing there) and the REST sandbox supplier; yields (app_url, supplier_server)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # The app builds its redirects (the session-token bounce) from APP_URL: where it is served.
    services = app.extensions["services"]
    services.settings = dataclasses.replace(services.settings, app_url=f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    supplier_server = RestSandboxSupplier()
    supplier_server.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", supplier_server
    finally:
        supplier_server.stop()
        server.shutdown()


def serve(sandboxed_app, sandbox_shopify):
    """The seeded shop, the app on a loopback port; yields it and stops everything after."""
    with served(sandboxed_app) as (app_url, supplier_server):
        shop = SeededShop(sandboxed_app, sandbox_shopify, supplier_server, app_url)
        shop.seed()
        yield shop
