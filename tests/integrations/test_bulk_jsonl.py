"""Bulk JSONL is ungrouped since 2026-01: readers join lines by __parentId, in any order.

Unit tests of the join, then the catalog mirror end to end through the sandbox Shopify,
whose file puts every level line BEFORE its variant line.
"""
from __future__ import annotations

import json

from sqlalchemy import select

from conftest import API_KEY
from integrations.shopify.bulk_jsonl import join_by_parent
from shopify_app.inventory.catalog_mirror import mirror_catalog
from shopify_app.inventory.models import CatalogVariant, InventoryLevel

SHOP = "demo.myshopify.com"


def test_children_before_their_parent_are_joined_once_it_arrives() -> None:
    lines = [
        {"id": "L1", "__parentId": "V1"},
        {"id": "G1", "__parentId": "L1"},  # a grandchild before its parent too
        {"id": "V1", "item": "I1"},
        {"id": "L2", "__parentId": "V2"},
        {"id": "V2", "item": "I2"},
        {"id": "L3", "__parentId": "V1"},
        {"id": "X", "__parentId": "NOPE"},
    ]
    joined = list(join_by_parent(lines, lambda obj: obj["item"]))
    children = {line.obj["id"]: line.parent for line in joined if line.parent_id is not None and not line.orphan}
    assert children == {"L1": "I1", "G1": "I1", "L2": "I2", "L3": "I1"}
    assert [line.obj["id"] for line in joined if line.orphan] == ["X"]
    assert sorted(line.obj["id"] for line in joined) == sorted(obj["id"] for obj in lines)  # each line once


def test_grouped_output_reads_the_same() -> None:
    lines = [{"id": "V1", "item": "I1"}, {"id": "L1", "__parentId": "V1"}]
    assert [(line.obj["id"], line.parent) for line in join_by_parent(lines, lambda obj: obj["item"])] == [("V1", None), ("L1", "I1")]


def test_the_catalog_mirror_reads_an_ungrouped_export_right(sandboxed_app, sandbox_shopify) -> None:
    services = sandboxed_app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_inventory")
    shop = sandbox_shopify.store.require_shop(SHOP)
    location = shop.all("Location")[0]["id"]
    fetched: list[str] = []
    original_stream = services.http_client.stream

    def spy(method, url, **kw):  # keep a copy of the file the app reads
        fetched.append(services.http_client.get(url).text)
        return original_stream(method, url, **kw)

    services.http_client.stream = spy
    try:
        stats = mirror_catalog(services.session_factory, services.gateway(SHOP), services.http_client, SHOP, poll_every=0.05)
    finally:
        del services.http_client.stream
    lines = [json.loads(line) for line in fetched[0].splitlines()]
    position = {line["id"]: n for n, line in enumerate(lines) if "id" in line}
    assert any("__parentId" in line and position[line["__parentId"]] > n for n, line in enumerate(lines))  # children came first
    with services.session_factory() as session:
        rows = {(lvl.inventory_item_gid, lvl.location_gid): lvl.available for lvl in session.scalars(select(InventoryLevel))}
        variants = session.scalars(select(CatalogVariant)).all()
    assert stats.variants == len(variants) == len(shop.all("ProductVariant"))
    for variant in shop.all("ProductVariant"):
        item = variant["inventoryItem"].gid if hasattr(variant["inventoryItem"], "gid") else variant["inventoryItem"]["id"]
        level = sandbox_shopify.store.inventory_level(shop, item, location)
        if level is not None:
            assert rows[(item, location)] == level["_quantities"]["available"]
