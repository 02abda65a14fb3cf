"""Webhooks from the sandbox: Shopify's headers and HMAC, retries, subscriptions via GraphQL, faults."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from sandbox.shopify.topics import enum_to_header, header_to_enum, normalize_topic
from sandbox.shopify.webhooks import WebhookSender
from sandbox_testkit import CLIENT_ID, CLIENT_SECRET, SHOP
from sandbox_testkit import client, clock, gql, receiver, sandbox, token, wall  # noqa: F401 (fixtures)

SUBSCRIBE = """
mutation($topic: WebhookSubscriptionTopic!, $url: URL!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {callbackUrl: $url, format: JSON}) {
    webhookSubscription { id topic endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } }
    userErrors { field message }
  }
}"""


def expected_hmac(body: bytes, secret: str = CLIENT_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_delivery_is_signed_and_labelled_like_shopify(receiver):
    sender = WebhookSender()
    payload = {"id": 820982911946154508, "name": "#1001", "note": "caf\u00e9"}
    response = sender.deliver("orders/create", payload, SHOP, secret=CLIENT_SECRET, url=f"{receiver.url}/webhooks", webhook_id="wh-1", event_id="ev-1")
    assert response.status_code == 200
    [got] = receiver.received()
    assert got.path == "/webhooks"
    assert json.loads(got.body) == payload  # big ids survive: the body is JSON text, not floats
    assert got.headers["X-Shopify-Hmac-Sha256"] == expected_hmac(got.body)
    assert got.headers["X-Shopify-Hmac-Sha256"] != expected_hmac(got.body, "another-secret")
    assert got.headers["X-Shopify-Topic"] == "orders/create"
    assert got.headers["X-Shopify-Shop-Domain"] == SHOP
    assert got.headers["X-Shopify-API-Version"] == "2026-10"
    assert (got.headers["X-Shopify-Webhook-Id"], got.headers["X-Shopify-Event-Id"]) == ("wh-1", "ev-1")
    assert got.headers["X-Shopify-Triggered-At"].endswith("Z")
    assert got.headers["Content-Type"] == "application/json"
    sender.close()


def test_non_2xx_is_retried_with_the_same_webhook_id(receiver):
    receiver.statuses = [500, 503]
    sender = WebhookSender(max_retries=2, retry_delay=0.0)
    response = sender.deliver("products/update", {"id": 1}, SHOP, secret=CLIENT_SECRET, url=receiver.url)
    assert response.status_code == 200
    got = receiver.received()
    assert len(got) == 3 and len({r.headers["X-Shopify-Webhook-Id"] for r in got}) == 1
    assert [a.status for a in sender.log] == [500, 503, 200] and [a.attempt for a in sender.log] == [1, 2, 3]
    receiver.statuses = [500, 500, 500]
    assert sender.deliver("products/update", {"id": 2}, SHOP, secret=CLIENT_SECRET, url=receiver.url).status_code == 500
    sender.close()


def test_subscription_created_over_graphql_receives_emitted_events(sandbox, gql, receiver):
    body = gql(SUBSCRIBE, {"topic": "ORDERS_CREATE", "url": f"{receiver.url}/orders"}).json()
    created = body["data"]["webhookSubscriptionCreate"]
    assert created["userErrors"] == []
    assert created["webhookSubscription"]["endpoint"] == {"__typename": "WebhookHttpEndpoint", "callbackUrl": f"{receiver.url}/orders"}
    # The app-level (TOML) subscription goes to the app's /webhooks too.
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, webhook_topics=["orders/create"])

    order = sandbox.store.create_order(SHOP, [{"sku": "MUG-BLK", "quantity": 1}])
    deliveries = sandbox.emit(SHOP, "orders/create", {"id": 1, "admin_graphql_api_id": order["id"]})
    got = receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/orders", "/webhooks"]
    assert len({r.headers["X-Shopify-Event-Id"] for r in got}) == 1  # one event...
    assert len({r.headers["X-Shopify-Webhook-Id"] for r in got}) == 2  # ...two deliveries
    for r in got:
        assert r.headers["X-Shopify-Hmac-Sha256"] == expected_hmac(r.body)
        assert json.loads(r.body)["admin_graphql_api_id"] == order["id"]
    assert {d.url for d in deliveries} == {f"{receiver.url}/orders", f"{receiver.url}/webhooks"}

    # Other topics reach neither; after deleting the subscription only /webhooks hears orders/create.
    assert sandbox.emit(SHOP, "products/update", {"id": 2}) == []
    sub_id = created["webhookSubscription"]["id"]
    deleted = gql("mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { message } } }", {"id": sub_id}).json()
    assert deleted["data"]["webhookSubscriptionDelete"] == {"deletedWebhookSubscriptionId": sub_id, "userErrors": []}
    assert [d.url for d in sandbox.emit(SHOP, "ORDERS_CREATE", {"id": 3})] == [f"{receiver.url}/webhooks"]


def test_subscription_list_and_update(sandbox, gql, receiver):
    first = gql(SUBSCRIBE, {"topic": "PRODUCTS_UPDATE", "url": f"{receiver.url}/a"}).json()["data"]["webhookSubscriptionCreate"]["webhookSubscription"]["id"]
    gql(SUBSCRIBE, {"topic": "ORDERS_UPDATED", "url": f"{receiver.url}/b"})
    listed = gql("{ webhookSubscriptions(first: 10, topics: [PRODUCTS_UPDATE]) { nodes { id topic } } }").json()["data"]["webhookSubscriptions"]["nodes"]
    assert listed == [{"id": first, "topic": "PRODUCTS_UPDATE"}]
    update = """mutation($id: ID!, $url: URL!) { webhookSubscriptionUpdate(id: $id, webhookSubscription: {callbackUrl: $url}) {
        webhookSubscription { endpoint { ... on WebhookHttpEndpoint { callbackUrl } } } userErrors { field message } } }"""
    updated = gql(update, {"id": first, "url": f"{receiver.url}/moved"}).json()["data"]["webhookSubscriptionUpdate"]
    assert updated == {"webhookSubscription": {"endpoint": {"callbackUrl": f"{receiver.url}/moved"}}, "userErrors": []}
    missing = gql(update, {"id": "gid://shopify/WebhookSubscription/1", "url": receiver.url}).json()["data"]["webhookSubscriptionUpdate"]
    assert missing["webhookSubscription"] is None and missing["userErrors"][0]["field"] == ["id"]


@pytest.mark.parametrize(
    "url, message",
    [
        ("", "Address can't be blank"),
        ("not a url", "Address is invalid"),
        ("http://example.com/hooks", "Address protocol http:// is not supported"),
    ],
)
def test_bad_callback_urls_get_user_errors(gql, url, message):
    payload = gql(SUBSCRIBE, {"topic": "ORDERS_CREATE", "url": url}).json()["data"]["webhookSubscriptionCreate"]
    assert payload["webhookSubscription"] is None
    assert payload["userErrors"] == [{"field": ["webhookSubscription", "callbackUrl"], "message": message}]


def test_duplicate_subscription_and_bad_topic(gql):
    variables = {"topic": "ORDERS_CREATE", "url": "https://hooks.example.com/orders"}
    assert gql(SUBSCRIBE, variables).json()["data"]["webhookSubscriptionCreate"]["userErrors"] == []
    again = gql(SUBSCRIBE, variables).json()["data"]["webhookSubscriptionCreate"]["userErrors"]
    assert again == [{"field": ["webhookSubscription", "callbackUrl"], "message": "Address for this topic has already been taken"}]
    bad_topic = gql(SUBSCRIBE, {"topic": "ORDERS_EXPLODED", "url": "https://hooks.example.com/x"}).json()
    assert "data" not in bad_topic and bad_topic["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE"


def test_topic_needs_a_matching_scope(sandbox, client):
    from sandbox_testkit import graphql

    sandbox.register_app("products-only", "products-only-secret-0123456789abcd", scopes=["read_products"])
    narrow = sandbox.issue_access_token(SHOP, "products-only")["access_token"]
    body = graphql(client, narrow, SUBSCRIBE, {"topic": "ORDERS_CREATE", "url": "https://hooks.example.com/o"}).json()
    assert body["data"]["webhookSubscriptionCreate"]["userErrors"][0]["field"] == ["topic"]
    ok = graphql(client, narrow, SUBSCRIBE, {"topic": "PRODUCTS_UPDATE", "url": "https://hooks.example.com/p"}).json()
    assert ok["data"]["webhookSubscriptionCreate"]["userErrors"] == []


def _events(sandbox, n: int) -> list[str]:
    return [sandbox.emit(SHOP, "orders/updated", {"seq": i})[0].webhook_id for i in range(n)]


def test_duplicates_resend_the_same_webhook_id(sandbox, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url)
    sandbox.webhooks.configure(duplicate_rate=1.0)
    [webhook_id] = _events(sandbox, 1)
    got = receiver.wait_for(2)
    assert [r.headers["X-Shopify-Webhook-Id"] for r in got] == [webhook_id, webhook_id]
    assert [a.duplicate for a in sandbox.webhooks.attempts(webhook_id=webhook_id)] == [False, True]


def test_drops_never_arrive(sandbox, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url)
    sandbox.webhooks.configure(drop_rate=1.0)
    _events(sandbox, 3)
    assert receiver.received() == [] and len(sandbox.webhooks.dropped) == 3


def test_reorder_window_shuffles_reproducibly(sandbox, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url)
    sandbox.webhooks.configure(reorder_window=5, seed=7)
    ids = _events(sandbox, 4)
    assert receiver.received() == []  # held until the window fills
    ids += _events(sandbox, 1)
    arrived = [r.headers["X-Shopify-Webhook-Id"] for r in receiver.wait_for(5)]
    assert sorted(arrived) == sorted(ids) and arrived != ids
    ids2 = _events(sandbox, 2)
    sandbox.webhooks.flush()
    assert [r.headers["X-Shopify-Webhook-Id"] for r in receiver.wait_for(7)][5:] in (ids2, ids2[::-1])


def test_delayed_deliveries_arrive_later(sandbox, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url)
    sandbox.webhooks.configure(delay_seconds=0.2)
    _events(sandbox, 1)
    assert receiver.received() == []
    assert sandbox.webhooks.wait(timeout=5)
    assert len(receiver.received()) == 1


@pytest.mark.parametrize(
    "enum, header",
    [
        ("ORDERS_CREATE", "orders/create"),
        ("APP_UNINSTALLED", "app/uninstalled"),
        ("INVENTORY_LEVELS_UPDATE", "inventory_levels/update"),
        ("FULFILLMENT_ORDERS_CANCELLATION_REQUEST_ACCEPTED", "fulfillment_orders/cancellation_request_accepted"),
        ("PRODUCT_FEEDS_FULL_SYNC_FINISH", "product_feeds/full_sync_finish"),
        ("BULK_OPERATIONS_FINISH", "bulk_operations/finish"),
        ("APP_SCOPES_UPDATE", "app/scopes_update"),
        ("RETURNS_APPROVE", "returns/approve"),
    ],
)
def test_topic_names_map_both_ways(enum, header):
    assert enum_to_header(enum) == header
    assert header_to_enum(header) == enum
    assert normalize_topic(enum) == normalize_topic(header) == header



def test_webhooks_for_a_retired_version_fall_forward_like_api_calls(sandbox, receiver, wall):
    import datetime as dt

    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, webhook_topics=["orders/create"])
    wall.now = dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc).timestamp()
    sandbox.emit(SHOP, "orders/create", {"id": 1}, api_version="2025-01")
    wall.now = dt.datetime(2027, 2, 1, tzinfo=dt.timezone.utc).timestamp()
    sandbox.emit(SHOP, "orders/create", {"id": 2}, api_version="2025-01")
    sandbox.emit(SHOP, "orders/create", {"id": 3}, api_version="2026-10")
    got = sorted(receiver.wait_for(3), key=lambda r: json.loads(r.body)["id"])
    assert [r.headers["X-Shopify-API-Version"] for r in got] == ["2026-01", "2026-04", "2026-10"]
