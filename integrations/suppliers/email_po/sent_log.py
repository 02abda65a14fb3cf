"""The durable record of purchase orders the SMTP server took, and of what has shipped since.

An email supplier has no API to ask, so this log is the adapter's whole memory: find_order,
get_order, get_shipments and cancel_order answer from it, and tracking CSVs are imported into
it. A PO is recorded only once the SMTP server accepted it (250), or when the answer to a
completely transmitted message was lost (`delivery = "unconfirmed"`: most likely queued, and
counted as sent so that no second PO goes out; a person can check with the supplier).
A crash between the server's 250 and the write below loses the record: the app then sends
the PO again, with the same PO number and Message-ID, which the supplier can recognise.

The log holds PO numbers, line references, SKUs and quantities: no addresses.

Implementations: `InMemorySentLog` (tests, demos), `JsonFileSentLog` (one JSON file, for
tools and tests; never at a path a tenant chose) and, in the app,
shopify_app/suppliers/email_po_log.DatabaseSentLog (table email_po_sent_log, per shop and supplier).
"""
from __future__ import annotations

import copy
import hashlib
import os
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Protocol

from ..base import CancellationRefused, ReturnAuthorization, ReturnLine, Shipment, ShipmentLine, SupplierOrder, SupplierOrderStatus
from .json_file import JsonFile

ACCEPTED = "accepted"
UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class SentLine:
    """One PO line as it was sent."""

    line_ref: str
    sku: str
    quantity: int
    name: str | None = None


@dataclass(frozen=True)
class SentPurchaseOrder:
    """One PO the SMTP server took, with its cancellation request and the shipments imported since."""

    po_number: str
    lines: tuple[SentLine, ...]
    sent_at: str
    message_id: str
    delivery: str = ACCEPTED  # "accepted" (250) | "unconfirmed" (answer lost after the message went through)
    cancel_requested_at: str | None = None
    shipments: tuple[Shipment, ...] = field(default=())
    amendments: tuple[str, ...] = ()  # references of the change notices sent under this PO (each once)
    total: str | None = None  # the PO's total in the order's currency, when every line had a cost
    acknowledgement: str | None = None  # file suppliers' acknowledgement files: "accepted" | "rejected" (None: none yet)
    acknowledgement_note: str | None = None  # the supplier's reason, with a rejection

    def shipped_quantity(self, line_ref: str, *, except_shipment: str | None = None) -> int:
        """How many of a line the recorded shipments carry (optionally not counting one shipment)."""
        return sum(
            line.quantity for shipment in self.shipments if shipment.shipment_id != except_shipment
            for line in shipment.lines if line.line_ref == line_ref
        )

    @property
    def status(self) -> SupplierOrderStatus:
        """Shipments win (goods left, whatever was asked); then a cancellation request; else pending."""
        if self.shipments:
            done = all(self.shipped_quantity(line.line_ref) >= line.quantity for line in self.lines)
            return SupplierOrderStatus.SHIPPED if done else SupplierOrderStatus.PARTIALLY_SHIPPED
        if self.cancel_requested_at:
            return SupplierOrderStatus.CANCELLED
        if self.acknowledgement == "rejected":
            return SupplierOrderStatus.FAILED
        if self.acknowledgement == "accepted":
            return SupplierOrderStatus.ACKNOWLEDGED
        # Sent, not acknowledged: a person at the supplier has yet to read it.
        return SupplierOrderStatus.PENDING

    def as_supplier_order(self) -> SupplierOrder:
        """Our SupplierOrder view; the PO number is the supplier order id too."""
        raw = {
            "po_number": self.po_number, "delivery": self.delivery, "sent_at": self.sent_at,
            "cancellation": "requested" if self.cancel_requested_at else None, "cancel_requested_at": self.cancel_requested_at,
        }
        return SupplierOrder(supplier_order_id=self.po_number, external_id=self.po_number, status=self.status, cost=self.total, raw=raw)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SentPurchaseOrder":
        """Back from to_json()."""
        shipments = tuple(
            Shipment(**{**s, "lines": tuple(ShipmentLine(**line) for line in s["lines"])}) for s in data.get("shipments", ())
        )
        return cls(
            po_number=data["po_number"], lines=tuple(SentLine(**line) for line in data["lines"]), sent_at=data["sent_at"],
            message_id=data["message_id"], delivery=data.get("delivery", ACCEPTED),
            cancel_requested_at=data.get("cancel_requested_at"), shipments=shipments, amendments=tuple(data.get("amendments", ())),
            total=data.get("total"), acknowledgement=data.get("acknowledgement"), acknowledgement_note=data.get("acknowledgement_note"),
        )


class SentLog(Protocol):
    """Where the adapter remembers POs; implement it over the app's database to share it across hosts."""

    def get(self, po_number: str) -> SentPurchaseOrder | None:
        """The PO with this number, if it was sent."""

    def add(self, record: SentPurchaseOrder) -> SentPurchaseOrder:
        """Record a sent PO; if one with this number exists already, keep and return that one."""

    def update(self, po_number: str, change: Callable[[SentPurchaseOrder], SentPurchaseOrder]) -> SentPurchaseOrder:
        """Apply `change` to the stored PO atomically and return the result (KeyError when unknown)."""


class InMemorySentLog:
    """A SentLog in a dict: for tests and demos (gone when the process ends)."""

    def __init__(self) -> None:
        self._records: dict[str, SentPurchaseOrder] = {}
        self._lock = threading.Lock()

    def get(self, po_number: str) -> SentPurchaseOrder | None:
        """The PO with this number, if it was sent."""
        with self._lock:
            return self._records.get(po_number)

    def po_for_digests(self, digests: list[str]) -> str | None:
        """The PO number one of these Message-ID digests belongs to (messages.po_digest)."""
        from .messages import po_digest

        with self._lock:
            return next((po for po in self._records if po_digest(po) in digests), None)

    def add(self, record: SentPurchaseOrder) -> SentPurchaseOrder:
        """Record a sent PO unless one with this number exists."""
        with self._lock:
            return self._records.setdefault(record.po_number, record)

    def update(self, po_number: str, change: Callable[[SentPurchaseOrder], SentPurchaseOrder]) -> SentPurchaseOrder:
        """Change a stored PO."""
        with self._lock:
            updated = change(self._records[po_number])
            self._records[po_number] = updated
            return updated


class JsonFileSentLog:
    """A SentLog in one JSON file: {"purchase_orders": {po_number: record}}."""

    def __init__(self, path: str | os.PathLike[str]):
        self._file = JsonFile(path)

    def get(self, po_number: str) -> SentPurchaseOrder | None:
        """The PO with this number, if it was sent."""
        data = self._file.read().get("purchase_orders", {}).get(po_number)
        return SentPurchaseOrder.from_json(data) if data is not None else None

    def add(self, record: SentPurchaseOrder) -> SentPurchaseOrder:
        """Record a sent PO unless one with this number exists."""
        with self._file.change() as document:
            orders = document.setdefault("purchase_orders", {})
            if record.po_number in orders:
                return SentPurchaseOrder.from_json(orders[record.po_number])
            orders[record.po_number] = record.to_json()
        return record

    def update(self, po_number: str, change: Callable[[SentPurchaseOrder], SentPurchaseOrder]) -> SentPurchaseOrder:
        """Change a stored PO under the file lock."""
        with self._file.change() as document:
            orders = document.setdefault("purchase_orders", {})
            updated = change(SentPurchaseOrder.from_json(copy.deepcopy(orders[po_number])))
            orders[po_number] = updated.to_json()
        return updated


def with_shipments(record: SentPurchaseOrder, shipments: list[Shipment]) -> SentPurchaseOrder:
    """The record with these shipments added (ones already recorded, by id, are skipped)."""
    known = {shipment.shipment_id for shipment in record.shipments}
    return replace(record, shipments=record.shipments + tuple(s for s in shipments if s.shipment_id not in known))


# -- what suppliers without an API share (email and file channels) -------------------------------


def request_cancellation(sent_log: SentLog, record: SentPurchaseOrder, send: Callable[[], None], clock: Callable[[], str]) -> SentPurchaseOrder:
    """Send the PO's cancellation once and log it as requested; CancellationRefused once a parcel is logged."""
    if record.shipments:
        raise CancellationRefused(f"PO {record.po_number} has shipped parcels on record; ask the supplier to recall them instead")
    if record.cancel_requested_at:
        return record
    send()
    requested_at = clock()
    return sent_log.update(record.po_number, lambda current: current if current.cancel_requested_at else replace(current, cancel_requested_at=requested_at))


def return_refusal(record: SentPurchaseOrder, lines: list[ReturnLine]) -> ReturnAuthorization | None:
    """A refused return when it asks back more of a SKU than the PO's parcels carried, else None."""
    shipped: dict[str, int] = {}
    for sent in record.lines:
        shipped[sent.sku] = shipped.get(sent.sku, 0) + record.shipped_quantity(sent.line_ref)
    for line in lines:
        if line.quantity > shipped.get(line.supplier_sku, 0):
            return ReturnAuthorization(rma_number="", status="refused", note=f"only {shipped.get(line.supplier_sku, 0)} of {line.supplier_sku} shipped on PO {record.po_number}")
    return None


def return_reference(po_number: str, lines: list[ReturnLine]) -> str:
    """Our reference of a return request, derived from the PO and the lines: asking twice names the same request."""
    digest = hashlib.sha256(repr(sorted((l.supplier_sku, l.quantity, l.line_ref or "") for l in lines)).encode()).hexdigest()[:6].upper()
    return f"RET-{po_number}-{digest}"
