"""Supplier files as they really come: each kind of bad input refused row by row with a reason, the good rows still read.

Files are read through the merchant's mapping (integrations/suppliers/files/mapping.py) into
the same checks the app's other imports use. Expected values are written out by hand here;
XLSX samples are made with openpyxl's writer, read by our streaming reader.
"""
from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest

from integrations.suppliers.email_po.sent_log import SentLine, SentPurchaseOrder
from integrations.suppliers.files.inbound import preview, read_acknowledgements, read_stock, read_tracking
from integrations.suppliers.files.mapping import FileMapping, InvalidMapping, number_text, parse_mapping, read_mapped


def stock(data: bytes, **mapping):
    result = read_stock(io.BytesIO(data), parse_mapping("stock", mapping))
    return {level.supplier_sku: level.available for level in result.levels}, [(e.row, e.message) for e in result.errors]


PO = SentPurchaseOrder("PO-1001", (SentLine("11", "W-TEE", 2), SentLine("12", "W-MUG", 1)), "2026-12-01T10:00:00+00:00", "file:PO-PO-1001.csv")


def tracking(data: bytes, **mapping):
    return read_tracking(io.BytesIO(data), parse_mapping("tracking", mapping), {"PO-1001": PO}.get)


def xlsx(rows, sheet="Sheet1", title_rows=0) -> bytes:
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    for _ in range(title_rows):
        worksheet.append(["Export of the warehouse"])
    for row in rows:
        worksheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_a_utf8_bom_is_dropped_and_the_first_header_still_matches():
    data = "\ufeffsku,available\r\nW-TEE,5\r\n".encode("utf-8")
    assert stock(data) == ({"W-TEE": 5}, [])


def test_other_encodings_are_read_when_the_mapping_names_them_and_refused_row_by_row_when_it_does_not():
    data = "Artikel;Bestand\nMÜTZE-ROT;4\nW-TEE;7\n".encode("cp1252")
    assert stock(data, encoding="cp1252", columns={"sku": "Artikel", "available": "Bestand"}) == ({"MÜTZE-ROT": 4, "W-TEE": 7}, [])
    levels, errors = stock(data, columns={"sku": "Artikel", "available": "Bestand"})  # read as UTF-8: the Ü is not UTF-8
    assert levels == {"W-TEE": 7}
    assert errors == [(2, "the row has bytes that are not utf-8 text; set the mapping's encoding to the one the supplier exports")]
    utf16 = "sku\tavailable\nW-TEE\t3\n".encode("utf-16")  # with its BOM
    assert stock(utf16, encoding="utf-16") == ({"W-TEE": 3}, [])


def test_semicolons_and_decimal_commas():
    data = b"Artikelnummer;Bestand\nW-TEE;1.234,0\nW-MUG;2,0\nW-CAP;2,5\n"
    levels, errors = stock(data, delimiter=";", decimal_comma=True, columns={"sku": "Artikelnummer", "available": "Bestand"})
    assert levels == {"W-TEE": 1234, "W-MUG": 2}
    assert errors == [(4, "available '2.5' is not a whole number")]
    # Without decimal_comma the same "2,0" is not a number: refused, never read as 20.
    assert stock(b"sku;available\nW-MUG;2,0\n")[1] == [(2, "available '2,0' is not a whole number")]
    assert (number_text("1.234,50", True), number_text("12.0", False), number_text("abc", False)) == ("1234.50", "12", "abc")
    # 5000 digits: int() raises past 4300, which failed the whole file (a poll) or preview; left as typed, the row is refused.
    assert number_text("9" * 5000, False) == "9" * 5000 and number_text("9" * 5000 + ".0", False) == "9" * 5000 + ".0"
    assert stock(b"sku;available\nW-MUG;" + b"9" * 5000 + b"\n")[1] == [(2, f"available '{'9' * 20}' is not a whole number")]


def test_empty_lines_are_skipped_and_row_numbers_stay_the_spreadsheets():
    data = b"sku,available\r\n\r\nW-TEE,5\r\n,,\r\n\r\nW-MUG,-1\r\n"
    assert stock(data) == ({"W-TEE": 5}, [(6, "available -1 cannot be negative")])


def test_extra_columns_and_columns_by_position():
    data = b"Warehouse,Item,Name,Qty,Comment\nBER,W-TEE,T-shirt,5,ok\nBER,W-MUG,Mug,3,\n"
    assert stock(data, columns={"sku": "Item", "available": "Qty"}) == ({"W-TEE": 5, "W-MUG": 3}, [])
    no_header = b"BER,W-TEE,T-shirt,5\nBER,W-MUG,Mug,3\n"
    assert stock(no_header, header_row=0, columns={"sku": 2, "available": 4}) == ({"W-TEE": 5, "W-MUG": 3}, [])


def test_a_malformed_row_is_refused_with_its_reason_and_the_others_are_applied():
    data = b"sku,available\nW-TEE,5\nW-MUG,zwei\n,4\nW-TEE,6\nW-CAP,1\n"
    assert stock(data) == ({"W-TEE": 5, "W-CAP": 1}, [
        (3, "available 'zwei' is not a whole number"), (4, "sku is missing"), (5, "SKU W-TEE is listed again (first on row 2)")])


def test_a_broken_quote_refuses_the_rest_of_the_file_with_a_reason():
    data = b'sku,available\nW-TEE,5\n"W-MUG,3\nW-CAP,1\n'
    levels, errors = stock(data)
    assert levels == {"W-TEE": 5} and len(errors) == 1 and errors[0][0] == 3 and "not valid CSV" in errors[0][1]


def test_a_header_without_a_mapped_column_refuses_the_file():
    levels, errors = stock(b"Item;Qty\nW-TEE;5\n", columns={"sku": "Article"})
    assert levels == {} and errors == [(1, "the header has no column 'Article' (mapped to sku); it has: Item, Qty")]
    levels, errors = stock(b"Item;Note\nW-TEE;5\n", columns={"sku": "Item"})
    assert errors == [(1, "no column is mapped to available or in_stock (set it in the stock mapping)")]


def test_tracking_rows_with_dates_in_the_suppliers_format_and_a_row_for_an_order_we_never_sent():
    data = ("Bestellnummer;Artikelnummer;Menge;Sendungsnummer;Versanddienstleister;Versanddatum\n"
            "PO-1001;W-TEE;2,0;00340434161094042557;DHL;03.12.2026\n"
            "PO-9999;W-TEE;1,0;00340434161094042558;DHL;03.12.2026\n"
            "PO-1001;W-MUG;1,0;00340434161094042559;DHL;2026/12/03\n").encode()
    result = tracking(data, delimiter=";", decimal_comma=True, date_formats=["%d.%m.%Y"], columns={
        "po_number": "Bestellnummer", "sku": "Artikelnummer", "quantity": "Menge", "tracking_number": "Sendungsnummer",
        "carrier": "Versanddienstleister", "ship_date": "Versanddatum"})
    [parcel] = result.shipments["PO-1001"]
    assert (parcel.tracking_number, parcel.carrier, parcel.shipped_at, [(l.line_ref, l.quantity) for l in parcel.lines]) == (
        "00340434161094042557", "DHL", "2026-12-03", [("11", 2)])
    assert [(r.row, r.outcome, r.message) for r in result.report] == [
        (2, "applied", ""),
        (3, "unknown_po", "PO PO-9999 is not a purchase order we sent to this supplier"),
        (4, "unreadable", "shipped_at '2026/12/03' matches none of the date formats (%d.%m.%Y)"),
    ]


def test_xlsx_with_title_rows_a_named_sheet_and_date_cells():
    data = xlsx([["Order Ref", "Item Code", "Qty Shipped", "Tracking No", "Ship Date"],
                 ["PO-1001", "W-MUG", 1, "JJD0001", dt.datetime(2026, 12, 3)], [None, None, None, None, None],
                 ["PO-1001", "W-TEE", "two", "JJD0002", dt.datetime(2026, 12, 3)]], sheet="Shipments", title_rows=2)
    mapping = {"format": "xlsx", "header_row": 3, "sheet": "Shipments",
               "columns": {"po_number": "Order Ref", "sku": "Item Code", "quantity": "Qty Shipped", "tracking_number": "Tracking No", "ship_date": "Ship Date"}}
    result = tracking(data, **mapping)
    assert [(s.tracking_number, s.shipped_at) for s in result.shipments["PO-1001"]] == [("JJD0001", "2026-12-03")]
    assert [(r.row, r.outcome, r.message) for r in result.report] == [(4, "applied", ""), (6, "unreadable", "quantity 'two' is not a whole number")]
    assert tracking(data, **{**mapping, "sheet": "Tracking"}).errors[0].message == "the workbook has no sheet named 'Tracking' (it has Shipments)"
    assert "not a readable XLSX" in tracking(b"PK\x03\x04 broken", format="xlsx").errors[0].message


def test_acknowledgements_refuse_unknown_pos_and_unreadable_statuses():
    data = b"po_number,status,reason\nPO-1001,accepted,\nPO-2002,accepted,\nPO-1001,maybe,\n"
    acks, errors = read_acknowledgements(io.BytesIO(data), FileMapping("acknowledgements"), {"PO-1001": PO}.get)
    assert [(a.po_number, a.accepted) for a in acks] == [("PO-1001", True)]
    assert [(e.row, e.outcome) for e in errors] == [(3, "unknown_po"), (4, "unreadable")]


def test_the_preview_shows_the_first_rows_and_every_refused_row():
    data = b"Item;Qty\nW-TEE;5\nW-MUG;x\n;3\nW-CAP;2,0\n"
    shown = preview(io.BytesIO(data), parse_mapping("stock", {"delimiter": ";", "decimal_comma": True, "columns": {"sku": "Item", "available": "Qty"}}), first=2)
    assert shown["rows"] == [{"row": 2, "values": {"sku": "W-TEE", "available": "5"}}, {"row": 3, "values": {"sku": "W-MUG", "available": "x"}}]
    assert shown["refused"] == [{"row": 3, "reason": "available 'x' is not a whole number"}, {"row": 4, "reason": "sku is missing"}]
    assert shown["rows_read"] == 4 and not shown["file_refused"]


@pytest.mark.parametrize("raw, message", [
    ({"columns": {"colour": "Farbe"}}, "mappings.stock.columns: 'colour' is not a field of a stock file"),
    ({"header_row": 0, "columns": {"sku": "Item"}}, "mappings.stock.columns.sku must be a position"),
    ({"delimiter": "::"}, "mappings.stock.delimiter must be one of"),
    ({"encoding": "rot13"}, "mappings.stock.encoding must be one of"),
    ({"date_formats": ["dd.mm.yyyy"]}, "mappings.stock.date_formats must be up to 5 strftime formats"),
    ({"columns": {"sku": 0}}, "mappings.stock.columns.sku must be a position from 1 to 500"),
    ({"sheet": "x" * 40}, "mappings.stock.sheet must be a worksheet name"),
    ({"unknown": 1}, "mappings.stock: unknown key(s) unknown"),
])
def test_mappings_a_merchant_may_not_save_name_the_key(raw, message):
    with pytest.raises(InvalidMapping) as refused:
        parse_mapping("stock", raw)
    assert str(refused.value).startswith(message)


def test_large_files_stream_without_holding_the_rows():
    rows = read_mapped(io.BytesIO(b"sku,available\n" + b"".join(b"S%d,%d\n" % (i, i) for i in range(1000))), FileMapping("stock")).rows
    assert next(rows) == (2, {"sku": "S0", "available": "0"}, None)  # a generator: rows come as they are read
    assert sum(1 for _ in rows) == 999
