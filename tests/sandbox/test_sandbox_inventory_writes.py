"""The sandbox's inventory writes and bulk exports behave as Shopify's: all or nothing, compare, versions, JSONL."""
from __future__ import annotations

import json
import time

import pytest

from integrations.shopify.documents import get_document
from sandbox_testkit import CLIENT_ID, SHOP, client, clock, gql, sandbox, token, wall  # noqa: F401 (fixtures)

SET = get_document("InventorySetQuantities")
SET_2026 = get_document("InventorySetQuantities", "2026-04")


@pytest.fixture
def levels(sandbox):
    """(location gid, [(item gid, available), ...]) for the demo shop's first three items."""
    shop = sandbox.store.require_shop(SHOP)
    location = shop.all("Location")[0]["id"]
    items = [item["id"] for item in shop.all("InventoryItem")[:3]]
    return location, [(item, sandbox.store.inventory_level(shop, item, location)["_quantities"]["available"]) for item in items]


def available(sandbox, item, location) -> int:
    return sandbox.store.inventory_level(SHOP, item, location)["_quantities"]["available"]


def quantities(location, entries, compare_field="compareQuantity"):
    return [{"inventoryItemId": item, "locationId": location, "quantity": target, compare_field: compare} for item, target, compare in entries]


def set_input(qs, **extra):
    return {"input": {"name": "available", "reason": "correction", "referenceDocumentUri": "gid://dropship-ops/InventorySyncRun/1", "quantities": qs, **extra}}


def test_one_stale_compare_fails_the_whole_call_and_applies_nothing(sandbox, gql, levels) -> None:
    location, ((a, qa), (b, qb), _) = levels
    body = gql(SET, set_input(quantities(location, [(a, 3, qa), (b, 4, qb + 1)]))).json()
    payload = body["data"]["inventorySetQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert payload["userErrors"] == [{"code": "COMPARE_QUANTITY_STALE", "field": ["input", "quantities", "1", "compareQuantity"], "message": "The compareQuantity value does not match persisted value."}]
    assert (available(sandbox, a, location), available(sandbox, b, location)) == (qa, qb)
    ok = gql(SET, set_input(quantities(location, [(a, 3, qa), (b, 4, qb)]))).json()["data"]["inventorySetQuantities"]
    assert ok["userErrors"] == [] and ok["inventoryAdjustmentGroup"]["referenceDocumentUri"].endswith("/1")
    assert (available(sandbox, a, location), available(sandbox, b, location)) == (3, 4)
    assert sandbox.store.inventory_level(SHOP, a, location)["_quantities"]["on_hand"] >= 3


def test_input_is_validated_like_shopify(sandbox, gql, levels) -> None:
    location, ((a, qa), _, _) = levels
    missing_compare = gql(SET, set_input([{"inventoryItemId": a, "locationId": location, "quantity": 1}])).json()
    assert missing_compare["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "COMPARE_QUANTITY_REQUIRED"
    negative = gql(SET, set_input(quantities(location, [(a, -1, qa)]))).json()
    assert negative["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "INVALID_QUANTITY_NEGATIVE"
    unknown_item = gql(SET, set_input(quantities(location, [("gid://shopify/InventoryItem/1", 1, 0)]))).json()
    assert unknown_item["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "INVALID_INVENTORY_ITEM"
    bad_reason = gql(SET, {"input": {**set_input(quantities(location, [(a, 1, qa)]))["input"], "reason": "because"}}).json()
    assert bad_reason["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "INVALID_REASON"
    too_many = gql(SET, set_input(quantities(location, [(a, 1, qa)] * 251))).json()
    assert too_many["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert available(sandbox, a, location) == qa


def test_a_mutation_costs_ten_plus_its_selection_against_the_bucket(gql, levels) -> None:
    location, ((a, qa), _, _) = levels
    cost = gql(SET, set_input(quantities(location, [(a, qa + 1, qa)]))).json()["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 12 and cost["throttleStatus"]["currentlyAvailable"] == 2000 - 12


def test_api_2026_04_needs_change_from_and_replays_idempotent_calls(sandbox, client, token, levels) -> None:
    location, ((a, qa), _, _) = levels
    url = sandbox.graphql_url(SHOP, "2026-04")
    headers = {"X-Shopify-Access-Token": token}

    def post(variables):
        return client.post(url, json={"query": SET_2026, "variables": variables}, headers=headers).json()

    first = post({**set_input(quantities(location, [(a, qa + 5, qa)], "changeFromQuantity")), "idempotencyKey": "batch-1"})
    assert first["data"]["inventorySetQuantities"]["userErrors"] == []
    replay = post({**set_input(quantities(location, [(a, qa + 5, qa)], "changeFromQuantity")), "idempotencyKey": "batch-1"})
    assert replay["data"] == first["data"]  # the same answer; applied once
    assert available(sandbox, a, location) == qa + 5
    mismatch = post({**set_input(quantities(location, [(a, 1, qa + 5)], "changeFromQuantity")), "idempotencyKey": "batch-1"})
    assert mismatch["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
    stale = post({**set_input(quantities(location, [(a, 1, qa)], "changeFromQuantity")), "idempotencyKey": "batch-2"})
    assert stale["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "CHANGE_FROM_QUANTITY_STALE"
    # 2025-01 knows neither the directive nor the field.
    old = client.post(sandbox.graphql_url(SHOP), json={"query": SET_2026, "variables": {"idempotencyKey": "x", **set_input([])}}, headers=headers).json()
    assert "idempotent" in old["errors"][0]["message"]


def test_writes_publish_inventory_levels_update_with_exact_ids(sandbox, gql, levels, monkeypatch) -> None:
    location, ((a, qa), (b, qb), _) = levels
    published = []
    original = sandbox.store.publish
    monkeypatch.setattr(sandbox.store, "publish", lambda shop, topic, payload: (published.append((topic, payload)), original(shop, topic, payload)))
    gql(SET, set_input(quantities(location, [(a, qa + 2, qa), (b, qb, qb)])))  # b unchanged: no webhook for it
    adjust = get_document("InventoryAdjustQuantities")
    body = gql(adjust, {"input": {"name": "available", "reason": "restock", "referenceDocumentUri": "gid://dropship-ops/ReturnCase/1",
                                  "changes": [{"inventoryItemId": a, "locationId": location, "delta": 3}]}}).json()
    assert body["data"]["inventoryAdjustQuantities"]["userErrors"] == []
    assert available(sandbox, a, location) == qa + 5
    updates = [payload for topic, payload in published if topic == "inventory_levels/update"]
    item_number, location_number = a.rsplit("/", 1)[-1], location.rsplit("/", 1)[-1]
    assert [u["available"] for u in updates] == [qa + 2, qa + 5]
    assert updates[0]["admin_graphql_api_id"] == f"gid://shopify/InventoryLevel/{location_number}?inventory_item_id={item_number}"
    assert str(updates[0]["inventory_item_id"]) == item_number and str(updates[0]["location_id"]) == location_number


def test_a_bulk_export_streams_every_node_with_nested_lines_after_their_parent(sandbox, client, gql) -> None:
    shop = sandbox.store.require_shop(SHOP)
    location = shop.all("Location")[0]["id"]
    sandbox.store.add_catalog(shop, 300, location, available=4)  # more than one page of 250
    started = gql(get_document("BulkOperationRunQuery"), {"query": get_document("CatalogInventoryExport")}).json()["data"]["bulkOperationRunQuery"]
    assert started["userErrors"] == []
    again = gql(get_document("BulkOperationRunQuery"), {"query": get_document("CatalogInventoryExport")}).json()["data"]["bulkOperationRunQuery"]
    # One query operation at a time: the second start is refused while the first runs, or
    # (if the first already finished) it is a new operation that becomes the current one.
    assert again["userErrors"] == [] or again["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    expected = again["bulkOperation"]["id"] if not again["userErrors"] else started["bulkOperation"]["id"]
    finished = None
    for _ in range(200):
        finished = gql(get_document("CurrentBulkOperation")).json()["data"]["currentBulkOperation"]
        if finished["id"] == expected and finished["status"] == "COMPLETED":
            break
        time.sleep(0.05)
    assert finished["status"] == "COMPLETED" and finished["id"] == expected
    lines = [json.loads(line) for line in client.get(finished["url"]).text.splitlines()]
    variants = [line for line in lines if "__parentId" not in line]
    level_lines = [line for line in lines if "__parentId" in line]
    assert len(variants) == len(shop.all("ProductVariant")) == int(finished["rootObjectCount"])
    assert int(finished["objectCount"]) == len(lines)
    assert all("inventoryLevels" not in line["inventoryItem"] for line in variants)  # nested connections leave the parent's line
    position = {line["id"]: n for n, line in enumerate(lines) if "id" in line}
    for n, line in enumerate(lines):
        if "__parentId" in line:
            assert position[line["__parentId"]] < n
    assert sum(1 for line in level_lines if line["quantities"] == [{"name": "available", "quantity": 4}]) == 300
    invalid = gql(get_document("BulkOperationRunQuery"), {"query": "{ nope }"}).json()["data"]["bulkOperationRunQuery"]
    assert invalid["userErrors"][0]["code"] == "INVALID"
