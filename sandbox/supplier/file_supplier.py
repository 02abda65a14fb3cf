"""The sandbox file supplier: a wholesaler that trades files on its SFTP server, in its own layout, with faults on demand.

It works on its SFTP user's home folder on this machine (sftp_server.SandboxSftpServer.home):
picks up the purchase orders the app drops in `to_supplier/` (CSV or XLSX, read with the
standard csv module and openpyxl, not with the app's code), moves each to
`to_supplier/processed/` and answers with an acknowledgement file; on demand it ships
(tracking file) and publishes stock (stock file). Two layouts, as real suppliers have:

  - LAYOUT_CSV ("grosshandel"): semicolon-separated, UTF-8 with a BOM, German headers, decimal
    commas ("2,0", "1.234,0") and dates as 31.12.2026;
  - LAYOUT_XLSX ("wholesale-xlsx"): workbooks with two title rows above the header (row 3),
    sheets "Shipments" / "Inventory" / "Confirmations", real date cells.

`MAPPINGS[layout]` is what a merchant would set in the app for that supplier.

Faults (besides the server's down / slow / lost answers): `malformed_next()` puts a broken row
into the next file it drops, `duplicate_next()` drops the next file twice under two names,
`partial_next()` leaves the next file half-written under its final name until
`finish_partial()`.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

LAYOUT_CSV = "grosshandel"
LAYOUT_XLSX = "wholesale-xlsx"

MAPPINGS: dict[str, dict] = {
    LAYOUT_CSV: {
        "tracking": {"format": "csv", "delimiter": ";", "encoding": "utf-8", "decimal_comma": True, "date_formats": ["%d.%m.%Y"],
                     "columns": {"po_number": "Bestellnummer", "sku": "Artikelnummer", "quantity": "Menge", "tracking_number": "Sendungsnummer",
                                 "carrier": "Versanddienstleister", "shipped_at": "Versanddatum"}},
        "stock": {"format": "csv", "delimiter": ";", "decimal_comma": True, "columns": {"sku": "Artikelnummer", "available": "Bestand"}},
        "acknowledgements": {"format": "csv", "delimiter": ";", "columns": {"po_number": "Bestellnummer", "status": "Status", "reason": "Grund"}},
    },
    LAYOUT_XLSX: {
        "tracking": {"format": "xlsx", "header_row": 3, "sheet": "Shipments",
                     "columns": {"po_number": "Order Ref", "sku": "Item Code", "quantity": "Qty Shipped", "tracking_number": "Tracking No",
                                 "carrier": "Carrier", "shipped_at": "Ship Date"}},
        "stock": {"format": "xlsx", "header_row": 3, "sheet": "Inventory", "columns": {"sku": "Item Code", "available": "Qty On Hand"}},
        "acknowledgements": {"format": "xlsx", "header_row": 3, "sheet": "Confirmations", "columns": {"po_number": "Order Ref", "status": "Result", "reason": "Note"}},
    },
}
HEADERS = {
    LAYOUT_CSV: {"tracking": ["Bestellnummer", "Artikelnummer", "Menge", "Sendungsnummer", "Versanddienstleister", "Versanddatum"],
                 "stock": ["Artikelnummer", "Bestand", "Lager"], "acknowledgements": ["Bestellnummer", "Status", "Grund"]},
    LAYOUT_XLSX: {"tracking": ["Order Ref", "Item Code", "Qty Shipped", "Tracking No", "Carrier", "Ship Date"],
                  "stock": ["Item Code", "Description", "Qty On Hand"], "acknowledgements": ["Order Ref", "Result", "Note"]},
}
SHEETS = {"tracking": "Shipments", "stock": "Inventory", "acknowledgements": "Confirmations"}
FOLDERS = {"orders": "to_supplier", "orders_taken": "to_supplier/processed", "acknowledgements": "from_supplier/acknowledgements",
           "tracking": "from_supplier/tracking", "stock": "from_supplier/stock"}


@dataclass
class SupplierPo:
    """A PO as the supplier read it from the file."""

    po_number: str
    lines: dict[str, tuple[str, int]]  # line_ref -> (sku, quantity)
    city: str
    shipped: dict[str, int] = field(default_factory=dict)
    cancelled: bool = False


class SandboxFileSupplier:
    """The supplier's side of the folder tree under `home`."""

    def __init__(self, home: str | Path, layout: str = LAYOUT_CSV, *, stock: Mapping[str, int] | None = None):
        if layout not in MAPPINGS:
            raise ValueError(f"unknown layout {layout}")
        self.home, self.layout = Path(home), layout
        self.stock: dict[str, int] = dict(stock or {})
        self.orders: dict[str, SupplierPo] = {}
        self.files_received: list[str] = []
        self._faults: list[str] = []
        self._partial: tuple[Path, bytes] | None = None
        self._lock = threading.RLock()
        self._sequence = 0
        for folder in FOLDERS.values():
            (self.home / folder).mkdir(parents=True, exist_ok=True)

    # -- faults ------------------------------------------------------------------------------

    def malformed_next(self) -> None:
        """The next file dropped has one broken row (a quantity that is not a number, a date in no format)."""
        self._faults.append("malformed")

    def duplicate_next(self) -> None:
        """The next file is dropped twice, under two names."""
        self._faults.append("duplicate")

    def partial_next(self) -> None:
        """The next file stays half-written under its final name until finish_partial()."""
        self._faults.append("partial")

    def finish_partial(self) -> None:
        """Write the rest of the half-written file."""
        with self._lock:
            if self._partial is not None:
                path, data = self._partial
                path.write_bytes(data)
                self._partial = None

    def _take(self, fault: str) -> bool:
        if fault in self._faults:
            self._faults.remove(fault)
            return True
        return False

    # -- purchase orders ---------------------------------------------------------------------

    def take_orders(self) -> list[str]:
        """Read every PO (and cancellation) file in to_supplier/, move it to processed/, acknowledge each PO; the PO numbers read."""
        taken = []
        with self._lock:
            inbox = self.home / FOLDERS["orders"]
            for path in sorted(p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")):
                self.files_received.append(path.name)
                if path.name.startswith("CANCEL-"):
                    for row in _read_rows(path):
                        if row.get("po_number") in self.orders:
                            self.orders[row["po_number"]].cancelled = True
                elif path.name.startswith("PO-"):
                    # One PO per file, or a batch file: the rows of several POs, each row naming its PO.
                    by_po: dict[str, list[dict[str, str]]] = {}
                    for row in _read_rows(path):
                        by_po.setdefault(row["po_number"], []).append(row)
                    for po_number, rows in by_po.items():
                        self.orders[po_number] = SupplierPo(po_number, {r["line_ref"]: (r["sku"], int(r["quantity"])) for r in rows}, rows[0]["ship_to_city"])
                        taken.append(po_number)
                path.replace(self.home / FOLDERS["orders_taken"] / path.name)
            if taken:
                self.acknowledge({po: True for po in taken})
        return taken

    def acknowledge(self, answers: Mapping[str, bool | str]) -> Path:
        """Drop an acknowledgement file: True accepted, False or a reason rejected."""
        rows = []
        for po, answer in answers.items():
            accepted = answer is True
            status = ("OK" if self.layout == LAYOUT_CSV else "Accepted") if accepted else ("ABGELEHNT" if self.layout == LAYOUT_CSV else "Rejected")
            rows.append([po, status, "" if accepted else (answer if isinstance(answer, str) else "out of stock")])
        return self._drop("acknowledgements", rows)

    # -- shipping and stock ------------------------------------------------------------------

    def ship(self, po_number: str, lines: Mapping[str, int] | None = None, *, carrier: str = "DHL") -> Path:
        """Drop a tracking file for one parcel of {line_ref: quantity} (None: everything not yet shipped)."""
        with self._lock:
            po = self.orders[po_number]
            if lines is None:
                lines = {ref: qty - po.shipped.get(ref, 0) for ref, (_, qty) in po.lines.items() if qty - po.shipped.get(ref, 0) > 0}
            tracking = f"00340{uuid.uuid4().int % 10**13:013d}"
            shipped_on = dt.date(2026, 12, 3)
            rows = []
            for ref, quantity in lines.items():
                po.shipped[ref] = po.shipped.get(ref, 0) + quantity
                sku = po.lines[ref][0]
                if self.layout == LAYOUT_CSV:
                    rows.append([po_number, sku, f"{quantity},0", tracking, carrier, shipped_on.strftime("%d.%m.%Y")])
                else:
                    rows.append([po_number, sku, quantity, tracking, carrier, dt.datetime.combine(shipped_on, dt.time())])
            return self._drop("tracking", rows)

    def set_stock(self, sku: str, available: int) -> None:
        """Change one SKU's stock (published by the next publish_stock)."""
        self.stock[sku] = available

    def publish_stock(self) -> Path:
        """Drop a stock file with every SKU."""
        if self.layout == LAYOUT_CSV:
            rows = [[sku, _decimal_comma(qty), "Berlin"] for sku, qty in sorted(self.stock.items())]
        else:
            rows = [[sku, f"Item {sku}", qty] for sku, qty in sorted(self.stock.items())]
        return self._drop("stock", rows)

    # -- the supplier's own process (make run) ------------------------------------------------

    def run_in_background(self, *, every: float = 2.0, ship_after: float = 5.0, stock_every: float = 300.0) -> threading.Event:
        """Like a wholesaler's batch job: take new POs every `every` s, ship each after `ship_after` s, publish stock every `stock_every` s.

        Returns the event that stops it.
        """
        stop = threading.Event()
        taken_at: dict[str, float] = {}

        def loop() -> None:
            import time

            last_stock = 0.0
            while not stop.wait(every):
                try:
                    now = time.monotonic()
                    for po in self.take_orders():
                        taken_at[po] = now
                    for po, when in list(taken_at.items()):
                        if now - when >= ship_after:
                            del taken_at[po]
                            if not self.orders[po].cancelled:
                                self.ship(po)
                    if now - last_stock >= stock_every:
                        last_stock = now
                        self.publish_stock()
                except Exception:  # noqa: BLE001 - a sandbox must keep running; the next round tries again
                    import logging

                    logging.getLogger(__name__).exception("sandbox file supplier round failed")

        threading.Thread(target=loop, name="sandbox-file-supplier", daemon=True).start()
        return stop

    # -- writing files -----------------------------------------------------------------------

    def _drop(self, kind: str, rows: list[list]) -> Path:
        with self._lock:
            if self._take("malformed") and rows:
                rows = [list(rows[0])] + rows
                rows[0][2 if kind != "acknowledgements" else 1] = "zwei" if kind != "acknowledgements" else "???"
            self._sequence += 1  # names sort in the order the files were written, even within one second
            stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%S") + f"-{self._sequence:05d}"
            ext = "csv" if self.layout == LAYOUT_CSV else "xlsx"
            name = f"{kind}_{stamp}.{ext}"
            data = self._render(kind, rows)
            folder = self.home / FOLDERS[kind]
            target = folder / name
            if self._take("partial"):
                target.write_bytes(data[: len(data) // 2])
                self._partial = (target, data)
                return target
            # Suppliers that write well use a temporary name and rename (the app also copes with the others).
            temporary = folder / f"{name}.tmp"
            temporary.write_bytes(data)
            temporary.replace(target)
            if self._take("duplicate"):
                (folder / f"copy_of_{name}").write_bytes(data)
            return target

    def _render(self, kind: str, rows: list[list]) -> bytes:
        headers = HEADERS[self.layout][kind]
        if self.layout == LAYOUT_CSV:
            buffer = io.StringIO()
            writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
            writer.writerow(headers)
            writer.writerows(rows)
            return ("\ufeff" + buffer.getvalue()).encode("utf-8")
        import openpyxl

        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.title = SHEETS[kind]
        sheet.append([f"Wholesale Co. - {SHEETS[kind]}"])
        sheet.append([f"Exported {dt.date(2026, 12, 3).isoformat()}"])
        sheet.append(headers)
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()


def _decimal_comma(quantity: int) -> str:
    return f"{quantity:,.1f}".replace(",", "X").replace(".", ",").replace("X", ".")


def _read_rows(path: Path) -> list[dict[str, str]]:
    """A PO or cancellation file as dicts (CSV by the standard library, XLSX by openpyxl)."""
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04":
        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
        values = [[("" if cell is None else str(cell)) for cell in row] for row in sheet.iter_rows(values_only=True)]
        return [dict(zip(values[0], row)) for row in values[1:]]
    text = data.decode("utf-8-sig")
    delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
