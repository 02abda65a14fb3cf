"""A freshly installed shop with nothing set up: the app on loopback, the sandbox Shopify sending it webhooks, the REST sandbox supplier waiting to be added."""
from __future__ import annotations

from sqlalchemy import select

from conftest import API_KEY, API_SECRET
from returns.returns_world import SHOP
from sandbox.supplier.rest_supplier import RestSandboxSupplier
from shopify_app.devserver import app_config_topics
from shopify_app.orders.models import Order
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import SupplierOrder
from shopify_app.webhooks.worker import InboxWorker
from ui.ui_world import served


class FreshShop:
    """The merchant's shop right after install: no supplier, no mapping, no policy, no order."""

    def __init__(self, app, shopify, supplier_server: RestSandboxSupplier, app_url: str):
        self.app, self.shopify, self.supplier_server, self.app_url = app, shopify, supplier_server, app_url
        self.services = app.extensions["services"]
        self.store = shopify.store
        shopify.register_app(API_KEY, API_SECRET, app_url, webhook_topics=app_config_topics())  # what Shopify sends the deployed app

    def install(self) -> None:
        """Store the offline token, as the first admin visit's token exchange does (API tests skip the page)."""
        self.services.tokens.save(SHOP, self.shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders,write_fulfillments")

    def admin_url(self, path: str = "") -> str:
        """Where the merchant opens the app in the (sandbox) Shopify admin."""
        return f"{self.shopify.base_url}/admin/apps/{API_KEY}{path}?shop={SHOP}"

    def page(self, path: str, shop: str = SHOP):
        """GET an admin page with a fresh id_token, as the admin loads it."""
        token = self.shopify.mint_session_token(shop, API_KEY)
        joiner = "&" if "?" in path else "?"
        return self.app.test_client().get(f"{path}{joiner}shop={shop}&host=abc&embedded=1&id_token={token}")

    def api(self, method: str, path: str, shop: str = SHOP, **kw):
        headers = {"Authorization": f"Bearer {self.shopify.mint_session_token(shop, API_KEY)}"}
        return getattr(self.app.test_client(), method)(path, headers=headers, **kw)

    def rest_supplier_body(self, name: str = "Acme", **extra) -> dict:
        """What the "Add supplier" form sends for the sandbox REST supplier."""
        return {"name": name, "kind": "rest", "settings": self.supplier_server.adapter_settings(),
                "credentials": self.supplier_server.adapter_credentials(), **extra}

    # -- time passing: what the app's pumps do in service -------------------------------------

    def drain(self) -> None:
        """Deliver Shopify's queued webhooks and handle them."""
        self.shopify.webhooks.wait(timeout=5)
        InboxWorker(self.services.session_factory, self.services.settings, self.services).drain()

    def forward(self) -> None:
        ForwardingWorker(self.services.session_factory, self.services.box).drain()

    def ship_everything(self) -> int:
        """The supplier ships every order it holds; the app polls the parcels into Shopify fulfillments."""
        from shopify_app.suppliers.polling import poll_shipments

        with self.services.session_factory() as session:
            placed = session.scalars(select(SupplierOrder.supplier_order_id).where(SupplierOrder.shop_domain == SHOP, SupplierOrder.supplier_order_id.is_not(None))).all()
        for supplier_order_id in placed:
            self.supplier_server.ship(supplier_order_id)
        poll_shipments(self.services)
        return len(placed)

    def order_id(self, shopify_gid: str) -> int | None:
        with self.services.session_factory() as session:
            return session.scalar(select(Order.id).where(Order.shop_domain == SHOP, Order.shopify_id == shopify_gid.rsplit("/", 1)[-1]))


def serve_fresh(app, shopify):
    """The app on a loopback port and the REST sandbox supplier; yields a FreshShop and stops everything after."""
    with served(app) as (app_url, supplier_server):
        yield FreshShop(app, shopify, supplier_server, app_url)
