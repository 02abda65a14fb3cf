"""What changed in an order since its lines went to suppliers, and what each supplier order must become.

Called after every applied order sync (orders/updated, orders/edited re-read, a refund's
re-read). A supplier order line's `quantity` is what the supplier should ship now and its
`sent_quantity` what the supplier was last sent; the delivery's `sent_address_digest` is
the address it was last sent. This module moves the wanted side; the amendment worker
(shopify_app/suppliers/amendments.py) brings the supplier's side up to it.

Per delivery: not yet sent (pending) -> the next placement carries the change, nothing
else to do; in flight (unknown) or placed -> an amendment row; every line gone -> the
delivery is cancelled (never sent) or its cancellation requested (the forwarding worker
cancels at the supplier, or alerts when it is too late).
"""
from __future__ import annotations

import hashlib
import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..alerts import raise_alert, resolve_alert
from ..models import utcnow
from ..suppliers.amendment_models import OPEN_AMENDMENT_STATES, SupplierOrderAmendment
from ..suppliers.models import Alert, DeliveryState, SupplierOrder, SupplierOrderLine
from .models import Order, OrderLine, OrderState
from .timeline import record_event

# Deliveries whose supplier may still be told about a change (on hold: postponed before placement, sent on release).
CHANGEABLE = (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.PLACED.value, DeliveryState.PARTIALLY_SHIPPED.value,
              DeliveryState.ON_HOLD.value)
ROUTED_STATES = (OrderState.ROUTED.value, OrderState.FORWARDED.value, OrderState.PARTIALLY_SHIPPED.value)
ADDRESS_FIELDS = ("name", "first_name", "last_name", "company", "address1", "address2", "city", "province_code", "country_code", "zip", "phone")


def address_digest(address: dict | None) -> str:
    """A digest of the ship-to fields a supplier gets (compared, never shown: no copy of the address is kept)."""
    fields = {name: ((address or {}).get(name) or "").strip() for name in ADDRESS_FIELDS}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def wanted_quantity(line: OrderLine, sol: SupplierOrderLine) -> int:
    """What the supplier should ship of this line now: the order's current quantity less the units not its own, never less than what left."""
    return max((line.quantity - (sol.other_quantity or 0)) if line.shippable else 0, 0, sol.shipped_quantity or 0)


def routed_lines(session: Session, order: Order) -> set[int]:
    """Ids of the order's supplier order lines (taken before routing, to tell lines an edit added)."""
    return set(session.scalars(select(SupplierOrderLine.id).join(SupplierOrder).where(SupplierOrder.order_id == order.id)))


def pass_on_changes(session: Session, order: Order, *, routed_before: set[int] | None = None, route_added_lines=None) -> list[SupplierOrderAmendment]:
    """Bring the order's supplier orders up to the order as synced; the amendments opened or extended.

    `routed_before`: the supplier order lines that existed before this sync's routing; lines
    routed since onto a supplier order already sent are additions to pass on. When routing
    did not run, `route_added_lines(session, order)` (the routing service) routes what an
    edit added: onto an existing supplier order (part of its amendment) or a new one.
    """
    if order.cancelled_at is not None:
        return []  # the cancellation path handles it
    deliveries = session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id).order_by(SupplierOrder.id)).all()
    if not deliveries:
        return []  # not routed yet: routing will send the order as it is now
    before = routed_before if routed_before is not None else {sol.id for delivery in deliveries for sol in delivery.lines}
    if route_added_lines is not None and _has_unrouted_lines(session, order):
        state = order.state
        route_added_lines(session, order)
        if state in ROUTED_STATES and order.state == OrderState.ROUTED.value and not any(
                d.state == DeliveryState.PENDING.value for d in session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id))):
            order.state = state  # what was already forwarded stays forwarded
        session.expire_all()
        deliveries = session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id).order_by(SupplierOrder.id)).all()
    added = {sol.id for delivery in deliveries for sol in delivery.lines} - before
    lines = {line.id: line for line in order.lines}
    digest = address_digest(order.shipping_address)
    touched: list[SupplierOrderAmendment] = []
    address_noted = False
    for delivery in deliveries:
        if delivery.state not in CHANGEABLE:
            continue
        changes = []
        for sol in delivery.lines:
            line = lines.get(sol.order_line_id)
            if line is None:
                continue
            want = wanted_quantity(line, sol)
            if want != sol.quantity:
                changes.append(f"{sol.supplier_sku}: {sol.quantity} -> {want}")
                record_event(session, order, "line_changed", "store", line=line.shopify_line_id, sku=sol.supplier_sku,
                             supplier=delivery.supplier.name, from_quantity=sol.quantity, to_quantity=want)
                sol.quantity = want
            elif sol.id in added and not _never_sent(delivery):  # joined an order already sent
                changes.append(f"{sol.supplier_sku}: added, {want}")
                record_event(session, order, "line_added", "store", line=line.shopify_line_id, sku=sol.supplier_sku, supplier=delivery.supplier.name, quantity=want)
        address_changed = delivery.sent_address_digest is not None and delivery.sent_address_digest != digest
        if address_changed and not address_complete(order.shipping_address):
            # Never replace a good address with a broken (or redacted) one: the merchant fixes it first.
            key = f"address_change_incomplete:{delivery.id}"
            if session.scalar(select(Alert.id).where(Alert.dedupe_key == key, Alert.resolved_at.is_(None))) is None:
                raise_alert(session, order.shop_domain, "address_change_incomplete", key,
                            f"Order {order.name or order.shopify_id}: the new shipping address is incomplete, so {delivery.supplier.name} still has the old one. "
                            f"Complete the address in Shopify to pass it on.", severity="critical", subject=order.name)
                record_event(session, order, "problem", "app", problem="address_change_incomplete", supplier=delivery.supplier.name)
            address_changed = False
        else:
            resolve_alert(session, f"address_change_incomplete:{delivery.id}")
        if address_changed and not _asked_for(session, delivery, digest):
            changes.append("shipping address")
            if not address_noted:
                record_event(session, order, "address_changed", "store", supplier=delivery.supplier.name)
                address_noted = True
        session.flush()
        if not changes:
            continue
        if all(sol.quantity == 0 for sol in delivery.lines):
            _withdraw(session, order, delivery)
            continue
        if _never_sent(delivery) and not being_worked(delivery):
            continue  # nothing at the supplier yet: the placement sends the order as it is now
        touched.append(open_amendment(session, delivery, changes, digest))
    return touched


def address_complete(address: dict | None) -> bool:
    """Whether an address has what any supplier needs to ship (a name, a street, a city, a country)."""
    address = address or {}
    name = (address.get("name") or " ".join(filter(None, [address.get("first_name"), address.get("last_name")]))).strip()
    return bool(name) and all((address.get(key) or "").strip() for key in ("address1", "city", "country_code"))


def _never_sent(delivery: SupplierOrder) -> bool:
    """Pending, or postponed by a hold before any attempt (one that was tried may be at the supplier: it gets an amendment, which waits)."""
    return delivery.state == DeliveryState.PENDING.value or (delivery.state == DeliveryState.ON_HOLD.value and not delivery.attempts)


def being_worked(delivery: SupplierOrder) -> bool:
    """Whether a forwarding worker holds the delivery's lease (it may be sending what it read before this change)."""
    return delivery.lease_owner is not None and delivery.lease_until is not None and delivery.lease_until > utcnow()


def _has_unrouted_lines(session: Session, order: Order) -> bool:
    routed = set(session.scalars(select(SupplierOrderLine.order_line_id).join(OrderLine).where(OrderLine.order_id == order.id)))
    return any(line.shippable and line.id not in routed for line in order.lines)


def _asked_for(session: Session, delivery: SupplierOrder, digest: str) -> bool:
    """Whether the latest amendment already asked for this address (so a refused one is not asked again)."""
    latest = session.scalar(select(SupplierOrderAmendment).where(SupplierOrderAmendment.supplier_order_id == delivery.id)
                            .order_by(SupplierOrderAmendment.number.desc()).limit(1))
    return latest is not None and latest.address_digest == digest


def _withdraw(session: Session, order: Order, delivery: SupplierOrder) -> None:
    """Every line of the delivery is gone: never sent -> cancelled here; maybe sent -> cancel at the supplier."""
    if _never_sent(delivery):
        delivery.state = DeliveryState.CANCELLED.value
        record_event(session, order, "supplier_cancelled", "app", supplier=delivery.supplier.name, note="every line was removed before it was sent")
    else:
        delivery.state = DeliveryState.CANCEL_REQUESTED.value
        delivery.next_attempt_at = utcnow()
        record_event(session, order, "cancel_requested", "app", supplier=delivery.supplier.name, because="every line was removed or refunded")
    for amendment in session.scalars(select(SupplierOrderAmendment).where(
            SupplierOrderAmendment.supplier_order_id == delivery.id, SupplierOrderAmendment.state == "pending")):
        amendment.state, amendment.finished_at = "superseded", utcnow()


def open_amendment(session: Session, delivery: SupplierOrder, changes: list[str], digest: str) -> SupplierOrderAmendment:
    """The delivery's open amendment, extended with `changes`, or a new one numbered after the last."""
    amendment = session.scalar(select(SupplierOrderAmendment).where(
        SupplierOrderAmendment.supplier_order_id == delivery.id, SupplierOrderAmendment.state.in_(OPEN_AMENDMENT_STATES)))
    if amendment is not None:
        amendment.changes = [*amendment.changes, *changes]
        amendment.address_digest = digest
        amendment.next_attempt_at = utcnow()
        return amendment
    number = (session.scalar(select(func.max(SupplierOrderAmendment.number)).where(SupplierOrderAmendment.supplier_order_id == delivery.id)) or 0) + 1
    amendment = SupplierOrderAmendment(shop_domain=delivery.shop_domain, supplier_order_id=delivery.id, number=number,
                                       changes=list(changes), address_digest=digest, state="pending", attempts=0, next_attempt_at=utcnow())
    session.add(amendment)
    session.flush()
    return amendment


def order_with_supplier_work(session: Session, shop_domain: str, shopify_id: str) -> bool:
    """Whether the order has a supplier order that a change could still reach (worth re-reading the order for)."""
    return session.scalar(select(SupplierOrder.id).join(Order, Order.id == SupplierOrder.order_id).where(
        Order.shop_domain == shop_domain, Order.shopify_id == shopify_id, SupplierOrder.state.in_(CHANGEABLE)).limit(1)) is not None
