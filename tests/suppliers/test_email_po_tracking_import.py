"""Tracking CSVs from email suppliers: parcels grouped by PO and tracking, every bad row refused with its row number."""
from __future__ import annotations

import pytest

from email_testkit import tracking_csv
from integrations.suppliers.base import Shipment, ShipmentLine, SupplierOrderStatus
from integrations.suppliers.email_po import InMemorySentLog, import_tracking_csv, parse_tracking_csv
from integrations.suppliers.email_po.sent_log import SentLine, SentPurchaseOrder

HEADER = "po_number,line_ref,sku,quantity,carrier,tracking_number,tracking_url,shipped_at"


def purchase_orders() -> dict[str, SentPurchaseOrder]:
    po1 = SentPurchaseOrder("PO-1", (SentLine("l1", "RED", 2), SentLine("l2", "BLUE", 1)), "2025-03-01T10:00:00+00:00", "<po.1@shop.example>")
    po2 = SentPurchaseOrder("PO-2", (SentLine("m1", "RED", 1), SentLine("m2", "RED", 1)), "2025-03-01T10:00:00+00:00", "<po.2@shop.example>")
    shipped = Shipment("PO-3:OLD1", "UPS", "OLD1", None, (ShipmentLine(1, "n1", "RED"),))
    po3 = SentPurchaseOrder("PO-3", (SentLine("n1", "RED", 2),), "2025-03-01T10:00:00+00:00", "<po.3@shop.example>", shipments=(shipped,))
    return {po.po_number: po for po in (po1, po2, po3)}


def parse(text: str | bytes):
    return parse_tracking_csv(text, purchase_orders().get)


def errors_of(text: str) -> list[tuple[int, str]]:
    return [(error.row, error.message) for error in parse(text).errors]


def test_rows_become_parcels_grouped_by_po_and_tracking():
    result = parse(tracking_csv([
        {"po_number": "PO-1", "line_ref": "l1", "quantity": 1, "carrier": "UPS", "tracking_number": "1Z1", "shipped_at": "2025-03-02"},
        {"po_number": "PO-1", "sku": "BLUE", "quantity": 1, "tracking_number": "1Z1"},
        {"po_number": "PO-1", "line_ref": "l1", "quantity": 1, "carrier": "DHL", "tracking_url": "https://dhl.test/t/9", "shipped_at": "2025-03-03T08:30:00Z"},
        {"po_number": "PO-2", "line_ref": "m2", "quantity": 1, "carrier": "UPS", "tracking_number": "1Z2"},
    ]))
    assert result.ok and result.already_imported == []
    first, second = result.shipments["PO-1"]
    assert first == Shipment("PO-1:1Z1", "UPS", "1Z1", None, (ShipmentLine(1, "l1", "RED"), ShipmentLine(1, "l2", "BLUE")), shipped_at="2025-03-02")
    assert (second.tracking_url, second.shipped_at, second.tracking_number) == ("https://dhl.test/t/9", "2025-03-03T08:30:00+00:00", None)
    assert [s.shipment_id for s in result.shipments["PO-2"]] == ["PO-2:1Z2"]


def test_spreadsheet_exports_are_read_too():
    text = "\ufeffPO_Number; SKU ;Quantity;Tracking_Number\r\n\r\nPO-1;RED;2;1Z9\r\n;;;\r\n"
    result = parse(text.encode("utf-8"))
    assert result.ok and result.shipments["PO-1"][0].lines == (ShipmentLine(2, "l1", "RED"),)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"line_ref": "l1", "quantity": 1, "tracking_number": "T"}, "po_number is missing"),
        ({"po_number": "PO-404", "line_ref": "l1", "quantity": 1, "tracking_number": "T"}, "PO PO-404 is not a purchase order we sent"),
        ({"po_number": "PO-1", "sku": "GREEN", "quantity": 1, "tracking_number": "T"}, "unknown SKU GREEN for PO PO-1"),
        ({"po_number": "PO-1", "line_ref": "l9", "quantity": 1, "tracking_number": "T"}, "PO PO-1 has no line_ref l9"),
        ({"po_number": "PO-1", "line_ref": "l1", "sku": "BLUE", "quantity": 1, "tracking_number": "T"}, "sku BLUE does not match line_ref l1"),
        ({"po_number": "PO-2", "sku": "RED", "quantity": 1, "tracking_number": "T"}, "SKU RED is on several lines of PO PO-2"),
        ({"po_number": "PO-1", "quantity": 1, "tracking_number": "T"}, "needs a line_ref or a sku"),
        ({"po_number": "PO-1", "line_ref": "l1", "quantity": "two", "tracking_number": "T"}, "quantity 'two' is not a whole number"),
        ({"po_number": "PO-1", "line_ref": "l1", "quantity": "1.5", "tracking_number": "T"}, "quantity '1.5' is not a whole number"),
        ({"po_number": "PO-1", "line_ref": "l1", "quantity": 0, "tracking_number": "T"}, "quantity 0 must be at least 1"),
        ({"po_number": "PO-1", "line_ref": "l1", "quantity": -2, "tracking_number": "T"}, "quantity -2 must be at least 1"),
        ({"po_number": "PO-1", "line_ref": "l1", "tracking_number": "T"}, "quantity is missing"),
        ({"po_number": "PO-1", "line_ref": "l1", "quantity": 3, "tracking_number": "T"}, "quantity 3 of line l1 (RED) is more than the 2 still to ship (ordered 2)"),
        ({"po_number": "PO-3", "line_ref": "n1", "quantity": 2, "tracking_number": "NEW"}, "more than the 1 still to ship (ordered 2)"),
        ({"po_number": "PO-1", "line_ref": "l1", "quantity": 1, "tracking_number": "T", "shipped_at": "03/02/2025"}, "shipped_at '03/02/2025' is not a date"),
        ({"po_number": "PO-1", "line_ref": "l1", "quantity": 1, "tracking_number": "T", "shipped_at": "2025-02-30"}, "is not a date"),
        ({"po_number": "PO-1", "line_ref": "l1", "quantity": 1}, "needs a tracking_number or a tracking_url"),
        ({"po_number": "PO-1", "line_ref": "l1", "quantity": 1, "tracking_url": "javascript:alert(1)"}, "is not an http(s) link"),
    ],
)
def test_each_bad_row_is_refused_with_its_row_number(row, message):
    good = {"po_number": "PO-1", "line_ref": "l2", "quantity": 1, "tracking_number": "GOOD"}
    result = parse(tracking_csv([good, row]))
    assert [(error.row, message in error.message) for error in result.errors] == [(3, True)], result.errors
    assert [s.shipment_id for s in result.shipments.get("PO-1", [])] == ["PO-1:GOOD"]  # the good parcel still goes in


def test_a_duplicate_row_is_refused_and_its_parcel_left_out_whole():
    rows = [
        {"po_number": "PO-1", "line_ref": "l1", "quantity": 1, "tracking_number": "T1"},
        {"po_number": "PO-1", "line_ref": "l2", "quantity": 1, "tracking_number": "T1"},
        {"po_number": "PO-1", "line_ref": "l1", "quantity": 1, "tracking_number": "T1"},
    ]
    assert errors_of(tracking_csv(rows)) == [
        (2, "left out with parcel T1 of PO PO-1, which has a bad row"),
        (3, "left out with parcel T1 of PO PO-1, which has a bad row"),
        (4, "duplicate of row 2 (same PO, tracking and line)"),
    ]
    assert parse(tracking_csv(rows)).shipments == {}


def test_quantities_add_up_across_parcels_in_one_file():
    rows = [
        {"po_number": "PO-1", "line_ref": "l1", "quantity": 2, "tracking_number": "T1"},
        {"po_number": "PO-1", "line_ref": "l1", "quantity": 1, "tracking_number": "T2"},
    ]
    result = parse(tracking_csv(rows))
    assert [s.shipment_id for s in result.shipments["PO-1"]] == ["PO-1:T1"]
    assert [(e.row, "more than the 0 still to ship" in e.message) for e in result.errors] == [(3, True)]


def test_rows_of_one_parcel_must_agree():
    rows = [
        {"po_number": "PO-1", "line_ref": "l1", "quantity": 1, "carrier": "UPS", "tracking_number": "T1"},
        {"po_number": "PO-1", "line_ref": "l2", "quantity": 1, "carrier": "DHL", "tracking_number": "T1"},
    ]
    assert errors_of(tracking_csv(rows)) == [
        (2, "left out with parcel T1 of PO PO-1, which has a bad row"),
        (3, "carrier differs from row 2 of the same parcel"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("po_number,sku,quantity\nPO-1,RED,1\n", "lacks column(s) tracking_number or tracking_url"),
        ("po_number,quantity,tracking_number\nPO-1,1,T\n", "lacks column(s) line_ref or sku"),
        ("sku,quantity,tracking_number\nRED,1,T\n", "lacks column(s) po_number"),
        ("po_number,sku,quantity,tracking_number\nPO-1,RED,1,T\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_a_bad_header_or_file_is_one_error_on_row_1(text, message):
    result = parse(text)
    assert [(error.row, message in error.message) for error in result.errors] == [(1, True)]
    assert result.shipments == {}


def test_importing_records_parcels_once_and_moves_the_status():
    log = InMemorySentLog()
    for po in purchase_orders().values():
        log.add(po)
    text = tracking_csv([
        {"po_number": "PO-1", "line_ref": "l1", "quantity": 2, "tracking_number": "T1"},
        {"po_number": "PO-1", "line_ref": "l2", "quantity": 1, "tracking_number": "T1"},
        {"po_number": "PO-3", "line_ref": "n1", "quantity": 1, "tracking_number": "T3"},
    ])
    first = import_tracking_csv(log, text)
    assert first.ok and log.get("PO-1").status == SupplierOrderStatus.SHIPPED and log.get("PO-3").status == SupplierOrderStatus.SHIPPED
    again = import_tracking_csv(log, text)  # the supplier sends the same file twice
    assert again.ok and again.shipments == {} and sorted(again.already_imported) == ["PO-1:T1", "PO-3:T3"]
    assert len(log.get("PO-1").shipments) == 1 and len(log.get("PO-3").shipments) == 2
    assert log.get("PO-2").status == SupplierOrderStatus.PENDING
