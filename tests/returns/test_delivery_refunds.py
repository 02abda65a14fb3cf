"""The delivery cost on a withdrawal, end to end through the sandbox Shopify's returnProcess (refundShipping).

EU/PL: a withdrawal from the whole order refunds the delivery cost, up to the shop's least
expensive standard delivery; a partial one refunds none. Israel: a cancellation for no reason
refunds no delivery, one for a defect refunds everything paid. The sandbox refuses what
Shopify refuses: more delivery than is left, or delivery the refund's money does not cover.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from integrations.shopify.errors import ShopifyUserError
from shopify_app.models import ShopSetting
from shopify_app.orders.models import CustomerNotice, OrderEvent
from shopify_app.returns.outcomes import carry_out_due

from returns.returns_world import SHOP, World, serve_world
from returns.test_return_outcomes import outcome_of, refunded_total, returned_and_received, shopify_refunds


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def shopify_order(world: World, order: dict) -> dict:
    return world.store.require_shop(SHOP).get(order["id"])


def refunded_shipping(world: World, order: dict) -> Decimal:
    return Decimal(str(shopify_order(world, order)["totalRefundedShippingSet"]["presentmentMoney"]["amount"]))


def test_a_polish_withdrawal_from_the_whole_order_refunds_the_delivery_cost(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=5, country="PL", shipping="15.00")
    case_id = returned_and_received(world, order, "MUG-WHT")
    assert carry_out_due(world.services) == 1
    outcome = outcome_of(world, case_id)
    assert (outcome.state, outcome.legal_profile, outcome.goods_amount, outcome.delivery_refund, outcome.amount) == ("done", "PL", "12.00", "15.00", "27.00")
    assert refunded_total(world, order) == Decimal("27.00") and refunded_shipping(world, order) == Decimal("15.00")
    [refund] = shopify_refunds(world, order)
    assert [Decimal(line["subtotalAmountSet"]["presentmentMoney"]["amount"]) for line in refund["refundShippingLines"]] == [Decimal("15.00")]
    with world.services.session_factory() as session:
        [event] = [e for e in session.scalars(select(OrderEvent).where(OrderEvent.kind == "return_refunded"))]
        assert event.detail["delivery_refunded"] == "15.00"
        assert session.scalar(select(CustomerNotice).where(CustomerNotice.kind == "return_refunded")) is not None
    assert carry_out_due(world.services) == 0 and len(shopify_refunds(world, order)) == 1  # once


def test_a_partial_withdrawal_refunds_no_delivery_cost(world) -> None:
    order = world.delivered_order("MUG-WHT", 2, delivered_days_ago=5, country="PL", shipping="15.00")
    case_id = returned_and_received(world, order, "MUG-WHT")  # one of two mugs
    assert carry_out_due(world.services) == 1
    outcome = outcome_of(world, case_id)
    assert (outcome.amount, outcome.delivery_refund) == ("12.00", None)
    assert any("only part of the order" in note for note in outcome.fee_notes)
    assert refunded_shipping(world, order) == Decimal("0")
    # The second mug comes back too: now the customer has withdrawn from the whole order.
    second = returned_and_received(world, order, "MUG-WHT")
    assert carry_out_due(world.services) == 1
    assert (outcome_of(world, second).amount, outcome_of(world, second).delivery_refund) == ("27.00", "15.00")


def test_the_extra_for_express_delivery_stays_with_the_merchant(world) -> None:
    assert world.api("put", "/api/settings/return-policy", json={"standard_delivery_price": "9.99"}).status_code == 200
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=5, country="DE", shipping="15.00")  # express
    case_id = returned_and_received(world, order, "MUG-WHT")
    carry_out_due(world.services)
    outcome = outcome_of(world, case_id)
    assert (outcome.legal_profile, outcome.delivery_refund, outcome.amount) == ("EU", "9.99", "21.99")
    assert refunded_shipping(world, order) == Decimal("9.99")
    refused = world.api("put", "/api/settings/return-policy", json={"standard_delivery_price": "-1"})
    assert refused.status_code == 400 and "standard_delivery_price" in str(refused.get_json())


def test_israel_refunds_delivery_only_when_a_defect_cancels_the_order(world) -> None:
    withdrawal = world.delivered_order("MUG-WHT", 1, delivered_days_ago=3, country="IL", shipping="20.00")
    case_id = returned_and_received(world, withdrawal, "MUG-WHT")
    carry_out_due(world.services)
    assert (outcome_of(world, case_id).delivery_refund, outcome_of(world, case_id).amount) == (None, "12.00")
    assert refunded_shipping(world, withdrawal) == Decimal("0")
    defect = world.delivered_order("MUG-WHT", 1, delivered_days_ago=3, country="IL", shipping="20.00")
    case_id = returned_and_received(world, defect, "MUG-WHT", reason="DEFECTIVE")
    carry_out_due(world.services)
    assert (outcome_of(world, case_id).delivery_refund, outcome_of(world, case_id).amount) == ("20.00", "32.00")
    assert refunded_shipping(world, defect) == Decimal("20.00")


def test_a_us_return_refunds_no_delivery(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=3, country="US", shipping="15.00")
    case_id = returned_and_received(world, order, "MUG-WHT")
    carry_out_due(world.services)
    assert (outcome_of(world, case_id).delivery_refund, outcome_of(world, case_id).amount) == (None, "12.00")


def test_the_sandbox_refuses_delivery_refunds_shopify_refuses(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=3, country="PL", shipping="15.00")
    case = world.request_return(order, "MUG-WHT")
    gateway = world.services.gateway(SHOP)
    state = gateway.query("ReturnOutcomeState", {"id": case.return_gid})["return"]
    assert Decimal(state["order"]["totalShippingPriceSet"]["presentmentMoney"]["amount"]) == Decimal("15.00")
    line = state["returnLineItems"]["nodes"][0]["id"]
    sale = next(t for t in state["order"]["transactions"] if t["kind"] == "SALE")["id"]

    def process(shipping: str, refund: str) -> None:
        gateway.mutate("ReturnProcess", {"input": {
            "returnId": case.return_gid, "returnLineItems": [{"id": line, "quantity": 1}],
            "refundShipping": {"shippingRefundAmount": {"amount": shipping, "currencyCode": "USD"}},
            "financialTransfer": {"issueRefund": {"orderTransactions": [{"parentId": sale, "transactionAmount": {"amount": refund, "currencyCode": "USD"}}]}},
        }}, "returnProcess", idempotent=False)

    with pytest.raises(ShopifyUserError) as more_than_paid:
        process("15.01", "27.00")
    assert more_than_paid.value.user_errors[0]["field"][:2] == ["input", "refundShipping"]
    with pytest.raises(ShopifyUserError):
        process("15.00", "10.00")  # the money does not cover the delivery refunded
    process("15.00", "27.00")
    after = gateway.query("ReturnOutcomeState", {"id": case.return_gid})["return"]
    assert Decimal(after["order"]["totalRefundedShippingSet"]["presentmentMoney"]["amount"]) == Decimal("15.00")
