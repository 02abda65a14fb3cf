"""The transaction sets we write (850, 997) and read (855, 856, 846, 810, 997), in our terms.

Readers take a parsed set (x12.TransactionSetIn) and either return what it says or raise
DocumentRefused with the segment and element at fault, which the 997 we send back reports.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ..base import PlaceOrder, Shipment, ShipmentLine, StockLevel
from .x12 import Segment, Separators, SetError, TransactionSetIn, clean

# 855 ACK01 line statuses
LINE_ACCEPTED = {"IA", "IC", "IF", "IP", "IQ", "IS", "DR"}
LINE_REJECTED = {"IR", "ID", "IW"}
LINE_BACKORDERED = {"IB"}


class DocumentRefused(ValueError):
    """A set that cannot be applied; `error` says where and why (for the 997 and the run)."""

    def __init__(self, error: SetError):
        super().__init__(error.reason)
        self.error = error


def refuse(reason: str, segment: str | None = None, position: int | None = None, element: int | None = None, code: str = "7") -> DocumentRefused:
    """A DocumentRefused naming the segment/element (code: AK403, 1 missing, 7 invalid value)."""
    return DocumentRefused(SetError(reason, segment, position, "8" if element else None, element, code if element else None))


def _find(transaction: TransactionSetIn, seg_id: str) -> tuple[int, list[str]]:
    for position, segment in enumerate(transaction.segments, start=1):
        if segment[0] == seg_id:
            return position, segment
    raise refuse(f"the {transaction.set_id} has no {seg_id} segment", seg_id, None, 1, "1")


def _element(segment: list[str], index: int) -> str:
    return segment[index].strip() if len(segment) > index else ""


def _supplier_sku(lin: list[str]) -> str | None:
    """The SKU in a LIN's qualifier/ID pairs (LIN02/03, 04/05, ...): vendor part (VP), SKU (SK) or buyer's part (BP)."""
    return next((_element(lin, i + 1) for i in range(2, len(lin) - 1, 2) if _element(lin, i) in ("VP", "SK", "BP")), None)


MAX_QUANTITY = 2**31 - 1  # what a stock or line count column holds


def _quantity(segment: list[str], index: int, position: int) -> int:
    raw = _element(segment, index)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise refuse(f"{segment[0]}{index:02d} is {raw!r}, not a quantity", segment[0], position, index) from None
    # NaN (its comparisons raise), Infinity (int() raises) and 1E999999999 (int() computes a billion digits) are no quantity.
    if not value.is_finite() or value < 0 or value > MAX_QUANTITY or value != value.to_integral_value():
        raise refuse(f"{segment[0]}{index:02d} is {raw!r}, not a whole quantity from 0 to {MAX_QUANTITY}", segment[0], position, index)
    return int(value)


# -- 850 out -------------------------------------------------------------------------------


def purchase_order_850(order: PlaceOrder, po_number: str, separators: Separators, when: dt.datetime) -> tuple[Segment, ...]:
    """BEG, REF (our order reference), N1/N3/N4 ship-to, PO1 per line (PO101 = our line ref, VP = SKU), CTT."""
    c = lambda value, length=60: clean(value, separators, length)  # noqa: E731
    address = order.shipping_address
    body: list[Segment] = [
        ("BEG", "00", "DS", po_number, "", when.strftime("%Y%m%d")),  # 00 original, DS drop ship
        ("REF", "IA", c(order.external_id, 30)),
        ("CUR", "BY", c(order.currency or "USD", 3)),
    ]
    if order.shipping_method:
        body.append(("TD5", "", "", "", "", c(order.shipping_method, 35)))
    body.append(("N1", "ST", c(address.name, 60)))
    body.append(("N3", c(address.address1, 55), c(address.address2, 55)))
    body.append(("N4", c(address.city, 30), c(address.province_code, 2), c(address.zip, 15), c(address.country_code, 3)))
    if address.phone:
        body.append(("PER", "IC", "", "TE", c(address.phone, 40)))
    for line in order.lines:
        body.append(("PO1", c(line.line_ref, 20), str(line.quantity), "EA", c(line.unit_cost or "", 17), "", "VP", c(line.supplier_sku, 48)))
        if line.name:
            body.append(("PID", "F", "", "", "", c(line.name, 80)))
    body.append(("CTT", str(len(order.lines)), str(sum(line.quantity for line in order.lines))))
    return tuple(body)


# -- 997 both ways ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SetVerdict:
    """One received set's fate for the 997."""

    set_id: str
    control: str
    errors: tuple[SetError, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.errors


def functional_ack_997(functional_id: str, group_control: str, verdicts: list[SetVerdict]) -> tuple[Segment, ...]:
    """AK1, then AK2/AK3/AK4/AK5 per set, then AK9 (A all, P some, R none accepted)."""
    body: list[Segment] = [("AK1", functional_id, group_control)]
    for verdict in verdicts:
        body.append(("AK2", verdict.set_id, verdict.control))
        for error in verdict.errors[:10]:
            if error.segment_id:
                body.append(("AK3", error.segment_id[:3], str(error.position or ""), "", error.segment_code or "8"))
                if error.element:
                    body.append(("AK4", str(error.element), "", error.element_code or "7"))
        body.append(("AK5", "A") if verdict.accepted else ("AK5", "R", verdict.errors[0].set_code or "5"))
    accepted = sum(1 for verdict in verdicts if verdict.accepted)
    status = "A" if accepted == len(verdicts) else "R" if accepted == 0 else "P"
    body.append(("AK9", status, str(len(verdicts)), str(len(verdicts)), str(accepted)))
    return tuple(body)


@dataclass(frozen=True)
class FunctionalAck:
    """A 997 we received: which group of ours, and each set's A/E/R."""

    group_control: str
    group_status: str
    sets: tuple[tuple[str, str], ...]  # (ST02, AK501)


def read_997(transaction: TransactionSetIn) -> FunctionalAck:
    """AK1 names our group; AK2/AK5 each set; AK9 the group."""
    _, ak1 = _find(transaction, "AK1")
    sets: list[tuple[str, str]] = []
    control = None
    for segment in transaction.body():
        if segment[0] == "AK2":
            control = _element(segment, 2)
        elif segment[0] == "AK5" and control is not None:
            sets.append((control, _element(segment, 1)))
            control = None
    _, ak9 = _find(transaction, "AK9")
    return FunctionalAck(_element(ak1, 2), _element(ak9, 1), tuple(sets))


# -- 855 in ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Acknowledgement:
    """An 855: the PO, the whole-order answer (BAK02) and each line's ACK01 by our line ref."""

    po_number: str
    order_status: str
    lines: tuple[tuple[str, str, int], ...]  # (line_ref, ACK01, ACK02 quantity)


def read_855(transaction: TransactionSetIn) -> Acknowledgement:
    """BAK03 is our PO number; each PO1 (PO101 our line ref) is followed by its ACK."""
    position, bak = _find(transaction, "BAK")
    po_number = _element(bak, 3)
    if not po_number:
        raise refuse("the 855 names no PO number (BAK03)", "BAK", position, 3, "1")
    lines: list[tuple[str, str, int]] = []
    line_ref = None
    for position, segment in enumerate(transaction.segments, start=1):
        if segment[0] == "PO1":
            line_ref = _element(segment, 1)
        elif segment[0] == "ACK" and line_ref is not None:
            status = _element(segment, 1)
            if status not in LINE_ACCEPTED | LINE_REJECTED | LINE_BACKORDERED:
                raise refuse(f"ACK01 {status!r} is not a line status we know", "ACK", position, 1)
            lines.append((line_ref, status, _quantity(segment, 2, position) if _element(segment, 2) else 0))
            line_ref = None
    return Acknowledgement(po_number, _element(bak, 2), tuple(lines))


# -- 856 in ----------------------------------------------------------------------------------


@dataclass
class ShipNotice:
    """An 856: per PO, one shipment (carrier, tracking, lines by our line ref)."""

    shipment_id: str
    shipments: dict[str, Shipment] = field(default_factory=dict)  # PO number -> shipment


def read_856(transaction: TransactionSetIn) -> ShipNotice:
    """BSN02 names the shipment; HL levels S (TD5 carrier, REF/MAN tracking, DTM 011 ship date), O (PRF01 = our PO), I (LIN/SN1)."""
    position, bsn = _find(transaction, "BSN")
    shipment_id = _element(bsn, 2)
    if not shipment_id:
        raise refuse("the 856 names no shipment (BSN02)", "BSN", position, 2, "1")
    carrier = tracking = shipped_at = None
    per_po: dict[str, list[ShipmentLine]] = {}
    po = None
    sku = line_ref = None
    for position, segment in enumerate(transaction.segments, start=1):
        kind = segment[0]
        if kind == "TD5":
            carrier = _element(segment, 3) or _element(segment, 5) or carrier
        elif kind == "REF" and _element(segment, 1) in ("CN", "2I", "BM") and not tracking:
            tracking = _element(segment, 2)
        elif kind == "MAN" and _element(segment, 1) in ("CP", "GM", "SM") and not tracking:
            tracking = _element(segment, 2)
        elif kind == "DTM" and _element(segment, 1) == "011":
            raw = _element(segment, 2)
            try:
                shipped_at = dt.datetime.strptime(raw, "%Y%m%d").date().isoformat()
            except ValueError:
                raise refuse(f"DTM02 {raw!r} is not a CCYYMMDD date", "DTM", position, 2) from None
        elif kind == "PRF":
            po = _element(segment, 1)
            if not po:
                raise refuse("PRF01 (the PO number) is empty", "PRF", position, 1, "1")
            per_po.setdefault(po, [])
        elif kind == "LIN":
            line_ref = _element(segment, 1) or None
            sku = _supplier_sku(segment)
        elif kind == "SN1":
            if po is None:
                raise refuse("an SN1 line before any order level (PRF)", "SN1", position, 1)
            quantity = _quantity(segment, 2, position)
            per_po[po].append(ShipmentLine(quantity=quantity, line_ref=line_ref or _element(segment, 1) or None, supplier_sku=sku))
    if not per_po:
        raise refuse("the 856 names no purchase order (PRF)", "PRF", None, 1, "1")
    if not tracking:
        raise refuse("the 856 carries no tracking number (REF CN/2I or MAN CP)", "REF", None, 2, "1")
    notice = ShipNotice(shipment_id)
    for po_number, lines in per_po.items():
        shipment_key = shipment_id if len(per_po) == 1 else f"{shipment_id}/{po_number}"
        notice.shipments[po_number] = Shipment(shipment_id=shipment_key, carrier=carrier, tracking_number=tracking, tracking_url=None, lines=tuple(lines), shipped_at=shipped_at)
    return notice


# -- 846 in ----------------------------------------------------------------------------------


def read_846(transaction: TransactionSetIn) -> list[StockLevel]:
    """LIN (VP/SK = the supplier SKU) followed by QTY 33 (available) or 17 (on hand)."""
    _find(transaction, "BIA")
    levels: dict[str, StockLevel] = {}
    sku = None
    for position, segment in enumerate(transaction.segments, start=1):
        if segment[0] == "LIN":
            sku = _supplier_sku(segment)
            if not sku:
                raise refuse("LIN names no supplier SKU (VP, SK or BP)", "LIN", position, 3, "1")
        elif segment[0] == "QTY" and _element(segment, 1) in ("33", "17") and sku:
            available = _quantity(segment, 2, position)
            levels[sku] = StockLevel(supplier_sku=sku, in_stock=available > 0, available=available)
    return list(levels.values())


# -- 810 in ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invoice:
    """An 810: the invoice number, our PO and the total (TDS01 is in cents)."""

    invoice_number: str
    po_number: str
    total: str


def read_810(transaction: TransactionSetIn) -> Invoice:
    """BIG02 invoice number, BIG04 PO number, TDS01 total in implied two decimals."""
    position, big = _find(transaction, "BIG")
    po_number = _element(big, 4)
    if not po_number:
        raise refuse("the 810 names no PO number (BIG04)", "BIG", position, 4, "1")
    tds_position, tds = _find(transaction, "TDS")
    raw = _element(tds, 1)
    if not raw.isdigit():
        raise refuse(f"TDS01 {raw!r} is not an amount in cents", "TDS", tds_position, 1)
    return Invoice(_element(big, 2), po_number, str((Decimal(raw) / 100).quantize(Decimal("0.01"))))
