"""Webhook payloads with impossible values are dead-lettered on the first attempt with the reason (issue 12, item 7).

Before, an orders/create with quantity "lots" raised ValueError inside the handler and was
retried 8 times. Each case goes through the real intake (signed POST /webhooks) and the inbox worker.
"""
from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import select

from conftest import install_shop, sample_json, webhook_headers
from shopify_app.models import InboxStatus, WebhookDelivery
from shopify_app.orders.models import Order
from shopify_app.webhooks.worker import InboxWorker

SHOP = "demo.myshopify.com"


@pytest.fixture
def app(app_factory, database_url):
    app = app_factory(database_url)
    install_shop(app, SHOP)
    return app


def deliver(app, topic: str, payload) -> WebhookDelivery:
    """POST the payload as Shopify would, drain the inbox once, return the delivery row."""
    body = json.dumps(payload).encode()
    assert app.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, shop=SHOP)).status_code == 200
    services = app.extensions["services"]
    InboxWorker(services.session_factory, services.settings, services, rng=random.Random(1)).drain()
    with services.session_factory() as session:
        return session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id.desc())).first()


def order_with(**line_changes) -> dict:
    order = sample_json("orders_create")
    order["line_items"][0].update(line_changes)
    return order


def assert_dead_at_once(row: WebhookDelivery, reason: str) -> None:
    assert (row.status, row.attempts) == (InboxStatus.DEAD.value, 1), (row.status, row.attempts, row.last_error)
    assert row.last_error.split(":")[0] in ("PoisonPayload", "BadInventoryPayload") and reason in row.last_error, row.last_error


@pytest.mark.parametrize("changes, reason", [
    ({"quantity": "lots"}, "line_items[0].quantity must be a whole number"),
    ({"quantity": -3}, "line_items[0].quantity must be a whole number"),
    ({"quantity": 10**30}, "line_items[0].quantity must be a whole number"),
    ({"quantity": 2.5}, "line_items[0].quantity must be a whole number"),
    ({"price": "cheap"}, "line_items[0].price is not a decimal amount"),
    ({"price": "NaN"}, "line_items[0].price is not a decimal amount"),
    ({"price": {"amount": 1}}, "line_items[0].price is not a decimal amount"),
    ({"admin_graphql_api_id": "gid://shopify/LineItem/not-a-number"}, "line_items[0].admin_graphql_api_id is not an id"),
    ({"variant_id": "x" * 40}, "line_items[0].variant_id is not an id"),
    ({"sku": ["A", "B"]}, "line_items[0].sku must be text"),
    ({"vendor": "v" * 300}, "line_items[0].vendor is longer than 255 characters"),
])
def test_an_order_line_with_an_impossible_value_is_dead_lettered_at_once(app, changes, reason):
    row = deliver(app, "orders/create", order_with(**changes))
    assert_dead_at_once(row, reason)
    with app.extensions["services"].session_factory() as session:
        assert session.scalar(select(Order.id)) is None  # nothing half-written


@pytest.mark.parametrize("changes, reason", [
    ({"line_items": ["not an object"]}, "line_items[0] is not an object"),
    ({"line_items": {"0": {}}}, "line_items is not a list"),
    ({"id": 2**64, "admin_graphql_api_id": None}, "id is not an id"),
    ({"id": True, "admin_graphql_api_id": None}, "id is not an id"),
    ({"total_price": "1e999999"}, "total_price is not a decimal amount"),
    ({"name": {"first": "#1001"}}, "name must be text"),
    ({"currency": "EURO-DOLLARS"}, "currency is longer than 8 characters"),
    ({"updated_at": "yesterday"}, "unreadable order field"),
])
def test_an_order_with_an_impossible_value_is_dead_lettered_at_once(app, changes, reason):
    order = sample_json("orders_create")
    order.update(changes)
    assert_dead_at_once(deliver(app, "orders/create", order), reason)


def test_a_sound_order_still_goes_through(app):
    row = deliver(app, "orders/create", sample_json("orders_create"))
    assert row.status == InboxStatus.DONE.value


@pytest.mark.parametrize("payload, reason", [
    ({"order_edit": {"order_id": "lots"}}, "order_edit.order_id is not an id"),
    ({"order_edit": ["not", "an", "object"]}, "without order_edit.order_id"),
])
def test_an_order_edit_naming_no_order_is_dead_lettered_at_once(app, payload, reason):
    assert_dead_at_once(deliver(app, "orders/edited", payload), reason)


@pytest.mark.parametrize("changes, reason", [
    ({"refund_line_items": [{"quantity": "lots", "line_item_id": 1}]}, "refund_line_items[0].quantity must be a whole number"),
    ({"refund_line_items": ["nope"]}, "refund_line_items[0] is not an object"),
    ({"refund_line_items": [{"quantity": 1, "line_item_id": {"$ne": 0}}]}, "refund_line_items[0].line_item_id is not an id"),
    ({"refund_line_items": [{"quantity": 1, "line_item_id": 1, "location_id": "here"}]}, "refund_line_items[0].location_id is not an id"),
    ({"return": "gid://shopify/Return/1"}, "return is not an object"),
    ({"return": {"id": {"$gt": 0}}}, "return.id is not an id"),
    ({"transactions": "all of them"}, "transactions is not a list of objects"),
])
def test_a_refund_with_an_impossible_value_is_dead_lettered_at_once(app, changes, reason):
    refund = {"id": 509562969, "order_id": 450789469, "refund_line_items": [], "transactions": []}
    refund.update(changes)
    assert_dead_at_once(deliver(app, "refunds/create", refund), reason)


@pytest.mark.parametrize("changes, reason", [
    ({"available": 10**30}, "available is not a whole number"),
    ({"available": "12"}, "available is not a whole number"),
    ({"updated_at": "not a time"}, "updated_at is not an ISO 8601 time"),
])
def test_an_inventory_level_with_an_impossible_value_is_dead_lettered_at_once(app, changes, reason):
    level = {"inventory_item_id": 271878346596884015, "location_id": 24826418, "available": 6, "updated_at": "2026-11-22T10:00:00-05:00",
             "admin_graphql_api_id": "gid://shopify/InventoryLevel/24826418?inventory_item_id=271878346596884015"}
    level.update(changes)
    assert_dead_at_once(deliver(app, "inventory_levels/update", level), reason)


def test_a_return_gid_that_is_not_an_id_is_dead_lettered_at_once(app):
    row = deliver(app, "returns/request", {"id": 1, "admin_graphql_api_id": "gid://shopify/Return/1 OR 1=1"})
    assert_dead_at_once(row, "without a Return admin_graphql_api_id")
