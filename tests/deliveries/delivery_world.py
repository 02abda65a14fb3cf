"""The returns world (app on loopback, sandbox Shopify, REST supplier) subscribed to the delivery, catalog and scopes topics."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from conftest import API_KEY, API_SECRET
from returns.returns_world import SHOP, TOPICS, World
from shopify_app.orders.models import Order, OrderEvent
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import SupplierOrder
from shopify_app.suppliers.polling import poll_shipments

DELIVERY_TOPICS = TOPICS + ["fulfillments/create", "fulfillments/update", "products/update", "products/delete",
                            "inventory_items/update", "inventory_items/delete", "app/scopes_update"]
CARRIER_APP, ADMIN_APP = "carrier-integration", "merchant-admin"
EVENT_CREATE = """
mutation CarrierEvent($event: FulfillmentEventInput!) {
  fulfillmentEventCreate(fulfillmentEvent: $event) { fulfillmentEvent { id status } userErrors { field message } }
}
"""


class DeliveryWorld(World):
    """World, plus: parcels shipped by the supplier and moved by the carrier through Shopify's fulfillment events."""

    def __init__(self, *args):
        super().__init__(*args)
        self.shopify.register_app(API_KEY, API_SECRET, self.app_url, webhook_topics=DELIVERY_TOPICS)
        # Who else writes to the store, with its own grant: a carrier integration, the merchant's admin.
        self.shopify.register_app(CARRIER_APP, "carrier-secret", None, ["read_orders", "write_fulfillments"])
        self.shopify.register_app(ADMIN_APP, "admin-secret", None, ["write_products", "write_inventory"])

    def token_of(self, client_id: str) -> str:
        """An offline token of one of the other apps."""
        return self.shopify.issue_access_token(SHOP, client_id)["access_token"]

    def shipped_order(self, sku: str = "MUG-WHT", quantity: int = 1) -> tuple[dict, str]:
        """An order forwarded, shipped by the supplier and fulfilled in Shopify: (order, fulfillment GID)."""
        order = self.shopify.place_order(SHOP, [{"sku": sku, "quantity": quantity}], email="buyer@example.com")
        self.drain()
        ForwardingWorker(self.services.session_factory, self.services.box).drain()
        with self.services.session_factory() as session:
            ours = session.scalar(select(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]))
            supplier_order_id = session.scalar(select(SupplierOrder.supplier_order_id).where(SupplierOrder.order_id == ours.id))
        self.supplier_server.ship(supplier_order_id)
        poll_shipments(self.services)
        self.drain()  # fulfillments/create
        [fulfillment] = [f for f in self.store.require_shop(SHOP).all("Fulfillment") if f["order"].gid == order["id"]]
        return order, fulfillment["id"]

    def carrier_event(self, fulfillment_gid: str, status: str, happened_at: dt.datetime, **fields) -> None:
        """The carrier's event, posted to the Admin API as a carrier integration does (fulfillmentEventCreate)."""
        token = self.token_of(CARRIER_APP)
        event = {"fulfillmentId": fulfillment_gid, "status": status, "happenedAt": iso(happened_at)}
        event.update({k: iso(v) if isinstance(v, dt.datetime) else v for k, v in fields.items()})
        with self.shopify.http_client() as client:
            answer = client.post(self.shopify.graphql_url(SHOP), json={"query": EVENT_CREATE, "variables": {"event": event}},
                                 headers={"X-Shopify-Access-Token": token})
        body = answer.json()
        assert "errors" not in body and body["data"]["fulfillmentEventCreate"]["userErrors"] == [], body

    def order_page(self, order: dict) -> str:
        """The order's admin page, loaded as the embedded admin loads it."""
        with self.services.session_factory() as session:
            ours = session.scalar(select(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]))
        token = self.shopify.mint_session_token(SHOP, API_KEY)
        response = self.app.test_client().get(f"/orders/{ours.id}?shop={SHOP}&host=abc&embedded=1&id_token={token}")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def timeline(self, order: dict, actor: str = "carrier") -> list[tuple[str, str]]:
        """(kind, status time) of the order's timeline events by `actor`, oldest first."""
        with self.services.session_factory() as session:
            ours = session.scalar(select(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]))
            events = session.scalars(select(OrderEvent).where(OrderEvent.order_id == ours.id, OrderEvent.actor == actor).order_by(OrderEvent.id))
            return [(e.kind, e.detail.get("at")) for e in events]


def iso(moment: dt.datetime) -> str:
    """A UTC DateTime as Shopify writes it."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def days_ago(days: float) -> dt.datetime:
    """Now minus so many days, to the second (UTC)."""
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).replace(microsecond=0)

