"""The returns world: the app on loopback, the sandbox Shopify sending it webhooks, the REST sandbox supplier (shared by the returns and UI tests)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Iterator

from sqlalchemy import select
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET
from sandbox.supplier.rest_supplier import RestSandboxSupplier
from shopify_app.orders.models import Order
from shopify_app.returns.models import ReturnCase
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import ProductMapping, Supplier
from shopify_app.webhooks.worker import InboxWorker

SHOP = "demo.myshopify.com"
TOPICS = ["orders/create", "orders/paid", "returns/request", "returns/approve", "returns/decline", "returns/cancel", "returns/close",
          "reverse_fulfillment_orders/dispose", "refunds/create"]


class World:
    """The app served on loopback, the sandbox Shopify sending it webhooks, the REST sandbox as the supplier at the warehouse."""

    def __init__(self, app, shopify, supplier_server: RestSandboxSupplier, app_url: str):
        self.app, self.shopify, self.supplier_server, self.app_url = app, shopify, supplier_server, app_url
        self.services = app.extensions["services"]
        self.store = shopify.store
        self.location = self.store.require_shop(SHOP).all("Location")[0]["id"]
        shopify.register_app(API_KEY, API_SECRET, app_url, webhook_topics=TOPICS)
        self.services.tokens.save(SHOP, shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders")
        with self.services.session_factory.begin() as session:
            supplier = Supplier(
                shop_domain=SHOP, name="Rest sandbox", kind="rest", location_gid=self.location,
                settings=supplier_server.adapter_settings(), credentials_enc=self.services.box.encrypt(json.dumps(supplier_server.adapter_credentials())),
                return_terms={"window_days": 30, "destination": "supplier", "resellable": True},
            )
            session.add(supplier)
            session.flush()
            for sku in ("MUG-WHT", "TEE-S"):
                session.add(ProductMapping(shop_domain=SHOP, sku=sku, supplier_id=supplier.id, supplier_sku=sku, cost="4.00"))
            self.supplier_id = supplier.id

    def drain(self) -> None:
        self.shopify.webhooks.wait(timeout=5)
        InboxWorker(self.services.session_factory, self.services.settings, self.services).drain()

    def delivered_order(self, sku: str, quantity: int, delivered_days_ago: float, country: str | None = None, **order_fields) -> dict:
        """An order forwarded to the supplier, shipped, fulfilled in Shopify and delivered so many days ago (shipped to `country`).

        `order_fields` go to the sandbox's checkout (e.g. shipping="15.00" for a delivery cost)."""
        extra = dict(order_fields)
        if country:  # the sandbox's default customer lives in Canada
            from sandbox.shopify.records import mailing_address
            from sandbox.shopify.ids import make_gid

            extra["shippingAddress"] = mailing_address(make_gid("MailingAddress", self.store.next_number()), countryCodeV2=country, country=country,
                                                       province=None, provinceCode=None)
        order = self.shopify.place_order(SHOP, [{"sku": sku, "quantity": quantity}], email="buyer@example.com", **extra)
        self.drain()
        ForwardingWorker(self.services.session_factory, self.services.box).drain()
        with self.services.session_factory() as session:
            ours = session.scalar(select(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]))
            from shopify_app.suppliers.models import SupplierOrder

            delivery = session.scalar(select(SupplierOrder).where(SupplierOrder.order_id == ours.id))
            supplier_order_id = delivery.supplier_order_id
        self.supplier_server.ship(supplier_order_id)
        from shopify_app.suppliers.polling import poll_shipments

        poll_shipments(self.services)  # the supplier's parcel becomes a Shopify fulfillment
        shop = self.store.require_shop(SHOP)
        [fulfillment] = [f for f in shop.all("Fulfillment") if f["order"].gid == order["id"]]
        when = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=delivered_days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.store.mark_delivered(shop, fulfillment["id"], when)
        return order

    def request_return(self, order: dict, sku: str, quantity: int = 1, reason: str = "UNWANTED") -> ReturnCase:
        ret = self.store.request_return(SHOP, order["id"], [{"sku": sku, "quantity": quantity, "reason": reason, "customer_note": "please"}])
        self.shopify.deliver_pending()
        self.drain()
        self.drain()  # the returns/approve our approval caused
        return self.case(ret["id"])

    def case(self, return_gid: str) -> ReturnCase:
        with self.services.session_factory() as session:
            case = session.scalar(select(ReturnCase).where(ReturnCase.return_gid == return_gid))
            case.lines  # noqa: B018 - load before the session closes
            return case

    def available(self, sku: str) -> int:
        variant = self.store.variant_by_sku(SHOP, sku)
        return self.store.inventory_level(SHOP, variant["inventoryItem"].gid, self.location)["_quantities"]["available"]

    def api(self, method: str, path: str, **kw):
        headers = {"Authorization": f"Bearer {self.shopify.mint_session_token(SHOP, API_KEY)}"}
        return getattr(self.app.test_client(), method)(path, headers=headers, **kw)


def serve_world(app, shopify) -> Iterator[World]:
    """A World with the app served on a loopback port and the REST sandbox supplier running; both stopped after (a fixture's body)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    supplier_server = RestSandboxSupplier()
    supplier_server.start()
    try:
        yield World(app, shopify, supplier_server, f"http://127.0.0.1:{server.server_port}")
    finally:
        supplier_server.stop()
        server.shutdown()
