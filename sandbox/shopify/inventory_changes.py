"""inventorySetQuantities and inventoryAdjustQuantities as Shopify applies them: checked whole, then all or nothing.

Every quantity is validated first; if any has a user error nothing is applied (a stale
compare/changeFrom quantity fails the whole call). Applied changes become one
InventoryAdjustmentGroup and an `inventory_levels/update` webhook per level whose
`available` changed. From API 2026-04 `changeFromQuantity` replaces `compareQuantity` and
must be present on every quantity and change (null skips the check); without it Shopify
refuses the whole field with a top-level error (INVALID_FIELD_ARGUMENTS). In 2026-01 it is
optional and `compareQuantity` still works.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .ids import gid_number, make_gid
from .records import QUANTITY_NAMES
from .store import inventory_level_gid

MAX_INPUT_ITEMS = 250
MAX_QUANTITY = 1_000_000_000
REASONS = frozenset({
    "correction", "cycle_count_available", "damaged", "movement_created", "movement_updated", "movement_received",
    "movement_canceled", "other", "promotion", "quality_control", "received", "reservation_created",
    "reservation_deleted", "reservation_updated", "restock", "safety_stock", "shrinkage",
})
SETTABLE_NAMES = ("available", "on_hand")


class ChangeFromMissing(Exception):
    """A quantity without changeFromQuantity where the version requires it (a top-level error)."""

    def __init__(self, input_type: str):
        super().__init__(f"{input_type} must include the following argument: changeFromQuantity.")


class InputTooLarge(Exception):
    """More entries than Shopify takes in one input list (a top-level error, not a user error)."""

    def __init__(self, size: int):
        super().__init__(f"The input array size of {size} is greater than the maximum allowed of {MAX_INPUT_ITEMS}.")


def _error(field: list[str], message: str, code: str) -> dict[str, Any]:
    return {"field": field, "message": message, "code": code}


def _check_common(store, shop, data: dict, *, quantity_names: tuple[str, ...]) -> list[dict]:
    errors = []
    if data.get("reason") not in REASONS:
        errors.append(_error(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON"))
    if data.get("name") not in quantity_names:
        errors.append(_error(["input", "name"], f"The quantity name must be either {' or '.join(repr(n) for n in quantity_names)}.", "INVALID_NAME"))
    uri = data.get("referenceDocumentUri")
    if uri is not None and not urlsplit(str(uri)).scheme:
        errors.append(_error(["input", "referenceDocumentUri"], "The specified reference document is invalid.", "INVALID_REFERENCE_DOCUMENT"))
    return errors


def _check_level(store, shop, field: list[str], item_gid: str, location_gid: str) -> tuple[dict | None, dict | None]:
    if shop.get(item_gid) is None or shop.get(item_gid)["__typename"] != "InventoryItem":
        return None, _error(field + ["inventoryItemId"], "The specified inventory item could not be found.", "INVALID_INVENTORY_ITEM")
    if shop.get(location_gid) is None or shop.get(location_gid)["__typename"] != "Location":
        return None, _error(field + ["locationId"], "The specified location could not be found.", "INVALID_LOCATION")
    level = shop.get(inventory_level_gid(item_gid, location_gid))
    if level is None:
        return None, _error(field + ["locationId"], "The specified inventory item is not stocked at the location.", "ITEM_NOT_STOCKED_AT_LOCATION")
    return level, None


def set_quantities(store, shop, data: dict, *, change_from_required: bool, client_id: str | None) -> tuple[dict | None, list[dict]]:
    """Apply an InventorySetQuantitiesInput; (adjustment group, []) or (None, user errors)."""
    quantities = data.get("quantities") or []
    if len(quantities) > MAX_INPUT_ITEMS:
        raise InputTooLarge(len(quantities))
    if change_from_required and any("changeFromQuantity" not in entry for entry in quantities):
        raise ChangeFromMissing("InventoryQuantityInput")
    errors = _check_common(store, shop, data, quantity_names=SETTABLE_NAMES)
    name = data.get("name")
    seen: set[tuple[str, str]] = set()
    planned: list[tuple[dict, int]] = []
    for index, entry in enumerate(quantities):
        field = ["input", "quantities", str(index)]
        pair = (entry["inventoryItemId"], entry["locationId"])
        if pair in seen:
            errors.append(_error(field, "The combination of inventoryItemId and locationId must be unique.", "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"))
            continue
        seen.add(pair)
        level, error = _check_level(store, shop, field, *pair)
        if error:
            errors.append(error)
            continue
        target = entry["quantity"]
        if target < 0:
            errors.append(_error(field + ["quantity"], "The quantity can't be negative.", "INVALID_QUANTITY_NEGATIVE"))
            continue
        if target > MAX_QUANTITY:
            errors.append(_error(field + ["quantity"], "The total quantity can't be higher than 1,000,000,000.", "INVALID_QUANTITY_TOO_HIGH"))
            continue
        current = level["_quantities"][name] if name in SETTABLE_NAMES else 0
        if "changeFromQuantity" in entry:
            expected = entry["changeFromQuantity"]
            if expected is not None and expected != current:
                errors.append(_error(field + ["changeFromQuantity"], "The changeFromQuantity value does not match persisted value.", "CHANGE_FROM_QUANTITY_STALE"))
                continue
        elif not data.get("ignoreCompareQuantity"):
            if entry.get("compareQuantity") is None:
                errors.append(_error(field + ["compareQuantity"], "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.", "COMPARE_QUANTITY_REQUIRED"))
                continue
            if entry["compareQuantity"] != current:
                errors.append(_error(field + ["compareQuantity"], "The compareQuantity value does not match persisted value.", "COMPARE_QUANTITY_STALE"))
                continue
        planned.append((level, target - current))
    if errors:
        return None, errors
    return _apply(store, shop, name, data, planned, client_id), []


def adjust_quantities(store, shop, data: dict, *, change_from_required: bool, client_id: str | None) -> tuple[dict | None, list[dict]]:
    """Apply an InventoryAdjustQuantitiesInput (deltas); (group, []) or (None, user errors)."""
    changes = data.get("changes") or []
    if len(changes) > MAX_INPUT_ITEMS:
        raise InputTooLarge(len(changes))
    if change_from_required and any("changeFromQuantity" not in change for change in changes):
        raise ChangeFromMissing("InventoryChangeInput")
    adjustable = tuple(n for n in QUANTITY_NAMES if n not in ("on_hand", "committed"))
    errors = _check_common(store, shop, data, quantity_names=adjustable)
    planned = []
    for index, change in enumerate(changes):
        field = ["input", "changes", str(index)]
        level, error = _check_level(store, shop, field, change["inventoryItemId"], change["locationId"])
        if error:
            errors.append(error)
            continue
        expected = change.get("changeFromQuantity")
        if expected is not None and data.get("name") in level["_quantities"] and expected != level["_quantities"][data["name"]]:
            errors.append(_error(field + ["changeFromQuantity"], "The changeFromQuantity argument no longer matches the persisted quantity.", "CHANGE_FROM_QUANTITY_STALE"))
            continue
        planned.append((level, change["delta"]))
    if errors:
        return None, errors
    return _apply(store, shop, data.get("name"), data, planned, client_id), []


def _apply(store, shop, name: str, data: dict, planned: list[tuple[dict, int]], client_id: str | None) -> dict:
    changes = []
    for level, delta in planned:
        item_gid, location_gid = level["item"].gid, level["location"].gid
        before = level["_quantities"]["available"]
        if delta:
            store.adjust_quantity(shop, item_gid, location_gid, name, delta)
        changes.append({"__typename": "InventoryChange", "name": name, "delta": delta, "quantityAfterChange": level["_quantities"][name],
                        "item": shop.get(item_gid), "location": shop.get(location_gid), "ledgerDocumentUri": None})
        if level["_quantities"]["available"] != before:
            publish_level_update(store, shop, level)
    return {
        "__typename": "InventoryAdjustmentGroup",
        "id": make_gid("InventoryAdjustmentGroup", store.next_number()),
        "createdAt": store.now_iso(),
        "reason": data.get("reason"),
        "referenceDocumentUri": data.get("referenceDocumentUri"),
        "app": None,
        "staffMember": None,
        "_changes": changes,
    }


def publish_level_update(store, shop, level: dict) -> None:
    """inventory_levels/update with Shopify's REST payload (ids exact; the GID names both)."""
    item_gid, location_gid = level["item"].gid, level["location"].gid
    store.publish(shop, "inventory_levels/update", {
        "inventory_item_id": gid_number(item_gid),
        "location_id": gid_number(location_gid),
        "available": level["_quantities"]["available"],
        "updated_at": store.now_iso(),
        "admin_graphql_api_id": inventory_level_gid(item_gid, location_gid),
    })
