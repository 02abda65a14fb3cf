"""Mapping imports (CSV and XLSX) with a preview and every refused row; supplier catalogs; auto-match proposals accepted or rejected in bulk."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from mappings.mapping_kit import OTHER, SHOP, TEE_S_BARCODE, build_world, xlsx
from shopify_app.mappings.files import parse_cost
from shopify_app.suppliers.models import ProductMapping


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    return build_world(sandboxed_app, sandbox_shopify)


def mappings(world, shop=SHOP) -> set[tuple]:
    with world.app.extensions["services"].session_factory() as session:
        return {(m.sku, m.supplier.name, m.supplier_sku, m.cost) for m in session.scalars(select(ProductMapping).where(ProductMapping.shop_domain == shop))}


# A spreadsheet export as Excel writes it in Poland: a byte-order mark, semicolons, decimal commas.
MESSY_CSV = ("\ufeffSKU;Supplier;Supplier SKU;Unit cost\r\n"
             "TEE-S;Acme;AC-TEE-S;4,50\r\n"
             "TEE-M;acme ;AC-TEE-M;1.234,5\r\n"
             "NOPE-1;Acme;AC-X;1\r\n"
             "TEE-S;Acme;AC-TEE-S-2;4,60\r\n"
             "TEE-L;Acme;AC-TEE-L;cheap\r\n"
             "MUG-WHT;Initech;IN-MUG;2\r\n"
             "MUG-BLK;Acme;;2\r\n"
             "\r\n"
             "BTL-500;Globex;GX-BTL;\r\n").encode("utf-8")


def test_preview_lists_the_first_rows_and_every_refused_row_with_its_reason_and_writes_nothing(world):
    response = world.upload("/api/mappings/import", MESSY_CSV)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()["import_"]
    assert (report["rows_total"], report["accepted"], report["refused"]) == (8, 3, 5)
    assert [(r["row"], r["sku"], r["supplier"], r["supplier_sku"], r["cost"]) for r in report["preview"]] == [
        (2, "TEE-S", "Acme", "AC-TEE-S", "4.50"), (3, "TEE-M", "Acme", "AC-TEE-M", "1234.5"), (10, "BTL-500", "Globex", "GX-BTL", None)]
    reasons = {r["row"]: r["reason"] for r in report["refused_rows"]}
    assert reasons == {
        4: "unknown SKU: no variant of this shop has it",
        5: "duplicate of row 2 (same SKU and supplier)",
        6: "cost is not a number",
        7: "unknown supplier Initech",
        8: "the supplier SKU is empty",
    }
    assert mappings(world) == set()


def test_apply_writes_exactly_the_previewed_rows_and_keeps_a_stored_cost_when_the_cell_is_empty(world):
    world.call("post", f"/api/suppliers/{world.suppliers[(SHOP, 'Globex')]}/mappings", json={"mappings": [{"sku": "BTL-500", "supplier_sku": "OLD", "cost": "7.00"}]})
    applied = world.upload("/api/mappings/import?apply=1", MESSY_CSV)
    assert applied.status_code == 200
    assert applied.get_json()["import_"]["applied"] == {"written": 3, "created": 2, "updated": 1}
    assert mappings(world) == {("TEE-S", "Acme", "AC-TEE-S", "4.50"), ("TEE-M", "Acme", "AC-TEE-M", "1234.5"), ("BTL-500", "Globex", "GX-BTL", "7.00")}
    assert mappings(world, OTHER) == set()


def test_an_xlsx_file_with_a_default_supplier_is_read_like_the_csv(world):
    data = xlsx([["sku", "supplier_sku", "cost"], ["TEE-S", "X-1", 4.5], ["MUG-WHT", "X-2", 3], ["GHOST", "X-3", 1], ["TEE-M", "X-4", -2]])
    acme = world.suppliers[(SHOP, "Acme")]
    report = world.upload(f"/api/mappings/import?supplier={acme}&apply=1", data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").get_json()["import_"]
    assert [r["row"] for r in report["refused_rows"]] == [4, 5]
    assert "cost must be a number from 0" in report["refused_rows"][1]["reason"]
    assert mappings(world) == {("TEE-S", "Acme", "X-1", "4.5"), ("MUG-WHT", "Acme", "X-2", "3")}


def test_unusable_files_and_other_shops_suppliers_are_refused_with_the_reason(world):
    no_header = world.upload("/api/mappings/import", b"sku,cost\nTEE-S,1\n")
    assert no_header.status_code == 422 and "supplier_sku" in no_header.get_json()["fields"][0]["message"]
    assert world.upload("/api/mappings/import", b"\x00\x01\x02binary").status_code == 422
    assert world.call("post", "/api/mappings/import", json={"sku": "TEE-S"}).status_code == 400  # the schema takes no JSON fields
    assert world.call("post", "/api/mappings/import", json={}).status_code == 415
    theirs = world.suppliers[(OTHER, "Acme")]
    assert world.upload(f"/api/mappings/import?supplier={theirs}", b"sku,supplier_sku\nTEE-S,A\n").status_code == 404
    # Another shop's supplier named in the file is simply unknown here.
    report = world.upload("/api/mappings/import", b"sku,supplier,supplier_sku\nTEE-S,Nobody,A\n").get_json()["import_"]
    assert report["refused_rows"] == [{"row": 2, "sku": "TEE-S", "reason": "unknown supplier Nobody"}]


@pytest.mark.parametrize(("text", "expected"), [("4,50", "4.50"), ("1.234,50", "1234.50"), ("1,234.50", "1234.50"), ("12", "12"), (" 3.5 zł", "3.5"), ("", None)])
def test_costs_are_read_as_spreadsheets_write_them(text, expected):
    assert parse_cost(text) == expected


@pytest.mark.parametrize("text", ["abc", "-1", "1.23456", "NaN", "1e400"])
def test_a_bad_cost_is_refused(text):
    with pytest.raises(ValueError):
        parse_cost(text)


def test_auto_match_proposes_by_sku_then_barcode_and_the_merchant_accepts_or_rejects_in_bulk(world):
    acme = world.suppliers[(SHOP, "Acme")]
    world.call("post", f"/api/suppliers/{acme}/mappings", json={"mappings": [{"sku": "MUG-BLK", "supplier_sku": "MINE"}]})
    catalog = ("supplier_sku,barcode,title,cost,stock\n"
               "TEE-M,,Tee M,4.00,10\n"          # SKU match
               "AC-99,%s,Tee S,3.90,4\n"          # barcode match with TEE-S
               "MUG-BLK,,Mug,1,1\n"               # already mapped: no proposal
               "STK-01,,Sticker,0.20,100\n"
               "STK-02,,Sticker,0.20,100\n"
               "STK-02,,dup,0.20,100\n"
               "UNKNOWN,,Nothing,1,abc\n" % TEE_S_BARCODE).encode()
    assert world.upload(f"/api/suppliers/{acme}/catalog", catalog, shop=OTHER).status_code == 404  # not their supplier
    uploaded = world.upload(f"/api/suppliers/{acme}/catalog", catalog)
    assert uploaded.status_code == 200, uploaded.get_json()
    body = uploaded.get_json()["catalog"]
    assert (body["accepted"], body["refused"], body["catalog_size"]) == (5, 2, 5)
    found = world.call("post", "/api/mappings/auto-match", json={"supplier_id": acme}).get_json()
    assert found == {"found": {"by_sku": 3, "by_barcode": 1}, "pending": 4}
    assert world.call("get", "/api/mappings/proposals", OTHER).get_json() == {"proposals": [], "pending": 0}
    proposals = world.call("get", "/api/mappings/proposals").get_json()["proposals"]
    by_sku = {p["sku"]: p for p in proposals}
    assert set(by_sku) == {"TEE-M", "TEE-S", "STK-01", "STK-02"}
    assert (by_sku["TEE-S"]["matched_by"], by_sku["TEE-S"]["supplier_sku"], by_sku["TEE-S"]["cost"]) == ("barcode", "AC-99", "3.90")
    assert mappings(world) == {("MUG-BLK", "Acme", "MINE", None)}  # nothing mapped before the merchant says so
    # Another shop cannot decide these, and a mixed list changes nothing.
    foreign = world.call("post", "/api/mappings/proposals/accept", OTHER, json={"ids": [by_sku["TEE-M"]["id"]]})
    assert foreign.status_code == 404
    rejected = world.call("post", "/api/mappings/proposals/reject", json={"ids": [by_sku["STK-01"]["id"], by_sku["STK-02"]["id"]]})
    assert rejected.get_json()["decision"] == {"decided": 2, "mapped": 0, "pending": 2}
    accepted = world.call("post", "/api/mappings/proposals/accept", json={"all": True})
    assert accepted.get_json()["decision"] == {"decided": 2, "mapped": 2, "pending": 0}
    assert mappings(world) == {("MUG-BLK", "Acme", "MINE", None), ("TEE-M", "Acme", "TEE-M", "4.00"), ("TEE-S", "Acme", "AC-99", "3.90")}
    # Rejected matches are not proposed again.
    assert world.call("post", "/api/mappings/auto-match", json={"supplier_id": acme}).get_json()["found"] == {"by_sku": 0, "by_barcode": 0}
    assert world.call("post", "/api/mappings/proposals/accept", json={}).status_code == 400


def test_a_stock_feed_fills_the_supplier_catalog_for_matching(world):
    globex = world.suppliers[(SHOP, "Globex")]
    assert world.upload(f"/api/suppliers/{globex}/stock-feed", b"sku,available\nBTL-500,3\nZZZ,1\n").status_code == 201
    found = world.call("post", "/api/mappings/auto-match", json={"supplier_id": globex}).get_json()["found"]
    assert found == {"by_sku": 1, "by_barcode": 0}
    assert world.call("post", "/api/mappings/auto-match", OTHER, json={"supplier_id": globex}).status_code == 404


def test_an_applied_import_parses_the_file_with_no_write_transaction_open(world, monkeypatch):
    # Review finding 3: a 200,000-row XLSX takes many seconds to parse; parsing it while holding
    # SQLite's only write lock starves webhook intake. The spy records what held during the read.
    from shopify_app.mappings import imports
    from shopify_app.write_transactions import holds_write_transaction

    engine = world.app.extensions["services"].engine
    seen = []
    real_read_table = imports.read_table

    def spy(*args, **kwargs):
        seen.append((holds_write_transaction(), getattr(getattr(engine, "writer_queue", None), "held", False)))
        return real_read_table(*args, **kwargs)

    monkeypatch.setattr(imports, "read_table", spy)
    # With a default supplier the endpoint reads the database before the file, so a write
    # transaction begun for the request would already hold the lock here.
    applied = world.upload(f"/api/mappings/import?apply=1&supplier={world.suppliers[(SHOP, 'Acme')]}", MESSY_CSV)
    assert applied.status_code == 200, applied.get_json()
    assert seen == [(False, False)]
    assert applied.get_json()["import_"]["applied"]["written"] == 3


def test_an_applied_import_writes_in_chunks_that_recheck_the_supplier(world, monkeypatch):
    # Each chunk is its own short write transaction; a supplier deleted between the check and a
    # chunk's write gets its rows refused, not written.
    from shopify_app.mappings import imports

    monkeypatch.setattr(imports, "APPLY_CHUNK", 1)
    globex = world.suppliers[(SHOP, "Globex")]
    real_known = imports._known_skus
    calls = []

    def delete_globex_after_first_chunk(session, shop, skus):
        calls.append(skus)
        if len(calls) == 2:  # the second chunk's transaction: the merchant deleted Globex meanwhile
            from shopify_app.suppliers.models import Supplier
            from datetime import datetime, timezone
            session.get(Supplier, globex).deleted_at = datetime.now(timezone.utc)
        return real_known(session, shop, skus)

    data = b"sku,supplier,supplier_sku\nTEE-S,Acme,A1\nTEE-M,Acme,A2\nMUG-WHT,Globex,G1\n"
    monkeypatch.setattr(imports, "_known_skus", delete_globex_after_first_chunk)
    report = world.upload("/api/mappings/import?apply=1", data).get_json()["import_"]
    assert report["applied"] == {"written": 2, "created": 2, "updated": 0}
    assert [(r["row"], r["sku"]) for r in report["refused_rows"]] == [(4, "MUG-WHT")]
    assert mappings(world) == {("TEE-S", "Acme", "A1", None), ("TEE-M", "Acme", "A2", None)}


def test_a_file_over_the_upload_limit_gets_the_json_refusal_naming_the_file_field(world):
    # Review finding 10: one limit. A file just over it, sent as a form (the browser's way),
    # still reaches the handler's own check; a bigger body gets the same JSON from the app's cap.
    import io

    from shopify_app.factory import REQUEST_MAX_BYTES
    from shopify_app.mappings.files import MAX_FILE_BYTES

    just_over = world.call("post", "/api/mappings/import", data={"file": (io.BytesIO(b"x" * (MAX_FILE_BYTES + 1)), "big.csv")}, content_type="multipart/form-data")
    far_over = world.upload("/api/mappings/import", b"x" * (REQUEST_MAX_BYTES + 1))
    for response in (just_over, far_over):
        assert response.status_code == 413 and response.is_json, response.data[:200]
        body = response.get_json()
        assert [f["field"] for f in body["fields"]] == ["file"]
        assert f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB" in body["error"]


@pytest.mark.parametrize("cell, exported", [("=1+1", "'=1+1"), ("+48", "'+48"), ("-ABC", "'-ABC"), ("@SUM(A1)", "'@SUM(A1)"), ("\tX", "'\tX"), ("\rX", "'\rX"),
                                            ("ABC", "ABC"), ("'quoted", "'quoted"), (4.5, 4.5)])
def test_export_cells_that_could_run_as_formulas_are_neutralised_and_read_back(cell, exported):
    # Review finding 11: the OWASP list includes TAB and CR; the import strips our quote again.
    from shopify_app.spreadsheet_cells import neutralise, restore

    assert neutralise(cell) == exported
    if isinstance(cell, str):
        assert restore(exported) == cell


def test_a_sku_starting_with_a_minus_round_trips_through_export_and_import(world):
    world.shopify.store.variant_by_sku(SHOP, "TEE-S")["sku"] = "-ABC"
    world.mirror()
    acme = world.suppliers[(SHOP, "Acme")]
    assert world.call("post", f"/api/suppliers/{acme}/mappings", json={"mappings": [{"sku": "-ABC", "supplier_sku": "@AC-1", "cost": "4.50"}]}).status_code in (200, 201)
    exported = world.call("get", "/api/mappings.csv").data
    assert b"'-ABC" in exported and b"'@AC-1" in exported
    report = world.upload("/api/mappings/import?apply=1", exported).get_json()["import_"]
    assert "-ABC" not in {r["sku"] for r in report["refused_rows"]} and "'-ABC" not in {r["sku"] for r in report["refused_rows"]}
    assert report["applied"]["written"] == 1
    assert ("-ABC", "Acme", "@AC-1", "4.50") in mappings(world)


def test_the_supplier_pages_mapping_form_reads_costs_with_the_same_parser(world):
    # Review finding 8: '4,50' was refused by the supplier page's form (a schema pattern) while the mappings page took it.
    acme = world.suppliers[(SHOP, "Acme")]
    ok = world.call("post", f"/api/suppliers/{acme}/mappings", json={"mappings": [{"sku": "TEE-S", "supplier_sku": "A1", "cost": "4,50"},
                                                                                 {"sku": "TEE-M", "supplier_sku": "A2", "cost": 3}]})
    assert ok.status_code == 200, ok.get_json()
    assert mappings(world) == {("TEE-S", "Acme", "A1", "4.50"), ("TEE-M", "Acme", "A2", "3")}
    refused = world.call("post", f"/api/suppliers/{acme}/mappings", json={"mappings": [{"sku": "TEE-L", "supplier_sku": "A3", "cost": "cheap"}]})
    assert refused.status_code == 400
    assert refused.get_json()["fields"] == [{"field": "mappings[0].cost", "message": "cost is not a number"}]
