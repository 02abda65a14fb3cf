"""A PDF copy of a purchase order (fpdf2): who orders, ship-to, every line with unit cost and line total, the total.

The text is set in DejaVu Sans when the system has it (Debian's fonts-dejavu-core, installed
by make system-deps), so names in Polish, German or Hebrew letters print as typed; without
it, the core Helvetica font is used and characters outside Latin-1 become "?". The CSV stays
the machine-readable copy; the PDF is for people (and their accounting).
"""
from __future__ import annotations

import datetime as dt
import os

from fpdf import FPDF

from ..base import PlaceOrder
from .po_amounts import po_amounts

FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
FONT_BOLD_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",)
COLUMNS = (("SKU", 38), ("Item", 62), ("Qty", 14), ("Unit cost", 26), ("Line total", 30))


def _font_file(candidates: tuple[str, ...]) -> str | None:
    return next((path for path in candidates if os.path.exists(path)), None)


class _Document:
    """An A4 page with one font family, Unicode when available."""

    def __init__(self) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        regular, bold = _font_file(FONT_FILES), _font_file(FONT_BOLD_FILES)
        self.unicode = regular is not None
        if self.unicode:
            self.pdf.add_font("PoSans", "", regular)
            self.pdf.add_font("PoSans", "B", bold or regular)
            self.family = "PoSans"
        else:
            self.family = "Helvetica"
        self.pdf.add_page()

    def text(self, value: object) -> str:
        text = "" if value is None else str(value)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def line(self, value: object, *, size: int = 10, bold: bool = False, height: float = 6) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.multi_cell(0, height, self.text(value), new_x="LMARGIN", new_y="NEXT")


def purchase_order_pdf(order: PlaceOrder, *, shop_name: str, currency: str | None = None, created: dt.date | None = None) -> bytes:
    """The PO as PDF bytes."""
    amounts = po_amounts(order, currency)
    doc = _Document()
    pdf = doc.pdf
    pdf.set_title(doc.text(f"Purchase order {order.external_id}"))
    pdf.set_creator(doc.text(shop_name))
    doc.line(f"Purchase order {order.external_id}", size=16, bold=True, height=9)
    doc.line(f"From: {shop_name}")
    doc.line(f"Date: {(created or dt.datetime.now(dt.timezone.utc).date()).isoformat()}")
    if amounts.currency:
        doc.line(f"Currency: {amounts.currency}")
    pdf.ln(3)
    address = order.shipping_address
    doc.line("Ship to", bold=True)
    for part in (address.name, address.company, address.address1, address.address2,
                 " ".join(filter(None, [address.zip, address.city, address.province_code])), address.country_code, address.phone):
        if part:
            doc.line(part)
    if order.shipping_method:
        doc.line(f"Shipping method: {order.shipping_method}")
    pdf.ln(3)
    pdf.set_font(doc.family, "B", 10)
    for title, width in COLUMNS:
        pdf.cell(width, 7, title, border=1, align="R" if title in ("Qty", "Unit cost", "Line total") else "L")
    pdf.ln()
    pdf.set_font(doc.family, "", 9)
    for priced in amounts.lines:
        line = priced.line
        cells = (line.supplier_sku, (line.name or "")[:40], str(line.quantity), priced.unit_cost or "-", priced.line_total or "-")
        for (title, width), value in zip(COLUMNS, cells):
            pdf.cell(width, 7, doc.text(value), border=1, align="R" if title in ("Qty", "Unit cost", "Line total") else "L")
        pdf.ln()
    pdf.ln(2)
    if amounts.any_cost:
        note = " (lines without a cost not included)" if amounts.incomplete else ""
        doc.line(f"Total: {amounts.total} {amounts.currency}{note}", size=11, bold=True)
    if order.note:
        pdf.ln(2)
        doc.line(f"Note: {order.note}")
    return bytes(pdf.output())
