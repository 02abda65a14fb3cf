"""The `inventorySetQuantities` call (API 2026-10).

Each quantity carries `changeFromQuantity`, the level we last read: Shopify refuses the
whole call with CHANGE_FROM_QUANTITY_STALE if any level moved since. The mutation's
`@idempotent(key:)` is filled by the gateway, one fresh key per call (a key derived from the
batch's content would make an intended identical second batch look like a retry).
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_QUANTITIES_PER_CALL = 250  # Shopify's limit on an input list
STALE_CODES = frozenset({"CHANGE_FROM_QUANTITY_STALE"})
REASON = "correction"  # Shopify's reason for "the true figure is different"
REFERENCE_PREFIX = "gid://dropship-ops/InventorySyncRun/"


@dataclass(frozen=True)
class QuantityWrite:
    """Set one level to `quantity`, provided Shopify still shows `compare` (sent as changeFromQuantity)."""

    level_id: int
    item_gid: str
    location_gid: str
    quantity: int
    compare: int
    supply: int


def reference_uri(run_id: int) -> str:
    """Why the quantities changed: our sync run, as a URI Shopify keeps on the adjustment."""
    return f"{REFERENCE_PREFIX}{run_id}"


def set_quantities_variables(writes: list[QuantityWrite], run_id: int) -> dict:
    """Variables for the InventorySetQuantities document (the gateway adds the idempotency key)."""
    if not 0 < len(writes) <= MAX_QUANTITIES_PER_CALL:
        raise ValueError(f"a call sets 1 to {MAX_QUANTITIES_PER_CALL} quantities, not {len(writes)}")
    return {
        "input": {
            "name": "available",
            "reason": REASON,
            "referenceDocumentUri": reference_uri(run_id),
            "quantities": [
                {"inventoryItemId": w.item_gid, "locationId": w.location_gid, "quantity": w.quantity, "changeFromQuantity": w.compare}
                for w in writes
            ],
        }
    }


def failed_indexes(user_errors: list[dict]) -> tuple[set[int], dict[int, str]]:
    """Split userErrors into stale quantities (indexes) and refused ones ({index: message})."""
    stale: set[int] = set()
    refused: dict[int, str] = {}
    for error in user_errors:
        index = _quantity_index(error.get("field"))
        if index is None:
            continue
        if error.get("code") in STALE_CODES:
            stale.add(index)
        else:
            refused[index] = f"{error.get('code') or 'ERROR'}: {error.get('message') or ''}"[:300]
    return stale, refused


def _quantity_index(field: list | None) -> int | None:
    """["input", "quantities", "3", "changeFromQuantity"] -> 3."""
    if not field or "quantities" not in field:
        return None
    position = field.index("quantities") + 1
    try:
        return int(field[position])
    except (IndexError, TypeError, ValueError):
        return None
