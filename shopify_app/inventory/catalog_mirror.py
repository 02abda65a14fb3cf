"""Shopify's catalog and inventory levels, read with a bulk operation and kept in our tables.

A bulk export has no cost per item (only the starting mutation is charged) and scales to
any catalog: Shopify writes a JSONL file, which is streamed here line by line and upserted
a thousand rows at a time, so memory stays flat at 100,000 variants. Between exports the
webhooks keep the mirror current: `inventory_levels/update` the levels, `products/update|delete`
and `inventory_items/update|delete` the variants (SKU, policy, tracked flag, deletions).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import httpx
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import sessionmaker

from integrations.shopify import documents
from integrations.shopify.bulk_jsonl import join_by_parent
from integrations.shopify.errors import ShopifyError, ShopifyUserError
from integrations.shopify.gateway import ShopifyGateway

from ..db import upsert
from ..models import utcnow
from .models import CatalogVariant, InventoryLevel

log = logging.getLogger(__name__)

UPSERT_CHUNK = 1000
FINISHED = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})


class BulkExportFailed(ShopifyError):
    """Shopify's bulk operation ended without a usable result."""


@dataclass
class MirrorStats:
    """What an export brought in."""

    operation_id: str | None = None
    variants: int = 0
    levels: int = 0
    removed: int = 0
    seconds: float = 0.0


def run_bulk_export(gateway: ShopifyGateway, query_name: str, *, poll_every: float = 1.0, timeout: float = 3600.0, sleep: Callable[[float], None] = time.sleep, query_text: str | None = None) -> dict:
    """Start a bulk query (waiting out one already running) and poll until it finishes; its BulkOperation.

    `query_text`: the document's text with its literals filled in (bulk queries take no variables).
    """
    query = query_text or documents.get_document(query_name)
    deadline = time.monotonic() + timeout
    while True:
        try:
            started = gateway.mutate("BulkOperationRunQuery", {"query": query}, "bulkOperationRunQuery")
            operation_id = started["bulkOperationRunQuery"]["bulkOperation"]["id"]
            break
        except ShopifyUserError as error:
            if "in progress" not in str(error) and "OPERATION_IN_PROGRESS" not in error.codes:
                raise
            if time.monotonic() > deadline:
                raise BulkExportFailed("another bulk operation kept running", operation="BulkOperationRunQuery") from None
            sleep(poll_every)  # Shopify runs one bulk query per shop and app at a time
    while True:
        current = gateway.query("BulkOperation", {"id": operation_id}).get("bulkOperation") or {}
        if current.get("status") in FINISHED:
            if current["status"] != "COMPLETED":
                raise BulkExportFailed(f"bulk operation {current['status']} ({current.get('errorCode')})", operation="BulkOperation")
            return current
        if time.monotonic() > deadline:
            raise BulkExportFailed("bulk operation did not finish in time", operation="BulkOperation")
        sleep(poll_every)


def stream_jsonl(client: httpx.Client, url: str | None) -> Iterator[dict]:
    """The export's objects, one per line, read as they arrive (an empty export has no URL)."""
    if not url:
        return
    with client.stream("GET", url, timeout=120.0) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.strip():
                yield json.loads(line)


def mirror_catalog(session_factory: sessionmaker, gateway: ShopifyGateway, client: httpx.Client, shop_domain: str, **polling) -> MirrorStats:
    """Export the catalog with its levels and store it; variants Shopify no longer lists are dropped."""
    began = time.monotonic()
    operation = run_bulk_export(gateway, "CatalogInventoryExport", **polling)
    stats = apply_export(session_factory, shop_domain, operation["id"], stream_jsonl(client, operation.get("url")))
    stats.seconds = time.monotonic() - began
    log.info("catalog mirrored shop=%s variants=%d levels=%d removed=%d", shop_domain, stats.variants, stats.levels, stats.removed)
    return stats


def _item_of(variant_line: dict) -> str | None:
    return (variant_line.get("inventoryItem") or {}).get("id")


def apply_export(session_factory: sessionmaker, shop_domain: str, export_id: str, objects: Iterable[dict]) -> MirrorStats:
    """Upsert the variant and level lines of a CatalogInventoryExport (ungrouped: levels may precede their variant)."""
    stats = MirrorStats(operation_id=export_id)
    variants: list[dict] = []
    levels: list[dict] = []
    now = utcnow()
    for line in join_by_parent(objects, _item_of):
        obj = line.obj
        if line.parent_id is None:
            item = obj.get("inventoryItem") or {}
            if not item.get("id"):
                continue
            variants.append({
                "shop_domain": shop_domain, "variant_gid": obj["id"], "product_gid": (obj.get("product") or {}).get("id"),
                "sku": obj.get("sku") or None, "title": (obj.get("displayName") or "")[:512] or None,
                "barcode": (obj.get("barcode") or "").strip()[:64] or None, "inventory_item_gid": item["id"], "tracked": bool(item.get("tracked", True)),
                "inventory_policy": obj.get("inventoryPolicy"), "seen_in": export_id,
            })
        else:
            # The level names its item; else its parent variant's item (joined by __parentId).
            item_gid = (obj.get("item") or {}).get("id") or line.parent
            if not item_gid or not (obj.get("location") or {}).get("id"):
                continue
            available = next((q.get("quantity") for q in obj.get("quantities") or [] if q.get("name") == "available"), None)
            levels.append({
                "shop_domain": shop_domain, "inventory_item_gid": item_gid, "location_gid": obj["location"]["id"],
                "stocked": True, "available": available, "available_seen_at": now,
            })
        if len(variants) >= UPSERT_CHUNK or len(levels) >= UPSERT_CHUNK:
            _flush(session_factory, variants, levels, stats)
            variants, levels = [], []
    _flush(session_factory, variants, levels, stats)
    with session_factory.begin() as session:
        stats.removed = session.execute(
            # Rows a webhook added carry no export (NULL): they too go when this export lacks them.
            delete(CatalogVariant).where(CatalogVariant.shop_domain == shop_domain, or_(CatalogVariant.seen_in.is_(None), CatalogVariant.seen_in != export_id))
        ).rowcount
    return stats


def _flush(session_factory: sessionmaker, variants: list[dict], levels: list[dict], stats: MirrorStats) -> None:
    if not variants and not levels:
        return
    with session_factory.begin() as session:
        upsert(session, CatalogVariant, variants, ("shop_domain", "variant_gid"),
               ("product_gid", "sku", "title", "barcode", "inventory_item_gid", "tracked", "inventory_policy", "seen_in"))
        upsert(session, InventoryLevel, levels, ("shop_domain", "inventory_item_gid", "location_gid"),
               ("stocked", "available", "available_seen_at"))
    stats.variants += len(variants)
    stats.levels += len(levels)


# --- between exports: products/update|delete and inventory_items/update|delete -----------------
#
# Each payload is the product (or inventory item) as of its updated_at; one older than what
# the row last took from the same source is a late delivery and changes nothing. A deleted
# variant, product or item leaves the mirror together with its inventory levels, so the
# next plan has nothing to feed and no push ever names an item Shopify no longer has.


@dataclass
class CatalogChange:
    """What one catalog webhook changed in the mirror."""

    variants_updated: int = 0
    variants_added: int = 0
    variants_removed: int = 0
    levels_removed: int = 0
    levels_released: int = 0
    stale: bool = False


def _gid(kind: str, number: str) -> str:
    return f"gid://shopify/{kind}/{number}"


def apply_product_update(session, shop_domain: str, product_number: str, updated_at, variants: list[dict], variant_numbers: list[str] | None) -> CatalogChange:
    """products/update: SKUs, policies and items of the product's variants; variants no longer listed are removed.

    `variants`: [{"number", "sku", "inventory_item_number", "inventory_policy", "barcode"?, "title"?}] (checked by the
    handler); `variant_numbers`: every variant the product has (the payload's `variant_gids`),
    or None to take `variants` as the whole list.
    """
    change = CatalogChange()
    exported = session.scalar(select(CatalogVariant.id).where(CatalogVariant.shop_domain == shop_domain, CatalogVariant.seen_in.is_not(None)).limit(1))
    if exported is None:
        return change  # no export yet: a partial mirror would make the first sync skip the full one
    product_gid = _gid("Product", product_number)
    held = {row.variant_gid: row for row in session.scalars(select(CatalogVariant).where(CatalogVariant.shop_domain == shop_domain, CatalogVariant.product_gid == product_gid))}
    if updated_at is not None and any(row.product_updated_at and row.product_updated_at > updated_at for row in held.values()):
        change.stale = True
        return change
    for variant in variants:
        gid = _gid("ProductVariant", variant["number"])
        row = held.get(gid) or session.scalar(select(CatalogVariant).where(CatalogVariant.shop_domain == shop_domain, CatalogVariant.variant_gid == gid))
        item_gid = _gid("InventoryItem", variant["inventory_item_number"]) if variant.get("inventory_item_number") else None
        if row is None:
            if item_gid is None:
                continue  # nothing to mirror it by yet; the next export brings it
            session.add(CatalogVariant(shop_domain=shop_domain, variant_gid=gid, product_gid=product_gid, sku=variant.get("sku"), inventory_item_gid=item_gid,
                                       tracked=True, inventory_policy=variant.get("inventory_policy"), product_updated_at=updated_at,
                                       title=variant.get("title"), barcode=variant.get("barcode")))
            change.variants_added += 1
            continue
        row.product_gid, row.sku, row.product_updated_at = product_gid, variant.get("sku"), updated_at or row.product_updated_at
        row.inventory_policy = variant.get("inventory_policy") or row.inventory_policy
        row.title = variant.get("title") or row.title
        if "barcode" in variant:
            row.barcode = variant["barcode"]
        row.inventory_item_gid = item_gid or row.inventory_item_gid
        change.variants_updated += 1
    listed = {_gid("ProductVariant", n) for n in (variant_numbers if variant_numbers is not None else [v["number"] for v in variants])}
    gone = [row for gid, row in held.items() if gid not in listed]
    _remove_variants(session, shop_domain, gone, change)
    session.flush()
    return change


def remove_product(session, shop_domain: str, product_number: str) -> CatalogChange:
    """products/delete: the product's variants and their levels leave the mirror."""
    change = CatalogChange()
    rows = list(session.scalars(select(CatalogVariant).where(CatalogVariant.shop_domain == shop_domain, CatalogVariant.product_gid == _gid("Product", product_number))))
    _remove_variants(session, shop_domain, rows, change)
    return change


def apply_item_update(session, shop_domain: str, item_number: str, updated_at, sku: str | None, tracked: bool | None) -> CatalogChange:
    """inventory_items/update: the item's tracked flag and SKU; an untracked item is no longer ours to set."""
    change = CatalogChange()
    item_gid = _gid("InventoryItem", item_number)
    for row in session.scalars(select(CatalogVariant).where(CatalogVariant.shop_domain == shop_domain, CatalogVariant.inventory_item_gid == item_gid)):
        if updated_at is not None and row.item_updated_at and row.item_updated_at > updated_at:
            change.stale = True
            continue
        if tracked is not None:
            row.tracked = tracked
        if updated_at is None or row.product_updated_at is None or updated_at >= row.product_updated_at:
            row.sku = sku  # the item's SKU is the variant's; a newer products/update already said it otherwise
        row.item_updated_at = updated_at or row.item_updated_at
        change.variants_updated += 1
    if tracked is False:
        # Shopify ignores quantities of untracked items: stop managing the levels now, not at the next plan.
        change.levels_released = session.execute(
            update(InventoryLevel).where(InventoryLevel.shop_domain == shop_domain, InventoryLevel.inventory_item_gid == item_gid, InventoryLevel.desired.is_not(None))
            .values(desired=None, supply=None).execution_options(synchronize_session=False)
        ).rowcount
    session.flush()
    return change


def remove_item(session, shop_domain: str, item_number: str) -> CatalogChange:
    """inventory_items/delete: the item's variant and levels leave the mirror."""
    change = CatalogChange()
    item_gid = _gid("InventoryItem", item_number)
    rows = list(session.scalars(select(CatalogVariant).where(CatalogVariant.shop_domain == shop_domain, CatalogVariant.inventory_item_gid == item_gid)))
    _remove_variants(session, shop_domain, rows, change)
    change.levels_removed += _remove_levels(session, shop_domain, [item_gid])
    return change


def _remove_variants(session, shop_domain: str, rows: list[CatalogVariant], change: CatalogChange) -> None:
    items = sorted({row.inventory_item_gid for row in rows})
    for row in rows:
        session.delete(row)
    session.flush()
    change.variants_removed += len(rows)
    # An item belongs to one variant: with the variant gone, Shopify deleted the item and its levels.
    still_listed = set(session.scalars(select(CatalogVariant.inventory_item_gid).where(CatalogVariant.shop_domain == shop_domain, CatalogVariant.inventory_item_gid.in_(items)))) if items else set()
    change.levels_removed += _remove_levels(session, shop_domain, [i for i in items if i not in still_listed])


def _remove_levels(session, shop_domain: str, item_gids: list[str]) -> int:
    if not item_gids:
        return 0
    return session.execute(delete(InventoryLevel).where(InventoryLevel.shop_domain == shop_domain, InventoryLevel.inventory_item_gid.in_(item_gids))).rowcount
