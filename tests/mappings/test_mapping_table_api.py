"""The mappings table API: keyset pages both ways, filters, search, export, bulk edit refusing other shops' ids; on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from mappings.mapping_kit import OTHER, SHOP, STICKERS, TEE_S_BARCODE, build_world
from shopify_app.inventory.models import CatalogVariant
from shopify_app.suppliers.models import ProductMapping

DEMO_VARIANTS = 7  # the sandbox demo shop: MUG-WHT, MUG-BLK, TEE-S, TEE-M, TEE-L, BTL-500, TOTE-NAT


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    return build_world(sandboxed_app, sandbox_shopify)


def page(world, shop=SHOP, **params):
    response = world.call("get", "/api/mappings", shop, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def all_skus(world, **params) -> list[str]:
    """Walk every page forward by next_after."""
    skus, after = [], None
    while True:
        body = page(world, **params, **({"after": after} if after else {}))
        skus += [r["sku"] for r in body["rows"]]
        if body["next_after"] is None:
            return skus
        after = body["next_after"]


def map_skus(world, supplier: str, rows: list[dict], shop=SHOP) -> None:
    response = world.call("post", f"/api/suppliers/{world.suppliers[(shop, supplier)]}/mappings", shop, json={"mappings": rows})
    assert response.status_code == 200, response.get_json()


def test_the_catalog_mirror_brings_titles_and_barcodes(world):
    with world.app.extensions["services"].session_factory() as session:
        tee = session.scalar(select(CatalogVariant).where(CatalogVariant.shop_domain == SHOP, CatalogVariant.sku == "TEE-S"))
        assert (tee.title, tee.barcode) == ("Cotton T-Shirt - Small", TEE_S_BARCODE)


def test_keyset_pages_walk_forward_and_back_without_gaps_or_repeats(world):
    every = all_skus(world, limit=10)
    assert len(every) == len(set(every)) == DEMO_VARIANTS + STICKERS
    first = page(world, limit=10)
    assert first["prev_before"] is None and first["next_after"] is not None
    second = page(world, limit=10, after=first["next_after"])
    assert [r["sku"] for r in second["rows"]] == every[10:20]
    back = page(world, limit=10, before=second["prev_before"])
    assert [r["sku"] for r in back["rows"]] == every[:10] and back["prev_before"] is None and back["next_after"] == first["next_after"]
    last = page(world, limit=10, after=page(world, limit=10, after=second["next_after"])["next_after"])
    assert [r["sku"] for r in last["rows"]] == every[30:] and last["next_after"] is None


def test_filters_unmapped_out_of_stock_no_cost_and_supplier(world):
    map_skus(world, "Acme", [{"sku": "TEE-S", "supplier_sku": "AC-TEE-S", "cost": "4.10"}, {"sku": "MUG-WHT", "supplier_sku": "AC-MUG"}])
    map_skus(world, "Globex", [{"sku": "TEE-M", "supplier_sku": "GX-TEE-M", "cost": "5"}])
    feed = world.upload(f"/api/suppliers/{world.suppliers[(SHOP, 'Acme')]}/stock-feed", b"sku,available\nAC-TEE-S,0\nAC-MUG,12\n")
    assert feed.status_code == 201, feed.get_json()
    unmapped = all_skus(world, filter="unmapped")
    assert "TEE-S" not in unmapped and "TEE-M" not in unmapped and "MUG-BLK" in unmapped and len(unmapped) == DEMO_VARIANTS + STICKERS - 3
    assert all_skus(world, filter="out_of_stock") == ["TEE-S"]
    assert all_skus(world, filter="no_cost") == ["MUG-WHT"]
    assert sorted(all_skus(world, supplier=world.suppliers[(SHOP, "Acme")])) == ["MUG-WHT", "TEE-S"]
    unmapped_at_globex = all_skus(world, supplier=world.suppliers[(SHOP, "Globex")], filter="unmapped")
    assert "TEE-S" in unmapped_at_globex and "TEE-M" not in unmapped_at_globex
    row = next(r for r in page(world, q="TEE-S")["rows"] if r["sku"] == "TEE-S")
    assert row["mappings"] == [{"id": row["mappings"][0]["id"], "supplier_id": world.suppliers[(SHOP, "Acme")], "supplier": "Acme",
                                "supplier_sku": "AC-TEE-S", "cost": "4.10", "stock": 0, "in_stock": False}]
    # An unknown filter is no filter; a supplier id that is not a number is ignored.
    assert len(all_skus(world, filter="nonsense", supplier="x")) == DEMO_VARIANTS + STICKERS


def test_search_by_sku_prefix_barcode_and_title_words_with_wildcards_taken_literally(world):
    assert all_skus(world, q="TEE-") == ["TEE-S", "TEE-M", "TEE-L"]
    assert all_skus(world, q=TEE_S_BARCODE) == ["TEE-S"]
    assert all_skus(world, q="water bottle") == ["BTL-500"]
    assert all_skus(world, q="Design 1") == [f"STK-{n}" for n in range(10, 20)]
    assert all_skus(world, q="%") == [] and all_skus(world, q="STK_0") == []


def test_every_page_and_the_export_show_only_the_shops_own_rows(world):
    map_skus(world, "Acme", [{"sku": "TEE-S", "supplier_sku": "OTHER-SECRET"}], shop=OTHER)
    rows = [r for r in page(world, limit=200)["rows"]]
    assert all(m["supplier_sku"] != "OTHER-SECRET" for r in rows for m in r["mappings"])
    with world.app.extensions["services"].session_factory() as session:
        mine = set(session.scalars(select(CatalogVariant.id).where(CatalogVariant.shop_domain == SHOP)))
    assert {r["id"] for r in rows} == mine


def test_export_has_the_import_columns_one_line_per_mapping_and_neutralised_formulas(world):
    map_skus(world, "Acme", [{"sku": "TEE-S", "supplier_sku": "=HYPERLINK(1)", "cost": "4.10"}])
    map_skus(world, "Globex", [{"sku": "TEE-S", "supplier_sku": "GX-1"}])
    response = world.call("get", "/api/mappings.csv", query_string={"q": "TEE-"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["sku"], r["supplier"], r["supplier_sku"]) for r in rows] == [
        ("TEE-S", "Acme", "'=HYPERLINK(1)"), ("TEE-S", "Globex", "GX-1"), ("TEE-M", "", ""), ("TEE-L", "", "")]
    assert rows[0]["cost"] == "4.10" and rows[0]["title"] == "Cotton T-Shirt - Small"


def test_bulk_edit_moves_to_a_supplier_sets_cost_and_unmaps(world):
    map_skus(world, "Acme", [{"sku": "TEE-S", "supplier_sku": "AC-TEE-S", "cost": "4.10"}])
    ids = {r["sku"]: r["id"] for r in page(world, q="TEE-")["rows"]}
    globex = world.suppliers[(SHOP, "Globex")]
    moved = world.call("post", "/api/mappings/bulk", json={"variant_ids": [ids["TEE-S"], ids["TEE-M"]], "supplier_id": globex})
    assert moved.status_code == 200, moved.get_json()
    costed = world.call("post", "/api/mappings/bulk", json={"variant_ids": [ids["TEE-S"], ids["TEE-M"]], "cost": "3,75"})
    assert costed.status_code == 200
    with world.app.extensions["services"].session_factory() as session:
        held = {(m.sku, m.supplier_id, m.supplier_sku, m.cost) for m in session.scalars(select(ProductMapping).where(ProductMapping.shop_domain == SHOP))}
    # TEE-S keeps its supplier SKU and moves; TEE-M is mapped by its own SKU; both cost 3.75 (decimal comma read).
    assert held == {("TEE-S", globex, "AC-TEE-S", "3.75"), ("TEE-M", globex, "TEE-M", "3.75")}
    bad = world.call("post", "/api/mappings/bulk", json={"variant_ids": [ids["TEE-S"]], "cost": "3.7.5"})
    assert bad.status_code == 400 and bad.get_json()["fields"][0]["field"] == "cost"
    assert world.call("post", "/api/mappings/bulk", json={"variant_ids": [ids["TEE-S"]]}).status_code == 400
    unmapped = world.call("post", "/api/mappings/bulk", json={"variant_ids": [ids["TEE-S"], ids["TEE-M"]], "unmap": True})
    assert unmapped.get_json()["edit"]["removed"] == 2
    assert all_skus(world, filter="no_cost") == []


def test_bulk_edit_refuses_another_shops_variant_or_supplier_and_changes_nothing(world):
    mine = {r["sku"]: r["id"] for r in page(world, q="TEE-")["rows"]}
    theirs = {r["sku"]: r["id"] for r in page(world, OTHER, q="TEE-")["rows"]}
    map_skus(world, "Acme", [{"sku": "TEE-M", "supplier_sku": "THEIRS", "cost": "9.99"}], shop=OTHER)
    with world.app.extensions["services"].session_factory() as session:
        before = sorted((m.shop_domain, m.sku, m.supplier_id, m.cost) for m in session.scalars(select(ProductMapping)))
    mixed = world.call("post", "/api/mappings/bulk", json={"variant_ids": [mine["TEE-S"], theirs["TEE-M"]], "cost": "1.00"})
    assert mixed.status_code == 404 and str(theirs["TEE-M"]) in mixed.get_json()["error"]
    foreign_supplier = world.call("post", "/api/mappings/bulk", json={"variant_ids": [mine["TEE-S"]], "supplier_id": world.suppliers[(OTHER, "Acme")]})
    assert foreign_supplier.status_code == 404
    assert world.call("post", "/api/mappings/bulk", json={"variant_ids": [theirs["TEE-M"]], "unmap": True}).status_code == 404
    with world.app.extensions["services"].session_factory() as session:
        assert sorted((m.shop_domain, m.sku, m.supplier_id, m.cost) for m in session.scalars(select(ProductMapping))) == before


def test_a_products_update_webhook_brings_the_new_barcode_and_title_into_the_mirror(world):
    from orders.forwarding_kit import deliver
    from sandbox.shopify.catalog_changes import product_payload

    store = world.shopify.store
    tee = store.variant_by_sku(SHOP, "TEE-S")
    state = store.require_shop(SHOP)
    product = state.get(tee["product"].gid)
    with store.lock:
        tee["barcode"] = "0012345678905"
        product["title"] = "Organic T-Shirt"
        payload = product_payload(state, product) | {"updated_at": "2099-01-01T00:00:00+00:00"}
    deliver(world.app, "products/update", payload)
    assert all_skus(world, q="0012345678905") == ["TEE-S"]
    assert page(world, q="TEE-S")["rows"][0]["title"] == "Organic T-Shirt - Small"
    assert all_skus(world, q=TEE_S_BARCODE) == []


def test_the_page_renders_a_filtered_page_with_links_that_keep_the_filters_and_never_the_token(world):
    from conftest import API_KEY

    token = world.shopify.mint_session_token(SHOP, API_KEY)
    response = world.client.get(f"/mappings?shop={SHOP}&host=abc&embedded=1&id_token={token}&filter=unmapped&q=STK-&limit=10")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count('name="variant"') == 10 and 'data-sku="STK-00"' in html and 'data-sku="TEE-S"' not in html
    next_link = html.split('id="next-page" href="')[1].split('"')[0].replace("&amp;", "&")
    assert "after=" in next_link and "filter=unmapped" in next_link and "q=STK-" in next_link and "id_token" not in next_link
    assert 'id="prev-page"' not in html
    # Another shop's page never shows this shop's mappings.
    map_skus(world, "Acme", [{"sku": "TEE-S", "supplier_sku": "MINE-ONLY"}])
    mine = world.client.get(f"/mappings?shop={SHOP}&host=abc&q=TEE-S&id_token={world.shopify.mint_session_token(SHOP, API_KEY)}").get_data(as_text=True)
    other = world.client.get(f"/mappings?shop={OTHER}&host=abc&q=TEE-S&id_token={world.shopify.mint_session_token(OTHER, API_KEY)}").get_data(as_text=True)
    assert "MINE-ONLY" in mine and "MINE-ONLY" not in other and 'data-sku="TEE-S"' in other


def test_query_ids_that_are_not_ascii_numbers_are_ignored():
    from shopify_app.mappings.table import parse_query

    query = parse_query({"after": "²", "before": "٣", "supplier": "1e3", "limit": "99999999999999999999", "filter": "unmapped"})
    assert (query.after, query.before, query.supplier_id, query.limit, query.filter) == (None, None, None, 50, "unmapped")
