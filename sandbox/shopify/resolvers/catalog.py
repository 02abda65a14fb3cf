"""Products and variants."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..connections import Listing
from ..records import money
from ..registry import resolver
from ..search import filter_records, sort_key_function
from ..ids import check_gid
from ..user_errors import ShopifyUserError
from .common import count, mutation_payload, object_of_type

READ_PRODUCTS = ("read_products",)


def searched(info, typename: str, query: str | None, sort_key: str | None) -> Listing:
    """Stored objects of a type, filtered by a search string and sorted by a sort key."""
    key = sort_key_function(sort_key)
    items = filter_records(info.context.shop.all(typename), query, typename)
    return Listing(sorted(items, key=key), key)


@resolver("Query", "products", scopes=READ_PRODUCTS)
def products(root: Any, info, query: str | None = None, sortKey: str | None = None, **_: Any) -> Listing:
    """Products matching `query`, in `sortKey` order (default ID)."""
    return searched(info, "Product", query, sortKey)


@resolver("Query", "product", scopes=READ_PRODUCTS)
def product(root: Any, info, id: str) -> dict | None:
    """One product by GID."""
    return object_of_type(info, id, "Product")


@resolver("Query", "productVariants", scopes=READ_PRODUCTS)
def product_variants(root: Any, info, query: str | None = None, sortKey: str | None = None, **_: Any) -> Listing:
    """Variants matching `query`."""
    return searched(info, "ProductVariant", query, sortKey)


@resolver("Query", "productVariant", scopes=READ_PRODUCTS)
def product_variant(root: Any, info, id: str) -> dict | None:
    """One variant by GID."""
    return object_of_type(info, id, "ProductVariant")


def _variants(info, product: dict) -> list[dict]:
    return info.context.shop.deref(product["variants"]) or []


def available_of_item(info, item_gid: str) -> int:
    """Units available of an inventory item across all its locations."""
    levels = [lvl for lvl in info.context.shop.all("InventoryLevel") if lvl["item"].gid == item_gid]
    return sum(lvl["_quantities"]["available"] for lvl in levels)


@resolver("ProductVariant", "inventoryQuantity")
@resolver("ProductVariant", "sellableOnlineQuantity")
def variant_inventory_quantity(variant: dict, info) -> int:
    """Available units of the variant across locations."""
    return available_of_item(info, variant["inventoryItem"].gid)


@resolver("Product", "totalInventory")
def total_inventory(product: dict, info) -> int:
    """Available units across every variant."""
    return sum(available_of_item(info, v["inventoryItem"].gid) for v in _variants(info, product))


@resolver("Product", "hasOutOfStockVariants")
def has_out_of_stock_variants(product: dict, info) -> bool:
    """True if some variant has nothing available."""
    return any(available_of_item(info, v["inventoryItem"].gid) <= 0 for v in _variants(info, product))


@resolver("Product", "hasOnlyDefaultVariant")
def has_only_default_variant(product: dict, info) -> bool:
    """True for a product whose single variant is 'Default Title'."""
    variants = _variants(info, product)
    return len(variants) == 1 and variants[0]["title"] == "Default Title"


@resolver("Product", "variantsCount")
def variants_count(product: dict, info) -> dict:
    """How many variants the product has."""
    return count(len(product["variants"]))


@resolver("Product", "priceRangeV2")
def price_range(product: dict, info) -> dict:
    """Cheapest and dearest variant price."""
    currency = info.context.shop.record["currencyCode"]
    prices = [Decimal(v["price"]) for v in _variants(info, product)] or [Decimal("0")]
    return {"__typename": "ProductPriceRangeV2", "minVariantPrice": money(min(prices), currency), "maxVariantPrice": money(max(prices), currency)}


@resolver("Product", "inCollection")
def in_collection(product: dict, info, id: str) -> bool:
    """The sandbox has no collections."""
    return False


@resolver("Product", "publishedInContext")
@resolver("Product", "publishedOnPublication")
def published(product: dict, info, **_: Any) -> bool:
    """Active products count as published everywhere."""
    return product["status"] == "ACTIVE"


@resolver("Mutation", "productVariantsBulkUpdate", scopes=("write_products",))
def product_variants_bulk_update(root: Any, info, productId: str, variants: list[dict], **_: Any) -> dict:
    """Update variants of one product; the sandbox supports inventoryPolicy (CONTINUE/DENY), sku, price and barcode."""
    shop = info.context.shop
    product = object_of_type(info, productId, "Product")

    def error(field, message, code):
        return {"__typename": "ProductVariantsBulkUpdatePayload", "product": None, "productVariants": None,
                "userErrors": [{"__typename": "ProductVariantsBulkUpdateUserError", "field": field, "message": message, "code": code}]}

    if product is None:
        return error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
    own = {ref.gid for ref in product["variants"]}
    updated = []
    for index, spec in enumerate(variants):
        if not spec.get("id"):
            return error(["variants", str(index), "id"], "Product variant is missing ID attribute", "PRODUCT_VARIANT_ID_MISSING")
        variant = shop.get(spec["id"])
        if variant is None or variant["__typename"] != "ProductVariant":
            return error(["variants", str(index), "id"], "Product variant does not exist", "PRODUCT_VARIANT_DOES_NOT_EXIST")
        if spec["id"] not in own:
            return error(["variants", str(index), "id"], "Product variant does not belong to this product", "MUST_BE_FOR_THIS_PRODUCT")
        updated.append((variant, spec))
    # Shopify announces the change: products/update (and inventory_items/update for a new SKU).
    info.context.store.apply_variant_changes(shop, updated)
    return {"__typename": "ProductVariantsBulkUpdatePayload", "product": product, "productVariants": [v for v, _ in updated], "userErrors": []}


@resolver("Mutation", "productDelete", scopes=("write_products",))
def product_delete(root: Any, info, input: dict, synchronous: bool | None = True, **_: Any) -> dict:
    """Delete a product with its variants, items and levels (run synchronously: no operation to poll)."""
    ctx = info.context
    try:
        deleted = ctx.store.delete_product(ctx.shop, check_gid(input["id"]))
    except ShopifyUserError as error:
        return mutation_payload("ProductDeletePayload", error, deletedProductId=None, productDeleteOperation=None) | {"shop": ctx.shop.record}
    return mutation_payload("ProductDeletePayload", deletedProductId=deleted, productDeleteOperation=None) | {"shop": ctx.shop.record}


@resolver("Mutation", "inventoryItemUpdate", scopes=("write_inventory",))
def inventory_item_update(root: Any, info, id: str, input: dict) -> dict:
    """Change an inventory item's tracked flag, SKU or shipping requirement."""
    ctx = info.context
    try:
        item = ctx.store.update_inventory_item(ctx.shop, check_gid(id), tracked=input.get("tracked"), sku=input.get("sku"), requires_shipping=input.get("requiresShipping"))
    except ShopifyUserError as error:
        return mutation_payload("InventoryItemUpdatePayload", error, inventoryItem=None)
    return mutation_payload("InventoryItemUpdatePayload", inventoryItem=item)
