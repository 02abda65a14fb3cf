"""fulfillments/create for a fulfillment the app itself just created costs no Shopify read (issue 20).

Our shipment push created it and stored its id: there is nothing for Shopify to tell yet
(its carrier events come later, each as fulfillments/update, which still reads them all).
A merchant's or another app's fulfillment is still read in full.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from deliveries.delivery_world import SHOP, days_ago
from deliveries.test_delivery_status import world  # noqa: F401 - the delivery world fixture
from integrations.shopify.gateway import ShopifyGateway
from shopify_app.deliveries.models import FulfillmentDelivery
from shopify_app.orders.models import Order


@pytest.fixture
def reads(monkeypatch):
    """The fulfillments the app read from Shopify (FulfillmentDeliveryStatus), in order."""
    seen: list[str] = []
    real = ShopifyGateway._execute

    def spy(self, name, variables, **kwargs):
        if name == "FulfillmentDeliveryStatus":
            seen.append(variables["id"])
        return real(self, name, variables, **kwargs)

    monkeypatch.setattr(ShopifyGateway, "_execute", spy)
    return seen


def _delivery(world, gid):  # noqa: F811
    with world.services.session_factory() as session:
        return session.scalar(select(FulfillmentDelivery).where(FulfillmentDelivery.fulfillment_gid == gid))


def _our_order_id(world, order):  # noqa: F811
    with world.services.session_factory() as session:
        return session.scalar(select(Order.id).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]))


def test_the_create_webhook_of_a_fulfillment_we_made_is_recorded_without_reading_it(world, reads):  # noqa: F811
    order, fulfillment = world.shipped_order()  # pushed by the app, its fulfillments/create handled
    row = _delivery(world, fulfillment)
    assert row is not None and row.order_id == _our_order_id(world, order)  # linked: later carrier events find the order
    assert row.fulfillment_status == "success"
    assert fulfillment not in reads
    # Its carrier events still come through Shopify's word, read in full.
    moving = days_ago(1)
    world.carrier_event(fulfillment, "IN_TRANSIT", moving)
    world.drain()
    assert reads == [fulfillment]
    row = _delivery(world, fulfillment)
    assert (row.shipment_status, row.status_at, row.display_status) == ("in_transit", moving, "in_transit")


def test_the_create_webhook_of_a_merchants_fulfillment_is_read_from_shopify(world, reads):  # noqa: F811
    order = world.shopify.place_order(SHOP, [{"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com")
    world.drain()
    shop = world.store.require_shop(SHOP)
    [fo] = shop.deref(shop.get(order["id"])["fulfillmentOrders"])
    fulfillment = world.store.create_fulfillment(SHOP, [{"fulfillmentOrderId": fo["id"]}])  # the merchant ships it from the admin
    world.shopify.deliver_pending()  # what Shopify sends for it (the Admin API sends it as the mutation returns)
    world.drain()
    assert reads == [fulfillment["id"]]
    assert _delivery(world, fulfillment["id"]).order_id == _our_order_id(world, order)


def test_our_parcel_and_the_ours_test_are_one_lookup_scoped_to_the_shop(world):  # noqa: F811
    from shopify_app.deliveries.status import is_our_parcel, our_parcel

    _, fulfillment = world.shipped_order()
    with world.services.session_factory() as session:
        parcel = our_parcel(session, SHOP, fulfillment)
        assert parcel is not None and parcel.shopify_fulfillment_id == fulfillment
        assert is_our_parcel(session, SHOP, fulfillment) is True
        # Another shop's fulfillment of the same id, or a fulfillment we did not make, is not ours.
        assert our_parcel(session, "other-shop.myshopify.com", fulfillment) is None
        assert is_our_parcel(session, "other-shop.myshopify.com", fulfillment) is False
        assert is_our_parcel(session, SHOP, "gid://shopify/Fulfillment/999999999") is False
