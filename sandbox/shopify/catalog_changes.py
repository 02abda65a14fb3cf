"""Catalog changes and the webhooks Shopify sends for them: products/update|delete, inventory_items/update|delete.

`CatalogChangesMixin` is mixed into Store. Whether the change comes from a mutation
(productVariantsBulkUpdate, inventoryItemUpdate, productDelete) or from the merchant in the
admin (the methods below, for tests and the demo), Shopify announces it the same way:
a variant changed -> products/update with the whole product (every variant, and
`variant_gids`); an item changed (tracked, SKU: the SKU lives on the item) ->
inventory_items/update; a product deleted -> products/delete ({"id"} only) and one
inventory_items/delete per item; a variant deleted -> inventory_items/delete for its item
and products/update. Payloads follow the 2025-01 REST shapes of Shopify's samples.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from .ids import gid_number
from .rest_payloads import rest_time
from .user_errors import ShopifyUserError

if TYPE_CHECKING:
    from .store import ShopState


def product_payload(shop: ShopState, product: dict[str, Any]) -> dict[str, Any]:
    """products/update payload (REST product, with every variant)."""
    variants = shop.deref(product["variants"]) or []
    return {
        "admin_graphql_api_id": product["id"], "body_html": product.get("descriptionHtml") or "", "category": None,
        "created_at": rest_time(product["createdAt"]), "handle": product["handle"],
        "has_variants_that_requires_components": bool(product.get("hasVariantsThatRequiresComponents")),
        "id": gid_number(product["id"]), "image": None, "images": [], "media": [],
        "options": [{"id": gid_number(o["id"]), "name": o["name"], "position": o["position"], "product_id": gid_number(product["id"]), "values": o["values"]}
                    for o in product.get("options") or []],
        "product_type": product.get("productType") or "", "published_at": rest_time(product.get("publishedAt")), "published_scope": "web",
        "status": product["status"].lower(), "tags": ", ".join(product.get("tags") or []), "template_suffix": product.get("templateSuffix"),
        "title": product["title"], "updated_at": rest_time(product["updatedAt"]),
        "variant_gids": [{"admin_graphql_api_id": v["id"], "updated_at": v["updatedAt"]} for v in variants],
        "variants": [variant_payload(shop, product, v) for v in variants],
        "vendor": product.get("vendor"),
    }


def variant_payload(shop: ShopState, product: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """One REST variant inside products/update."""
    options = [o["value"] for o in variant.get("selectedOptions") or []] + [None, None, None]
    available = sum(level["_quantities"]["available"] for level in shop.all("InventoryLevel") if level["item"].gid == variant["inventoryItem"].gid)
    return {
        "admin_graphql_api_id": variant["id"], "barcode": variant.get("barcode"), "compare_at_price": variant.get("compareAtPrice"),
        "created_at": rest_time(variant["createdAt"]), "id": gid_number(variant["id"]), "image_id": None,
        "inventory_item_id": gid_number(variant["inventoryItem"].gid), "inventory_policy": variant["inventoryPolicy"].lower(),
        "inventory_quantity": available, "old_inventory_quantity": available,
        "option1": options[0], "option2": options[1], "option3": options[2], "position": variant["position"], "price": variant["price"],
        "product_id": gid_number(product["id"]), "sku": variant.get("sku"), "taxable": variant.get("taxable", True), "title": variant["title"],
        "updated_at": rest_time(variant["updatedAt"]),
    }


def inventory_item_payload(item: dict[str, Any]) -> dict[str, Any]:
    """inventory_items/update payload (REST inventory item)."""
    cost = item.get("unitCost")
    return {
        "admin_graphql_api_id": item["id"], "cost": cost["amount"] if cost else None, "country_code_of_origin": item.get("countryCodeOfOrigin"),
        "country_harmonized_system_codes": [], "created_at": rest_time(item["createdAt"]), "harmonized_system_code": item.get("harmonizedSystemCode"),
        "id": gid_number(item["id"]), "province_code_of_origin": item.get("provinceCodeOfOrigin"), "requires_shipping": item.get("requiresShipping", True),
        "sku": item.get("sku"), "tracked": item.get("tracked", True), "updated_at": rest_time(item["updatedAt"]),
    }


def inventory_item_deleted_payload(item_gid: str) -> dict[str, Any]:
    """inventory_items/delete payload: the id and the (cleared) customs fields."""
    return {"id": gid_number(item_gid), "country_code_of_origin": None, "province_code_of_origin": None,
            "harmonized_system_code": None, "country_harmonized_system_codes": []}


class CatalogChangesMixin:
    """Variant, item and product changes with their webhooks (part of Store)."""

    def product_changed(self, state: ShopState, product: dict[str, Any]) -> None:
        """Bump the product and send products/update."""
        self.touch(product)
        self.publish(state, "products/update", product_payload(state, product))

    def item_changed(self, state: ShopState, item: dict[str, Any]) -> None:
        """Bump the item and send inventory_items/update."""
        self.touch(item)
        self.publish(state, "inventory_items/update", inventory_item_payload(item))

    def update_variant(self, shop: str | ShopState, variant_gid: str, **fields: Any) -> dict[str, Any]:
        """The merchant edits a variant (sku, price, inventoryPolicy, barcode) in the admin."""
        with self.lock:
            state = self.require_shop(shop)
            variant = state.get(variant_gid)
            if variant is None or variant["__typename"] != "ProductVariant":
                raise KeyError(f"unknown variant {variant_gid}")
            self.apply_variant_changes(state, [(variant, fields)])
            return variant

    def apply_variant_changes(self, state: ShopState, changes: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Set variant fields (ProductVariantsBulkInput: the SKU and tracked flag come in `inventoryItem`);
        a changed item sends inventory_items/update; one products/update per product."""
        products: dict[str, dict[str, Any]] = {}
        for variant, fields in changes:
            sku_before = variant.get("sku")
            item_input = fields.get("inventoryItem") or {}
            for name in ("inventoryPolicy", "sku", "price", "barcode"):
                if fields.get(name) is not None:
                    variant[name] = fields[name]
            if item_input.get("sku") is not None:
                variant["sku"] = item_input["sku"]
            self.touch(variant)
            product = state.deref(variant["product"])
            products[product["id"]] = product
            item = state.deref(variant["inventoryItem"])
            item_changed = False
            if variant.get("sku") != sku_before:
                if sku_before in product["_skus"]:
                    product["_skus"].remove(sku_before)
                product["_skus"].append(variant["sku"])
                item["sku"], item_changed = variant["sku"], True
            for name in ("tracked", "requiresShipping"):
                if item_input.get(name) is not None and item.get(name) != item_input[name]:
                    item[name], item_changed = item_input[name], True
            if item_changed:
                self.item_changed(state, item)
        for product in products.values():
            self.product_changed(state, product)

    def update_inventory_item(self, shop: str | ShopState, item_gid: str, *, tracked: bool | None = None, sku: str | None = None, requires_shipping: bool | None = None) -> dict[str, Any]:
        """inventoryItemUpdate (or the merchant's edit): tracked, SKU, requires shipping."""
        with self.lock:
            state = self.require_shop(shop)
            item = state.get(item_gid)
            if item is None or item["__typename"] != "InventoryItem":
                raise ShopifyUserError(["id"], "Inventory item does not exist")
            if tracked is not None:
                item["tracked"] = tracked
            if requires_shipping is not None:
                item["requiresShipping"] = requires_shipping
            if sku is not None and sku != item.get("sku"):
                variant = state.deref(item["variant"])
                self.apply_variant_changes(state, [(variant, {"sku": sku})])  # sends inventory_items/update itself
                return item
            self.item_changed(state, item)
            return item

    def delete_product(self, shop: str | ShopState, product_gid: str) -> str:
        """productDelete (or the merchant's delete): the product, its variants, items and levels go."""
        with self.lock:
            state = self.require_shop(shop)
            product = state.get(product_gid)
            if product is None or product["__typename"] != "Product":
                raise ShopifyUserError(["id"], "Product does not exist")
            items = [self._remove_variant(state, v) for v in state.deref(product["variants"]) or []]
            state.remove(product_gid)
            self.publish(state, "products/delete", {"id": gid_number(product_gid)})
            for item_gid in items:
                self.publish(state, "inventory_items/delete", inventory_item_deleted_payload(item_gid))
            return product_gid

    def delete_variant(self, shop: str | ShopState, variant_gid: str) -> None:
        """The merchant deletes one variant: its item and levels go; the product is updated."""
        with self.lock:
            state = self.require_shop(shop)
            variant = state.get(variant_gid)
            if variant is None or variant["__typename"] != "ProductVariant":
                raise KeyError(f"unknown variant {variant_gid}")
            product = state.deref(variant["product"])
            item_gid = self._remove_variant(state, variant)
            product["variants"] = [ref for ref in product["variants"] if ref.gid != variant_gid]
            self.publish(state, "inventory_items/delete", inventory_item_deleted_payload(item_gid))
            self.product_changed(state, product)

    def _remove_variant(self, state: ShopState, variant: dict[str, Any]) -> str:
        item_gid = variant["inventoryItem"].gid
        for level in [lvl for lvl in state.all("InventoryLevel") if lvl["item"].gid == item_gid]:
            state.remove(level["id"])
        for fo_line in state.all("FulfillmentOrderLineItem"):
            if fo_line.get("inventoryItemId") == item_gid:
                # The reservation lived on the deleted level: open orders still ship, with no stock to move.
                fo_line["_committed"] = 0
        state.remove(item_gid)
        state.remove(variant["id"])
        product = state.deref(variant["product"])
        if product is not None and variant.get("sku") in product["_skus"]:
            product["_skus"].remove(variant["sku"])
        return item_gid
