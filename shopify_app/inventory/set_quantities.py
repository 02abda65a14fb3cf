"""The `inventorySetQuantities` call in each API version we speak, so an upgrade is a version switch.

2025-01: each quantity carries `compareQuantity`; a stale one fails the whole call with
COMPARE_QUANTITY_STALE. 2026-04: `changeFromQuantity` instead (required on every quantity)
and `@idempotent(key:)` on the mutation; a stale one is CHANGE_FROM_QUANTITY_STALE.
The gateway picks the document for its version (documents/2026-04/ overrides).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

MAX_QUANTITIES_PER_CALL = 250  # Shopify's limit on an input list
CHANGE_FROM_VERSION = "2026-04"
STALE_CODES = frozenset({"COMPARE_QUANTITY_STALE", "CHANGE_FROM_QUANTITY_STALE"})
REASON = "correction"  # Shopify's reason for "the true figure is different"
REFERENCE_PREFIX = "gid://dropship-ops/InventorySyncRun/"


@dataclass(frozen=True)
class QuantityWrite:
    """Set one level to `quantity`, provided Shopify still shows `compare`."""

    level_id: int
    item_gid: str
    location_gid: str
    quantity: int
    compare: int
    supply: int


def batch_key(shop_domain: str, writes: list[QuantityWrite]) -> str:
    """A key that is the same for the same batch (so a retried call is recognised) and differs otherwise."""
    material = json.dumps([shop_domain] + [[w.item_gid, w.location_gid, w.quantity, w.compare] for w in writes], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:40]


def reference_uri(run_id: int) -> str:
    """Why the quantities changed: our sync run, as a URI Shopify keeps on the adjustment."""
    return f"{REFERENCE_PREFIX}{run_id}"


def set_quantities_variables(api_version: str, shop_domain: str, writes: list[QuantityWrite], run_id: int) -> dict:
    """Variables for the InventorySetQuantities document of `api_version`."""
    if not 0 < len(writes) <= MAX_QUANTITIES_PER_CALL:
        raise ValueError(f"a call sets 1 to {MAX_QUANTITIES_PER_CALL} quantities, not {len(writes)}")
    compare_field = "changeFromQuantity" if api_version >= CHANGE_FROM_VERSION else "compareQuantity"
    variables: dict = {
        "input": {
            "name": "available",
            "reason": REASON,
            "referenceDocumentUri": reference_uri(run_id),
            "quantities": [
                {"inventoryItemId": w.item_gid, "locationId": w.location_gid, "quantity": w.quantity, compare_field: w.compare}
                for w in writes
            ],
        }
    }
    if api_version >= CHANGE_FROM_VERSION:
        variables["idempotencyKey"] = batch_key(shop_domain, writes)
    return variables


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
    """["input", "quantities", "3", "compareQuantity"] -> 3."""
    if not field or "quantities" not in field:
        return None
    position = field.index("quantities") + 1
    try:
        return int(field[position])
    except (IndexError, TypeError, ValueError):
        return None
