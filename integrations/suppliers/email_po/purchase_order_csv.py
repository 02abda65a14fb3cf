"""The CSV a purchase-order email carries: one row per line, the PO number and ship-to on every row.

Suppliers open these in spreadsheets, so free text that a customer typed (names, address
lines, notes) is defused against formula injection: a cell starting with =, @, a tab or a
carriage return, or with + or - followed by anything but a number, gets a leading
apostrophe. Phone numbers such as +44 20 7946 0000 are left as they are.
"""
from __future__ import annotations

import csv
import io
import re

from ..base import PlaceOrder
from .po_amounts import po_amounts

COLUMNS = (
    "po_number", "line_ref", "sku", "quantity", "name",
    "ship_to_name", "ship_to_company", "ship_to_address1", "ship_to_address2", "ship_to_city",
    "ship_to_province", "ship_to_zip", "ship_to_country", "ship_to_phone", "ship_to_email",
    "shipping_method", "note", "unit_cost", "line_total", "currency",
)
_FORMULA_START = re.compile(r"^(?:[=@\t\r]|[+-](?![\d\s().]*$))")


def defused(value: str | None) -> str:
    """A cell value a spreadsheet will show as text, never run as a formula."""
    text = value or ""
    return "'" + text if _FORMULA_START.match(text) else text


def purchase_order_csv(order: PlaceOrder, currency: str | None = None) -> str:
    """The PO as CSV text (header row first, CRLF line ends as RFC 4180 has them); costs per line in the PO's currency."""
    address = order.shipping_address
    ship_to = [
        address.name, address.company, address.address1, address.address2, address.city,
        address.province_code, address.zip, address.country_code, address.phone, address.email,
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    amounts = po_amounts(order, currency)
    for priced in amounts.lines:
        line = priced.line
        writer.writerow([
            order.external_id, line.line_ref, line.supplier_sku, line.quantity, defused(line.name),
            *(defused(value) for value in ship_to), defused(order.shipping_method), defused(order.note),
            priced.unit_cost, priced.line_total, amounts.currency if priced.unit_cost else "",
        ])
    return buffer.getvalue()
