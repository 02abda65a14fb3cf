"""Order edits, refund-cancels and address edits in the sandbox, as Shopify records and announces them.

Read back through the app's own documents over real HTTP: current quantities drop while the
original stays, units leave the fulfillment orders and give back committed stock, an emptied
fulfillment order closes, added lines get a fulfillment order, and the webhooks go out.
"""
from __future__ import annotations

import json

from integrations.shopify.documents import get_document
from sandbox_testkit import CLIENT_ID, CLIENT_SECRET, SHOP
from sandbox_testkit import client, clock, gql, receiver, sandbox, token, wall  # noqa: F401 (fixtures)

TOPICS = ["orders/edited", "orders/updated", "refunds/create"]


def run(gql, name: str, variables: dict) -> dict:
    body = gql(get_document(name), variables).json()
    assert "errors" not in body, body
    return body["data"]


def committed(sandbox, sku: str, location_gid: str) -> int:
    item = sandbox.store.variant_by_sku(SHOP, sku)["inventoryItem"].gid
    return sandbox.store.inventory_level(SHOP, item, location_gid)["_quantities"]["committed"]


def test_an_edit_lowers_current_quantities_frees_units_and_adds_lines(sandbox, gql, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, webhook_topics=TOPICS)
    order = sandbox.store.create_order(SHOP, [{"sku": "MUG-WHT", "quantity": 3}, {"sku": "TEE-M", "quantity": 1}])
    mug_gid, tee_gid = (ref.gid for ref in order["lineItems"])
    [fo] = run(gql, "FulfillmentOrdersForOrder", {"id": order["id"]})["order"]["fulfillmentOrders"]["nodes"]
    location = fo["assignedLocation"]["location"]["id"]
    before = committed(sandbox, "MUG-WHT", location)

    edit = sandbox.edit_order(SHOP, order["id"], quantities={mug_gid: 1, tee_gid: 0}, add=[{"sku": "MUG-BLK", "quantity": 2}])

    lines = {line["sku"]: line for line in run(gql, "OrderForSync", {"id": order["id"]})["order"]["lineItems"]["nodes"]}
    assert {sku: (line["quantity"], line["currentQuantity"]) for sku, line in lines.items()} == {"MUG-WHT": (3, 1), "TEE-M": (1, 0), "MUG-BLK": (2, 2)}
    nodes = run(gql, "FulfillmentOrdersForOrder", {"id": order["id"]})["order"]["fulfillmentOrders"]["nodes"]
    remaining = sorted((line["lineItem"]["sku"], line["remainingQuantity"]) for fo in nodes if fo["status"] == "OPEN" for line in fo["lineItems"]["nodes"])
    assert remaining == [("MUG-BLK", 2), ("MUG-WHT", 1), ("TEE-M", 0)]
    assert committed(sandbox, "MUG-WHT", location) == before - 2  # the two removed mugs are available again
    assert sorted(r["delta"] for r in edit["line_items"]["removals"]) == [1, 2] and [a["delta"] for a in edit["line_items"]["additions"]] == [2]

    got = receiver.wait_for(2)
    bodies = {r.headers["X-Shopify-Topic"]: json.loads(r.body) for r in got}
    assert bodies["orders/edited"]["order_edit"]["order_id"] == int(order["id"].rsplit("/", 1)[1])
    assert {line["sku"]: line["current_quantity"] for line in bodies["orders/updated"]["line_items"]} == {"MUG-WHT": 1, "TEE-M": 0, "MUG-BLK": 2}


def test_removing_every_unit_of_a_fulfillment_order_closes_it(sandbox, gql):
    order = sandbox.store.create_order(SHOP, [{"sku": "TEE-M", "quantity": 2}])
    sandbox.edit_order(SHOP, order["id"], quantities={order["lineItems"][0].gid: 0})
    [fo] = run(gql, "FulfillmentOrdersForOrder", {"id": order["id"]})["order"]["fulfillmentOrders"]["nodes"]
    assert fo["status"] == "CLOSED"


def test_a_refund_cancel_takes_unfulfilled_units_off_and_an_address_edit_moves_the_destination(sandbox, gql, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, webhook_topics=TOPICS)
    order = sandbox.store.create_order(SHOP, [{"sku": "MUG-WHT", "quantity": 3}])
    [fo] = run(gql, "FulfillmentOrdersForOrder", {"id": order["id"]})["order"]["fulfillmentOrders"]["nodes"]
    location = fo["assignedLocation"]["location"]["id"]
    before = committed(sandbox, "MUG-WHT", location)

    sandbox.refund_lines(SHOP, order["id"], [{"lineItemId": order["lineItems"][0].gid, "quantity": 2, "restockType": "CANCEL", "locationId": location}])
    sandbox.change_shipping_address(SHOP, order["id"], city="Halifax", provinceCode="NS", zip="B3H 1A1")

    [line] = run(gql, "OrderForSync", {"id": order["id"]})["order"]["lineItems"]["nodes"]
    assert (line["quantity"], line["currentQuantity"]) == (3, 1)
    [fo] = run(gql, "FulfillmentOrdersForOrder", {"id": order["id"]})["order"]["fulfillmentOrders"]["nodes"]
    assert [l["remainingQuantity"] for l in fo["lineItems"]["nodes"]] == [1]
    assert sandbox.store.require_shop(SHOP).get(fo["id"])["destination"]["city"] == "Halifax"
    assert committed(sandbox, "MUG-WHT", location) == before - 2
    got = receiver.wait_for(3)
    refund = next(json.loads(r.body) for r in got if r.headers["X-Shopify-Topic"] == "refunds/create")
    assert refund["refund_line_items"][0]["restock_type"] == "cancel" and refund["refund_line_items"][0]["line_item"]["current_quantity"] == 1
    updated = [json.loads(r.body) for r in got if r.headers["X-Shopify-Topic"] == "orders/updated"]
    assert updated[-1]["shipping_address"]["city"] == "Halifax"
