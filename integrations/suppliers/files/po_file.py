"""The purchase-order file we drop for a file supplier: the email PO's columns, as CSV or XLSX, named after the PO number.

The name is derived from our idempotency key only, so writing the PO again after a crash or
a lost answer replaces the same file: the supplier never sees two POs for one order.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from typing import Iterable

from ..base import PlaceOrder
from ..email_po.purchase_order_csv import purchase_order_csv

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def po_file_name(po_number: str, po_format: str) -> str:
    """PO-<number>.<csv|xlsx>; a number with other characters gets them replaced and a short digest so names never collide."""
    cleaned = _UNSAFE.sub("_", po_number).strip("._")[:80] or "PO"
    if cleaned != po_number:
        cleaned = f"{cleaned}-{hashlib.sha256(po_number.encode()).hexdigest()[:8]}"
    return f"PO-{cleaned}.{po_format}"


def purchase_order_file(order: PlaceOrder, po_format: str, delimiter: str = ",") -> bytes:
    """The PO as file bytes: UTF-8 CSV (with a BOM, so spreadsheets read accents) or an XLSX workbook."""
    return purchase_orders_file([order], po_format, delimiter)


def batch_file_name(batch_key: str, po_format: str) -> str:
    """PO-BATCH-<batch key>.<csv|xlsx>: the same name for the same batch on every retry."""
    return po_file_name(f"BATCH-{batch_key}", po_format)


def purchase_orders_file(orders: Iterable[PlaceOrder], po_format: str, delimiter: str = ",") -> bytes:
    """Several POs in one file (a batch): one header, then every order's rows, each row with its own PO number."""
    rows: list[list[str]] = []
    for order in orders:
        parsed = list(csv.reader(io.StringIO(purchase_order_csv(order), newline="")))
        rows.extend(parsed if not rows else parsed[1:])
    if po_format == "xlsx":
        import openpyxl

        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet("Purchase order")
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")
