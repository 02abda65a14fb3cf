"""The EDI store over the database (implements integrations.suppliers.edi_x12.store.EdiStore) for one shop's partner."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from integrations.suppliers.base import StockLevel
from integrations.suppliers.edi_x12.store import Build, ControlNumbers, InboundRecord, OutboundDocument, StateChange
from integrations.suppliers.runtime import SupplierRef

from ..bounds import id_from_text
from ..models import utcnow
from .edi_models import EdiControlCounter, EdiDocument, EdiInterchange, EdiStockLevel


def _document(row: EdiDocument) -> OutboundDocument:
    return OutboundDocument(row.kind, row.reference, row.file_name, bytes(row.body), ControlNumbers(row.interchange_control, row.group_control, row.set_control),
                            row.created_at, row.delivered_at, dict(row.state or {}))


class DatabaseEdiStore:
    """Rows scoped by shop and supplier; every write is one short transaction (no file or network call inside)."""

    def __init__(self, session_factory: sessionmaker, owner: SupplierRef):
        self._sessions = session_factory
        self._owner = owner

    def _mine(self, model):
        return (model.shop_domain == self._owner.shop_domain, model.supplier_id == self._owner.supplier_id)

    def outbound(self, kind: str, reference: str) -> OutboundDocument | None:
        """The recorded document, if any."""
        with self._sessions() as session:
            row = session.scalar(select(EdiDocument).where(*self._mine(EdiDocument), EdiDocument.kind == kind, EdiDocument.reference == reference))
            return _document(row) if row is not None else None

    def _next_controls(self, session: Session) -> ControlNumbers:
        # Row-locked on PostgreSQL; SQLite serialises writers anyway.
        counter = session.scalar(select(EdiControlCounter).where(*self._mine(EdiControlCounter)).with_for_update())
        if counter is None:
            counter = EdiControlCounter(shop_domain=self._owner.shop_domain, supplier_id=self._owner.supplier_id, interchange=0, group=0, transaction_set=0)
            session.add(counter)
        counter.interchange, counter.group, counter.transaction_set = counter.interchange + 1, counter.group + 1, counter.transaction_set + 1
        session.flush()
        return ControlNumbers(counter.interchange, counter.group, counter.transaction_set)

    def _add_document(self, session: Session, kind: str, reference: str, build: Build) -> EdiDocument:
        controls = self._next_controls(session)
        rendered = build(controls)
        row = EdiDocument(shop_domain=self._owner.shop_domain, supplier_id=self._owner.supplier_id, kind=kind, reference=reference, file_name=rendered.file_name,
                          body=rendered.body, interchange_control=controls.interchange, group_control=controls.group, set_control=controls.transaction_set,
                          state=rendered.state)
        session.add(row)
        session.flush()
        return row

    def record_outbound(self, kind: str, reference: str, build: Build) -> OutboundDocument:
        """Take the partner's next control numbers and record the document, in one transaction."""
        for _ in range(3):
            try:
                with self._sessions.begin() as session:
                    return _document(self._add_document(session, kind, reference, build))
            except IntegrityError:  # recorded concurrently (or the counter row was created concurrently)
                existing = self.outbound(kind, reference)
                if existing is not None:
                    return existing
        raise RuntimeError("could not take EDI control numbers")

    def mark_delivered(self, kind: str, reference: str) -> None:
        """The file is written."""
        with self._sessions.begin() as session:
            session.execute(update(EdiDocument).where(*self._mine(EdiDocument), EdiDocument.kind == kind, EdiDocument.reference == reference,
                                                      EdiDocument.delivered_at.is_(None)).values(delivered_at=utcnow()))

    def undelivered(self, kind: str) -> list[OutboundDocument]:
        """Recorded, never confirmed written."""
        with self._sessions() as session:
            rows = session.scalars(select(EdiDocument).where(*self._mine(EdiDocument), EdiDocument.kind == kind, EdiDocument.delivered_at.is_(None)).order_by(EdiDocument.id))
            return [_document(row) for row in rows]

    def po_for_group(self, group_control: str) -> list[str]:
        """Our 850s sent in the group with this GS06."""
        # The partner's AK1-02 as it typed it: '²' or 25 digits named nothing, and stalled the poll on int() or the driver.
        if (number := id_from_text(group_control)) is None:
            return []
        with self._sessions() as session:
            return list(session.scalars(select(EdiDocument.reference).where(*self._mine(EdiDocument), EdiDocument.kind == "850", EdiDocument.group_control == number)))

    def seen(self, sender_id: str, control: str) -> bool:
        """Whether this interchange was applied already."""
        with self._sessions() as session:
            return session.scalar(select(EdiInterchange.id).where(*self._mine(EdiInterchange), EdiInterchange.sender_id == sender_id, EdiInterchange.control == control)) is not None

    def _run_row(self, record: InboundRecord) -> EdiInterchange:
        return EdiInterchange(shop_domain=self._owner.shop_domain, supplier_id=self._owner.supplier_id, file_name=record.file_name[:200], checksum=record.checksum,
                              sender_id=record.sender_id, control=record.control, outcome=record.outcome, sets_accepted=record.sets_accepted,
                              sets_rejected=record.sets_rejected, reasons=[reason[:500] for reason in record.reasons])

    def apply_inbound(self, record: InboundRecord, changes: dict[str, list[StateChange]], stock: list[StockLevel], replies: list[tuple[str, str, Build]]) -> bool:
        """Record the interchange, change our 850s, keep the stock, record the 997s: one transaction; False when it was recorded already."""
        for _ in range(3):
            try:
                return self._apply_once(record, changes, stock, replies)
            except IntegrityError:
                # A second copy of the interchange is refused by its unique key; anything else
                # (the counter row created concurrently) is worth another try.
                if record.sender_id is not None and record.control is not None and self.seen(record.sender_id, record.control):
                    return False
        raise RuntimeError("could not record the EDI interchange")

    def _apply_once(self, record: InboundRecord, changes: dict[str, list[StateChange]], stock: list[StockLevel], replies: list[tuple[str, str, Build]]) -> bool:
        with self._sessions.begin() as session:
            session.add(self._run_row(record))
            session.flush()  # the unique (supplier, sender, ISA13) refuses a second copy here
            for po_number, functions in changes.items():
                row = session.scalar(select(EdiDocument).where(*self._mine(EdiDocument), EdiDocument.kind == "850", EdiDocument.reference == po_number).with_for_update())
                state = dict(row.state or {})
                for change in functions:
                    state = change(state)
                row.state = state
                if state.get("functional_ack"):
                    row.acknowledged = state["functional_ack"]
            self._keep_stock(session, stock)
            for kind, reference, build in replies:
                self._add_document(session, kind, reference, build)
        return True

    def _keep_stock(self, session: Session, stock: list[StockLevel]) -> None:
        if not stock:
            return
        rows = {row.sku: row for row in session.scalars(select(EdiStockLevel).where(*self._mine(EdiStockLevel), EdiStockLevel.sku.in_([s.supplier_sku for s in stock])))}
        now = utcnow()
        for level in stock:
            row = rows.get(level.supplier_sku)
            if row is None:
                row = rows[level.supplier_sku] = EdiStockLevel(shop_domain=self._owner.shop_domain, supplier_id=self._owner.supplier_id, sku=level.supplier_sku)
                session.add(row)
            row.available, row.in_stock, row.updated_at = level.available, level.in_stock, now

    def record_run(self, record: InboundRecord) -> None:
        """A file that applied nothing."""
        with self._sessions.begin() as session:
            session.add(self._run_row(record))

    def stock(self, skus: list[str]) -> list[StockLevel]:
        """Advised levels for these SKUs."""
        with self._sessions() as session:
            rows = session.scalars(select(EdiStockLevel).where(*self._mine(EdiStockLevel), EdiStockLevel.sku.in_(skus[:1000])))
            return [StockLevel(row.sku, row.in_stock, row.available) for row in rows]

    def awaiting_acknowledgement(self, sent_before: dt.datetime) -> list[OutboundDocument]:
        """850s written before `sent_before` with no 997 yet."""
        with self._sessions() as session:
            rows = session.scalars(select(EdiDocument).where(*self._mine(EdiDocument), EdiDocument.kind == "850", EdiDocument.acknowledged.is_(None),
                                                             EdiDocument.delivered_at.is_not(None), EdiDocument.delivered_at < sent_before).order_by(EdiDocument.id))
            return [_document(row) for row in rows]
