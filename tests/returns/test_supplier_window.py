"""Past the supplier's return window the store still takes the customer's lawful return, but the supplier is left out.

No RMA is asked of a supplier whose window has closed, and the item is never restocked at
the supplier's location nor counted into its stock (phantom stock oversells): it stays with
the store, and the merchant is told why.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from shopify_app.returns.rma import request_due_rmas
from shopify_app.suppliers.models import Alert, ProductMapping, Supplier

from returns.returns_world import SHOP, serve_world


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def supplier_terms(world, **terms) -> None:
    with world.services.session_factory.begin() as session:
        supplier = session.get(Supplier, world.supplier_id)
        supplier.return_terms = {**supplier.return_terms, **terms}
        session.execute(ProductMapping.__table__.update().where(ProductMapping.supplier_id == world.supplier_id).values(stock=10))


def supplier_stock(world, sku: str) -> int:
    with world.services.session_factory() as session:
        return session.scalar(select(ProductMapping.stock).where(ProductMapping.supplier_id == world.supplier_id, ProductMapping.sku == sku))


def receive_one(world, case) -> None:
    answer = world.api("post", f"/api/returns/{case.id}/receive", json={"lines": [{"line_id": case.lines[0].id, "received": 1}]})
    assert answer.status_code == 200, answer.get_json()
    world.drain()


def test_a_return_past_the_suppliers_window_asks_no_rma_and_credits_no_supplier_stock(world) -> None:
    supplier_terms(world, window_days=7)
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=10)  # inside the store's 14 days, past the supplier's 7
    case = world.request_return(order, "MUG-WHT")
    assert case.decision == "approve" and case.lines[0].supplier_window_passed
    assert request_due_rmas(world.services.session_factory, world.services.box) == 0
    case = world.case(case.return_gid)
    assert case.rma_state == "manual" and "7-day return window" in case.rma_note and case.rma_number is None
    assert world.supplier_server.returns.authorizations == {}
    with world.services.session_factory() as session:
        alert = session.scalar(select(Alert).where(Alert.kind == "return_manual"))
    assert alert is not None and "7-day return window" in alert.message and "stays with the store" in alert.message
    at_supplier = world.available("MUG-WHT")
    receive_one(world, case)
    case = world.case(case.return_gid)
    assert case.lines[0].received_quantity == 1 and case.lines[0].restocked_quantity == 0  # no merchant location set: restocked by hand
    assert world.available("MUG-WHT") == at_supplier and supplier_stock(world, "MUG-WHT") == 10


def test_past_the_window_the_item_restocks_at_the_merchants_location(world) -> None:
    shelf = world.store.add_location(SHOP, "Back office")["id"]
    variant = world.store.variant_by_sku(SHOP, "TEE-S")
    world.store.inventory_level(SHOP, variant["inventoryItem"].gid, shelf, create=True)
    supplier_terms(world, window_days=7, merchant_location_gid=shelf)
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=10, country="PL")
    case = world.request_return(order, "TEE-S")
    assert case.decision == "approve" and case.rma_state == "manual"
    at_supplier = world.available("TEE-S")
    receive_one(world, case)
    assert world.case(case.return_gid).lines[0].restocked_quantity == 1
    assert world.store.inventory_level(SHOP, variant["inventoryItem"].gid, shelf)["_quantities"]["available"] == 1
    assert world.available("TEE-S") == at_supplier and supplier_stock(world, "TEE-S") == 10


def test_inside_the_suppliers_window_the_supplier_still_gets_its_rma(world) -> None:
    supplier_terms(world, window_days=7)
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=5)
    case = world.request_return(order, "MUG-WHT")
    assert not case.lines[0].supplier_window_passed
    assert request_due_rmas(world.services.session_factory, world.services.box) == 1
    assert world.case(case.return_gid).rma_state == "approved"


def test_a_complaint_or_a_review_past_the_suppliers_window_carries_the_mark_for_the_merchants_approval() -> None:
    """The policy does not approve these itself; when the merchant does, no RMA and no supplier restock may follow."""
    import datetime as dt

    from shopify_app.returns import legal_profiles
    from shopify_app.returns.models import Decision
    from shopify_app.returns.policy import LineFacts, ReturnPolicy, SupplierReturnTerms, decide

    now = dt.datetime(2026, 12, 4, 12, tzinfo=dt.timezone.utc)
    terms = SupplierReturnTerms(window_days=30)

    def line_verdict(reason: str, days_ago: int, policy=ReturnPolicy()):
        line = LineFacts(reason=reason, quantity=1, returnable_quantity=1, delivered_at=now - dt.timedelta(days=days_ago),
                         profile=legal_profiles.PL, country="PL", timezone="Europe/Warsaw", supplier_terms=terms)
        return decide([line], policy, now)[1][0]

    complaint = line_verdict("DEFECTIVE", 200)  # under the 2-year guarantee, long past the supplier's 30 days
    assert (complaint.decision, complaint.complaint, complaint.supplier_window_passed) == (Decision.REVIEW, True, True)
    reviewed = line_verdict("UNWANTED", 40, ReturnPolicy(review_reasons=("UNWANTED",), reason_windows={"UNWANTED": 60}))
    assert (reviewed.decision, reviewed.supplier_window_passed) == (Decision.REVIEW, True)
    inside = line_verdict("DEFECTIVE", 10)
    assert not inside.supplier_window_passed


def create_in_admin(world, order: dict, sku: str):
    """The merchant creates the return in Shopify's admin: OPEN at once, no request for our policy to judge (returns/approve)."""
    ret = world.store.create_return(SHOP, order["id"], [{"sku": sku, "quantity": 1, "reason": "UNWANTED"}])
    world.shopify.deliver_pending()
    world.drain()
    return world.case(ret["id"])


@pytest.mark.parametrize("days_ago, passed", [(7, False), (8, True)])  # day 7 is the supplier's last day (to its end), day 8 past it
def test_a_return_created_in_the_admin_is_judged_against_the_suppliers_window_from_the_delivery(world, days_ago, passed) -> None:
    supplier_terms(world, window_days=7)
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=days_ago)  # the shop has no zone: UTC calendar days
    case = create_in_admin(world, order, "MUG-WHT")
    assert (case.decision, case.decided_by, case.lines[0].supplier_window_passed) == ("approve", "merchant", passed)
    assert request_due_rmas(world.services.session_factory, world.services.box) == (0 if passed else 1)
    case = world.case(case.return_gid)
    if passed:
        assert case.rma_state == "manual" and "7-day return window" in case.rma_note and world.supplier_server.returns.authorizations == {}
        receive_one(world, case)
        assert supplier_stock(world, "MUG-WHT") == 10  # never counted back into the supplier's stock
    else:
        assert case.rma_state == "approved"


def test_a_review_for_an_unchecked_quantity_or_delivery_still_carries_the_suppliers_verdict() -> None:
    """The policy sends these to the merchant before judging any window; the supplier's terms are judged all the same."""
    import datetime as dt

    from shopify_app.returns.models import Decision
    from shopify_app.returns.policy import LineFacts, ReturnPolicy, SupplierReturnTerms, judge_line

    now = dt.datetime(2026, 12, 4, 12, tzinfo=dt.timezone.utc)
    facts = dict(reason="UNWANTED", quantity=2, returnable_quantity=1, delivered_at=now - dt.timedelta(days=8), supplier_terms=SupplierReturnTerms(window_days=7))
    too_many = judge_line(LineFacts(**facts), ReturnPolicy(), now)
    assert (too_many.decision, too_many.supplier_window_passed) == (Decision.REVIEW, True)
    inside = judge_line(LineFacts(**{**facts, "delivered_at": now - dt.timedelta(days=7)}), ReturnPolicy(), now)
    assert (inside.decision, inside.supplier_window_passed) == (Decision.REVIEW, False)
    no_returns = judge_line(LineFacts(**{**facts, "quantity": 1, "delivered_at": None, "supplier_terms": SupplierReturnTerms(accepts_returns=False)}), ReturnPolicy(), now)
    assert (no_returns.decision, no_returns.supplier_window_passed) == (Decision.REVIEW, True)
