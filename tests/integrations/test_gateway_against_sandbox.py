"""The gateway against the sandbox Shopify's real cost model: it paces, and survives THROTTLED."""
from __future__ import annotations

import logging

import pytest

from integrations.shopify.documents import get_document
from integrations.shopify.gateway import ShopifyGateway
from integrations.shopify.pacing import reset_pacing
from sandbox.shopify.server import SandboxShopify

SHOP = "demo.myshopify.com"
PAGE = {"first": 9, "variantsFirst": 10}


class SimulatedTime:
    """One clock for both sides: the gateway's sleeps move Shopify's bucket clock."""

    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class StaticToken:
    def __init__(self, token):
        self.token = token

    def access_token(self):
        return self.token

    def invalidate(self):
        pass


@pytest.fixture
def world():
    reset_pacing()
    time = SimulatedTime()
    sandbox = SandboxShopify(clock=time.clock)
    sandbox.start()
    sandbox.register_app("gw-client", "gw-secret-0123456789abcdef0123456789")
    token = sandbox.issue_access_token(SHOP, "gw-client")["access_token"]
    client = sandbox.http_client()
    yield sandbox, time, token, client
    client.close()
    sandbox.stop()
    reset_pacing()


def gateway(token, client, time):
    return ShopifyGateway(SHOP, StaticToken(token), http_client=client, sleep=time.sleep, clock=time.clock)


def spend_directly(client, token) -> dict:
    """Another process spending the shop's bucket (plain HTTP, no pacing); returns the cost block."""
    response = client.post(
        f"https://{SHOP}/admin/api/2026-10/graphql.json",
        json={"query": get_document("ProductsPage"), "variables": PAGE},
        headers={"X-Shopify-Access-Token": token},
    )
    return response.json()["extensions"]["cost"]


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
