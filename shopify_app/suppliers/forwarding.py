"""Forwarding supplier orders exactly once.

Every place attempt first commits the delivery as UNKNOWN, then calls the supplier. If we
crash (or time out) between the supplier's answer and our commit, the row is still
UNKNOWN, and the next attempt asks the supplier for our idempotency key before it would
ever send the order again. Permanent rejections are not retried; everything else backs
off exponentially with full jitter behind a per-supplier circuit breaker.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from integrations.suppliers.base import (
    Address,
    CancellationRefused,
    OrderLine,
    OutcomeUnknown,
    PermanentSupplierError,
    PlaceOrder,
    SupplierAdapter,
    SupplierError,
    SupplierOrder as SupplierView,
    SupplierOrderNotFound,
    SupplierOrderStatus,
    TransientSupplierError,
)
from integrations.suppliers.registry import build_adapter
from integrations.suppliers.runtime import SupplierRef

from ..alerts import raise_alert
from ..crypto import SecretBox
from ..fulfillment.holds import blocking_fulfillment_order
from ..models import utcnow
from ..orders.models import Order, OrderLine as OurLine, OrderState
from ..orders.routing import reroute_to_backup
from ..orders.timeline import record_event
from .credentials import RefreshingAdapter, can_refresh, current_store
from .amendments import lines_to_place, remember_sent
from .models import DeliveryAttempt, DeliveryState, ProductMapping, Supplier, SupplierOrder

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
MAX_ATTEMPTS = 10
BACKOFF_BASE = 2.0
BACKOFF_CAP = 1800.0


def backoff(attempts: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter."""
    return rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempts))


@dataclass
class CircuitBreaker:
    """Per supplier: when most of the recent calls failed, stop calling it for `cooldown` seconds.

    It looks at the failure *rate* over the last `window` calls rather than a run of
    failures: a supplier failing one call in three is slow, not down, and must keep
    getting orders. After the cooldown the window starts afresh.
    """

    window: int = 10
    open_ratio: float = 0.8
    cooldown: float = 15.0
    clock: Callable[[], float] = time.monotonic
    _recent: dict[int, list[bool]] = field(default_factory=dict)
    _open_until: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def is_open(self, supplier_id: int) -> float:
        """Seconds until the breaker closes again (0 when closed)."""
        with self._lock:
            until = self._open_until.get(supplier_id)
            if until is None:
                return 0.0
            left = until - self.clock()
            if left <= 0:
                del self._open_until[supplier_id]
                self._recent.pop(supplier_id, None)
                return 0.0
            return left

    def success(self, supplier_id: int) -> None:
        """The supplier answered."""
        self._record(supplier_id, True)

    def failure(self, supplier_id: int) -> None:
        """The supplier failed (transiently)."""
        self._record(supplier_id, False)

    def _record(self, supplier_id: int, ok: bool) -> None:
        with self._lock:
            recent = self._recent.setdefault(supplier_id, [])
            recent.append(ok)
            del recent[: -self.window]
            failures = recent.count(False)
            if len(recent) == self.window and failures >= self.open_ratio * self.window:
                self._open_until[supplier_id] = self.clock() + self.cooldown


@dataclass
class ForwardReport:
    """What one pass did."""

    placed: int = 0
    found_after_unknown: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    postponed: int = 0


_adapters: dict[tuple, SupplierAdapter] = {}
_adapters_lock = threading.Lock()


def adapter_from_record(supplier: Supplier, box: SecretBox) -> SupplierAdapter:
    """The supplier's adapter, built once per (supplier, credentials, settings) and reused.

    Adapters hold pooled HTTP clients; building one per call costs a TLS context (~50 ms
    of CPU) and a new connection every time (bench/order_flow.py measured 7 per order).
    """
    key = (supplier.id, supplier.kind, supplier.credentials_enc, json.dumps(supplier.settings or {}, sort_keys=True))
    with _adapters_lock:
        adapter = _adapters.get(key)
        if adapter is None:
            for stale in [k for k in _adapters if k[0] == supplier.id]:
                _adapters.pop(stale)  # credentials or settings changed
            credentials = json.loads(box.decrypt(supplier.credentials_enc)) if supplier.credentials_enc else {}
            owner = SupplierRef(supplier.shop_domain, supplier.id)  # scopes what the adapter keeps (the email sent log)
            adapter = build_adapter(supplier.kind, credentials, dict(supplier.settings or {}), owner)
            if can_refresh(adapter):  # tokens that expire: refreshed before expiry and once after a 401
                adapter = RefreshingAdapter(adapter, owner, supplier.kind, dict(supplier.settings or {}), credentials, supplier.credentials_enc, store=current_store())
            _adapters[key] = adapter
        return adapter


def mapped_costs(session: Session, delivery: SupplierOrder) -> dict[str, str]:
    """Supplier SKU -> the cost the merchant mapped for it at this supplier (purchase orders show unit costs)."""
    skus = {line.supplier_sku for line in delivery.lines}
    rows = session.execute(select(ProductMapping.supplier_sku, ProductMapping.cost).where(
        ProductMapping.shop_domain == delivery.shop_domain, ProductMapping.supplier_id == delivery.supplier_id,
        ProductMapping.supplier_sku.in_(skus), ProductMapping.cost.is_not(None)))
    return {sku: cost for sku, cost in rows}


class ForwardingWorker:
    """Places, confirms and cancels supplier orders from the supplier_orders table."""

    def __init__(self, session_factory: sessionmaker, box: SecretBox, *, adapter_for: Callable[[Supplier], SupplierAdapter] | None = None, breaker: CircuitBreaker | None = None, rng: random.Random | None = None, max_attempts: int = MAX_ATTEMPTS):
        from ..db import read_only

        self.session_factory = session_factory
        self.read_session_factory = read_only(session_factory)
        self.adapter_for = adapter_for or (lambda supplier: adapter_from_record(supplier, box))
        self.breaker = breaker or CircuitBreaker()
        self.rng = rng or random.Random()
        self.max_attempts = max_attempts
        self.owner = uuid.uuid4().hex

    def drain(self, batch_size: int = 50, max_batches: int = 20) -> ForwardReport:
        """Work every due delivery once."""
        report = ForwardReport()
        for _ in range(max_batches):
            ids = self._claim(batch_size)
            if not ids:
                break
            for delivery_id in ids:
                try:
                    self._process(delivery_id, report)
                except Exception:  # noqa: BLE001 - the lease expires and the row is retried
                    log.exception("forwarding delivery %s crashed", delivery_id)
        return report

    # -- claiming -------------------------------------------------------------------------

    def _claim(self, batch_size: int) -> list[int]:
        now = utcnow()
        due = and_(
            SupplierOrder.state.in_([DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.CANCEL_REQUESTED.value]),
            SupplierOrder.next_attempt_at <= now,
            or_(SupplierOrder.lease_until.is_(None), SupplierOrder.lease_until < now),
        )
        claimed = []
        with self.session_factory.begin() as session:
            for delivery_id in session.scalars(select(SupplierOrder.id).where(due).order_by(SupplierOrder.id).limit(batch_size)).all():
                won = session.execute(
                    update(SupplierOrder).where(SupplierOrder.id == delivery_id, due).values(lease_owner=self.owner, lease_until=now + dt.timedelta(seconds=LEASE_SECONDS))
                ).rowcount
                if won:
                    claimed.append(delivery_id)
        return claimed

    # -- one delivery -----------------------------------------------------------------------

    def _process(self, delivery_id: int, report: ForwardReport) -> None:
        with self.read_session_factory() as session:
            delivery = session.get(SupplierOrder, delivery_id)
            supplier = delivery.supplier
            state = delivery.state
            request = self._place_request(session, delivery)
            supplier_order_id = delivery.supplier_order_id
            session.expunge_all()
        if supplier.deleted_at is not None or not supplier.active:
            self._fail(delivery_id, "supplier was deleted or deactivated", report, kind="supplier_gone")
            return
        wait = self.breaker.is_open(supplier.id)
        if wait:
            self._postpone(delivery_id, wait, report)
            return
        adapter = self.adapter_for(supplier)
        if state == DeliveryState.CANCEL_REQUESTED.value:
            self._cancel(adapter, supplier, delivery_id, supplier_order_id, request.external_id, report)
            return
        if state == DeliveryState.UNKNOWN.value:
            found = self._lookup(adapter, supplier, delivery_id, request.external_id)
            if found is _LOOKUP_FAILED:
                self._retry_later(delivery_id, report, unknown=True)
                return
            # A draft (PENDING) means the create landed but the confirmation did not: placing
            # again is safe (same external_id) and confirms it without a second order.
            if found is not None and found.status is not SupplierOrderStatus.PENDING:
                self._placed(delivery_id, found, report, after_unknown=True)
                return
        self._place(adapter, supplier, delivery_id, request, report)

    def _place_request(self, session: Session, delivery: SupplierOrder) -> PlaceOrder:
        order = session.get(Order, delivery.order_id)
        address = order.shipping_address or {}
        lines = []
        costs = mapped_costs(session, delivery)
        for sol in lines_to_place(delivery.lines):
            line = session.get(OurLine, sol.order_line_id)
            lines.append(OrderLine(line_ref=str(sol.id), supplier_sku=sol.supplier_sku, quantity=sol.quantity, name=line.title, retail_price=line.price,
                                   unit_cost=costs.get(sol.supplier_sku)))
        return PlaceOrder(
            external_id=delivery.idempotency_key,
            shipping_address=Address(
                name=address.get("name") or " ".join(filter(None, [address.get("first_name"), address.get("last_name")])) or "",
                address1=address.get("address1") or "",
                address2=address.get("address2"),
                city=address.get("city") or "",
                province_code=address.get("province_code"),
                country_code=address.get("country_code") or "",
                zip=address.get("zip"),
                phone=address.get("phone"),
                email=order.email,
                company=address.get("company"),
            ),
            lines=tuple(lines),
            currency=order.currency or "USD",
        )

    def _place(self, adapter, supplier, delivery_id: int, request: PlaceOrder, report: ForwardReport) -> None:
        # Commit "we may have sent it" before sending: a crash from here on leaves UNKNOWN.
        with self.session_factory.begin() as session:
            delivery = session.get(SupplierOrder, delivery_id)
            if delivery.state not in (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value):
                # Held in Shopify (or cancelled) since we read it: that word wins, nothing is sent.
                delivery.lease_owner = delivery.lease_until = None
                report.postponed += 1
                return
            blocked = blocking_fulfillment_order(session, delivery)
            if blocked is not None:
                # Every path that sets PENDING/UNKNOWN (retries, backups, replacements, a resume by a
                # sibling fulfillment order) ends here: Shopify's current word on each fulfillment
                # order holding these lines is checked once, right before anything is sent.
                delivery.state = DeliveryState.ON_HOLD.value
                delivery.lease_owner = delivery.lease_until = None
                record_event(session, session.get(Order, delivery.order_id), "supplier_order_postponed", "app", supplier=delivery.supplier.name,
                             because=f"fulfillment order {blocked.shopify_id} is held, not ours or not ready")
                report.postponed += 1
                return
            delivery.state = DeliveryState.UNKNOWN.value
            delivery.attempts += 1
            attempts = delivery.attempts
            remember_sent(session, delivery, request)  # what the supplier gets: order changes are compared with it
        started = time.monotonic()
        summary = {"external_id": request.external_id, "lines": [[l.supplier_sku, l.quantity] for l in request.lines]}
        try:
            result = adapter.place_order(request)
        except PermanentSupplierError as exc:
            self._attempt(delivery_id, "place", "permanent", summary, started, error=exc)
            self._fail(delivery_id, f"supplier rejected the order: {exc}", report, kind="supplier_rejected")
            return
        except OutcomeUnknown as exc:
            self._attempt(delivery_id, "place", "unknown", summary, started, error=exc)
            self.breaker.failure(supplier.id)
            self._retry_later(delivery_id, report, unknown=True, attempts=attempts, retry_after=exc.retry_after)
            return
        except (TransientSupplierError, SupplierError) as exc:
            self._attempt(delivery_id, "place", "transient", summary, started, error=exc)
            self.breaker.failure(supplier.id)
            # 5xx after a POST may still have created it: stay UNKNOWN, look up first.
            self._retry_later(delivery_id, report, unknown=True, attempts=attempts, retry_after=getattr(exc, "retry_after", None))
            return
        self.breaker.success(supplier.id)
        self._attempt(delivery_id, "place", "ok", summary, started, response={"supplier_order_id": result.supplier_order_id, "status": result.status.value})
        self._placed(delivery_id, result, report)

    def _lookup(self, adapter, supplier, delivery_id: int, external_id: str):
        started = time.monotonic()
        try:
            found = adapter.find_order(external_id)
        except SupplierError as exc:
            self._attempt(delivery_id, "lookup", "transient", {"external_id": external_id}, started, error=exc)
            self.breaker.failure(supplier.id)
            return _LOOKUP_FAILED
        self.breaker.success(supplier.id)
        outcome = "ok" if found else "not_found"
        self._attempt(delivery_id, "lookup", outcome, {"external_id": external_id}, started, response={"supplier_order_id": found.supplier_order_id} if found else {})
        return found

    def _cancel(self, adapter, supplier, delivery_id: int, supplier_order_id: str | None, external_id: str, report: ForwardReport) -> None:
        if supplier_order_id is None:
            found = self._lookup(adapter, supplier, delivery_id, external_id)
            if found is _LOOKUP_FAILED:
                self._retry_later(delivery_id, report, unknown=False)
                return
            if found is None:
                self._mark_cancelled(delivery_id, report, note="never reached the supplier")
                return
            supplier_order_id = found.supplier_order_id
        started = time.monotonic()
        try:
            adapter.cancel_order(supplier_order_id)
        except (CancellationRefused, SupplierOrderNotFound, PermanentSupplierError) as exc:
            self._attempt(delivery_id, "cancel", "permanent", {"supplier_order_id": supplier_order_id}, started, error=exc)
            with self.session_factory.begin() as session:
                delivery = session.get(SupplierOrder, delivery_id)
                delivery.state = DeliveryState.PLACED.value
                delivery.last_error = f"cancel refused: {exc}"
                delivery.lease_owner = delivery.lease_until = None
                order = session.get(Order, delivery.order_id)
                raise_alert(session, delivery.shop_domain, "cancel_refused", f"cancel_refused:{delivery.id}", f"Order {order.name}: {supplier.name} could not cancel ({exc}); stop or recall the shipment.", severity="critical", subject=order.name)
                record_event(session, order, "problem", "supplier", problem="cancel_refused", supplier=supplier.name)
            report.failed += 1
            return
        except SupplierError as exc:
            self._attempt(delivery_id, "cancel", "transient", {"supplier_order_id": supplier_order_id}, started, error=exc)
            self.breaker.failure(supplier.id)
            self._retry_later(delivery_id, report, unknown=False)
            return
        self._attempt(delivery_id, "cancel", "ok", {"supplier_order_id": supplier_order_id}, started)
        self._mark_cancelled(delivery_id, report, note="cancelled at supplier")

    # -- state writes -----------------------------------------------------------------------

    def _placed(self, delivery_id: int, result: SupplierView, report: ForwardReport, after_unknown: bool = False) -> None:
        with self.session_factory.begin() as session:
            delivery = session.get(SupplierOrder, delivery_id)
            cancel_raced = delivery.state == DeliveryState.CANCEL_REQUESTED.value
            # A cancellation that arrived while we were placing wins: keep it queued (now
            # with the supplier's order id) so the next pass cancels what we just placed.
            # A shipment that was handled before this commit must not be undone either.
            held_raced = delivery.state == DeliveryState.ON_HOLD.value
            if cancel_raced:
                delivery.next_attempt_at = utcnow()
            elif delivery.state in (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.ON_HOLD.value):
                # Held (or moved away) in Shopify while we were sending: the supplier has it all the
                # same, so it is placed, and someone must stop it there.
                delivery.state = DeliveryState.PLACED.value
            delivery.supplier_order_id = result.supplier_order_id
            delivery.supplier_status = result.status.value
            delivery.cost = result.cost
            delivery.placed_at = utcnow()
            delivery.last_error = None
            delivery.lease_owner = delivery.lease_until = None
            order = session.get(Order, delivery.order_id)
            record_event(session, order, "forwarded", "app", supplier=delivery.supplier.name, supplier_order_id=result.supplier_order_id, recovered_after_unknown=after_unknown)
            if held_raced:
                raise_alert(session, delivery.shop_domain, "hold_after_placement", f"hold_after_placement:{delivery.id}",
                            f"Order {order.name}: Shopify held it (or moved it away) while it was being sent, but {delivery.supplier.name} already has it: stop it at the supplier.",
                            severity="critical", subject=order.name)
            session.flush()
            _update_order_state(session, order)
        if after_unknown:
            report.found_after_unknown += 1
        else:
            report.placed += 1

    def _mark_cancelled(self, delivery_id: int, report: ForwardReport, note: str) -> None:
        with self.session_factory.begin() as session:
            delivery = session.get(SupplierOrder, delivery_id)
            delivery.state = DeliveryState.CANCELLED.value
            delivery.lease_owner = delivery.lease_until = None
            record_event(session, session.get(Order, delivery.order_id), "supplier_cancelled", "app", supplier=delivery.supplier.name, note=note)
        report.cancelled += 1

    def _retry_later(self, delivery_id: int, report: ForwardReport, *, unknown: bool, attempts: int | None = None, retry_after: float | None = None) -> None:
        with self.session_factory.begin() as session:
            delivery = session.get(SupplierOrder, delivery_id)
            attempts = attempts if attempts is not None else delivery.attempts
            if delivery.state == DeliveryState.ON_HOLD.value:
                # Held in Shopify meanwhile: the hold's release resumes it (through UNKNOWN, so the
                # supplier is asked first); writing UNKNOWN here would send it while held.
                delivery.lease_owner = delivery.lease_until = None
                report.postponed += 1
                return
            if delivery.state != DeliveryState.CANCEL_REQUESTED.value:
                delivery.state = DeliveryState.UNKNOWN.value if unknown else DeliveryState.PENDING.value
            delivery.lease_owner = delivery.lease_until = None
            if attempts >= self.max_attempts and delivery.state != DeliveryState.CANCEL_REQUESTED.value:
                session.flush()
                self._fail_in(session, delivery, f"gave up after {attempts} attempts", kind="supplier_unreachable")
                report.failed += 1
                return
            delay = max(retry_after or 0.0, backoff(attempts, self.rng))
            delivery.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
        report.retrying += 1

    def _postpone(self, delivery_id: int, seconds: float, report: ForwardReport) -> None:
        with self.session_factory.begin() as session:
            delivery = session.get(SupplierOrder, delivery_id)
            # Spread the queue over the next cooldown instead of stampeding the first second.
            delivery.next_attempt_at = utcnow() + dt.timedelta(seconds=seconds + self.rng.uniform(0, self.breaker.cooldown))
            delivery.lease_owner = delivery.lease_until = None
        report.postponed += 1

    def _fail(self, delivery_id: int, reason: str, report: ForwardReport, kind: str) -> None:
        with self.session_factory.begin() as session:
            self._fail_in(session, session.get(SupplierOrder, delivery_id), reason, kind)
        report.failed += 1

    def _fail_in(self, session: Session, delivery: SupplierOrder, reason: str, kind: str) -> None:
        delivery.state = DeliveryState.FAILED.value
        delivery.last_error = reason[:2000]
        delivery.lease_owner = delivery.lease_until = None
        order = session.get(Order, delivery.order_id)
        record_event(session, order, "problem", "app", problem=kind, supplier=delivery.supplier.name)
        session.flush()
        backups = reroute_to_backup(session, delivery)
        left = len(delivery.lines)
        if backups and not left:
            raise_alert(session, delivery.shop_domain, kind, f"{kind}:{delivery.id}", f"Order {order.name}: {delivery.supplier.name} failed ({reason}); sent to backup {', '.join(sorted(set(backups)))} instead.", severity="warning", subject=order.name)
            return
        raise_alert(session, delivery.shop_domain, kind, f"{kind}:{delivery.id}", f"Order {order.name}: not forwarded to {delivery.supplier.name}: {reason}", severity="critical", subject=order.name)

    def _attempt(self, delivery_id: int, action: str, outcome: str, request: dict, started: float, *, response: dict | None = None, error: Exception | None = None) -> None:
        with self.session_factory.begin() as session:
            session.add(
                DeliveryAttempt(
                    supplier_order_id=delivery_id,
                    action=action,
                    outcome=outcome,
                    request=request,
                    response=response or {},
                    error=f"{type(error).__name__}: {error}"[:1000] if error else None,
                    duration_ms=int((time.monotonic() - started) * 1000),
                )
            )


_LOOKUP_FAILED = object()


def _update_order_state(session: Session, order: Order) -> None:
    states = {d.state for d in session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id))}
    if order.state == OrderState.ROUTED.value and states and states <= {DeliveryState.PLACED.value, DeliveryState.SHIPPED.value, DeliveryState.PARTIALLY_SHIPPED.value}:
        order.state = OrderState.FORWARDED.value
