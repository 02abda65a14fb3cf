"""Issue 16's "done when": a Polish customer's "unwanted" return on day 13 is approved and refunded through Shopify within the deadline."""
from __future__ import annotations

from decimal import Decimal

import pytest

from shopify_app.returns.outcomes import carry_out_due

from returns.returns_world import serve_world
from returns.test_return_outcomes import outcome_of, refunded_total, shopify_refunds


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def test_an_unwanted_polish_return_on_day_13_is_refunded_through_shopify_within_the_legal_deadline(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=13, country="PL", shipping="9.00")
    case = world.request_return(order, "MUG-WHT", reason="UNWANTED")
    assert (case.decision, case.legal_profile, case.kind) == ("approve", "PL", "return")
    received = world.api("post", f"/api/returns/{case.id}/receive", json={"lines": [{"line_id": case.lines[0].id, "received": 1}]})
    assert received.status_code == 200
    world.drain()
    assert carry_out_due(world.services) == 1  # the outcomes pump, no merchant click
    case = world.case(case.return_gid)
    outcome = outcome_of(world, case.id)
    assert (outcome.state, outcome.amount, outcome.delivery_refund) == ("done", "21.00", "9.00")  # the goods and the delivery (whole order)
    [refund] = shopify_refunds(world, order)
    assert refund["return"].gid == case.return_gid and refunded_total(world, order) == Decimal("21.00")
    assert case.refunded_at is not None and case.refunded_at <= case.refund_due_at
    [clock] = world.api("get", f"/api/returns/{case.id}").get_json()["return_"]["clocks"]
    assert (clock["kind"], clock["state"]) == ("refund", "done")
