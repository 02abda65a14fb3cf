"""Passing order changes on to suppliers that already have the order, exactly once.

An amendment (see amendment_models.py) is worked like a delivery: claimed under a lease in
one transaction, the supplier called with no transaction open, the outcome recorded in
another. The supplier is asked, in this order:

1. update the order, when its adapter can change what changed (`can_update_lines`,
   `can_update_address`). What is sent is the order as it should be now, not a delta, so
   an update whose answer was lost (state UPDATING after a crash) is simply sent again;
2. otherwise, or when the supplier refuses the update, cancel and place it again while
   its status allows (`can_cancel_when`). Before cancelling, the row is committed as
   REPLACING with the old order's id and key; the replacement gets a new idempotency key
   derived from the old key and the amendment number, so retries and crashes can never
   place it twice, and the forwarding worker places it like any new supplier order;
3. when it is too late, an alert naming exactly what the supplier still has.

Each outcome goes on the order's timeline.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from integrations.suppliers.base import (
    Address,
    Amendment,
    AmendmentRefused,
    CancellationRefused,
    OrderLine,
    PermanentSupplierError,
    PlaceOrder,
    SupplierAdapter,
    SupplierError,
    SupplierOrderNotFound,
    SupplierOrderStatus,
)

from ..alerts import raise_alert, resolve_alert
from ..crypto import SecretBox
from ..jobs.stopping import release_unstarted
from ..models import utcnow
from ..server.logs import bound
from ..orders.changes import address_complete, address_digest, being_worked, open_amendment
from ..orders.models import Order, OrderLine as OurLine
from ..orders.timeline import record_event
from .amendment_models import OPEN_AMENDMENT_STATES, AmendmentState, SupplierOrderAmendment
from .models import DeliveryAttempt, DeliveryState, Supplier, SupplierOrder, SupplierOrderLine

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
MAX_ATTEMPTS = 10
WAIT_FOR_PLACEMENT_SECONDS = 30.0
BACKOFF_CAP = 1800.0
SENT = (DeliveryState.PLACED.value, DeliveryState.PARTIALLY_SHIPPED.value)
GONE = (DeliveryState.CANCEL_REQUESTED.value, DeliveryState.CANCELLED.value, DeliveryState.FAILED.value, DeliveryState.SHIPPED.value)


def replacement_key(old_key: str, number: int) -> str:
    """The idempotency key of the order placed again after amendment `number`: the same on every retry."""
    return "do-" + hashlib.sha256(f"{old_key}:amendment:{number}".encode()).hexdigest()[:32]


def remember_sent(session, delivery: SupplierOrder, request: PlaceOrder, sent_digest: str | None = None) -> None:
    """Record what a placement sends (lines and address digest), in the transaction that commits it as in flight.

    `sent_digest`: the digest of the address the request was built from (saves reading the order again).
    """
    sent = sent_quantities(request, [sol.id for sol in delivery.lines])
    for sol in delivery.lines:
        sol.sent_quantity = sent[sol.id]
    delivery.sent_address_digest = sent_digest or address_digest(session.get(Order, delivery.order_id).shipping_address)


def sent_quantities(request: PlaceOrder, line_ids) -> dict[int, int]:
    """Each supplier order line's quantity in the request (0: left out, e.g. removed)."""
    sent = {line.line_ref: line.quantity for line in request.lines}
    return {line_id: sent.get(str(line_id), 0) for line_id in line_ids}


def being_replaced(session, delivery: SupplierOrder, supplier_order_id: str | None) -> bool:
    """Whether `supplier_order_id` is the delivery's order that we are cancelling to place it again (its cancellation is ours)."""
    return supplier_order_id is not None and session.scalar(select(SupplierOrderAmendment.id).where(
        SupplierOrderAmendment.supplier_order_id == delivery.id, SupplierOrderAmendment.state == AmendmentState.REPLACING.value,
        SupplierOrderAmendment.replaced_supplier_order_id == supplier_order_id).limit(1)) is not None


def lines_to_place(lines):
    """The supplier order lines a placement sends: removed ones (quantity 0) are left out."""
    return [sol for sol in lines if sol.quantity > 0]


@dataclass
class AmendmentReport:
    """What one pass did."""

    updated: int = 0
    replaced: int = 0
    refused: int = 0
    retrying: int = 0
    waiting: int = 0
    superseded: int = 0


@dataclass
class _Plan:
    """An amendment as read before calling the supplier (no session attached)."""

    amendment_id: int
    number: int
    state: str
    delivery_id: int
    delivery_state: str
    supplier: Supplier
    supplier_order_id: str | None
    idempotency_key: str
    order_name: str
    lines: list[tuple[int, str, int, int, str | None, str | None]]  # (sol id, sku, wanted, sent, title, price)
    address: Address
    address_changed: bool
    digest: str
    changes: list[str]
    delivery_leased: bool = False

    @property
    def lines_changed(self) -> bool:
        return any(wanted != sent for _, _, wanted, sent, _, _ in self.lines)


class AmendmentWorker:
    """Works due amendments: update, cancel and place again, or alert."""

    def __init__(self, session_factory: sessionmaker, box: SecretBox, *, adapter_for: Callable[[Supplier], SupplierAdapter] | None = None,
                 rng: random.Random | None = None, max_attempts: int = MAX_ATTEMPTS, wake_forwarding: Callable[[], None] | None = None):
        from ..db import read_only
        from .forwarding import adapter_from_record

        self.session_factory = session_factory
        self.read_session_factory = read_only(session_factory)
        self.adapter_for = adapter_for or (lambda supplier: adapter_from_record(supplier, box))
        self.rng = rng or random.Random()
        self.max_attempts = max_attempts
        self.wake_forwarding = wake_forwarding or (lambda: None)
        self.owner = uuid.uuid4().hex
        self.stopping = threading.Event()  # set at shutdown: the drain stops between rows

    def drain(self, batch_size: int = 50, max_batches: int = 20) -> AmendmentReport:
        """Work every due amendment once."""
        report = AmendmentReport()
        try:
            self._sweep_unsent_lines()
        except IntegrityError:  # another worker opened the same amendment first: theirs carries the lines
            log.info("amendment sweep lost a race; the other worker's amendment stands")
        for _ in range(max_batches):
            ids = [] if self.stopping.is_set() else self._claim(batch_size)
            if not ids:
                break
            for n, amendment_id in enumerate(ids):
                if self.stopping.is_set():
                    release_unstarted(self.session_factory, SupplierOrderAmendment, ids[n:], self.owner)
                    return report
                try:
                    with bound(amendment_id=amendment_id):
                        self._process(amendment_id, report)
                except Exception:  # noqa: BLE001 - the lease expires and the row is worked again
                    log.exception("amendment %s crashed", amendment_id)
        return report

    def _sweep_unsent_lines(self) -> None:
        """Lines routed onto a supplier order already sent, by any path (an edit, a fulfillment order
        accepted later), with no amendment to carry them yet: open one. A line counts as sent once
        an amendment closes (applied: what was sent; refused: 0), so this never repeats itself."""
        unsent = _UNSENT
        with self.read_session_factory() as session:  # nearly always nothing: then no write lock is taken
            if session.scalar(_ANY_UNSENT) is None:
                return
        with self.session_factory.begin() as session:
            rows = session.execute(select(SupplierOrder, SupplierOrderLine).join(SupplierOrderLine, SupplierOrderLine.supplier_order_id == SupplierOrder.id).where(
                unsent).limit(200)).all()
            by_delivery: dict[int, tuple[SupplierOrder, list[SupplierOrderLine]]] = {}
            for delivery, sol in rows:
                by_delivery.setdefault(delivery.id, (delivery, []))[1].append(sol)
            for delivery, sols in by_delivery.values():
                order = session.get(Order, delivery.order_id)
                for sol in sols:
                    line = session.get(OurLine, sol.order_line_id)
                    record_event(session, order, "line_added", "app", line=line.shopify_line_id, sku=sol.supplier_sku, supplier=delivery.supplier.name, quantity=sol.quantity)
                open_amendment(session, delivery, [f"{sol.supplier_sku}: added, {sol.quantity}" for sol in sols], address_digest(order.shipping_address))

    def _claim(self, batch_size: int) -> list[int]:
        now = utcnow()
        due = and_(
            SupplierOrderAmendment.state.in_(OPEN_AMENDMENT_STATES),
            SupplierOrderAmendment.next_attempt_at <= now,
            or_(SupplierOrderAmendment.lease_until.is_(None), SupplierOrderAmendment.lease_until < now),
        )
        claimed = []
        with self.read_session_factory() as session:  # every forwarding pass asks, nearly always for nothing: built once
            candidates = session.scalars(_DUE_AMENDMENTS, {"now": now, "limit": batch_size}).all()
        if not candidates:
            return claimed
        with self.session_factory.begin() as session:
            for amendment_id in candidates:
                won = session.execute(update(SupplierOrderAmendment).where(SupplierOrderAmendment.id == amendment_id, due)
                                      .values(lease_owner=self.owner, lease_until=now + dt.timedelta(seconds=LEASE_SECONDS))).rowcount
                if won:
                    claimed.append(amendment_id)
        return claimed

    # -- one amendment --------------------------------------------------------------------

    def _process(self, amendment_id: int, report: AmendmentReport) -> None:
        plan = self._read(amendment_id)
        if plan.delivery_state in GONE and plan.state != AmendmentState.REPLACING.value:
            self._finish(amendment_id, AmendmentState.SUPERSEDED, note="the supplier order was cancelled, shipped or failed first")
            report.superseded += 1
            return
        if plan.delivery_state in (DeliveryState.UNKNOWN.value, DeliveryState.ON_HOLD.value) or (plan.delivery_state == DeliveryState.PENDING.value and plan.delivery_leased):
            # In flight, or postponed by a hold in Shopify: the forwarding worker resolves it first
            # (after the release), then what it sent is compared. Nothing is changed at the supplier while Shopify holds it.
            self._wait(amendment_id, WAIT_FOR_PLACEMENT_SECONDS)
            report.waiting += 1
            return
        if plan.delivery_state == DeliveryState.PENDING.value and plan.state != AmendmentState.REPLACING.value:
            # Not at the supplier (a lookup found nothing): the placement sends the order as it is now.
            self._finish(amendment_id, AmendmentState.SUPERSEDED, note="placed with the change")
            report.superseded += 1
            return
        adapter = self.adapter_for(plan.supplier)
        if plan.state == AmendmentState.REPLACING.value:
            self._replace(adapter, plan, report)
            return
        if not plan.lines_changed and not plan.address_changed:
            self._finish(amendment_id, AmendmentState.APPLIED, note="nothing left to change")
            return
        can_update = (not plan.lines_changed or adapter.can_update_lines) and (not plan.address_changed or adapter.can_update_address)
        if can_update and self._update(adapter, plan, report):
            return
        if plan.lines_changed or plan.address_changed:
            self._replace(adapter, plan, report)

    def _read(self, amendment_id: int) -> _Plan:
        with self.read_session_factory() as session:
            amendment = session.get(SupplierOrderAmendment, amendment_id)
            delivery = amendment.delivery
            order = session.get(Order, delivery.order_id)
            lines = []
            for sol in delivery.lines:
                line = session.get(OurLine, sol.order_line_id)
                lines.append((sol.id, sol.supplier_sku, sol.quantity, sol.sent_quantity or 0, line.title, line.price))
            digest = address_digest(order.shipping_address)
            plan = _Plan(
                amendment_id=amendment.id, number=amendment.number, state=amendment.state, delivery_id=delivery.id,
                delivery_state=delivery.state, supplier=delivery.supplier, supplier_order_id=delivery.supplier_order_id,
                idempotency_key=delivery.idempotency_key, order_name=order.name or order.shopify_id, lines=lines,
                address=order_address(order), address_changed=delivery.sent_address_digest not in (None, digest) and address_complete(order.shipping_address), digest=digest,
                changes=list(amendment.changes or []), delivery_leased=being_worked(delivery),
            )
            session.expunge_all()
        return plan

    # -- 1. update --------------------------------------------------------------------------

    def _update(self, adapter: SupplierAdapter, plan: _Plan, report: AmendmentReport) -> bool:
        """True when the update was applied or will be retried; False to fall back to replacing."""
        self._mark(plan.amendment_id, AmendmentState.UPDATING, method="update")
        request = Amendment(
            reference=f"{plan.idempotency_key}-A{plan.number}",
            lines=tuple(OrderLine(line_ref=str(sol_id), supplier_sku=sku, quantity=wanted, name=title, retail_price=price)
                        for sol_id, sku, wanted, _, title, price in plan.lines),
            shipping_address=plan.address if plan.address_changed else None,
            changes=tuple(plan.changes),
        )
        started = time.monotonic()
        summary = {"reference": request.reference, "lines": [[l.supplier_sku, l.quantity] for l in request.lines], "address": plan.address_changed}
        try:
            result = adapter.amend_order(plan.supplier_order_id, request)
        except (AmendmentRefused, PermanentSupplierError, SupplierOrderNotFound) as exc:
            self._attempt(plan.delivery_id, "amend", "permanent", summary, started, error=exc)
            return False
        except SupplierError as exc:
            self._attempt(plan.delivery_id, "amend", "transient", summary, started, error=exc)
            self._retry_later(plan.amendment_id, report, exc)
            return True
        self._attempt(plan.delivery_id, "amend", "ok", summary, started, response={"status": result.status.value})
        with self.session_factory.begin() as session:
            amendment = session.get(SupplierOrderAmendment, plan.amendment_id)
            delivery = amendment.delivery
            sent = {sol_id: wanted for sol_id, _, wanted, _, _, _ in plan.lines}
            for sol in delivery.lines:
                if sol.id in sent:
                    sol.sent_quantity = sent[sol.id]
            if plan.address_changed:
                delivery.sent_address_digest = plan.digest
            delivery.supplier_status = result.status.value
            if result.cost is not None:
                delivery.cost = result.cost
            if len(amendment.changes or []) != len(plan.changes):
                self._reopen(amendment)  # more changes arrived while this one was out: send the order as it is now
            else:
                self._close(session, amendment, AmendmentState.APPLIED)
            order = session.get(Order, delivery.order_id)
            record_event(session, order, "supplier_updated", "app", supplier=delivery.supplier.name, supplier_order_id=plan.supplier_order_id,
                         amendment=plan.number, changes=plan.changes)
            resolve_alert(session, _alert_key(delivery.id))
        report.updated += 1
        return True

    # -- 2. cancel and place again ----------------------------------------------------------

    def _replace(self, adapter: SupplierAdapter, plan: _Plan, report: AmendmentReport) -> None:
        resuming = plan.state == AmendmentState.REPLACING.value
        started = time.monotonic()
        try:
            current = adapter.get_order(plan.supplier_order_id)
        except SupplierOrderNotFound as exc:
            current = None if resuming else exc  # a draft deleted by our cancel is gone, as good as cancelled
        except SupplierError as exc:
            self._attempt(plan.delivery_id, "lookup", "transient", {"supplier_order_id": plan.supplier_order_id}, started, error=exc)
            self._retry_later(plan.amendment_id, report, exc)
            return
        if isinstance(current, Exception):
            self._refuse(plan, f"the supplier no longer finds order {plan.supplier_order_id}", report)
            return
        cancelled = current is None or current.status is SupplierOrderStatus.CANCELLED
        if not cancelled:
            if current.status not in adapter.can_cancel_when:
                self._refuse(plan, f"its order is {current.status.value}", report)
                return
            if not resuming:
                self._mark(plan.amendment_id, AmendmentState.REPLACING, method="replace", replaced_supplier_order_id=plan.supplier_order_id,
                           replaced_idempotency_key=plan.idempotency_key)
            started = time.monotonic()
            try:
                adapter.cancel_order(plan.supplier_order_id)
            except (CancellationRefused, PermanentSupplierError, SupplierOrderNotFound) as exc:
                self._attempt(plan.delivery_id, "cancel", "permanent", {"supplier_order_id": plan.supplier_order_id}, started, error=exc)
                self._refuse(plan, f"it refused to cancel ({exc})", report)
                return
            except SupplierError as exc:
                self._attempt(plan.delivery_id, "cancel", "transient", {"supplier_order_id": plan.supplier_order_id}, started, error=exc)
                self._retry_later(plan.amendment_id, report, exc)
                return
            self._attempt(plan.delivery_id, "cancel", "ok", {"supplier_order_id": plan.supplier_order_id, "to_replace": True}, started)
        with self.session_factory.begin() as session:
            amendment = session.get(SupplierOrderAmendment, plan.amendment_id)
            delivery = amendment.delivery
            order = session.get(Order, delivery.order_id)
            if amendment.state != AmendmentState.REPLACING.value:
                amendment.method, amendment.replaced_supplier_order_id, amendment.replaced_idempotency_key = "replace", plan.supplier_order_id, plan.idempotency_key
            self._close(session, amendment, AmendmentState.APPLIED)
            if delivery.state == DeliveryState.CANCEL_REQUESTED.value:
                # The whole order was cancelled meanwhile: what we just cancelled stays cancelled.
                delivery.state = DeliveryState.CANCELLED.value
                delivery.lease_owner = delivery.lease_until = None
                record_event(session, order, "supplier_cancelled", "app", supplier=delivery.supplier.name, note="cancelled at supplier")
            else:
                delivery.idempotency_key = replacement_key(plan.idempotency_key, plan.number)
                delivery.supplier_order_id = delivery.supplier_status = None
                delivery.state = DeliveryState.PENDING.value
                delivery.attempts = 0
                delivery.next_attempt_at = utcnow()
                delivery.lease_owner = delivery.lease_until = None
                delivery.placed_at = None
                delivery.sent_address_digest = None
                for sol in delivery.lines:
                    sol.sent_quantity = None
                record_event(session, order, "supplier_replaced", "app", supplier=delivery.supplier.name, cancelled_supplier_order_id=plan.supplier_order_id,
                             amendment=plan.number, changes=plan.changes)
            resolve_alert(session, _alert_key(delivery.id))
        report.replaced += 1
        self.wake_forwarding()

    # -- 3. too late --------------------------------------------------------------------------

    def _refuse(self, plan: _Plan, why: str, report: AmendmentReport) -> None:
        supplier = plan.supplier.name
        still = [f"{sent} x {sku}" for _, sku, _, sent, _, _ in plan.lines if sent > 0]
        parts = []
        extra = [f"{sent - wanted} x {sku}" for _, sku, wanted, sent, _, _ in plan.lines if sent > wanted]
        missing = [f"{wanted - sent} x {sku}" for _, sku, wanted, sent, _, _ in plan.lines if wanted > sent]
        if extra:
            parts.append(f"{supplier} still has {', '.join(extra)} that the order no longer has")
        if plan.address_changed:
            parts.append(f"{supplier} still has {', '.join(still) or 'the order'} to ship to the old address")
        if missing:
            parts.append(f"{supplier} does not have {', '.join(missing)} added to the order: send it another way")
        message = f"Order {plan.order_name}: {supplier} could not take the change ({why}). " + "; ".join(parts) + "."
        with self.session_factory.begin() as session:
            amendment = session.get(SupplierOrderAmendment, plan.amendment_id)
            amendment.method = "alert"
            amendment.last_error = why[:2000]
            if len(amendment.changes or []) != len(plan.changes):
                self._reopen(amendment)  # changed again meanwhile: ask again with the order as it is now
            else:
                self._close(session, amendment, AmendmentState.REFUSED)
            delivery = amendment.delivery
            order = session.get(Order, delivery.order_id)
            raise_alert(session, delivery.shop_domain, "supplier_change_refused", _alert_key(delivery.id), message, severity="critical", subject=order.name)
            record_event(session, order, "problem", "supplier", problem="change_refused", supplier=supplier, amendment=plan.number,
                         still_has=extra, old_address=plan.address_changed, not_sent=missing)
        report.refused += 1

    # -- state writes -------------------------------------------------------------------------

    def _mark(self, amendment_id: int, state: AmendmentState, **values) -> None:
        # Committed before the call: a crash from here on resumes in this state.
        with self.session_factory.begin() as session:
            amendment = session.get(SupplierOrderAmendment, amendment_id)
            amendment.state = state.value
            amendment.attempts += 1
            for name, value in values.items():
                setattr(amendment, name, value)

    def _finish(self, amendment_id: int, state: AmendmentState, note: str) -> None:
        with self.session_factory.begin() as session:
            amendment = session.get(SupplierOrderAmendment, amendment_id)
            amendment.last_error = note
            self._close(session, amendment, state)

    @staticmethod
    def _close(session, amendment: SupplierOrderAmendment, state: AmendmentState) -> None:
        for sol in amendment.delivery.lines:
            if sol.sent_quantity is None:
                sol.sent_quantity = 0  # not sent with this change (refused, or nothing to send): the supplier has none
        amendment.state = state.value
        amendment.finished_at = utcnow()
        amendment.lease_owner = amendment.lease_until = None

    @staticmethod
    def _reopen(amendment: SupplierOrderAmendment) -> None:
        amendment.state = AmendmentState.PENDING.value
        amendment.next_attempt_at = utcnow()
        amendment.lease_owner = amendment.lease_until = None

    def _wait(self, amendment_id: int, seconds: float) -> None:
        with self.session_factory.begin() as session:
            amendment = session.get(SupplierOrderAmendment, amendment_id)
            amendment.next_attempt_at = utcnow() + dt.timedelta(seconds=seconds)
            amendment.lease_owner = amendment.lease_until = None

    def _retry_later(self, amendment_id: int, report: AmendmentReport, error: Exception) -> None:
        with self.session_factory.begin() as session:
            amendment = session.get(SupplierOrderAmendment, amendment_id)
            amendment.last_error = f"{type(error).__name__}: {error}"[:2000]
            amendment.lease_owner = amendment.lease_until = None
            if amendment.attempts >= self.max_attempts and amendment.state != AmendmentState.REPLACING.value:
                delivery = amendment.delivery
                order = session.get(Order, delivery.order_id)
                self._close(session, amendment, AmendmentState.REFUSED)
                raise_alert(session, delivery.shop_domain, "supplier_change_refused", _alert_key(delivery.id),
                            f"Order {order.name}: {delivery.supplier.name} could not be reached to pass on a change ({', '.join(amendment.changes)}); "
                            f"tell the supplier directly.", severity="critical", subject=order.name)
                return
            delay = max(getattr(error, "retry_after", None) or 0.0, self.rng.uniform(0, min(BACKOFF_CAP, 2.0 * 2 ** max(amendment.attempts, 1))))
            amendment.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
        report.retrying += 1

    def _attempt(self, delivery_id: int, action: str, outcome: str, request: dict, started: float, *, response: dict | None = None, error: Exception | None = None) -> None:
        with self.session_factory.begin() as session:
            session.add(DeliveryAttempt(
                supplier_order_id=delivery_id, action=action, outcome=outcome, request=request, response=response or {},
                error=f"{type(error).__name__}: {error}"[:1000] if error else None, duration_ms=int((time.monotonic() - started) * 1000),
            ))


def _alert_key(delivery_id: int) -> str:
    return f"supplier_change_refused:{delivery_id}"


def order_address(order) -> Address:
    """The supplier's Address of an order (anything with shipping_address and email: the ORM row or a Core row)."""
    address = order.shipping_address or {}
    return Address(
        name=address.get("name") or " ".join(filter(None, [address.get("first_name"), address.get("last_name")])) or "",
        address1=address.get("address1") or "", address2=address.get("address2"), city=address.get("city") or "",
        province_code=address.get("province_code"), country_code=address.get("country_code") or "", zip=address.get("zip"),
        phone=address.get("phone"), email=order.email, company=address.get("company"),
    )


# The forwarding pump's every pass asks these two (nearly always finding nothing): built once.
_OPEN_FOR = select(SupplierOrderAmendment.id).where(SupplierOrderAmendment.supplier_order_id == SupplierOrder.id,
                                                   SupplierOrderAmendment.state.in_(OPEN_AMENDMENT_STATES)).exists()
_UNSENT = and_(SupplierOrderLine.sent_quantity.is_(None), SupplierOrderLine.quantity > 0, SupplierOrder.sent_address_digest.is_not(None),
               SupplierOrder.state.in_(SENT + (DeliveryState.UNKNOWN.value,)), ~_OPEN_FOR)
_ANY_UNSENT = select(SupplierOrderLine.id).join(SupplierOrder, SupplierOrderLine.supplier_order_id == SupplierOrder.id).where(_UNSENT).limit(1)
_DUE_AMENDMENTS = (select(SupplierOrderAmendment.id)
                   .where(SupplierOrderAmendment.state.in_(OPEN_AMENDMENT_STATES), SupplierOrderAmendment.next_attempt_at <= bindparam("now"),
                          or_(SupplierOrderAmendment.lease_until.is_(None), SupplierOrderAmendment.lease_until < bindparam("now")))
                   .order_by(SupplierOrderAmendment.id).limit(bindparam("limit")))
