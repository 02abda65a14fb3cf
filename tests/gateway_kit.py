"""The Shopify gateway against the sandbox Shopify: a fixed token, one simulated clock for both sides, a shop whose bucket another process spends."""
from __future__ import annotations

from contextlib import contextmanager

from integrations.shopify.documents import get_document
from integrations.shopify.gateway import ShopifyGateway
from integrations.shopify.pacing import reset_pacing
from sandbox.shopify.server import SandboxShopify

SHOP = "demo.myshopify.com"
PAGE = {"first": 9, "variantsFirst": 10}


class StaticToken:
    """A TokenSource with one access token that never changes."""

    def __init__(self, token):
        self.token = token

    def access_token(self):
        return self.token

    def invalidate(self):
        pass


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


@contextmanager
def simulated_sandbox(client_id: str, secret: str):
    """(sandbox, time, token, client): a sandbox Shopify on SimulatedTime with an app installed on SHOP; pacing state reset around it."""
    reset_pacing()
    time = SimulatedTime()
    sandbox = SandboxShopify(clock=time.clock)
    sandbox.start()
    sandbox.register_app(client_id, secret)
    token = sandbox.issue_access_token(SHOP, client_id)["access_token"]
    client = sandbox.http_client()
    try:
        yield sandbox, time, token, client
    finally:
        client.close()
        sandbox.stop()
        reset_pacing()


def simulated_gateway(token, client, time) -> ShopifyGateway:
    """A gateway for SHOP that sleeps and reads the clock on `time`."""
    return ShopifyGateway(SHOP, StaticToken(token), http_client=client, sleep=time.sleep, clock=time.clock)


def spend_directly(client, token) -> dict:
    """Another process spending the shop's bucket (plain HTTP, no pacing); returns the cost block."""
    response = client.post(
        f"https://{SHOP}/admin/api/2026-10/graphql.json",
        json={"query": get_document("ProductsPage"), "variables": PAGE},
        headers={"X-Shopify-Access-Token": token},
    )
    return response.json()["extensions"]["cost"]
