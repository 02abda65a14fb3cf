"""Supplier return authorisations: asked once a return is approved, retried when the supplier is down.

The supplier is called outside any transaction (a slow supplier must not hold SQLite's
write lock). A supplier that answers "refused", or has no RMA call at all (Printful), hands
the return to the merchant with an alert; one that is down is retried with backoff.
"""
from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import asdict, is_dataclass

from sqlalchemy import select

from integrations.suppliers.base import PermanentSupplierError, ReturnLine as SupplierReturnLine, SupplierError, TransientSupplierError
from integrations.suppliers.links import http_link

from ..alerts import alert_job_failure, raise_alert
from ..models import utcnow
from ..suppliers.forwarding import adapter_from_record
from ..suppliers.models import Supplier, SupplierOrder, SupplierOrderLine
from .intake import notify_customer, timeline
from .models import ReturnCase, RmaState

log = logging.getLogger(__name__)

MAX_RMA_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(minutes=1)


def _request_for(session, case: ReturnCase):
    """(supplier, supplier order id, lines to send) for a case, or None when there is nothing to ask."""
    supplier = session.get(Supplier, case.supplier_id) if case.supplier_id else None
    lines, supplier_order_id = [], None
    for line in case.lines:
        if line.order_line_id is None:
            continue
        row = session.execute(select(SupplierOrderLine, SupplierOrder).join(SupplierOrder).where(SupplierOrderLine.order_line_id == line.order_line_id)).first()
        if row is None or row[1].supplier_id != case.supplier_id:
            continue
        supplier_order_id = row[1].supplier_order_id or row[1].idempotency_key
        lines.append(SupplierReturnLine(line_ref=str(line.order_line_id), supplier_sku=row[0].supplier_sku, quantity=line.quantity, reason=line.reason))
    return supplier, supplier_order_id, lines


def request_due_rmas(session_factory, box, *, now: dt.datetime | None = None, adapter_for=None, rng: random.Random | None = None) -> int:
    """Ask suppliers for every due RMA; how many were asked."""
    now = now or utcnow()
    rng = rng or random.Random()
    adapter_for = adapter_for or (lambda supplier: adapter_from_record(supplier, box))
    with session_factory() as session:
        due = session.execute(select(ReturnCase.id, ReturnCase.shop_domain).where(ReturnCase.rma_state == RmaState.PENDING, ReturnCase.next_attempt_at <= now).order_by(ReturnCase.id)).all()
    for case_id, shop_domain in due:
        try:
            _request_one(session_factory, case_id, adapter_for, now, rng)
        except Exception as exc:  # noqa: BLE001 - one shop's broken supplier must not stop the other returns
            alert_job_failure(session_factory, "return-authorizations", shop_domain, exc, unit=f"return:{case_id}")
    return len(due)


def _request_one(session_factory, case_id: int, adapter_for, now: dt.datetime, rng: random.Random) -> None:
    """Ask the supplier for one case's RMA with no transaction open, then record the answer."""
    with session_factory() as session:
        case = session.get(ReturnCase, case_id)
        supplier, supplier_order_id, lines = _request_for(session, case)
        adapter = adapter_for(supplier) if supplier and lines and supplier_order_id else None
    answer, error = None, None
    if adapter is not None:
        try:
            answer = adapter.create_return_authorization(supplier_order_id, lines)
        except SupplierError as exc:
            error = exc
    with session_factory.begin() as session:
        case = session.get(ReturnCase, case_id)
        if case.rma_state != RmaState.PENDING:
            return  # cancelled meanwhile
        case.rma_attempts += 1
        _record(session, case, adapter, answer, error, now, rng)


def _record(session, case: ReturnCase, adapter, answer, error, now: dt.datetime, rng: random.Random) -> None:
    label = case.name or case.return_gid
    if adapter is None:
        case.rma_state, case.rma_note = RmaState.MANUAL, "No supplier order to return against: arrange this return by hand."
        raise_alert(session, case.shop_domain, "return_manual", f"return_manual:{case.id}", f"Return {label}: {case.rma_note}", subject=case.name)
    elif isinstance(error, TransientSupplierError):
        if case.rma_attempts >= MAX_RMA_ATTEMPTS:
            case.rma_state, case.rma_note = RmaState.MANUAL, f"The supplier did not answer after {case.rma_attempts} tries."
            raise_alert(session, case.shop_domain, "return_rma_failed", f"return_rma:{case.id}", f"Return {label}: {case.rma_note}", severity="critical", subject=case.name)
        else:
            ceiling = BACKOFF_BASE * 2 ** (case.rma_attempts - 1)
            case.next_attempt_at = now + ceiling * rng.random()
    elif isinstance(error, PermanentSupplierError):
        case.rma_state, case.rma_note = RmaState.MANUAL, str(error)[:500]
        raise_alert(session, case.shop_domain, "return_manual", f"return_manual:{case.id}", f"Return {label}: the supplier takes no RMA here ({str(error)[:200]}). Arrange it by hand.", subject=case.name)
    elif error is not None:
        raise error
    elif answer.status == "refused":
        case.rma_state, case.rma_note = RmaState.REFUSED, answer.note
        timeline(session, case, "return_rma_refused", "supplier", note=answer.note)
        raise_alert(session, case.shop_domain, "return_rma_refused", f"return_rma:{case.id}", f"Return {label}: the supplier refused the return ({answer.note or 'no reason given'}).", severity="critical", subject=case.name)
    else:
        case.rma_number, case.rma_label_url, case.rma_note = answer.rma_number, http_link(answer.label_url), answer.note  # http(s) links only
        case.rma_address = _address(answer.return_address)
        case.rma_state = RmaState.APPROVED if answer.status == "approved" else RmaState.REQUESTED
        timeline(session, case, "return_rma", "supplier", rma=answer.rma_number, status=answer.status)
        if case.rma_state == RmaState.APPROVED:
            timeline(session, case, "return_label_sent", "app", rma=answer.rma_number)
            notify_customer(session, case, "return_label")


def _address(address) -> dict | None:
    if address is None:
        return None
    values = asdict(address) if is_dataclass(address) else dict(address)
    return {k: v for k, v in values.items() if v is not None}
