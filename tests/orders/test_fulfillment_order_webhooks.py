"""fulfillment_orders/* webhooks: the order is re-read through the gateway, synced, and noted."""
from __future__ import annotations

import json

from sqlalchemy import select

from conftest import API_KEY, sample_json, webhook_headers
from forwarding_kit import SHOP
from shopify_app.orders.models import Order
from shopify_app.suppliers.models import Alert
from shopify_app.webhooks.worker import InboxWorker


def test_hold_on_a_fulfillment_order_syncs_the_order_and_alerts(sandboxed_app, sandbox_shopify):
    services = sandboxed_app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "read_orders")
    order = sandbox_shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 1}])
    with sandbox_shopify.store.lock:
        shop = sandbox_shopify.store.require_shop(SHOP)
        fo_gid = [ref.gid if hasattr(ref, "gid") else ref for ref in shop.get(order["id"])["fulfillmentOrders"]][0]
    sandbox_shopify.store.hold_fulfillment_order(SHOP, fo_gid, reason="HIGH_RISK_OF_FRAUD")  # the merchant's (or Shopify's fraud) hold
    payload = sample_json("fulfillment_orders_placed_on_hold")
    payload_text = json.dumps(payload).replace("gid://shopify/FulfillmentOrder/1", fo_gid)
    body = payload_text.encode()
    assert sandboxed_app.test_client().post("/webhooks", data=body, headers=webhook_headers("fulfillment_orders/placed_on_hold", body, shop=SHOP)).status_code == 200
    assert InboxWorker(services.session_factory, services.settings, services).drain().done == 1
    with services.session_factory() as session:
        ours = session.scalar(select(Order))
        assert ours.shopify_id == order["id"].rsplit("/", 1)[1]
        assert "fulfillment_order_placed_on_hold" in [e.kind for e in ours.events]
        # Shopify's hold comes first: the lines are not judged (no "unroutable" alert) until it is released.
        assert sorted(a.kind for a in session.scalars(select(Alert))) == ["fulfillment_on_hold"]


def test_payload_without_a_fulfillment_order_is_dead_lettered(sandboxed_app, sandbox_shopify):
    services = sandboxed_app.extensions["services"]
    services.tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    body = b'{"message": "no ids here"}'
    sandboxed_app.test_client().post("/webhooks", data=body, headers=webhook_headers("fulfillment_orders/cancelled", body, shop=SHOP))
    assert InboxWorker(services.session_factory, services.settings, services).drain().dead == 1
