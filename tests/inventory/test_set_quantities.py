"""inventorySetQuantities variables per API version, batch keys and userError parsing."""
from __future__ import annotations

import pytest

from shopify_app.inventory.set_quantities import QuantityWrite, batch_key, failed_indexes, set_quantities_variables

WRITES = [QuantityWrite(1, "gid://shopify/InventoryItem/11", "gid://shopify/Location/5", 7, 3, 7),
          QuantityWrite(2, "gid://shopify/InventoryItem/12", "gid://shopify/Location/5", 0, 4, 0)]


def test_2025_01_guards_each_quantity_with_compare_quantity() -> None:
    variables = set_quantities_variables("2025-01", "demo.myshopify.com", WRITES, 42)
    assert "idempotencyKey" not in variables
    data = variables["input"]
    assert data["name"] == "available" and data["reason"] == "correction"
    assert data["referenceDocumentUri"].endswith("/InventorySyncRun/42")
    assert data["quantities"][0] == {"inventoryItemId": "gid://shopify/InventoryItem/11", "locationId": "gid://shopify/Location/5", "quantity": 7, "compareQuantity": 3}


def test_2026_04_switches_to_change_from_quantity_and_an_idempotency_key() -> None:
    variables = set_quantities_variables("2026-04", "demo.myshopify.com", WRITES, 42)
    assert variables["input"]["quantities"][1] == {"inventoryItemId": "gid://shopify/InventoryItem/12", "locationId": "gid://shopify/Location/5", "quantity": 0, "changeFromQuantity": 4}
    assert variables["idempotencyKey"] == batch_key("demo.myshopify.com", WRITES)


def test_batch_key_is_stable_for_the_same_batch_and_differs_otherwise() -> None:
    assert batch_key("s", WRITES) == batch_key("s", list(WRITES))
    assert batch_key("s", WRITES) != batch_key("s", WRITES[:1])
    assert batch_key("s", WRITES) != batch_key("other", WRITES)


def test_more_than_250_quantities_is_refused_before_sending() -> None:
    with pytest.raises(ValueError):
        set_quantities_variables("2025-01", "s", WRITES * 126, 1)


def test_user_errors_split_into_stale_and_refused_by_index() -> None:
    stale, refused = failed_indexes([
        {"code": "COMPARE_QUANTITY_STALE", "field": ["input", "quantities", "3", "compareQuantity"], "message": "stale"},
        {"code": "CHANGE_FROM_QUANTITY_STALE", "field": ["input", "quantities", "4", "changeFromQuantity"], "message": "stale"},
        {"code": "ITEM_NOT_STOCKED_AT_LOCATION", "field": ["input", "quantities", "0", "locationId"], "message": "not stocked"},
        {"code": "INVALID_REASON", "field": ["input", "reason"], "message": "no index"},
    ])
    assert stale == {3, 4}
    assert refused == {0: "ITEM_NOT_STOCKED_AT_LOCATION: not stocked"}
