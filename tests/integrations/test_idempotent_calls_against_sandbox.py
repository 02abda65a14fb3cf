"""@idempotent end to end: one fresh key per logical call, reused only by that call's retries.

Through the sandbox Shopify (real HTTP): a call whose answer is lost after Shopify applied
it is retried with the same key and applied once; the same variables sent again as a new
call get a new key and are applied again (an intended second adjustment is not swallowed).
"""
from __future__ import annotations

import json
import uuid

import pytest

from integrations.shopify.errors import ShopifyTransientError
from gateway_kit import StaticToken
from integrations.shopify.gateway import ShopifyGateway
from integrations.shopify.pacing import reset_pacing
from sandbox.shopify.server import SandboxShopify

SHOP = "demo.myshopify.com"


@pytest.fixture
def world():
    reset_pacing()
    sandbox = SandboxShopify()
    sandbox.start()
    sandbox.register_app("idem-client", "idem-secret-0123456789abcdef0123456789")
    token = sandbox.issue_access_token(SHOP, "idem-client")["access_token"]
    sent: list[dict] = []

    def record(request):
        if request.url.path.endswith("/graphql.json"):
            sent.append(json.loads(request.content))

    client = sandbox.http_client()
    client.event_hooks["request"].append(record)
    gateway = ShopifyGateway(SHOP, StaticToken(token), http_client=client, sleep=lambda s: None)
    shop = sandbox.store.require_shop(SHOP)
    location = shop.all("Location")[0]["id"]
    item = shop.all("InventoryItem")[0]["id"]
    yield sandbox, gateway, sent, item, location
    client.close()
    sandbox.stop()
    reset_pacing()


def available(sandbox, item, location) -> int:
    return sandbox.store.inventory_level(SHOP, item, location)["_quantities"]["available"]


def adjustment(item, location, delta=2):
    return {"input": {"name": "available", "reason": "correction", "referenceDocumentUri": "gid://dropship-ops/Test/1",
                      "changes": [{"inventoryItemId": item, "locationId": location, "delta": delta, "changeFromQuantity": None}]}}


def test_a_lost_answer_is_retried_with_the_same_key_and_applied_once(world) -> None:
    sandbox, gateway, sent, item, location = world
    before = available(sandbox, item, location)
    sandbox.faults.lose_answer_next(1, 502)  # Shopify applies the adjustment, the answer never arrives
    gateway.mutate("InventoryAdjustQuantities", adjustment(item, location), "inventoryAdjustQuantities")
    assert available(sandbox, item, location) == before + 2
    keys = [body["variables"]["idempotencyKey"] for body in sent]
    assert len(keys) == 2 and keys[0] == keys[1]  # the retry carried the same key: Shopify replayed it
    uuid.UUID(keys[0])  # a random UUID, not a digest of the content


def test_an_identical_second_call_is_a_new_call_with_a_new_key(world) -> None:
    sandbox, gateway, sent, item, location = world
    before = available(sandbox, item, location)
    gateway.mutate("InventoryAdjustQuantities", adjustment(item, location), "inventoryAdjustQuantities")
    gateway.mutate("InventoryAdjustQuantities", adjustment(item, location), "inventoryAdjustQuantities")
    assert available(sandbox, item, location) == before + 4  # two intended adjustments, both applied
    first, second = (body["variables"]["idempotencyKey"] for body in sent)
    assert first != second


def test_set_quantities_retried_after_a_5xx_reuses_its_key(world) -> None:
    sandbox, gateway, sent, item, location = world
    before = available(sandbox, item, location)
    sandbox.faults.fail_next(1, 503)  # refused before Shopify did anything
    variables = {"input": {"name": "available", "reason": "correction", "quantities": [
        {"inventoryItemId": item, "locationId": location, "quantity": before + 7, "changeFromQuantity": before}]}}
    gateway.mutate("InventorySetQuantities", variables, "inventorySetQuantities")
    assert available(sandbox, item, location) == before + 7
    assert len({body["variables"]["idempotencyKey"] for body in sent}) == 1 and len(sent) == 2


def test_a_mutation_without_a_key_is_still_not_retried_blindly(world) -> None:
    # fulfillmentServiceCreate takes no @idempotent: a lost answer stays "outcome unknown".
    sandbox, gateway, sent, item, location = world
    sandbox.faults.lose_answer_next(1, 502)
    with pytest.raises(ShopifyTransientError) as failure:
        gateway.mutate("FulfillmentServiceCreate", {"name": "Idem test", "callbackUrl": "https://app.example.com/fs"},
                       "fulfillmentServiceCreate", idempotent=False)
    assert failure.value.outcome_unknown and len(sent) == 1


def test_the_gateway_notices_when_its_version_is_retired_and_falls_forward(world, caplog) -> None:
    sandbox, gateway, sent, item, location = world
    gateway.query("ShopInfo")
    assert gateway.served_version == "2026-10"
    old = ShopifyGateway(SHOP, gateway._token_source, api_version="2025-01", http_client=gateway._http_client, sleep=lambda s: None)
    with caplog.at_level("WARNING", logger="integrations.shopify.gateway"):
        old.query("ShopInfo")
    assert old.served_version != "2025-01"  # 2026-01 until 2027, then 2026-04
    assert any("instead of 2025-01" in r.getMessage() for r in caplog.records)
