"""The sandbox's inventory writes and bulk exports behave as Shopify 2026-10's: all or nothing,
changeFromQuantity, @idempotent, versions falling forward, ungrouped JSONL."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest

from integrations.shopify.documents import get_document
from sandbox_testkit import CLIENT_ID, SHOP, client, clock, gql, sandbox, token, wall  # noqa: F401 (fixtures)

SET = get_document("InventorySetQuantities")
ADJUST = get_document("InventoryAdjustQuantities")
# What the app sent before issue 13 (2025-01): compareQuantity, no @idempotent.
SET_2025 = """mutation InventorySetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) { inventoryAdjustmentGroup { id } userErrors { code field message } }
}"""


@pytest.fixture
def levels(sandbox):
    """(location gid, [(item gid, available), ...]) for the demo shop's first three items."""
    shop = sandbox.store.require_shop(SHOP)
    location = shop.all("Location")[0]["id"]
    items = [item["id"] for item in shop.all("InventoryItem")[:3]]
    return location, [(item, sandbox.store.inventory_level(shop, item, location)["_quantities"]["available"]) for item in items]


def available(sandbox, item, location) -> int:
    return sandbox.store.inventory_level(SHOP, item, location)["_quantities"]["available"]


def quantities(location, entries, compare_field="changeFromQuantity"):
    return [{"inventoryItemId": item, "locationId": location, "quantity": target, compare_field: compare} for item, target, compare in entries]


def set_input(qs, key: str | None = None, **extra):
    """Variables for SET: a fresh idempotency key unless one is given."""
    return {"input": {"name": "available", "reason": "correction", "referenceDocumentUri": "gid://dropship-ops/InventorySyncRun/1", "quantities": qs, **extra},
            "idempotencyKey": key or str(uuid.uuid4())}


def test_one_stale_compare_fails_the_whole_call_and_applies_nothing(sandbox, gql, levels) -> None:
    location, ((a, qa), (b, qb), _) = levels
    body = gql(SET, set_input(quantities(location, [(a, 3, qa), (b, 4, qb + 1)]))).json()
    payload = body["data"]["inventorySetQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert payload["userErrors"] == [{"code": "CHANGE_FROM_QUANTITY_STALE", "field": ["input", "quantities", "1", "changeFromQuantity"], "message": "The changeFromQuantity value does not match persisted value."}]
    assert (available(sandbox, a, location), available(sandbox, b, location)) == (qa, qb)
    ok = gql(SET, set_input(quantities(location, [(a, 3, qa), (b, 4, qb)]))).json()["data"]["inventorySetQuantities"]
    assert ok["userErrors"] == [] and ok["inventoryAdjustmentGroup"]["referenceDocumentUri"].endswith("/1")
    assert (available(sandbox, a, location), available(sandbox, b, location)) == (3, 4)
    assert sandbox.store.inventory_level(SHOP, a, location)["_quantities"]["on_hand"] >= 3


def test_input_is_validated_like_shopify(sandbox, gql, levels) -> None:
    location, ((a, qa), _, _) = levels
    missing_change_from = gql(SET, set_input([{"inventoryItemId": a, "locationId": location, "quantity": 1}])).json()
    assert missing_change_from["data"] == {"inventorySetQuantities": None}
    assert missing_change_from["errors"][0]["message"] == "InventoryQuantityInput must include the following argument: changeFromQuantity."
    assert missing_change_from["errors"][0]["extensions"]["code"] == "INVALID_FIELD_ARGUMENTS"
    unchecked = gql(SET, set_input(quantities(location, [(a, qa, None)]))).json()  # null skips the check
    assert unchecked["data"]["inventorySetQuantities"]["userErrors"] == []
    negative = gql(SET, set_input(quantities(location, [(a, -1, qa)]))).json()
    assert negative["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "INVALID_QUANTITY_NEGATIVE"
    unknown_item = gql(SET, set_input(quantities(location, [("gid://shopify/InventoryItem/1", 1, 0)]))).json()
    assert unknown_item["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "INVALID_INVENTORY_ITEM"
    bad_reason = gql(SET, {**set_input(quantities(location, [(a, 1, qa)])), "input": {**set_input(quantities(location, [(a, 1, qa)]))["input"], "reason": "because"}}).json()
    assert bad_reason["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "INVALID_REASON"
    too_many = gql(SET, set_input(quantities(location, [(a, 1, qa)] * 251))).json()
    assert too_many["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert available(sandbox, a, location) == qa


def test_a_mutation_costs_ten_plus_its_selection_against_the_bucket(gql, levels) -> None:
    location, ((a, qa), _, _) = levels
    cost = gql(SET, set_input(quantities(location, [(a, qa + 1, qa)]))).json()["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 12 and cost["throttleStatus"]["currentlyAvailable"] == 2000 - 12


def test_a_repeated_key_replays_the_answer_and_a_reused_key_with_other_arguments_is_refused(sandbox, gql, levels) -> None:
    location, ((a, qa), _, _) = levels
    first = gql(SET, set_input(quantities(location, [(a, qa + 5, qa)]), key="batch-1")).json()
    assert first["data"]["inventorySetQuantities"]["userErrors"] == []
    replay = gql(SET, set_input(quantities(location, [(a, qa + 5, qa)]), key="batch-1")).json()
    assert replay["data"] == first["data"]  # the recorded answer; applied once
    assert available(sandbox, a, location) == qa + 5
    mismatch = gql(SET, set_input(quantities(location, [(a, 1, qa + 5)]), key="batch-1")).json()
    assert mismatch["data"]["inventorySetQuantities"]["userErrors"] == [
        {"code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH", "field": None, "message": "The same idempotency key cannot be used with different operation parameters."}]
    assert available(sandbox, a, location) == qa + 5
    # An identical batch meant as a new call carries a new key: it runs (and here is stale).
    stale = gql(SET, set_input(quantities(location, [(a, qa + 5, qa)]), key="batch-2")).json()
    assert stale["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "CHANGE_FROM_QUANTITY_STALE"
    adjust = {"input": {"name": "available", "reason": "restock", "changes": [{"inventoryItemId": a, "locationId": location, "delta": 2, "changeFromQuantity": None}]}, "idempotencyKey": "adjust-1"}
    for _ in range(2):
        assert gql(ADJUST, adjust).json()["data"]["inventoryAdjustQuantities"]["userErrors"] == []
    assert available(sandbox, a, location) == qa + 7  # a delta, sent twice with one key: applied once


def test_a_mutation_that_requires_idempotent_is_refused_without_it(sandbox, gql, levels) -> None:
    location, ((a, qa), _, _) = levels
    variables = set_input(quantities(location, [(a, qa + 1, qa)]))
    del variables["idempotencyKey"]
    body = gql(SET_2025.replace("compareQuantity", "changeFromQuantity"), variables).json()
    assert body["data"] == {"inventorySetQuantities": None}
    assert body["errors"][0]["message"] == "The @idempotent directive is required for this mutation but was not provided."
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST" and body["errors"][0]["path"] == ["inventorySetQuantities"]
    assert available(sandbox, a, location) == qa
    adjust = "mutation A($input: InventoryAdjustQuantitiesInput!) { inventoryAdjustQuantities(input: $input) { userErrors { code } } }"
    refused = gql(adjust, {"input": {"name": "available", "reason": "restock", "changes": [{"inventoryItemId": a, "locationId": location, "delta": 1, "changeFromQuantity": None}]}}).json()
    assert refused["errors"][0]["message"].startswith("The @idempotent directive is required")
    blank = gql(SET, set_input(quantities(location, [(a, qa + 1, qa)]), key="  ")).json()
    assert blank["errors"][0]["extensions"]["code"] == "BAD_REQUEST" and available(sandbox, a, location) == qa


def test_the_retired_2025_01_falls_forward_to_2026_01_now_and_to_2026_04_in_january_2027(sandbox, client, token, wall, levels) -> None:
    location, ((a, qa), _, _) = levels
    url = sandbox.graphql_url(SHOP, "2025-01")
    headers = {"X-Shopify-Access-Token": token}
    old_variables = {"input": {"name": "available", "reason": "correction", "quantities": [{"inventoryItemId": a, "locationId": location, "quantity": qa + 1, "compareQuantity": qa}]}}

    wall.now = dt.datetime(2026, 12, 3, 12, tzinfo=dt.timezone.utc).timestamp()
    today = client.post(url, json={"query": SET_2025, "variables": old_variables}, headers=headers)
    assert today.headers["X-Shopify-API-Version"] == "2026-01"  # the oldest supported version answers
    assert today.json()["data"]["inventorySetQuantities"]["userErrors"] == []
    assert available(sandbox, a, location) == qa + 1

    wall.now = dt.datetime(2027, 1, 4, 12, tzinfo=dt.timezone.utc).timestamp()
    old_variables["input"]["quantities"][0].update(quantity=qa + 2, compareQuantity=qa + 1)
    january = client.post(url, json={"query": SET_2025, "variables": old_variables}, headers=headers)
    assert january.headers["X-Shopify-API-Version"] == "2026-04"
    error = january.json()["errors"][0]
    assert error["extensions"]["code"] == "INVALID_VARIABLE" and "compareQuantity" in error["message"]
    assert "InventoryQuantityInput" in error["message"]
    assert available(sandbox, a, location) == qa + 1
    # The same call with changeFromQuantity but still without @idempotent: refused at runtime.
    del old_variables["input"]["quantities"][0]["compareQuantity"]
    old_variables["input"]["quantities"][0]["changeFromQuantity"] = qa + 1
    no_key = client.post(url, json={"query": SET_2025, "variables": old_variables}, headers=headers).json()
    assert no_key["errors"][0]["message"] == "The @idempotent directive is required for this mutation but was not provided."
    # What the app sends now works on every supported version.
    for version in ("2026-04", "2026-10", "2025-01"):
        current = client.post(sandbox.graphql_url(SHOP, version), json={"query": SET, "variables": set_input(quantities(location, [(a, available(sandbox, a, location) + 1, None)]))}, headers=headers)
        assert current.json()["data"]["inventorySetQuantities"]["userErrors"] == [], version
    assert client.post(sandbox.graphql_url(SHOP, "2027-07"), json={"query": SET}, headers=headers).status_code == 404  # not released
    assert client.post(sandbox.graphql_url(SHOP, "2026-05"), json={"query": SET}, headers=headers).status_code == 404  # no such version


def test_writes_publish_inventory_levels_update_with_exact_ids(sandbox, gql, levels, monkeypatch) -> None:
    location, ((a, qa), (b, qb), _) = levels
    published = []
    original = sandbox.store.publish
    monkeypatch.setattr(sandbox.store, "publish", lambda shop, topic, payload: (published.append((topic, payload)), original(shop, topic, payload)))
    gql(SET, set_input(quantities(location, [(a, qa + 2, qa), (b, qb, qb)])))  # b unchanged: no webhook for it
    body = gql(ADJUST, {"input": {"name": "available", "reason": "restock", "referenceDocumentUri": "gid://dropship-ops/ReturnCase/1",
                                  "changes": [{"inventoryItemId": a, "locationId": location, "delta": 3, "changeFromQuantity": qa + 2}]},
                        "idempotencyKey": str(uuid.uuid4())}).json()
    assert body["data"]["inventoryAdjustQuantities"]["userErrors"] == []
    assert available(sandbox, a, location) == qa + 5
    updates = [payload for topic, payload in published if topic == "inventory_levels/update"]
    item_number, location_number = a.rsplit("/", 1)[-1], location.rsplit("/", 1)[-1]
    assert [u["available"] for u in updates] == [qa + 2, qa + 5]
    assert updates[0]["admin_graphql_api_id"] == f"gid://shopify/InventoryLevel/{location_number}?inventory_item_id={item_number}"
    assert str(updates[0]["inventory_item_id"]) == item_number and str(updates[0]["location_id"]) == location_number


def test_a_bulk_export_streams_every_node_ungrouped_children_before_their_parent(sandbox, client, gql) -> None:
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
        finished = gql(get_document("BulkOperation"), {"id": expected}).json()["data"]["bulkOperation"]
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
            assert position[line["__parentId"]] > n  # ungrouped (the 2026-01 default): no order is promised
    assert sum(1 for line in level_lines if line["quantities"] == [{"name": "available", "quantity": 4}]) == 300
    invalid = gql(get_document("BulkOperationRunQuery"), {"query": "{ nope }"}).json()["data"]["bulkOperationRunQuery"]
    assert invalid["userErrors"][0]["code"] == "INVALID"
