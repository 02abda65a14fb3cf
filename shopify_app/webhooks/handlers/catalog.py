"""products/update|delete, inventory_items/update|delete: keep the catalog mirror current between exports."""
from __future__ import annotations

from typing import Any

from ...inventory.catalog_mirror import apply_item_update, apply_product_update, remove_item, remove_product
from ...orders.payloads import PayloadError, checked_id, checked_text, exact_id, parse_time
from ..registry import WebhookContext, handles
from ..worker import PoisonPayload

MAX_VARIANTS = 2048  # Shopify's limit per product
POLICIES = {"deny": "DENY", "continue": "CONTINUE"}


class BadCatalogPayload(PoisonPayload):
    """The payload does not describe a product or inventory item we can mirror."""


def _object(ctx: WebhookContext) -> dict:
    if not isinstance(ctx.payload, dict):
        raise BadCatalogPayload(f"{ctx.topic} payload is not an object")
    return ctx.payload


def _id(obj: dict, what: str) -> str:
    try:
        number = checked_id(exact_id(obj), what)
    except PayloadError as exc:
        raise BadCatalogPayload(str(exc)) from None
    if number is None:
        raise BadCatalogPayload(f"{what} missing")
    return number


def _time(obj: dict):
    try:
        return parse_time(obj.get("updated_at"))
    except (ValueError, OverflowError, TypeError):
        raise BadCatalogPayload("updated_at is not an ISO 8601 time") from None


def _variant(item: Any, index: int, product_title: str | None = None) -> dict:
    if not isinstance(item, dict):
        raise BadCatalogPayload(f"variants[{index}] is not an object")
    try:
        return {
            "number": _id(item, f"variants[{index}].id"),
            "sku": checked_text(item.get("sku"), f"variants[{index}].sku", 255) or None,
            "inventory_item_number": checked_id(item.get("inventory_item_id"), f"variants[{index}].inventory_item_id"),
            "inventory_policy": POLICIES.get(str(item.get("inventory_policy") or "").lower()),
            # For the mappings table and barcode matching (the export reads displayName: "Product - Variant").
            "barcode": (checked_text(item.get("barcode"), f"variants[{index}].barcode", 255) or "").strip()[:64] or None,
            "title": _display_name(product_title, checked_text(item.get("title"), f"variants[{index}].title", 255)),
        }
    except PayloadError as exc:
        raise BadCatalogPayload(str(exc)) from None


def _display_name(product_title: str | None, variant_title: str | None) -> str | None:
    if not product_title:
        return variant_title or None
    return product_title if not variant_title or variant_title == "Default Title" else f"{product_title} - {variant_title}"[:512]


@handles("products/update")
def product_updated(ctx: WebhookContext) -> None:
    """Mirror the product's variants as the payload lists them (removed variants leave)."""
    payload = _object(ctx)
    variants = payload.get("variants")
    if not isinstance(variants, list) or len(variants) > MAX_VARIANTS:
        raise BadCatalogPayload("variants is not a list of at most 2048")
    listed = payload.get("variant_gids")
    numbers = [_id(v if isinstance(v, dict) else {}, f"variant_gids[{i}]") for i, v in enumerate(listed)] if isinstance(listed, list) else None
    apply_product_update(ctx.session, ctx.shop_domain, _id(payload, "product id"), _time(payload), [_variant(v, i, _product_title(payload)) for i, v in enumerate(variants)], numbers)


def _product_title(payload: dict) -> str | None:
    title = payload.get("title")
    return title[:255] if isinstance(title, str) else None


@handles("products/delete")
def product_deleted(ctx: WebhookContext) -> None:
    """The product's variants and their levels leave the mirror: nothing is pushed to them again."""
    remove_product(ctx.session, ctx.shop_domain, _id(_object(ctx), "product id"))


@handles("inventory_items/update")
def inventory_item_updated(ctx: WebhookContext) -> None:
    """The item's tracked flag and SKU."""
    payload = _object(ctx)
    tracked = payload.get("tracked")
    if tracked is not None and not isinstance(tracked, bool):
        raise BadCatalogPayload("tracked is not a boolean")
    try:
        sku = checked_text(payload.get("sku"), "sku", 255) or None
    except PayloadError as exc:
        raise BadCatalogPayload(str(exc)) from None
    apply_item_update(ctx.session, ctx.shop_domain, _id(payload, "inventory item id"), _time(payload), sku, tracked)


@handles("inventory_items/delete")
def inventory_item_deleted(ctx: WebhookContext) -> None:
    """The item's variant and levels leave the mirror."""
    remove_item(ctx.session, ctx.shop_domain, _id(_object(ctx), "inventory item id"))
