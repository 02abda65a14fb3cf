"""Returns end to end over real HTTP: sandbox Shopify -> app -> REST sandbox supplier (RMA) -> restock in Shopify, once."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from shopify_app.orders.models import CustomerNotice, OrderEvent
from shopify_app.returns.rma import request_due_rmas
from shopify_app.suppliers.models import Alert, Supplier

from returns.returns_world import SHOP, serve_world


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def test_a_return_in_the_window_is_approved_gets_an_rma_and_restocks_once(world) -> None:
    order = world.delivered_order("MUG-WHT", 2, delivered_days_ago=5)
    case = world.request_return(order, "MUG-WHT")
    assert (case.decision, case.status, case.decided_by) == ("approve", "open", "policy")
    assert world.store.require_shop(SHOP).get(case.return_gid)["status"] == "OPEN"
    assert request_due_rmas(world.services.session_factory, world.services.box) == 1
    case = world.case(case.return_gid)
    assert case.rma_state == "approved" and case.rma_number.startswith("RMA-") and case.rma_label_url
    assert world.supplier_server.returns.authorizations[case.rma_number].items == {"MUG-WHT": 1}

    before = world.available("MUG-WHT")
    answer = world.api("post", f"/api/returns/{case.id}/receive", json={"lines": [{"line_id": case.lines[0].id, "received": 1}]})
    assert answer.status_code == 200, answer.get_json()
    world.drain()  # Shopify's reverse_fulfillment_orders/dispose for our own disposal
    assert world.available("MUG-WHT") == before + 1
    # The same dispose webhook again (a duplicate delivery with a new id): nothing more.
    [rfo] = world.store.require_shop(SHOP).all("ReverseFulfillmentOrder")
    payload = {"admin_graphql_api_id": rfo["id"], "id": int(rfo["id"].rsplit("/", 1)[-1]), "dispositions": [], "total_dispositions": 1}
    world.shopify.emit(SHOP, "reverse_fulfillment_orders/dispose", payload)
    world.drain()
    assert world.available("MUG-WHT") == before + 1
    case = world.case(case.return_gid)
    assert (case.lines[0].received_quantity, case.lines[0].restocked_quantity) == (1, 1)
    with world.services.session_factory() as session:
        kinds = [e.kind for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == case.order_id).order_by(OrderEvent.id))]
        notices = sorted(n.kind for n in session.scalars(select(CustomerNotice).where(CustomerNotice.order_id == case.order_id)))
    for step in ("return_requested", "return_approved", "return_rma", "return_label_sent", "return_received", "return_restocked"):
        assert step in kinds
    assert notices == ["return_approved", "return_label", "return_received"]


def test_a_late_request_is_declined_with_return_period_ended(world) -> None:
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=20)
    case = world.request_return(order, "TEE-S")
    assert (case.decision, case.decline_reason, case.status) == ("decline", "RETURN_PERIOD_ENDED", "declined")
    shopify_return = world.store.require_shop(SHOP).get(case.return_gid)
    assert shopify_return["status"] == "DECLINED" and shopify_return["decline"]["reason"] == "RETURN_PERIOD_ENDED"
    assert "14 days" in shopify_return["decline"]["note"]
    assert request_due_rmas(world.services.session_factory, world.services.box) == 0


def test_a_damaged_item_is_not_restocked_and_a_refund_does_not_restock_twice(world) -> None:
    order = world.delivered_order("MUG-WHT", 2, delivered_days_ago=1)
    case = world.request_return(order, "MUG-WHT", reason="DEFECTIVE")
    assert case.decision == "approve"
    before = world.available("MUG-WHT")
    answer = world.api("post", f"/api/returns/{case.id}/receive", json={"lines": [{"line_id": case.lines[0].id, "received": 1, "damaged": 1}]})
    assert answer.status_code == 200, answer.get_json()
    world.drain()
    assert world.available("MUG-WHT") == before
    case = world.case(case.return_gid)
    assert (case.lines[0].restocked_quantity, case.lines[0].not_restocked_quantity) == (0, 1)
    # The second unit: restocked by us, then the merchant refunds it with "restock" ticked.
    second = world.request_return(order, "MUG-WHT")
    world.api("post", f"/api/returns/{second.id}/receive", json={"lines": [{"line_id": second.lines[0].id, "received": 1}]})
    world.drain()
    assert world.available("MUG-WHT") == before + 1
    line_gid = second.lines[0].line_item_gid
    world.store.create_refund(SHOP, order["id"], [{"lineItemId": line_gid, "quantity": 1, "restockType": "RETURN", "locationId": world.location}])
    world.shopify.deliver_pending()
    world.drain()
    assert world.available("MUG-WHT") == before + 1  # Shopify's second restock was undone
    assert world.case(second.return_gid).refunded_at is not None


def test_a_supplier_refusing_the_rma_alerts_the_merchant(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=2)
    world.supplier_server.refuse_returns("Returns closed for this order")
    case = world.request_return(order, "MUG-WHT")
    request_due_rmas(world.services.session_factory, world.services.box)
    case = world.case(case.return_gid)
    assert case.rma_state == "refused" and "HTTP 409" in case.rma_note and "closed" not in case.rma_note  # a status, never the remote body
    with world.services.session_factory() as session:
        assert session.scalar(select(Alert).where(Alert.kind == "return_rma_refused")).severity == "critical"


def test_the_merchant_decides_queued_returns_and_edits_the_policy(world) -> None:
    assert world.api("put", "/api/settings/return-policy", json={"window_days": 7}).status_code == 400  # below the legal 14
    policy = world.api("put", "/api/settings/return-policy", json={"review_reasons": ["COLOR"], "window_days": 45}).get_json()
    assert policy["policy"]["window_days"] == 45 and policy["warnings"]  # the supplier only takes 30 days
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=3)
    case = world.request_return(order, "TEE-S", reason="COLOR")
    assert case.decision == "review" and case.status == "requested"
    queue = world.api("get", "/api/returns?queue=1").get_json()["returns"]
    assert [c["id"] for c in queue] == [case.id]
    declined = world.api("post", f"/api/returns/{case.id}/decline", json={"reason": "FINAL_SALE", "note": "Sold as final sale."})
    assert declined.status_code == 200 and declined.get_json()["return_"]["decision"] == "decline"
    assert world.store.require_shop(SHOP).get(case.return_gid)["decline"]["reason"] == "FINAL_SALE"
    assert world.api("post", f"/api/returns/{case.id}/approve").status_code == 409  # decided already
    analytics = world.api("get", "/api/returns/analytics").get_json()
    assert analytics["store"]["units_sold"] >= 1 and "COLOR" not in analytics["reasons"]  # declined returns are not counted


def test_a_return_for_an_order_we_never_forwarded_is_decided_and_handed_to_the_merchant(world) -> None:
    # BTL-500 has no supplier: the merchant ships it from a shelf the app does not manage, and its return has no supplier side.
    shelf = world.store.add_location(SHOP, "Merchant's own shelf")["id"]
    order = world.shopify.place_order(SHOP, [{"sku": "BTL-500", "quantity": 1, "location_gid": shelf}], email="buyer@example.com")
    world.drain()
    shop = world.store.require_shop(SHOP)
    fo = next(f for f in shop.all("FulfillmentOrder") if f["order"].gid == order["id"])
    fulfillment = world.store.create_fulfillment(shop, [{"fulfillmentOrderId": fo["id"]}])
    world.store.mark_delivered(shop, fulfillment["id"], (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    case = world.request_return(order, "BTL-500")
    assert case.decision == "approve" and case.rma_state == "manual" and case.supplier_id is None
    with world.services.session_factory() as session:
        assert session.scalar(select(Alert).where(Alert.kind == "return_manual")) is not None


def test_a_return_whose_supplier_was_deleted_still_honours_the_customer(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=2)
    with world.services.session_factory.begin() as session:
        supplier = session.get(Supplier, world.supplier_id)
        supplier.deleted_at, supplier.active = dt.datetime.now(dt.timezone.utc), False
    case = world.request_return(order, "MUG-WHT")
    assert case.decision == "approve" and case.rma_state == "manual"
    assert "no longer connected" in case.decision_note


def test_duplicate_and_reordered_return_webhooks_decide_once(world) -> None:
    order = world.delivered_order("MUG-WHT", 2, delivered_days_ago=3)
    ret = world.store.request_return(SHOP, order["id"], [{"sku": "MUG-WHT", "quantity": 1, "reason": "UNWANTED"}])
    world.store.outbox.drain()  # lose Shopify's own delivery: we replay it by hand, late and twice
    payload = world.store.return_payload(world.store.require_shop(SHOP), ret)
    world.shopify.emit(SHOP, "returns/approve", payload | {"status": "open"})  # a stale, out-of-order approve first
    world.shopify.emit(SHOP, "returns/request", payload)
    world.shopify.emit(SHOP, "returns/request", payload)
    world.drain()
    world.drain()
    case = world.case(ret["id"])
    assert (case.decision, case.status) == ("approve", "open")
    with world.services.session_factory() as session:
        approvals = session.scalars(select(OrderEvent).where(OrderEvent.order_id == case.order_id, OrderEvent.kind == "return_approved")).all()
    assert len(approvals) == 1
    assert world.store.require_shop(SHOP).get(ret["id"])["status"] == "OPEN"


def test_an_email_suppliers_rma_is_recorded_when_it_replies(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=2)
    case = world.request_return(order, "MUG-WHT")
    answer = world.api("post", f"/api/returns/{case.id}/rma", json={"rma_number": "SUP-RMA-77", "label_url": "https://labels.example/77.pdf"})
    assert answer.status_code == 200 and answer.get_json()["return_"]["rma"]["number"] == "SUP-RMA-77"
    assert world.api("post", f"/api/returns/{case.id}/rma", json={}).status_code == 400
    with world.services.session_factory() as session:
        assert session.scalar(select(CustomerNotice).where(CustomerNotice.kind == "return_label")) is not None


def test_the_supplier_confirming_receipt_restocks_once(world) -> None:
    world.supplier_server.configure_webhooks(f"{world.app_url}/suppliers/{world.supplier_id}/webhooks")
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=2)
    case = world.request_return(order, "MUG-WHT")
    request_due_rmas(world.services.session_factory, world.services.box)
    case = world.case(case.return_gid)
    before = world.available("MUG-WHT")
    world.supplier_server.receive_return(case.rma_number)
    world.supplier_server.receive_return(case.rma_number)  # reported twice
    world.supplier_server.flush_webhooks()
    world.drain()
    world.drain()
    assert world.available("MUG-WHT") == before + 1
    case = world.case(case.return_gid)
    assert (case.lines[0].received_quantity, case.lines[0].restocked_quantity) == (1, 1)
    with world.services.session_factory() as session:
        received = session.scalars(select(OrderEvent).where(OrderEvent.order_id == case.order_id, OrderEvent.kind == "return_received")).all()
    assert [e.actor for e in received] == ["supplier"]
