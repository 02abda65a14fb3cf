"""Exchange price differences move money, end to end: sandbox Shopify (returnProcess, orderInvoiceSend) -> app -> REST supplier.

A cheaper replacement refunds the difference in the same returnProcess; a dearer one leaves
the order owing it, Shopify emails the invoice once, and the replacement reaches the supplier
only once the customer paid, unless the merchant sends it before payment.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from shopify_app.orders.models import CustomerNotice, Order, OrderEvent
from shopify_app.returns.outcomes import carry_out_due
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import SupplierOrder

from returns.returns_world import SHOP, World, serve_world
from returns.test_return_outcomes import outcome_of, refunded_total, returned_and_received, shopify_refunds


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def later(minutes: int) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)


def exchange_deliveries(world: World, order: dict) -> list[tuple[str, list[str]]]:
    with world.services.session_factory() as session:
        rows = session.scalars(select(SupplierOrder).join(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1], SupplierOrder.exchange_key != "")).all()
        return [(d.state, [line.supplier_sku for line in d.lines]) for d in rows]


def settle(world: World, now: dt.datetime | None = None) -> None:
    carry_out_due(world.services, now=now)
    world.shopify.deliver_pending()
    world.drain()
    ForwardingWorker(world.services.session_factory, world.services.box).drain()


def timeline(world: World, order: dict) -> list[str]:
    with world.services.session_factory() as session:
        ours = session.scalar(select(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]))
        return [e.kind for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == ours.id).order_by(OrderEvent.id))]


def test_a_cheaper_replacement_refunds_the_difference_through_return_process(world) -> None:
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=4)  # 18.00
    case_id = returned_and_received(world, order, "TEE-S", reason="SIZE_TOO_SMALL", exchange_lines=[{"sku": "MUG-WHT", "quantity": 1}])  # 12.00
    settle(world)
    outcome = outcome_of(world, case_id)
    assert (outcome.state, outcome.difference_refunded, outcome.balance_due, outcome.balance_state) == ("done", "6.00", None, None)
    [refund] = shopify_refunds(world, order)
    assert refund["return"].gid and refunded_total(world, order) == Decimal("6.00")
    assert exchange_deliveries(world, order) == [("placed", ["MUG-WHT"])]  # nothing owed: it ships at once
    settle(world)
    assert len(shopify_refunds(world, order)) == 1 and exchange_deliveries(world, order) == [("placed", ["MUG-WHT"])]


def test_a_dearer_replacement_waits_for_the_customers_payment_of_the_invoice(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4)  # 12.00
    case_id = returned_and_received(world, order, "MUG-WHT", reason="SIZE_TOO_SMALL", exchange_lines=[{"sku": "TEE-S", "quantity": 1}])  # 18.00
    settle(world)
    outcome = outcome_of(world, case_id)
    assert (outcome.state, outcome.balance_due, outcome.balance_state, outcome.difference_refunded) == ("done", "6.00", "awaiting_payment", None)
    shop = world.store.require_shop(SHOP)
    theirs = shop.get(order["id"])
    assert Decimal(theirs["totalOutstandingSet"]["presentmentMoney"]["amount"]) == Decimal("6.00") and theirs["displayFinancialStatus"] == "PARTIALLY_PAID"
    assert len(theirs["_invoices"]) == 1 and theirs["_invoices"][0]["to"] == "buyer@example.com"
    assert shopify_refunds(world, order) == [] and exchange_deliveries(world, order) == []  # not forwarded before payment
    settle(world, now=later(30))  # still unpaid: no second invoice, still not forwarded
    assert len(shop.get(order["id"])["_invoices"]) == 1 and exchange_deliveries(world, order) == []
    world.store.pay_outstanding(SHOP, order["id"])  # the customer pays the invoice
    world.shopify.deliver_pending()
    world.drain()  # orders/paid, orders/updated: the replacement still waits for our check
    assert exchange_deliveries(world, order) == []
    settle(world, now=later(60))
    assert outcome_of(world, case_id).balance_state == "paid"
    assert exchange_deliveries(world, order) == [("placed", ["TEE-S"])]
    settle(world, now=later(90))
    assert exchange_deliveries(world, order) == [("placed", ["TEE-S"])] and len(shop.get(order["id"])["_invoices"]) == 1
    kinds = timeline(world, order)
    assert kinds.count("return_exchange_invoice_sent") == 1 and kinds.count("return_exchange_paid") == 1
    with world.services.session_factory() as session:
        assert session.scalar(select(CustomerNotice).where(CustomerNotice.kind == "return_exchanged")) is not None


def test_the_merchant_may_send_a_dearer_replacement_before_payment(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4)
    case_id = returned_and_received(world, order, "MUG-WHT", reason="SIZE_TOO_SMALL", exchange_lines=[{"sku": "TEE-S", "quantity": 1}])
    settle(world)
    assert exchange_deliveries(world, order) == []
    sent = world.api("post", f"/api/returns/{case_id}/exchange/forward-unpaid")
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["outcome"]["balance_state"] == "forward_unpaid"
    ForwardingWorker(world.services.session_factory, world.services.box).drain()
    assert exchange_deliveries(world, order) == [("placed", ["TEE-S"])]
    assert world.api("post", f"/api/returns/{case_id}/exchange/forward-unpaid").status_code == 409  # nothing waits any more
    assert "return_exchange_forwarded_unpaid" in timeline(world, order)
    settle(world, now=later(30))
    assert exchange_deliveries(world, order) == [("placed", ["TEE-S"])]


def test_an_exchange_paid_in_another_currency_than_the_shops_moves_no_money_and_asks_for_shopify(world) -> None:
    from shopify_app.suppliers.models import Alert

    # Paid in EUR at 0.25 EUR per shop unit: the TEE-S cost the customer 4.50 EUR; the MUG-WHT lists at 12.00 in the shop's currency.
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=4, presentment_currency="EUR", presentment_rate="0.25")
    assert world.store.require_shop(SHOP).get(order["id"])["presentmentCurrencyCode"] == "EUR"
    case_id = returned_and_received(world, order, "TEE-S", reason="SIZE_TOO_SMALL", exchange_lines=[{"sku": "MUG-WHT", "quantity": 1}])
    settle(world)
    outcome = outcome_of(world, case_id)
    # 12.00 (shop currency) less 4.50 EUR would have the customer owe "7.50": no such balance, no refund, no invoice.
    assert (outcome.state, outcome.balance_due, outcome.difference_refunded) == ("failed", None, None)
    assert shopify_refunds(world, order) == [] and not world.store.require_shop(SHOP).get(order["id"]).get("_invoices")
    assert exchange_deliveries(world, order) == []
    with world.services.session_factory() as session:
        [alert] = session.scalars(select(Alert).where(Alert.kind == "return_outcome_failed", Alert.resolved_at.is_(None))).all()
        assert "EUR" in alert.message and "process the exchange in Shopify" in alert.message
