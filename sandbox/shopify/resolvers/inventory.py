"""Inventory items, locations and inventory levels with their named quantities."""
from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from ..connections import Listing
from ..ids import check_gid, gid_number
from ..records import QUANTITY_NAMES
from ..registry import resolver
from ..store import inventory_level_gid
from .catalog import searched
from .common import count, object_of_type

READ_INVENTORY = ("read_inventory",)
READ_LOCATIONS = ("read_locations", "read_inventory")


@resolver("Query", "inventoryItem", scopes=READ_INVENTORY)
def inventory_item(root: Any, info, id: str) -> dict | None:
    """One inventory item by GID."""
    return object_of_type(info, id, "InventoryItem")


@resolver("Query", "inventoryItems", scopes=READ_INVENTORY)
def inventory_items(root: Any, info, query: str | None = None, **_: Any) -> Listing:
    """Inventory items matching `query` (e.g. `sku:ABC-1`)."""
    return searched(info, "InventoryItem", query, None)


@resolver("Query", "locations", scopes=READ_LOCATIONS)
def locations(root: Any, info, query: str | None = None, sortKey: str | None = None, includeInactive: bool = False, **_: Any) -> Listing:
    """Locations (active ones unless includeInactive)."""
    listing = searched(info, "Location", query, sortKey)
    if not includeInactive:
        listing.items = [loc for loc in listing.items if loc["isActive"]]
    return listing


@resolver("Query", "location", scopes=READ_LOCATIONS)
def location(root: Any, info, id: str | None = None) -> dict | None:
    """A location by GID; without an id, the shop's primary (first) location."""
    if id is None:
        found = info.context.shop.all("Location")
        return found[0] if found else None
    return object_of_type(info, id, "Location")


def _levels(info, *, item_gid: str | None = None, location_gid: str | None = None) -> Listing:
    shop = info.context.shop
    if item_gid is not None and location_gid is None:
        # By location: a shop has few, and a 100,000-item bulk export must not scan every level per item.
        found = (shop.get(inventory_level_gid(item_gid, loc["id"])) for loc in shop.all("Location"))
        levels = [lvl for lvl in found if lvl is not None]
    else:
        levels = [
            lvl for lvl in shop.all("InventoryLevel")
            if (item_gid is None or lvl["item"].gid == item_gid) and (location_gid is None or lvl["location"].gid == location_gid)
        ]
    return Listing(levels, key=lambda lvl: (gid_number(lvl["location"].gid), gid_number(lvl["item"].gid)))


@resolver("InventoryItem", "inventoryLevels")
def item_levels(item: dict, info, **_: Any) -> Listing:
    """The item's level at each location where it is stocked."""
    return _levels(info, item_gid=item["id"])


@resolver("InventoryItem", "inventoryLevel")
def item_level(item: dict, info, locationId: str, includeInactive: bool | None = None) -> dict | None:
    """The item's level at one location (null if not stocked there)."""
    return info.context.shop.get(inventory_level_gid(item["id"], check_gid(locationId)))


@resolver("InventoryItem", "locationsCount")
def item_locations_count(item: dict, info) -> dict:
    """At how many locations the item is stocked."""
    return count(len(_levels(info, item_gid=item["id"]).items))


@resolver("Location", "inventoryLevels")
def location_levels(location_: dict, info, **_: Any) -> Listing:
    """Every item's level at this location."""
    return _levels(info, location_gid=location_["id"])


@resolver("Location", "inventoryLevel")
def location_level(location_: dict, info, inventoryItemId: str, includeInactive: bool | None = None) -> dict | None:
    """One item's level at this location."""
    return info.context.shop.get(inventory_level_gid(check_gid(inventoryItemId), location_["id"]))


@resolver("InventoryLevel", "quantities")
def quantities(level: dict, info, names: list[str]) -> list[dict]:
    """The named quantities asked for, in the order asked."""
    unknown = [n for n in names if n not in QUANTITY_NAMES]
    if unknown:
        raise GraphQLError(f"Invalid quantity name(s): {', '.join(unknown)}. Valid names: {', '.join(QUANTITY_NAMES)}.", extensions={"code": "BAD_REQUEST"})
    item_number, location_number = gid_number(level["item"].gid), gid_number(level["location"].gid)
    return [
        {
            "__typename": "InventoryQuantity",
            "id": f"gid://shopify/InventoryQuantity/{location_number}?inventory_item_id={item_number}&name={name}",
            "name": name,
            "quantity": level["_quantities"][name],
            "updatedAt": level["updatedAt"],
        }
        for name in names
    ]


@resolver("InventoryItem", "duplicateSkuCount")
def duplicate_sku_count(item: dict, info) -> int:
    """How many other inventory items share this SKU."""
    if not item.get("sku"):
        return 0
    return sum(1 for other in info.context.shop.all("InventoryItem") if other["sku"] == item["sku"] and other["id"] != item["id"])


# -- writes -------------------------------------------------------------------------------

WRITE_INVENTORY = ("write_inventory",)


def _inventory_mutation(info, payload_type: str, apply, data: dict) -> dict:
    from ..inventory_changes import ChangeFromMissing, InputTooLarge

    ctx = info.context
    version = ctx.version
    try:
        group, errors = apply(ctx.store, ctx.shop, data, change_from_required=bool(version and version.change_from_required), client_id=ctx.client_id)
    except InputTooLarge as exc:
        raise GraphQLError(str(exc), extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"}) from None
    except ChangeFromMissing as exc:
        raise GraphQLError(str(exc), extensions={"code": "INVALID_FIELD_ARGUMENTS"}) from None
    error_type = "InventorySetQuantitiesUserError" if payload_type.startswith("InventorySet") else "InventoryAdjustQuantitiesUserError"
    return {"__typename": payload_type, "inventoryAdjustmentGroup": group, "userErrors": [{"__typename": error_type, **e} for e in errors]}


@resolver("Mutation", "inventorySetQuantities", scopes=WRITE_INVENTORY)
def inventory_set_quantities(root: Any, info, input: dict) -> dict:
    """Set absolute quantities, all or nothing, guarded by changeFromQuantity (compareQuantity before 2026-04)."""
    from ..inventory_changes import set_quantities

    return _inventory_mutation(info, "InventorySetQuantitiesPayload", set_quantities, input)


@resolver("Mutation", "inventoryAdjustQuantities", scopes=WRITE_INVENTORY)
def inventory_adjust_quantities(root: Any, info, input: dict) -> dict:
    """Change quantities by deltas, all or nothing."""
    from ..inventory_changes import adjust_quantities

    return _inventory_mutation(info, "InventoryAdjustQuantitiesPayload", adjust_quantities, input)


@resolver("InventoryAdjustmentGroup", "changes")
def adjustment_changes(group: dict, info, inventoryItemIds: list[str] | None = None, locationIds: list[str] | None = None, quantityNames: list[str] | None = None) -> list[dict]:
    """The group's changes, filtered as asked."""
    return [
        change for change in group.get("_changes", [])
        if (not inventoryItemIds or change["item"]["id"] in inventoryItemIds)
        and (not locationIds or change["location"]["id"] in locationIds)
        and (not quantityNames or change["name"] in quantityNames)
    ]
