"""Tracking that an email supplier sends back as CSV: checked row by row, grouped into parcels.

Columns (header names, any order and case): po_number, line_ref or sku, quantity, carrier,
tracking_number and/or tracking_url, shipped_at. Rows with the same PO number and tracking
number (or link) are one parcel. A parcel with any bad row is left out whole, so a parcel is
never recorded with half its contents; the other parcels go in. Each refused row gets an
error with its row number (the header is row 1) and what to fix. A parcel that is already in
the sent log (same PO and tracking) is skipped, so importing the same file twice is harmless.

XLSX workbooks are read into the same rows (xlsx_rows.py). Every data row gets one outcome in
`report`: applied, duplicate (already imported, or repeated in the file), unknown_po (not a
PO we sent this supplier) or unreadable (with what to fix). A reply that quotes its PO only
in the email (no po_number column) passes `default_po`, which fills the column.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

from ..base import Shipment, ShipmentLine
from .csv_rows import CsvRows, RowError, read_rows
from .xlsx_rows import looks_like_xlsx, read_xlsx_rows
from .sent_log import SentLine, SentLog, SentPurchaseOrder, with_shipments

PurchaseOrderLookup = Callable[[str], SentPurchaseOrder | None]
OUTCOMES = ("applied", "duplicate", "unknown_po", "unreadable")
REQUIRED = ("po_number", "quantity")
ONE_OF = (("line_ref", "sku"), ("tracking_number", "tracking_url"))


@dataclass(frozen=True)
class RowReport:
    """What became of one row of a tracking import."""

    row: int
    outcome: str  # one of OUTCOMES
    message: str = ""
    po_number: str = ""
    carrier: str = ""
    tracking_number: str = ""

    def as_json(self) -> dict:
        """The row as the API shows it."""
        return {"row": self.row, "outcome": self.outcome, "message": self.message, "po_number": self.po_number,
                "carrier": self.carrier, "tracking_number": self.tracking_number}


@dataclass(frozen=True)
class TrackingImport:
    """New shipments by PO number, the refused rows, and parcels that were imported before."""

    shipments: dict[str, list[Shipment]]
    errors: list[RowError]
    already_imported: list[str] = field(default_factory=list)
    report: tuple[RowReport, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every row was taken."""
        return not self.errors


@dataclass(frozen=True)
class _Row:
    number: int
    po_number: str
    parcel: str
    line: SentLine
    quantity: int
    carrier: str
    tracking_number: str
    tracking_url: str
    shipped_at: str | None


def parse_tracking_csv(text: str | bytes, find_po: PurchaseOrderLookup, *, default_po: str | None = None) -> TrackingImport:
    """Check a tracking CSV against the POs `find_po` knows; nothing is recorded."""
    return parse_tracking_table(read_rows(text, required=_required(default_po), one_of=ONE_OF), find_po, default_po=default_po)


def parse_tracking_file(data: bytes, find_po: PurchaseOrderLookup, *, default_po: str | None = None) -> TrackingImport:
    """Check a tracking file, XLSX (recognised by its bytes) or CSV; nothing is recorded."""
    if looks_like_xlsx(data):
        return parse_tracking_table(read_xlsx_rows(data, required=_required(default_po), one_of=ONE_OF), find_po, default_po=default_po)
    return parse_tracking_csv(data, find_po, default_po=default_po)


def _required(default_po: str | None) -> tuple[str, ...]:
    return tuple(name for name in REQUIRED if not (default_po and name == "po_number"))


def parse_tracking_table(table: CsvRows, find_po: PurchaseOrderLookup, *, default_po: str | None = None) -> TrackingImport:
    """Check rows read from any tracking file against the POs `find_po` knows; nothing is recorded."""
    if table.header_error is not None:
        error = table.header_error
        return TrackingImport({}, [error], report=(RowReport(error.row, "unreadable", error.message),))
    if default_po:
        table = CsvRows(tuple((number, {**values, "po_number": values.get("po_number") or default_po}) for number, values in table.rows), table.columns)
    orders: dict[str, SentPurchaseOrder | None] = {}
    errors: list[RowError] = []
    bad_parcels: set[tuple[str, str]] = set()
    seen: dict[tuple[str, str, str], int] = {}
    rows: list[_Row] = []
    for number, values in table.rows:
        po_number = values.get("po_number", "")
        parcel = values.get("tracking_number") or values.get("tracking_url") or ""
        if po_number not in orders and po_number:
            orders[po_number] = find_po(po_number)
        row, problem = _checked_row(number, values, orders.get(po_number))
        outcome = "unknown_po" if po_number and orders.get(po_number) is None else "unreadable"
        if row is not None:
            duplicate_of = seen.get((row.po_number, row.parcel, row.line.line_ref))
            if duplicate_of is not None:
                row, problem, outcome = None, f"duplicate of row {duplicate_of} (same PO, tracking and line)", "duplicate"
            else:
                seen[(row.po_number, row.parcel, row.line.line_ref)] = number
        if row is None:
            errors.append(RowError(number, problem, outcome))
            bad_parcels.add((po_number, parcel))
        else:
            rows.append(row)
    shipments, already = _parcels(rows, orders, bad_parcels, errors)
    errors.sort(key=lambda error: error.row)
    return TrackingImport(shipments, errors, already, _report(table, rows, errors, already))


def _report(table: CsvRows, rows: list[_Row], errors: list[RowError], already: list[str]) -> tuple[RowReport, ...]:
    """One outcome per data row: its (first) error, else duplicate when its parcel was imported before, else applied."""
    first_error: dict[int, RowError] = {}
    for error in errors:
        first_error.setdefault(error.row, error)
    taken = {row.number: row for row in rows}
    report = []
    for number, values in table.rows:
        po_number, carrier = values.get("po_number", ""), values.get("carrier", "")
        tracking = values.get("tracking_number") or values.get("tracking_url") or ""
        if number in first_error:
            error = first_error[number]
            report.append(RowReport(number, error.outcome, error.message, po_number, carrier, tracking))
        elif number in taken and f"{po_number}:{taken[number].parcel}" in already:
            report.append(RowReport(number, "duplicate", "this parcel was imported before", po_number, carrier, tracking))
        else:
            report.append(RowReport(number, "applied", "", po_number, carrier, tracking))
    return tuple(report)


def import_tracking_csv(sent_log: SentLog, text: str | bytes) -> TrackingImport:
    """Check a tracking CSV against the sent log and record the parcels that pass."""
    return record_import(sent_log, parse_tracking_csv(text, sent_log.get))


def record_import(sent_log: SentLog, result: TrackingImport) -> TrackingImport:
    """Record the parcels of a checked import in the sent log (a parcel already there is kept as it is)."""
    for po_number, shipments in result.shipments.items():
        sent_log.update(po_number, lambda record, new=shipments: with_shipments(record, new))
    return result


# -- one row -------------------------------------------------------------------------------


def _checked_row(number: int, values: dict[str, str], order: SentPurchaseOrder | None) -> tuple[_Row | None, str]:
    po_number = values.get("po_number", "")
    if not po_number:
        return None, "po_number is missing"
    if order is None:
        return None, f"PO {po_number} is not a purchase order we sent to this supplier"
    line, problem = _matching_line(order, values.get("line_ref", ""), values.get("sku", ""))
    if line is None:
        return None, problem
    quantity, problem = _quantity(values.get("quantity", ""))
    if quantity is None:
        return None, problem
    tracking_number, tracking_url = values.get("tracking_number", ""), values.get("tracking_url", "")
    if not tracking_number and not tracking_url:
        return None, "needs a tracking_number or a tracking_url"
    if tracking_url and not tracking_url.lower().startswith(("https://", "http://")):
        return None, f"tracking_url {tracking_url[:60]!r} is not an http(s) link"
    shipped_at, problem = _shipped_at(values.get("shipped_at", ""))
    if problem:
        return None, problem
    row = _Row(number, po_number, tracking_number or tracking_url, line, quantity, values.get("carrier", ""), tracking_number, tracking_url, shipped_at)
    return row, ""


def _matching_line(order: SentPurchaseOrder, line_ref: str, sku: str) -> tuple[SentLine | None, str]:
    po = order.po_number
    if line_ref:
        line = next((line for line in order.lines if line.line_ref == line_ref), None)
        if line is None:
            return None, f"PO {po} has no line_ref {line_ref}"
        if sku and sku != line.sku:
            return None, f"sku {sku} does not match line_ref {line_ref} of PO {po} (ordered as {line.sku})"
        return line, ""
    if not sku:
        return None, "needs a line_ref or a sku"
    matches = [line for line in order.lines if line.sku == sku]
    if not matches:
        return None, f"unknown SKU {sku} for PO {po}: it is not on that purchase order"
    if len(matches) > 1:
        return None, f"SKU {sku} is on several lines of PO {po}; give the line_ref"
    return matches[0], ""


def _quantity(text: str) -> tuple[int | None, str]:
    if not text:
        return None, "quantity is missing"
    try:
        quantity = int(text)
    except ValueError:
        return None, f"quantity {text[:20]!r} is not a whole number"
    if quantity <= 0:
        return None, f"quantity {quantity} must be at least 1"
    return quantity, ""


def _shipped_at(text: str) -> tuple[str | None, str]:
    if not text:
        return None, ""
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text).isoformat(), ""
        return dt.datetime.fromisoformat(text).isoformat(), ""
    except ValueError:
        return None, f"shipped_at {text[:30]!r} is not a date (use YYYY-MM-DD or an ISO 8601 date and time)"


# -- parcels -------------------------------------------------------------------------------


def _parcels(
    rows: list[_Row], orders: dict[str, SentPurchaseOrder | None], bad_parcels: set[tuple[str, str]], errors: list[RowError],
) -> tuple[dict[str, list[Shipment]], list[str]]:
    grouped: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for row in rows:
        grouped[(row.po_number, row.parcel)].append(row)
    taken_in_file: dict[tuple[str, str], int] = defaultdict(int)
    shipments: dict[str, list[Shipment]] = defaultdict(list)
    already: list[str] = []
    for (po_number, parcel), parcel_rows in grouped.items():
        order = orders[po_number]
        assert order is not None  # rows exist only for known POs
        shipment_id = f"{po_number}:{parcel}"
        if (po_number, parcel) in bad_parcels:
            errors.extend(RowError(row.number, f"left out with parcel {parcel} of PO {po_number}, which has a bad row") for row in parcel_rows)
            continue
        if any(shipment.shipment_id == shipment_id for shipment in order.shipments):
            already.append(shipment_id)
            continue
        problem = _conflict(parcel_rows) or _over_quantity(order, parcel_rows, taken_in_file)
        if problem is not None:
            errors.append(problem)
            errors.extend(RowError(row.number, f"left out with parcel {parcel} of PO {po_number}, which has a bad row") for row in parcel_rows if row.number != problem.row)
            continue
        for row in parcel_rows:
            taken_in_file[(po_number, row.line.line_ref)] += row.quantity
        shipments[po_number].append(_shipment(shipment_id, parcel_rows))
    return dict(shipments), already


def _conflict(rows: list[_Row]) -> RowError | None:
    first = rows[0]
    for row in rows[1:]:
        for name in ("carrier", "tracking_url", "shipped_at"):
            mine, theirs = getattr(row, name), getattr(first, name)
            if mine and theirs and mine != theirs:
                return RowError(row.number, f"{name} differs from row {first.number} of the same parcel")
    return None


def _over_quantity(order: SentPurchaseOrder, rows: list[_Row], taken_in_file: dict[tuple[str, str], int]) -> RowError | None:
    in_parcel: dict[str, int] = defaultdict(int)
    for row in rows:
        line = row.line
        in_parcel[line.line_ref] += row.quantity
        left = line.quantity - order.shipped_quantity(line.line_ref) - taken_in_file[(order.po_number, line.line_ref)]
        if in_parcel[line.line_ref] > left:
            return RowError(row.number, f"quantity {row.quantity} of line {line.line_ref} ({line.sku}) is more than the {max(left, 0)} still to ship (ordered {line.quantity})")
    return None


def _shipment(shipment_id: str, rows: list[_Row]) -> Shipment:
    def first(name: str) -> str | None:
        return next((getattr(row, name) for row in rows if getattr(row, name)), None)

    return Shipment(
        shipment_id=shipment_id,
        carrier=first("carrier"),
        tracking_number=first("tracking_number"),
        tracking_url=first("tracking_url"),
        lines=tuple(ShipmentLine(quantity=row.quantity, line_ref=row.line.line_ref, supplier_sku=row.line.sku) for row in rows),
        shipped_at=first("shipped_at"),
    )
