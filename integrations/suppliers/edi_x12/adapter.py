"""The EDI X12 adapter: 850 purchase orders written to the partner's folder; 855, 856, 846, 810 and 997 read back from it.

Exactly once: the PO number (BEG03) and the file name derive from our idempotency key, and
the 850 is recorded with its control numbers before the file is written, so a retry after
a crash or a lost answer rewrites the same file with the same numbers (the partner sees
one interchange). find_order resolves an unknown outcome from the record and the file.

Inbound files are read by poll_inbound: a file still being written (no IEA yet) waits for
the next poll; each interchange is applied once (recorded unique on sender + ISA13 in the
same transaction); each functional group gets a 997 saying which sets were accepted and
why the others were not; every file becomes a run the merchant sees.

Not offered: cancelling and changing a placed order (an 860 PO change, not sent yet) and
return authorizations: the merchant arranges them with the partner.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..base import (
    CancellationRefused,
    OutcomeUnknown,
    PermanentSupplierError,
    PlaceOrder,
    ReturnAuthorization,
    ReturnLine,
    Shipment,
    ShipmentLine,
    StockLevel,
    SupplierAdapter,
    SupplierEvent,
    SupplierEventKind,
    SupplierOrder,
    SupplierOrderNotFound,
    SupplierOrderStatus,
    TransientSupplierError,
)
from ..email_po.adapter import check_order
from ..files.sftp import HostKeyMismatch
from ..files.transport import FileTransport, TransportError, is_temporary
from . import documents
from .config import EdiSettings
from .documents import DocumentRefused, SetVerdict
from .store import Build, ControlNumbers, EdiStore, InboundRecord, OutboundDocument, Rendered, StateChange
from .x12 import InterchangeIn, NotAnInterchange, SetError, TransactionSetOut, parse_interchange, render_interchange, render_ta1

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 << 20  # an interchange bigger than this is refused, never read into memory
INCOMPLETE_GRACE = dt.timedelta(minutes=10)  # a file without IEA this old is refused, not waited for
_PLAIN_PO = re.compile(r"^[A-Za-z0-9-]{1,22}$")
FUNCTIONAL_IDS = {"850": "PO", "997": "FA"}


def utc_now() -> dt.datetime:
    """Now, UTC."""
    return dt.datetime.now(dt.timezone.utc)


def po_number_for(external_id: str) -> str:
    """BEG03 (at most 22 characters): the idempotency key itself when it fits, else a digest of it."""
    if _PLAIN_PO.match(external_id):
        return external_id
    return "P" + hashlib.sha256(external_id.encode()).hexdigest()[:21].upper()


def file_name_850(po_number: str) -> str:
    """The 850's file name: one per PO, so a retry replaces rather than adds."""
    return f"850_{po_number}.x12"


@dataclass
class FileRun:
    """What came of one inbound file."""

    name: str
    outcome: str
    reasons: list[str] = field(default_factory=list)
    sets_accepted: int = 0
    sets_rejected: int = 0


@dataclass
class PollRun:
    """One poll of the partner's folder: each file's run, and what was applied (for the app to pass on)."""

    files: list[FileRun] = field(default_factory=list)
    shipments: list[tuple[str, Shipment]] = field(default_factory=list)  # (PO number, shipment)
    stock: list[StockLevel] = field(default_factory=list)
    rejected_lines: list[tuple[str, str]] = field(default_factory=list)  # (PO number, line ref) the partner rejected
    acknowledged: list[str] = field(default_factory=list)  # PO numbers a 997 acknowledged
    events: list[SupplierEvent] = field(default_factory=list)  # what the 855s and 997s say about orders, for the app
    error: str | None = None  # the folder failed part-way (or at once): poll again later, with backoff
    host_key_presented: str | None = None  # the SFTP server showed another host key than the pinned one (fingerprint it showed)


def order_status(state: dict[str, Any]) -> SupplierOrderStatus:
    """Shipments win; then the 855 (all lines rejected: failed; a backorder: on hold); else pending until acknowledged."""
    shipped: dict[str, int] = {}
    for shipment in state.get("shipments", []):
        for line in shipment["lines"]:
            shipped[line.get("line_ref") or ""] = shipped.get(line.get("line_ref") or "", 0) + line["quantity"]
    if shipped:
        wanted = [line for line in state["lines"] if state.get("line_status", {}).get(line["line_ref"]) not in documents.LINE_REJECTED]
        done = all(shipped.get(line["line_ref"], 0) >= line["quantity"] for line in wanted)
        return SupplierOrderStatus.SHIPPED if done else SupplierOrderStatus.PARTIALLY_SHIPPED
    statuses = state.get("line_status", {})
    if state.get("functional_ack") == "R" or state.get("order_status") == "RJ" or (statuses and all(s in documents.LINE_REJECTED for s in statuses.values())):
        return SupplierOrderStatus.FAILED
    if any(s in documents.LINE_BACKORDERED for s in statuses.values()):
        return SupplierOrderStatus.ON_HOLD
    if statuses or state.get("order_status"):
        return SupplierOrderStatus.ACKNOWLEDGED
    return SupplierOrderStatus.PENDING


def _as_order(document: OutboundDocument) -> SupplierOrder:
    state = document.state
    raw = {"po_number": document.reference, "file_name": document.file_name, "interchange_control": f"{document.controls.interchange:09d}",
           "functional_ack": state.get("functional_ack"), "line_status": state.get("line_status", {}), "invoices": state.get("invoices", [])}
    return SupplierOrder(supplier_order_id=document.reference, external_id=state.get("external_id"), status=order_status(state), cost=state.get("cost"), raw=raw)


def _shipment(data: dict[str, Any]) -> Shipment:
    return Shipment(**{**data, "lines": tuple(ShipmentLine(**line) for line in data["lines"])})


def _shipment_json(shipment: Shipment) -> dict[str, Any]:
    return {"shipment_id": shipment.shipment_id, "carrier": shipment.carrier, "tracking_number": shipment.tracking_number, "tracking_url": None,
            "lines": [{"quantity": l.quantity, "line_ref": l.line_ref, "supplier_sku": l.supplier_sku} for l in shipment.lines],
            "shipped_at": shipment.shipped_at, "estimated_delivery": None, "delivered_at": None}


class EdiX12Adapter(SupplierAdapter):
    """A trading partner that exchanges X12 files with us through a folder (SFTP, or a local folder)."""

    kind = "edi_x12"
    can_cancel_when = frozenset()  # no 860 yet: a placed PO is cancelled with the partner, by the merchant

    def __init__(self, settings: EdiSettings, store: EdiStore, transport: Callable[[], FileTransport], *, clock: Callable[[], dt.datetime] = utc_now):
        """`transport` opens a connection to the exchange folder (closed after each use)."""
        self.settings = settings
        self.store = store
        self._open = transport
        self._clock = clock

    # -- writing ---------------------------------------------------------------------------

    def _render(self, set_id: str, body: tuple, controls: ControlNumbers) -> bytes:
        return render_interchange(
            self.settings.us, self.settings.partner, self.settings.separators, functional_id=FUNCTIONAL_IDS[set_id],
            interchange_control=controls.interchange, group_control=controls.group,
            sets=[TransactionSetOut(set_id, f"{controls.transaction_set:04d}", body)], when=self._clock(), version=self.settings.version, usage=self.settings.usage,
        )

    def _deliver(self, document: OutboundDocument) -> None:
        transport = self._open()
        try:
            transport.write_atomic(self.settings.outbound_folder, document.file_name, document.body)
        finally:
            transport.close()
        self.store.mark_delivered(document.kind, document.reference)

    # -- orders ----------------------------------------------------------------------------

    def place_order(self, order: PlaceOrder) -> SupplierOrder:
        """Record the 850 (control numbers taken once), write its file; a retry writes the same bytes again."""
        check_order(order, self.settings.known_skus)
        if any(len(line.line_ref) > 20 for line in order.lines):
            raise PermanentSupplierError("a line reference is longer than PO101's 20 characters: shipments could not be matched to it")
        po_number = po_number_for(order.external_id)

        def build(controls: ControlNumbers) -> Rendered:
            body = documents.purchase_order_850(order, po_number, self.settings.separators, self._clock())
            lines = [{"line_ref": l.line_ref, "sku": l.supplier_sku, "quantity": l.quantity} for l in order.lines]
            return Rendered(file_name_850(po_number), self._render("850", body, controls), {"external_id": order.external_id, "lines": lines})

        document = self.store.outbound("850", po_number) or self.store.record_outbound("850", po_number, build)
        if document.delivered_at is None:
            try:
                self._deliver(document)
            except TransportError as exc:
                # The file may or may not be there (a lost answer to the rename): find_order checks.
                raise OutcomeUnknown(f"writing the 850 for PO {po_number} failed: {exc}") from exc
        return _as_order(self.store.outbound("850", po_number) or document)

    def find_order(self, external_id: str) -> SupplierOrder | None:
        """The 850 for this key if its file was written (or a 997 answered it); None if it never left."""
        document = self.store.outbound("850", po_number_for(external_id))
        if document is None:
            return None
        if document.delivered_at is None and not document.state.get("functional_ack"):
            transport = self._open()
            try:
                written = transport.exists(self.settings.outbound_folder, document.file_name)
            except TransportError as exc:
                raise TransientSupplierError(f"cannot look for the 850 file: {exc}") from exc
            finally:
                transport.close()
            if not written:
                return None
            self.store.mark_delivered("850", document.reference)
        return _as_order(document)

    def _document(self, supplier_order_id: str) -> OutboundDocument:
        document = self.store.outbound("850", supplier_order_id)
        if document is None:
            raise SupplierOrderNotFound(f"no 850 with PO number {supplier_order_id}")
        return document

    def get_order(self, supplier_order_id: str) -> SupplierOrder:
        """Our record of the PO, as the partner's 997, 855, 856 and 810 left it."""
        return _as_order(self._document(supplier_order_id))

    def get_shipments(self, supplier_order_id: str) -> list[Shipment]:
        """Parcels from the partner's 856s, in the order they came."""
        return [_shipment(data) for data in self._document(supplier_order_id).state.get("shipments", [])]

    def cancel_order(self, supplier_order_id: str) -> SupplierOrder:
        """Refused: cancelling needs an 860 PO change, which this app does not send."""
        document = self._document(supplier_order_id)
        raise CancellationRefused(f"EDI partners cancel through an 860 PO change, which this app does not send: ask the partner to cancel PO {document.reference}, then cancel the order here by hand")

    def get_stock(self, supplier_skus: list[str]) -> list[StockLevel]:
        """Levels from the partner's 846s (SKUs it never advised are left out)."""
        return self.store.stock(list(supplier_skus))

    def create_return_authorization(self, supplier_order_id: str, lines: list[ReturnLine]) -> ReturnAuthorization:
        """Refused: returns with an EDI partner are arranged outside EDI (an 180 is not supported)."""
        self._document(supplier_order_id)
        return ReturnAuthorization(rma_number="", status="refused", note="this EDI partner takes returns outside EDI: arrange the return with them")

    def check_connection(self) -> str:
        """List the partner's folder."""
        transport = self._open()
        try:
            transport.list(self.settings.inbound_folder)
        except TransportError as exc:
            raise TransientSupplierError(f"cannot list the partner's folder: {exc}") from exc
        finally:
            transport.close()
        return "listed the partner's folder"

    def awaiting_acknowledgement(self) -> list[str]:
        """PO numbers whose 850 has waited longer than the partner's window for a 997."""
        cutoff = self._clock() - dt.timedelta(minutes=self.settings.ack_window_minutes)
        return [document.reference for document in self.store.awaiting_acknowledgement(cutoff)]

    # -- reading ---------------------------------------------------------------------------

    def poll_inbound(self) -> PollRun:
        """Read every complete file in the partner's folder once; send 997s; move files to the archive (or rejected).

        A folder that fails does not raise: `run.error` says why, and whatever was applied
        before it failed is in the run all the same.
        """
        run = PollRun()
        transport = self._open()
        try:
            for document in self.store.undelivered("997"):  # recorded before a crash, never written
                transport.write_atomic(self.settings.outbound_folder, document.file_name, document.body)
                self.store.mark_delivered("997", document.reference)
            for remote in transport.list(self.settings.inbound_folder):
                if not is_temporary(remote.name):  # the partner is still writing it under a temporary name (as the file channel skips them)
                    self._read_file(transport, remote, run)
        except TransportError as exc:
            # What was applied before the folder failed stays in `run` for the app to pass on.
            run.error = f"the partner's folder: {exc}"
            run.host_key_presented = getattr(exc, "presented", None) if isinstance(exc, HostKeyMismatch) else None
        finally:
            transport.close()
        return run

    def _read_file(self, transport: FileTransport, remote, run: PollRun) -> None:
        folder = self.settings.inbound_folder
        if remote.size > MAX_FILE_BYTES:
            self._refuse_whole(transport, remote.name, "", None, None, "refused", [f"{remote.size} bytes is over the {MAX_FILE_BYTES} byte limit"], run)
            return
        sink = io.BytesIO()
        transport.download(folder, remote.name, sink)
        data = sink.getvalue()
        checksum = hashlib.sha256(data).hexdigest()
        try:
            interchange = parse_interchange(data)
        except NotAnInterchange as exc:
            self._refuse_whole(transport, remote.name, checksum, None, None, "unreadable", [str(exc)], run)
            return
        age = self._clock() - dt.datetime.fromtimestamp(remote.modified, dt.timezone.utc)
        if not interchange.complete and age < INCOMPLETE_GRACE:
            return  # still being written (a partner without atomic renames): next poll
        sender = f"{interchange.sender_qualifier}/{interchange.sender_id}"
        partner, us = self.settings.partner, self.settings.us
        if (interchange.sender_qualifier, interchange.sender_id) != (partner.qualifier, partner.isa_id) or (interchange.receiver_qualifier, interchange.receiver_id) != (us.qualifier, us.isa_id):
            reason = f"the ISA is from {sender} to {interchange.receiver_qualifier}/{interchange.receiver_id}, not from this partner ({partner.qualifier}/{partner.isa_id}) to us ({us.qualifier}/{us.isa_id})"
            self._refuse_whole(transport, remote.name, checksum, sender, None, "wrong_partner", [reason], run)
            # TA105: 005/006 the sender's qualifier/ID, 007/008 the receiver's is not the agreed one.
            note = ("005" if interchange.sender_qualifier != partner.qualifier else "006") if (interchange.sender_qualifier, interchange.sender_id) != (partner.qualifier, partner.isa_id) \
                else ("007" if interchange.receiver_qualifier != us.qualifier else "008")
            self._send_ta1(transport, f"{sender}:{interchange.control}:{remote.name}"[:120], (interchange.control, interchange.date, interchange.time), note)
            return
        if interchange.usage != self.settings.usage:
            reason = f"ISA15 is {interchange.usage!r} but this partner is set up for {self.settings.usage!r} ({'test' if self.settings.usage == 'T' else 'production'}) interchanges"
            self._refuse_whole(transport, remote.name, checksum, sender, None, "refused", [reason], run)
            self._send_ta1(transport, f"{sender}:{interchange.control}:{remote.name}"[:120], (interchange.control, interchange.date, interchange.time), "020")
            return
        if self.store.seen(sender, interchange.control):
            self.store.record_run(InboundRecord(remote.name, checksum, sender, None, "duplicate", reasons=(f"interchange {interchange.control} was applied already; nothing applied again",)))
            run.files.append(FileRun(remote.name, "duplicate", [f"interchange {interchange.control} was applied already"]))
            self._move(transport, remote.name, self.settings.archive_folder)
            return
        self._apply(transport, remote.name, checksum, sender, interchange, run)

    def _refuse_whole(self, transport, name, checksum, sender, control, outcome, reasons, run) -> None:
        self.store.record_run(InboundRecord(name, checksum, sender, control, outcome, reasons=tuple(reasons)))
        run.files.append(FileRun(name, outcome, list(reasons)))
        self._move(transport, name, self.settings.rejected_folder)

    def _send_ta1(self, transport: FileTransport, reference: str, answers: tuple[str, str, str], note_code: str) -> None:
        """Tell the configured partner its interchange was refused at the envelope (a TA1: there is no group to answer with a 997)."""

        def build(controls: ControlNumbers) -> Rendered:
            body = render_ta1(self.settings.us, self.settings.partner, self.settings.separators, interchange_control=controls.interchange, answers=answers,
                              note_code=note_code, when=self._clock(), version=self.settings.version[:5], usage=self.settings.usage)
            return Rendered(f"TA1_{controls.interchange:09d}.x12", body, {"answers": reference})

        document = self.store.outbound("TA1", reference) or self.store.record_outbound("TA1", reference, build)
        if document.delivered_at is None:
            transport.write_atomic(self.settings.outbound_folder, document.file_name, document.body)
            self.store.mark_delivered("TA1", document.reference)

    def _move(self, transport: FileTransport, name: str, folder: str) -> None:
        try:
            transport.move(self.settings.inbound_folder, name, folder)
        except TransportError as exc:  # left in place: the next poll finds it a duplicate and moves it then
            log.warning("could not move %s: %s", name, exc)

    def _apply(self, transport: FileTransport, name: str, checksum: str, sender: str, interchange: InterchangeIn, run: PollRun) -> None:
        changes: dict[str, list[StateChange]] = {}
        stock: list[StockLevel] = []
        replies: list[tuple[str, str, Build]] = []
        reasons: list[str] = [f"interchange: {error}" for error in interchange.errors]
        accepted = rejected = 0
        applied = PollRun()
        for group in interchange.groups:
            verdicts: list[SetVerdict] = []
            for transaction in group.sets:
                errors = list(transaction.errors)
                if interchange.errors or group.errors:
                    errors.append(SetError("the envelope around this set is broken: " + "; ".join(interchange.errors + group.errors)[:300], set_code="5"))
                if not errors:
                    try:
                        self._read_set(transaction, changes, stock, applied)
                    except DocumentRefused as refused:
                        errors.append(refused.error)
                verdicts.append(SetVerdict(transaction.set_id, transaction.control, tuple(errors)))
                if errors:
                    rejected += 1
                    reasons.extend(f"{transaction.set_id} {transaction.control}: {error.reason}" for error in errors[:5])
                else:
                    accepted += 1
            if group.functional_id != "FA":  # a 997 is never acknowledged
                body = documents.functional_ack_997(group.functional_id, group.control, verdicts)
                reference = f"{sender}:{interchange.control}:{group.control}"
                replies.append(("997", reference, lambda controls, body=body, reference=reference: Rendered(
                    f"997_{controls.interchange:09d}.x12", self._render("997", body, controls), {"answers": reference})))
        outcome = "applied" if rejected == 0 else "refused" if accepted == 0 else "partly_applied"
        record = InboundRecord(name, checksum, sender, interchange.control, outcome, accepted, rejected, tuple(reasons[:50]))
        if not self.store.apply_inbound(record, changes, stock, replies):
            run.files.append(FileRun(name, "duplicate", [f"interchange {interchange.control} was applied already"]))
            self._move(transport, name, self.settings.archive_folder)
            return
        run.files.append(FileRun(name, outcome, reasons, accepted, rejected))
        run.shipments.extend(applied.shipments)
        run.stock.extend(applied.stock)
        run.rejected_lines.extend(applied.rejected_lines)
        run.acknowledged.extend(applied.acknowledged)
        run.events.extend(applied.events)
        for document in self.store.undelivered("997"):
            transport.write_atomic(self.settings.outbound_folder, document.file_name, document.body)
            self.store.mark_delivered("997", document.reference)
        self._move(transport, name, self.settings.archive_folder if accepted else self.settings.rejected_folder)

    def _known_po(self, po_number: str, segment: str, element: int) -> OutboundDocument:
        document = self.store.outbound("850", po_number)
        if document is None:
            raise documents.refuse(f"PO {po_number} is not one we sent to this partner", segment, None, element)
        return document

    def _read_set(self, transaction, changes: dict[str, list[StateChange]], stock: list[StockLevel], applied: PollRun) -> None:
        kind = transaction.set_id
        if kind == "855":
            ack = documents.read_855(transaction)
            document = self._known_po(ack.po_number, "BAK", 3)
            known = {line["line_ref"] for line in document.state["lines"]}
            unknown = [ref for ref, _, _ in ack.lines if ref not in known]
            if unknown:
                raise documents.refuse(f"line {unknown[0]} is not on PO {ack.po_number}", "PO1", None, 1)

            def acknowledge(state, ack=ack):
                statuses = dict(state.get("line_status", {}))
                statuses.update({ref: status for ref, status, _ in ack.lines})
                return {**state, "order_status": ack.order_status, "line_status": statuses}

            changes.setdefault(ack.po_number, []).append(acknowledge)
            applied.rejected_lines.extend((ack.po_number, ref) for ref, status, _ in ack.lines if status in documents.LINE_REJECTED)
            statuses = [status for _, status, _ in ack.lines]
            backordered = [ref for ref, status, _ in ack.lines if status in documents.LINE_BACKORDERED]
            if ack.order_status == "RJ" or (statuses and all(status in documents.LINE_REJECTED for status in statuses)):
                event = SupplierEvent(SupplierEventKind.ORDER_FAILED, supplier_order_id=ack.po_number, status=SupplierOrderStatus.FAILED,
                                      reason="the partner rejected the purchase order (855)")
            elif backordered:
                event = SupplierEvent(SupplierEventKind.ORDER_UPDATED, supplier_order_id=ack.po_number, status=SupplierOrderStatus.ON_HOLD,
                                      reason=f"backordered lines: {', '.join(backordered)} (855)")
            else:
                event = SupplierEvent(SupplierEventKind.ORDER_UPDATED, supplier_order_id=ack.po_number, status=SupplierOrderStatus.ACKNOWLEDGED)
            applied.events.append(event)
        elif kind == "856":
            notice = documents.read_856(transaction)
            for po_number, shipment in notice.shipments.items():
                document = self._known_po(po_number, "PRF", 1)
                known = {line["line_ref"] for line in document.state["lines"]}
                stray = [line.line_ref for line in shipment.lines if line.line_ref not in known]
                if stray:
                    raise documents.refuse(f"line {stray[0]} is not on PO {po_number}", "LIN", None, 1)

            for po_number, shipment in notice.shipments.items():
                def ship(state, shipment=shipment):
                    known = {s["shipment_id"] for s in state.get("shipments", [])}
                    if shipment.shipment_id in known:
                        return state
                    return {**state, "shipments": [*state.get("shipments", []), _shipment_json(shipment)]}

                changes.setdefault(po_number, []).append(ship)
                applied.shipments.append((po_number, shipment))
                applied.events.append(SupplierEvent(SupplierEventKind.SHIPMENT, event_id=shipment.shipment_id, supplier_order_id=po_number, shipment=shipment))
        elif kind == "846":
            levels = documents.read_846(transaction)
            stock.extend(levels)
            applied.stock.extend(levels)
        elif kind == "810":
            invoice = documents.read_810(transaction)
            self._known_po(invoice.po_number, "BIG", 4)

            def invoiced(state, invoice=invoice):
                invoices = [i for i in state.get("invoices", []) if i["number"] != invoice.invoice_number]
                invoices.append({"number": invoice.invoice_number, "total": invoice.total})
                return {**state, "invoices": invoices, "cost": invoice.total}

            changes.setdefault(invoice.po_number, []).append(invoiced)
        elif kind == "997":
            ack = documents.read_997(transaction)
            pos = self.store.po_for_group(ack.group_control)
            if not pos:
                raise documents.refuse(f"the 997 answers group {ack.group_control}, which we never sent", "AK1", None, 2)
            status = ack.sets[0][1] if len(ack.sets) == 1 else ack.group_status  # our groups hold one 850 each

            def acknowledged(state, status=status):
                return {**state, "functional_ack": status}

            for po_number in pos:
                changes.setdefault(po_number, []).append(acknowledged)
                applied.acknowledged.append(po_number)
                if status == "R":
                    applied.events.append(SupplierEvent(SupplierEventKind.ORDER_FAILED, supplier_order_id=po_number, status=SupplierOrderStatus.FAILED,
                                                        reason="the partner's EDI translator rejected the 850 (997)"))
        else:
            raise DocumentRefused(SetError(f"transaction set {kind} is not one this app takes (855, 856, 846, 810, 997)", set_code="5"))
