"""inventorySetQuantities variables (2026-10: changeFromQuantity, key left to the gateway) and userError parsing."""
from __future__ import annotations

import pytest

from integrations.shopify.documents import idempotency_key_variable
from shopify_app.inventory.set_quantities import QuantityWrite, failed_indexes, set_quantities_variables

WRITES = [QuantityWrite(1, "gid://shopify/InventoryItem/11", "gid://shopify/Location/5", 7, 3, 7),
          QuantityWrite(2, "gid://shopify/InventoryItem/12", "gid://shopify/Location/5", 0, 4, 0)]


def test_each_quantity_is_guarded_by_change_from_quantity() -> None:
    variables = set_quantities_variables(WRITES, 42)
    data = variables["input"]
    assert data["name"] == "available" and data["reason"] == "correction"
    assert data["referenceDocumentUri"].endswith("/InventorySyncRun/42")
    assert data["quantities"][0] == {"inventoryItemId": "gid://shopify/InventoryItem/11", "locationId": "gid://shopify/Location/5", "quantity": 7, "changeFromQuantity": 3}
    assert all("compareQuantity" not in q for q in data["quantities"])


def test_the_idempotency_key_is_not_derived_from_the_batch() -> None:
    # The document takes the key; the variables never carry one, so the gateway makes a fresh one per call.
    assert idempotency_key_variable("InventorySetQuantities") == "idempotencyKey"
    assert "idempotencyKey" not in set_quantities_variables(WRITES, 42)


def test_more_than_250_quantities_is_refused_before_sending() -> None:
    with pytest.raises(ValueError):
        set_quantities_variables(WRITES * 126, 1)


def test_user_errors_split_into_stale_and_refused_by_index() -> None:
    stale, refused = failed_indexes([
        {"code": "CHANGE_FROM_QUANTITY_STALE", "field": ["input", "quantities", "4", "changeFromQuantity"], "message": "stale"},
        {"code": "ITEM_NOT_STOCKED_AT_LOCATION", "field": ["input", "quantities", "0", "locationId"], "message": "not stocked"},
        {"code": "INVALID_REASON", "field": ["input", "reason"], "message": "no index"},
    ])
    assert stale == {4}
    assert refused == {0: "ITEM_NOT_STOCKED_AT_LOCATION: not stocked"}
