"""Fulfillment in the sandbox, over real HTTP with the app's documents: fulfil, track, services, requests, cancel, order webhooks."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

from graphql import parse

from integrations.shopify.documents import get_document
from sandbox.shopify.store import add_non_shipping_products
from sandbox_testkit import CLIENT_ID, CLIENT_SECRET, SHOP, TEST_APP_SCOPES, assert_conforms, graphql
from sandbox_testkit import client, clock, gql, receiver, sandbox, token, wall  # noqa: F401 (fixtures)

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "shopify" / "webhook-samples-2025-01"
FO_TOPICS = ["fulfillment_orders/fulfillment_request_submitted", "fulfillment_orders/cancellation_request_submitted"]


TEST_DOCUMENTS = Path(__file__).parent / "documents"


def run(gql, name: str, variables: dict) -> dict:
    """POST one of the app's documents (or a test-only one); fail on top-level errors."""
    local = TEST_DOCUMENTS / f"{name}.graphql"
    body = gql(local.read_text() if local.exists() else get_document(name), variables).json()
    assert "errors" not in body, body
    return body["data"]


def signature(body: bytes, secret: str = CLIENT_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers_of(request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def fulfillment_orders(gql, order_gid: str) -> dict:
    return run(gql, "FulfillmentOrdersForOrder", {"id": order_gid})["order"]


def fulfil(gql, fo_id: str, lines: list[dict] | None = None, tracking: dict | None = None) -> dict:
    item = {"fulfillmentOrderId": fo_id}
    if lines is not None:
        item["fulfillmentOrderLineItems"] = lines
    fulfillment = {"lineItemsByFulfillmentOrder": [item], "notifyCustomer": False}
    if tracking:
        fulfillment["trackingInfo"] = tracking
    return run(gql, "FulfillmentCreate", {"fulfillment": fulfillment})["fulfillmentCreate"]


def create_service(gql, callback_url: str) -> dict:
    created = run(gql, "FulfillmentServiceCreate", {"name": "Dropship Partner", "callbackUrl": callback_url})["fulfillmentServiceCreate"]
    assert created["userErrors"] == []
    return created["fulfillmentService"]


def order_at_service(sandbox, service: dict, sku: str = "MUG-WHT", quantity: int = 2) -> dict:
    return sandbox.store.create_order(SHOP, [{"sku": sku, "quantity": quantity}], location_gid=service["location"]["id"])


def test_partial_then_full_fulfillment_updates_quantities_and_statuses(sandbox, gql, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, webhook_topics=["fulfillments/create", "orders/partially_fulfilled", "orders/fulfilled"], scopes=TEST_APP_SCOPES)
    order = sandbox.store.create_order(SHOP, [{"sku": "MUG-WHT", "quantity": 3}, {"sku": "TEE-M", "quantity": 1}])
    answer = run(gql, "FulfillmentOrdersForOrder", {"id": order["id"]})
    assert_conforms(sandbox.schema, parse(get_document("FulfillmentOrdersForOrder")), answer)
    before = answer["order"]
    assert answer["primaryLocation"]["id"] == sandbox.store.require_shop(SHOP).all("Location")[0]["id"]
    [fo] = before["fulfillmentOrders"]["nodes"]
    assert (fo["status"], fo["requestStatus"], before["displayFulfillmentStatus"]) == ("OPEN", "UNSUBMITTED", "UNFULFILLED")
    mug, tee = fo["lineItems"]["nodes"]
    assert (mug["lineItem"]["sku"], mug["remainingQuantity"], mug["totalQuantity"]) == ("MUG-WHT", 3, 3)
    level = sandbox.store.inventory_level(SHOP, sandbox.store.variant_by_sku(SHOP, "MUG-WHT")["inventoryItem"].gid, fo["assignedLocation"]["location"]["id"])
    committed, on_hand = level["_quantities"]["committed"], level["_quantities"]["on_hand"]

    first = fulfil(gql, fo["id"], [{"id": mug["id"], "quantity": 2}], {"company": "UPS", "number": "1Z999AA10123456784"})
    assert first["userErrors"] == []
    assert first["fulfillment"]["status"] == "SUCCESS" and first["fulfillment"]["name"] == f"{order['name']}.1"
    assert first["fulfillment"]["fulfillmentLineItems"]["nodes"][0]["quantity"] == 2
    [tracking] = first["fulfillment"]["trackingInfo"]
    assert tracking["number"] == "1Z999AA10123456784" and tracking["url"].startswith("https://www.ups.com/")

    middle = fulfillment_orders(gql, order["id"])
    [fo] = middle["fulfillmentOrders"]["nodes"]
    assert [line["remainingQuantity"] for line in fo["lineItems"]["nodes"]] == [1, 1]
    assert (fo["status"], middle["displayFulfillmentStatus"]) == ("IN_PROGRESS", "PARTIALLY_FULFILLED")
    # Two of the units this order committed shipped: they leave committed and on_hand.
    assert (level["_quantities"]["committed"], level["_quantities"]["on_hand"]) == (committed - 2, on_hand - 2)

    second = fulfil(gql, fo["id"])  # no line items: everything that remains
    assert second["userErrors"] == [] and second["fulfillment"]["name"] == f"{order['name']}.2"
    after = fulfillment_orders(gql, order["id"])
    [fo] = after["fulfillmentOrders"]["nodes"]
    assert [line["remainingQuantity"] for line in fo["lineItems"]["nodes"]] == [0, 0]
    assert (fo["status"], after["displayFulfillmentStatus"]) == ("CLOSED", "FULFILLED")

    got = receiver.wait_for(4)  # sent in the background after each answer
    topics = sorted(r.headers["X-Shopify-Topic"] for r in got)
    assert topics == ["fulfillments/create", "fulfillments/create", "orders/fulfilled", "orders/partially_fulfilled"]
    created = [json.loads(r.body) for r in got if r.headers["X-Shopify-Topic"] == "fulfillments/create"]
    assert {c["admin_graphql_api_id"] for c in created} == {first["fulfillment"]["id"], second["fulfillment"]["id"]}
    assert any(c["tracking_number"] == "1Z999AA10123456784" and c["line_items"][0]["sku"] == "MUG-WHT" for c in created)


def test_tracking_info_update_replaces_tracking(sandbox, gql):
    order = sandbox.store.create_order(SHOP, [{"sku": "BTL-500", "quantity": 1}])
    [fo] = fulfillment_orders(gql, order["id"])["fulfillmentOrders"]["nodes"]
    fulfillment_id = fulfil(gql, fo["id"])["fulfillment"]["id"]
    variables = {"fulfillmentId": fulfillment_id, "trackingInfoInput": {"company": "DHL Express", "numbers": ["JD1", "JD2"], "urls": ["https://track.example.com/JD1"]}, "notifyCustomer": True}
    updated = run(gql, "FulfillmentTrackingInfoUpdate", variables)["fulfillmentTrackingInfoUpdate"]
    assert updated["userErrors"] == []
    assert updated["fulfillment"]["trackingInfo"] == [
        {"company": "DHL Express", "number": "JD1", "url": "https://track.example.com/JD1"},
        {"company": "DHL Express", "number": "JD2", "url": None},
    ]
    missing = run(gql, "FulfillmentTrackingInfoUpdate", dict(variables, fulfillmentId="gid://shopify/Fulfillment/1"))["fulfillmentTrackingInfoUpdate"]
    assert missing == {"fulfillment": None, "userErrors": [{"field": ["fulfillmentId"], "message": "Fulfillment does not exist."}]}


def test_fulfillment_user_errors(sandbox, gql):
    order = sandbox.store.create_order(SHOP, [{"sku": "MUG-BLK", "quantity": 3}])
    [fo] = fulfillment_orders(gql, order["id"])["fulfillmentOrders"]["nodes"]
    [line] = fo["lineItems"]["nodes"]

    too_many = fulfil(gql, fo["id"], [{"id": line["id"], "quantity": 4}])
    assert too_many == {"fulfillment": None, "userErrors": [{"field": ["fulfillment"], "message": "Invalid fulfillment order line item quantity requested."}]}

    unknown = fulfil(gql, "gid://shopify/FulfillmentOrder/999999")
    assert unknown["fulfillment"] is None
    assert unknown["userErrors"] == [{"field": ["fulfillment", "lineItemsByFulfillmentOrder", "0", "fulfillmentOrderId"], "message": "Fulfillment order does not exist."}]

    cancel = run(gql, "OrderCancel", {"orderId": order["id"], "reason": "CUSTOMER", "refundMethod": {"originalPaymentMethodsRefund": True}, "restock": True})["orderCancel"]
    assert cancel["orderCancelUserErrors"] == [] and cancel["job"]["id"].startswith("gid://shopify/Job/")
    after_cancel = fulfil(gql, fo["id"])
    assert after_cancel["userErrors"] == [{"field": ["fulfillment"], "message": f"Fulfillment order {fo['id'].rsplit('/', 1)[1]} has an unfulfillable status= cancelled."}]
    cancelled = fulfillment_orders(gql, order["id"])
    assert cancelled["cancelledAt"] is not None and cancelled["fulfillmentOrders"]["nodes"][0]["status"] == "CANCELLED"
    again = run(gql, "OrderCancel", {"orderId": order["id"], "reason": "CUSTOMER", "refundMethod": {"originalPaymentMethodsRefund": True}, "restock": True})["orderCancel"]
    assert again["job"] is None and again["orderCancelUserErrors"][0]["code"] == "INVALID"
    # Restocked: the sale's committed units are available again.
    item = sandbox.store.variant_by_sku(SHOP, "MUG-BLK")["inventoryItem"].gid
    level = sandbox.store.inventory_level(SHOP, item, fo["assignedLocation"]["location"]["id"])
    assert (level["_quantities"]["available"], level["_quantities"]["committed"]) == (25, 0)


def test_fulfillment_service_request_reaches_the_callback_and_webhooks(sandbox, gql, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, webhook_topics=FO_TOPICS, scopes=TEST_APP_SCOPES)
    service = create_service(gql, f"{receiver.url}/fulfillment")
    assert service["location"]["id"].startswith("gid://shopify/Location/") and service["callbackUrl"] == f"{receiver.url}/fulfillment"
    order = order_at_service(sandbox, service)

    [submitted] = sandbox.request_fulfillment(SHOP, order["id"], message="Fragile")
    got = receiver.wait_for(2)
    callback = next(r for r in got if r.path == "/fulfillment/fulfillment_order_notification")
    assert json.loads(callback.body) == {"kind": "FULFILLMENT_REQUEST"}
    assert headers_of(callback)["x-shopify-hmac-sha256"] == signature(callback.body)
    assert headers_of(callback)["x-shopify-shop-domain"] == SHOP
    webhook = next(r for r in got if r.path == "/webhooks")
    assert webhook.headers["X-Shopify-Topic"] == "fulfillment_orders/fulfillment_request_submitted"
    assert webhook.headers["X-Shopify-Hmac-Sha256"] == signature(webhook.body)
    assert json.loads(webhook.body) == {
        "original_fulfillment_order": {"id": submitted["id"], "request_status": "unsubmitted", "status": "open"},
        "submitted_fulfillment_order": {"id": submitted["id"], "request_status": "submitted", "status": "open"},
        "fulfillment_order_merchant_request": {"id": json.loads(webhook.body)["fulfillment_order_merchant_request"]["id"], "message": "Fragile"},
    }

    assigned = run(gql, "AssignedFulfillmentOrders", {"first": 10})["assignedFulfillmentOrders"]
    assert_conforms(sandbox.schema, parse(get_document("AssignedFulfillmentOrders")), {"assignedFulfillmentOrders": assigned})
    [node] = assigned["nodes"]
    assert (node["id"], node["requestStatus"], node["orderId"]) == (submitted["id"], "SUBMITTED", order["id"])
    assert node["merchantRequests"]["nodes"][0]["message"] == "Fragile" and node["lineItems"]["nodes"][0]["sku"] == "MUG-WHT"
    assert fulfillment_orders(gql, order["id"])["displayFulfillmentStatus"] == "PENDING_FULFILLMENT"

    accepted = run(gql, "FulfillmentOrderAcceptRequest", {"id": submitted["id"], "message": "On it"})["fulfillmentOrderAcceptFulfillmentRequest"]
    assert accepted == {"fulfillmentOrder": {"id": submitted["id"], "status": "IN_PROGRESS", "requestStatus": "ACCEPTED"}, "userErrors": []}
    assert run(gql, "AssignedFulfillmentOrders", {"first": 10})["assignedFulfillmentOrders"]["nodes"] == []
    assert fulfil(gql, submitted["id"], tracking={"company": "USPS", "number": "9400"})["userErrors"] == []
    assert fulfillment_orders(gql, order["id"])["displayFulfillmentStatus"] == "FULFILLED"


def test_reject_request_and_access_rules(sandbox, gql, client):
    service = create_service(gql, "https://partner.example.com/shopify")
    order = order_at_service(sandbox, service)
    [fo] = fulfillment_orders(gql, order["id"])["fulfillmentOrders"]["nodes"]
    early = run(gql, "FulfillmentOrderAcceptRequest", {"id": fo["id"]})["fulfillmentOrderAcceptFulfillmentRequest"]
    assert early["fulfillmentOrder"] is None and "request status is unsubmitted" in early["userErrors"][0]["message"]

    sandbox.request_fulfillment(SHOP, order["id"])
    sandbox.register_app("merchant-tool", "merchant-tool-secret-0123456789abcdef")
    other = sandbox.issue_access_token(SHOP, "merchant-tool")["access_token"]
    stranger = graphql(client, other, get_document("FulfillmentOrderAcceptRequest"), {"id": fo["id"]}).json()["data"]["fulfillmentOrderAcceptFulfillmentRequest"]
    assert stranger["userErrors"] == [{"field": ["id"], "message": "The fulfillment order is not assigned to the requesting fulfillment service"}]
    blocked = graphql(client, other, get_document("FulfillmentCreate"), {"fulfillment": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}]}}).json()
    assert blocked["data"]["fulfillmentCreate"]["userErrors"][0]["message"] == "The api_client does not have access to the fulfillment order."

    rejected = run(gql, "FulfillmentOrderRejectRequest", {"id": fo["id"], "reason": "INVENTORY_OUT_OF_STOCK", "message": "No stock"})["fulfillmentOrderRejectFulfillmentRequest"]
    assert rejected == {"fulfillmentOrder": {"id": fo["id"], "status": "OPEN", "requestStatus": "REJECTED"}, "userErrors": []}
    assert fulfillment_orders(gql, order["id"])["displayFulfillmentStatus"] == "REQUEST_DECLINED"
    assert [f["requestStatus"] for f in sandbox.request_fulfillment(SHOP, order["id"])] == ["SUBMITTED"]  # may be asked again


def test_order_cancel_asks_the_service_that_accepted(sandbox, gql, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, webhook_topics=["orders/cancelled"], scopes=TEST_APP_SCOPES)
    service = create_service(gql, f"{receiver.url}/fs")
    order = order_at_service(sandbox, service, quantity=1)
    [fo] = sandbox.request_fulfillment(SHOP, order["id"])
    run(gql, "FulfillmentOrderAcceptRequest", {"id": fo["id"]})
    receiver.wait_for(1)

    cancel = run(gql, "OrderCancel", {"orderId": order["id"], "reason": "CUSTOMER", "refundMethod": {"originalPaymentMethodsRefund": True}, "restock": True, "staffNote": "asked by phone"})["orderCancel"]
    assert cancel["orderCancelUserErrors"] == [] and cancel["job"]["done"] is False
    state = fulfillment_orders(gql, order["id"])
    assert state["cancelledAt"] is not None
    assert [(f["status"], f["requestStatus"]) for f in state["fulfillmentOrders"]["nodes"]] == [("IN_PROGRESS", "CANCELLATION_REQUESTED")]
    got = receiver.wait_for(3)
    cancel_callback = [r for r in got if r.path == "/fs/fulfillment_order_notification" and json.loads(r.body) == {"kind": "CANCELLATION_REQUEST"}]
    assert len(cancel_callback) == 1 and headers_of(cancel_callback[0])["x-shopify-hmac-sha256"] == signature(cancel_callback[0].body)
    [cancelled_hook] = [r for r in got if r.headers.get("X-Shopify-Topic") == "orders/cancelled"]
    assert json.loads(cancelled_hook.body)["cancel_reason"] == "customer"

    waiting = run(gql, "AssignedFulfillmentOrders", {"first": 5, "assignmentStatus": "CANCELLATION_REQUESTED"})["assignedFulfillmentOrders"]["nodes"]
    assert [n["id"] for n in waiting] == [fo["id"]]
    accepted = run(gql, "FulfillmentOrderAcceptCancellation", {"id": fo["id"], "message": "Not shipped yet"})["fulfillmentOrderAcceptCancellationRequest"]
    assert accepted == {"fulfillmentOrder": {"id": fo["id"], "status": "CLOSED", "requestStatus": "CANCELLATION_ACCEPTED"}, "userErrors": []}
    twice = run(gql, "FulfillmentOrderRejectCancellation", {"id": fo["id"]})["fulfillmentOrderRejectCancellationRequest"]
    assert twice["fulfillmentOrder"] is None and twice["userErrors"][0]["field"] == ["id"]


def test_rejected_cancellation_keeps_the_service_working(sandbox, gql):
    service = create_service(gql, "https://partner.example.com/shopify")
    order = order_at_service(sandbox, service)
    [fo] = sandbox.request_fulfillment(SHOP, order["id"])
    run(gql, "FulfillmentOrderAcceptRequest", {"id": fo["id"]})
    assert [f["requestStatus"] for f in sandbox.request_cancellation(SHOP, order["id"], message="Customer changed their mind")] == ["CANCELLATION_REQUESTED"]
    rejected = run(gql, "FulfillmentOrderRejectCancellation", {"id": fo["id"], "message": "Already shipped"})["fulfillmentOrderRejectCancellationRequest"]
    assert rejected == {"fulfillmentOrder": {"id": fo["id"], "status": "IN_PROGRESS", "requestStatus": "CANCELLATION_REJECTED"}, "userErrors": []}
    assert fulfil(gql, fo["id"])["userErrors"] == []


def test_place_order_emits_orders_create_and_paid_in_the_rest_shape(sandbox, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, scopes=TEST_APP_SCOPES)
    add_non_shipping_products(sandbox.store, SHOP)
    order = sandbox.place_order(SHOP, [{"sku": "MUG-BLK", "quantity": 2}, {"sku": "EBOOK-GUIDE", "quantity": 1}, {"sku": "GIFT-25", "quantity": 1}], email="buyer@example.com")
    got = receiver.wait_for(3)
    assert [r.headers["X-Shopify-Topic"] for r in got] == ["orders/create", "orders/paid", "fulfillments/create"]
    assert all(r.headers["X-Shopify-Hmac-Sha256"] == signature(r.body) for r in got)
    created = json.loads(got[0].body)
    assert created == json.loads(got[1].body)

    sample = json.loads((SAMPLES / "orders_create.json").read_text())
    assert set(sample) <= set(created)
    assert set(sample["line_items"][0]) <= set(created["line_items"][0])
    assert set(sample["customer"]) <= set(created["customer"])
    assert created["admin_graphql_api_id"] == order["id"] and created["id"] == int(order["id"].rsplit("/", 1)[1])
    assert (created["email"], created["customer"]["email"], created["financial_status"]) == ("buyer@example.com", "buyer@example.com", "paid")
    lines = {line["sku"]: line for line in created["line_items"]}
    assert set(lines) == {"MUG-BLK", "EBOOK-GUIDE", "GIFT-25"}
    assert (lines["MUG-BLK"]["requires_shipping"], lines["MUG-BLK"]["fulfillable_quantity"], lines["MUG-BLK"]["gift_card"]) == (True, 2, False)
    assert lines["EBOOK-GUIDE"]["requires_shipping"] is False
    # The gift card was fulfilled on payment (Shopify's default), so nothing of it remains to ship.
    assert (lines["GIFT-25"]["gift_card"], lines["GIFT-25"]["fulfillable_quantity"], lines["GIFT-25"]["fulfillment_service"]) == (True, 0, "gift_card")
    assert created["fulfillment_status"] == "partial" and created["shipping_address"]["country_code"] == "CA"
    assert sandbox.order_webhook_payload(order)["line_items"] == created["line_items"]
    assert json.loads(got[2].body)["line_items"][0]["sku"] == "GIFT-25"


def test_place_order_goes_through_the_senders_faults(sandbox, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, scopes=TEST_APP_SCOPES)
    sandbox.webhooks.configure(drop_rate=1.0)
    sandbox.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}])
    assert receiver.received() == []
    assert [d.topic for d in sandbox.webhooks.dropped] == ["orders/create", "orders/paid"]


def test_hold_and_release(sandbox, gql):
    order = sandbox.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 1}])
    [fo] = fulfillment_orders(gql, order["id"])["fulfillmentOrders"]["nodes"]
    hold = """mutation($id: ID!) { fulfillmentOrderHold(id: $id, fulfillmentHold: {reason: INCORRECT_ADDRESS, reasonNotes: "Check street"}) {
        fulfillmentOrder { status supportedActions { action } } fulfillmentHold { reason displayReason } userErrors { field message code } } }"""
    held = gql(hold, {"id": fo["id"]}).json()["data"]["fulfillmentOrderHold"]
    assert held == {"fulfillmentOrder": {"status": "ON_HOLD", "supportedActions": [{"action": "RELEASE_HOLD"}]}, "fulfillmentHold": {"reason": "INCORRECT_ADDRESS", "displayReason": "Incorrect address"}, "userErrors": []}
    assert "on_hold" in fulfil(gql, fo["id"])["userErrors"][0]["message"]
    release = "mutation($id: ID!) { fulfillmentOrderReleaseHold(id: $id) { fulfillmentOrder { status } userErrors { message code } } }"
    assert gql(release, {"id": fo["id"]}).json()["data"]["fulfillmentOrderReleaseHold"] == {"fulfillmentOrder": {"status": "OPEN"}, "userErrors": []}


def test_fulfillment_cancel_reopens_the_units(sandbox, gql):
    order = sandbox.store.create_order(SHOP, [{"sku": "TEE-M", "quantity": 2}])
    [fo] = fulfillment_orders(gql, order["id"])["fulfillmentOrders"]["nodes"]
    fulfillment_id = fulfil(gql, fo["id"])["fulfillment"]["id"]
    cancel = "mutation($id: ID!) { fulfillmentCancel(id: $id) { fulfillment { status displayStatus } userErrors { message } } }"
    assert gql(cancel, {"id": fulfillment_id}).json()["data"]["fulfillmentCancel"] == {"fulfillment": {"status": "CANCELLED", "displayStatus": "CANCELED"}, "userErrors": []}
    reopened = fulfillment_orders(gql, order["id"])
    assert reopened["displayFulfillmentStatus"] == "UNFULFILLED"
    assert [(f["status"], f["lineItems"]["nodes"][0]["remainingQuantity"]) for f in reopened["fulfillmentOrders"]["nodes"]] == [("OPEN", 2)]


def test_node_and_fulfillment_order_queries_answer_the_same_object(sandbox, gql):
    order = sandbox.store.create_order(SHOP, [{"sku": "MUG-WHT", "quantity": 1}])
    [fo] = fulfillment_orders(gql, order["id"])["fulfillmentOrders"]["nodes"]
    query = """query($id: ID!) { fulfillmentOrder(id: $id) { id orderName supportedActions { action } destination { city email } }
        node(id: $id) { ... on FulfillmentOrder { id status } } }"""
    data = gql(query, {"id": fo["id"]}).json()["data"]
    assert data["fulfillmentOrder"]["orderName"] == order["name"] and data["node"] == {"id": fo["id"], "status": "OPEN"}
    assert {a["action"] for a in data["fulfillmentOrder"]["supportedActions"]} >= {"CREATE_FULFILLMENT", "HOLD"}
    assert data["fulfillmentOrder"]["destination"] == {"city": "Toronto", "email": "customer@example.com"}
