"""Fulfillment events in the sandbox, as Shopify records them: fulfillmentEventCreate, the fulfillment's
summary fields, and the fulfillments/update it sends (REST shipment_status)."""
from __future__ import annotations

import json

import pytest

from graphql import parse

from integrations.shopify.documents import get_document
from sandbox_testkit import CLIENT_ID, CLIENT_SECRET, SHOP, assert_conforms
from sandbox_testkit import client, clock, gql, receiver, sandbox, token, wall  # noqa: F401 (fixtures)
from test_sandbox_fulfillment import fulfil, fulfillment_orders, run

EVENT_CREATE = """
mutation Event($event: FulfillmentEventInput!) {
  fulfillmentEventCreate(fulfillmentEvent: $event) {
    fulfillmentEvent { id status happenedAt estimatedDeliveryAt message }
    userErrors { field message }
  }
}
"""


def shipped(sandbox, gql) -> dict:
    order = sandbox.store.create_order(SHOP, [{"sku": "MUG-WHT", "quantity": 1}])
    [fo] = fulfillment_orders(gql, order["id"])["fulfillmentOrders"]["nodes"]
    return fulfil(gql, fo["id"], tracking={"company": "UPS", "number": "1ZEVENTS"})["fulfillment"]


@pytest.fixture
def carrier(sandbox, gql):
    """fulfillmentEventCreate as a carrier integration with its own grant posts it."""
    sandbox.store.register_app("carrier", "carrier-secret", None, ["read_orders", "write_fulfillments"])
    token = sandbox.issue_access_token(SHOP, "carrier")["access_token"]
    return lambda query, variables: gql(query, variables, token=token)


def event(post, fulfillment_id: str, status: str, **fields) -> dict:
    body = post(EVENT_CREATE, {"event": {"fulfillmentId": fulfillment_id, "status": status, **fields}}).json()
    assert "errors" not in body, body
    return body["data"]["fulfillmentEventCreate"]


def status_of(gql, fulfillment_id: str) -> dict:
    data = run(gql, "FulfillmentDeliveryStatus", {"id": fulfillment_id})
    return data["fulfillment"]


def test_events_move_the_fulfillment_and_send_fulfillments_update(sandbox, gql, carrier, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, webhook_topics=["fulfillments/update"])
    fulfillment = shipped(sandbox, gql)
    assert status_of(gql, fulfillment["id"])["displayStatus"] == "FULFILLED"

    created = event(carrier, fulfillment["id"], "IN_TRANSIT", happenedAt="2026-11-20T08:00:00+02:00", estimatedDeliveryAt="2026-11-24T18:00:00Z")
    assert created["userErrors"] == [] and created["fulfillmentEvent"]["happenedAt"] == "2026-11-20T06:00:00Z"
    event(carrier, fulfillment["id"], "OUT_FOR_DELIVERY", happenedAt="2026-11-23T07:00:00Z")
    event(carrier, fulfillment["id"], "DELIVERED", happenedAt="2026-11-23T15:30:00Z")
    # An older event recorded late is history, not the current status.
    event(carrier, fulfillment["id"], "CONFIRMED", happenedAt="2026-11-19T17:00:00Z")

    now = status_of(gql, fulfillment["id"])
    assert_conforms(sandbox.schema, parse(get_document("FulfillmentDeliveryStatus")), {"fulfillment": now})
    assert (now["displayStatus"], now["inTransitAt"], now["deliveredAt"], now["estimatedDeliveryAt"]) == (
        "DELIVERED", "2026-11-20T06:00:00Z", "2026-11-23T15:30:00Z", "2026-11-24T18:00:00Z")
    assert [e["status"] for e in now["events"]["nodes"]] == ["DELIVERED", "OUT_FOR_DELIVERY", "IN_TRANSIT", "CONFIRMED"]

    got = receiver.wait_for(4)
    payloads = [json.loads(r.body) for r in got]
    assert {r.headers["X-Shopify-Topic"] for r in got} == {"fulfillments/update"}
    assert {p["admin_graphql_api_id"] for p in payloads} == {fulfillment["id"]}
    # REST's shipment_status is the newest event's, in lower case.
    assert sorted(p["shipment_status"] for p in payloads) == ["delivered", "delivered", "in_transit", "out_for_delivery"]


def test_an_unknown_fulfillment_is_a_user_error_and_the_scope_is_required(sandbox, gql, carrier):
    refused = event(carrier, "gid://shopify/Fulfillment/999999", "DELIVERED")
    assert refused["fulfillmentEvent"] is None and refused["userErrors"][0]["field"] == ["fulfillmentEvent", "fulfillmentId"]
    limited = sandbox.store.register_app("reader", "reader-secret", None, ["read_orders"])
    token = sandbox.issue_access_token(SHOP, limited.client_id)["access_token"]
    fulfillment = shipped(sandbox, gql)
    body = gql(EVENT_CREATE, {"event": {"fulfillmentId": fulfillment["id"], "status": "DELIVERED"}}, token=token).json()
    assert body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert status_of(gql, fulfillment["id"])["deliveredAt"] is None


def test_the_demo_carrier_endpoint_records_an_event(sandbox, gql):
    import httpx

    fulfillment = shipped(sandbox, gql)
    url = f"{sandbox.base_url}/admin/sandbox/fulfillment_events?shop={SHOP}"
    answer = httpx.post(url, json={"fulfillment_id": fulfillment["id"], "status": "out_for_delivery"})
    assert answer.status_code == 201 and answer.json()["status"] == "OUT_FOR_DELIVERY"
    assert status_of(gql, fulfillment["id"])["displayStatus"] == "OUT_FOR_DELIVERY"
    assert httpx.post(url, json={"fulfillment_id": "gid://shopify/Fulfillment/1", "status": "DELIVERED"}).status_code == 400
    assert httpx.post(url, json={"status": "DELIVERED"}).status_code == 400



def test_the_apps_eta_event_is_taken_as_the_schema_says_and_read_back_on_the_fulfillment(sandbox, gql):
    """The app's own FulfillmentEventCreate document (validated against 2026-10), then FulfillmentDeliveryStatus reads it back."""
    fulfillment = shipped(sandbox, gql)
    variables = {"fulfillmentEvent": {"fulfillmentId": fulfillment["id"], "status": "CONFIRMED", "happenedAt": "2026-11-20T06:00:00Z",
                                      "estimatedDeliveryAt": "2026-11-27T12:00:00Z"}}
    body = gql(get_document("FulfillmentEventCreate"), variables).json()
    assert "errors" not in body, body
    assert_conforms(sandbox.schema, parse(get_document("FulfillmentEventCreate")), body["data"])
    created = body["data"]["fulfillmentEventCreate"]
    assert created["userErrors"] == [] and created["fulfillmentEvent"]["estimatedDeliveryAt"] == "2026-11-27T12:00:00Z"
    now = status_of(gql, fulfillment["id"])
    assert now["estimatedDeliveryAt"] == "2026-11-27T12:00:00Z"
    assert [(e["status"], e["estimatedDeliveryAt"]) for e in now["events"]["nodes"]] == [("CONFIRMED", "2026-11-27T12:00:00Z")]


def test_another_shops_fulfillment_is_refused_as_unknown(sandbox, gql):
    other = "other-eta.myshopify.com"
    sandbox.add_shop(other)
    order = sandbox.store.create_order(other, [{"sku": "MUG-WHT", "quantity": 1}])
    [fo] = sandbox.store.require_shop(other).deref(sandbox.store.require_shop(other).get(order["id"])["fulfillmentOrders"])
    theirs = sandbox.store.create_fulfillment(other, [{"fulfillmentOrderId": fo["id"]}])
    body = gql(get_document("FulfillmentEventCreate"), {"fulfillmentEvent": {"fulfillmentId": theirs["id"], "status": "DELAYED",
                                                                            "estimatedDeliveryAt": "2026-12-01T12:00:00Z"}}).json()
    refused = body["data"]["fulfillmentEventCreate"]
    assert refused["fulfillmentEvent"] is None and refused["userErrors"] == [{"field": ["fulfillmentEvent", "fulfillmentId"], "message": "Fulfillment does not exist."}]
    assert sandbox.store.require_shop(other).get(theirs["id"]).get("events") in (None, [])
    assert sandbox.store.require_shop(other).get(theirs["id"]).get("estimatedDeliveryAt") is None


def test_a_status_outside_the_enum_is_refused_before_anything_is_recorded(sandbox, gql):
    fulfillment = shipped(sandbox, gql)
    body = gql(get_document("FulfillmentEventCreate"), {"fulfillmentEvent": {"fulfillmentId": fulfillment["id"], "status": "SHIPPED",
                                                                            "estimatedDeliveryAt": "2026-12-01T12:00:00Z"}}).json()
    assert body.get("data") is None and "SHIPPED" in body["errors"][0]["message"]
    assert status_of(gql, fulfillment["id"])["events"]["nodes"] == []
