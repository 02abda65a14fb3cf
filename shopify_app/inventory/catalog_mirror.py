"""Shopify's catalog and inventory levels, read with a bulk operation and kept in our tables.

A bulk export has no cost per item (only the starting mutation is charged) and scales to
any catalog: Shopify writes a JSONL file, which is streamed here line by line and upserted
a thousand rows at a time, so memory stays flat at 100,000 variants. The
`inventory_levels/update` webhook keeps the mirror current between exports.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import httpx
from sqlalchemy import delete
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


def run_bulk_export(gateway: ShopifyGateway, query_name: str, *, poll_every: float = 1.0, timeout: float = 3600.0, sleep: Callable[[float], None] = time.sleep) -> dict:
    """Start a bulk query (waiting out one already running) and poll until it finishes; its BulkOperation."""
    query = documents.get_document(query_name)
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
                "sku": obj.get("sku") or None, "inventory_item_gid": item["id"], "tracked": bool(item.get("tracked", True)),
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
            delete(CatalogVariant).where(CatalogVariant.shop_domain == shop_domain, CatalogVariant.seen_in != export_id)
        ).rowcount
    return stats


def _flush(session_factory: sessionmaker, variants: list[dict], levels: list[dict], stats: MirrorStats) -> None:
    if not variants and not levels:
        return
    with session_factory.begin() as session:
        upsert(session, CatalogVariant, variants, ("shop_domain", "variant_gid"),
               ("product_gid", "sku", "inventory_item_gid", "tracked", "inventory_policy", "seen_in"))
        upsert(session, InventoryLevel, levels, ("shop_domain", "inventory_item_gid", "location_gid"),
               ("stocked", "available", "available_seen_at"))
    stats.variants += len(variants)
    stats.levels += len(levels)
