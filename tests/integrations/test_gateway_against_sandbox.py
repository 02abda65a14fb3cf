"""The gateway against the sandbox Shopify's real cost model: it paces, and survives THROTTLED."""
from __future__ import annotations

import logging

import pytest

from gateway_kit import PAGE, SHOP, simulated_gateway, simulated_sandbox, spend_directly


@pytest.fixture
def world():
    with simulated_sandbox("gw-client", "gw-secret-0123456789abcdef0123456789") as world:
        yield world


gateway = simulated_gateway


def throttled_records(caplog):
    return [r for r in caplog.records if "throttled" in r.getMessage()]


def test_gateway_meets_a_real_throttled_answer_and_retries_after_the_restore_time(world, caplog):
    sandbox, time, token, client = world
    cost = spend_directly(client, token)
    while cost["throttleStatus"]["currentlyAvailable"] >= cost["requestedQueryCost"]:
        cost = spend_directly(client, token)
    available, requested = cost["throttleStatus"]["currentlyAvailable"], cost["requestedQueryCost"]
    caplog.set_level(logging.INFO, logger="integrations.shopify.gateway")
    data = gateway(token, client, time).query("ProductsPage", PAGE)  # sent blind: no bucket known yet
    assert data["products"]["nodes"]
    assert len(throttled_records(caplog)) == 1  # Shopify (the sandbox) answered THROTTLED once
    assert time.slept and time.slept[0] == pytest.approx((requested - available + 1) / 100, abs=0.005)


def test_paced_gateway_never_gets_throttled_and_runs_close_to_the_restore_rate(world, caplog):
    sandbox, time, token, client = world
    for n in range(12):  # enough products that a page costs what it asks for
        sandbox.store.add_product(SHOP, f"Bulk product {n}", [{"sku": f"BULK-{n}-{v}", "price": "5.00"} for v in range(10)])
    caplog.set_level(logging.INFO, logger="integrations.shopify.gateway")
    gw = gateway(token, client, time)
    calls, start = 80, time.now
    first = spend_directly(client, token)  # learn the page's actual cost; the bucket is shared
    per_call = first["actualQueryCost"]
    spent_first = 2000 - first["throttleStatus"]["currentlyAvailable"]
    for _ in range(calls):
        gw.query("ProductsPage", PAGE)
    elapsed = time.now - start
    assert throttled_records(caplog) == []
    # Standard plan: a 2,000-point bucket restoring 100 points/s. Beyond the first bucket,
    # every point has to be waited for; pacing should add little on top of that floor.
    floor = (spent_first + calls * per_call - 2000) / 100
    assert floor > 10
    assert floor <= elapsed <= floor * 1.15
