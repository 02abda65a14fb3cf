"""Routing order lines to suppliers and splitting the order into one supplier order each.

Candidates for a line, best first: an explicit mapping for its variant, then one for its
SKU, then a supplier that serves the line's vendor (supplier SKU = Shopify SKU). Among
them: active suppliers that ship to the destination, in stock before out of stock, then
by supplier priority, then by cost. The first is used; the others are its backups.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..alerts import raise_alert, resolve_alert
from ..suppliers.models import ProductMapping, Supplier, SupplierOrder, SupplierOrderLine
from .models import Order, OrderLine, OrderState
from .timeline import record_event


@dataclass(frozen=True)
class Candidate:
    """A supplier that can ship a line, and as what SKU."""

    supplier: Supplier
    supplier_sku: str
    cost: str | None
    in_stock: bool
    rank: int  # 0 explicit variant mapping, 1 SKU mapping, 2 vendor fallback


def _usable(supplier: Supplier, country: str | None) -> bool:
    if not supplier.active or supplier.deleted_at is not None:
        return False
    countries = (supplier.settings or {}).get("ship_to_countries")
    return not countries or (country is not None and country.upper() in {c.upper() for c in countries})


def _cost(value: str | None) -> Decimal:
    try:
        return Decimal(value) if value is not None else Decimal("Infinity")
    except InvalidOperation:
        return Decimal("Infinity")


def candidates_for(session: Session, order: Order, line: OrderLine) -> list[Candidate]:
    """Every supplier that could ship this line, best first."""
    country = (order.shipping_address or {}).get("country_code")
    found: dict[int, Candidate] = {}
    conditions = []
    if line.variant_id:
        conditions.append(ProductMapping.variant_id == line.variant_id)
    if line.sku:
        conditions.append(ProductMapping.sku == line.sku)
    if conditions:
        mappings = session.scalars(select(ProductMapping).where(ProductMapping.shop_domain == order.shop_domain, or_(*conditions)))
        for m in mappings:
            rank = 0 if line.variant_id and m.variant_id == line.variant_id else 1
            if _usable(m.supplier, country) and (m.supplier_id not in found or rank < found[m.supplier_id].rank):
                found[m.supplier_id] = Candidate(m.supplier, m.supplier_sku, m.cost, m.in_stock, rank)
    if line.vendor and line.sku:
        by_vendor = session.scalars(select(Supplier).where(Supplier.shop_domain == order.shop_domain, Supplier.vendor == line.vendor))
        for supplier in by_vendor:
            if supplier.id not in found and _usable(supplier, country):
                found[supplier.id] = Candidate(supplier, line.sku, None, True, 2)
    return sorted(found.values(), key=lambda c: (not c.in_stock, c.rank, c.supplier.priority, _cost(c.cost)))


def idempotency_key(order: Order, supplier_id: int) -> str:
    """Deterministic per order x supplier: the same on every retry, crash or replay."""
    raw = f"{order.shop_domain}:{order.shopify_id}:{supplier_id}"
    return "do-" + hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass
class RoutingResult:
    """What routing did to an order."""

    supplier_orders: list[SupplierOrder]
    unroutable: list[OrderLine]


def route_order(session: Session, order: Order) -> RoutingResult:
    """Give every shippable, not yet routed line a supplier order; hold the order if any line can't go."""
    routed_line_ids = set(
        session.scalars(select(SupplierOrderLine.order_line_id).join(OrderLine).where(OrderLine.order_id == order.id))
    )
    by_supplier: dict[int, SupplierOrder] = {
        so.supplier_id: so for so in session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id))
    }
    unroutable: list[OrderLine] = []
    shippable = [line for line in order.lines if line.shippable]
    for line in shippable:
        if line.id in routed_line_ids:
            continue
        options = candidates_for(session, order, line)
        if not options:
            unroutable.append(line)
            continue
        best = options[0]
        delivery = by_supplier.get(best.supplier.id)
        if delivery is None:
            delivery = SupplierOrder(
                shop_domain=order.shop_domain,
                order_id=order.id,
                supplier_id=best.supplier.id,
                idempotency_key=idempotency_key(order, best.supplier.id),
            )
            session.add(delivery)
            session.flush()
            by_supplier[best.supplier.id] = delivery
        session.add(SupplierOrderLine(supplier_order_id=delivery.id, order_line_id=line.id, supplier_sku=best.supplier_sku, quantity=line.quantity))
        record_event(session, order, "routed", "app", line=line.shopify_line_id, supplier=best.supplier.name, backups=[c.supplier.name for c in options[1:]])
    session.flush()
    for line in unroutable:
        raise_alert(
            session,
            order.shop_domain,
            "unroutable_line",
            f"unroutable:{order.shop_domain}:{order.shopify_id}:{line.shopify_line_id}",
            f"Order {order.name or order.shopify_id}: no supplier for SKU {line.sku or '(none)'}; the line is held.",
            severity="critical",
            subject=order.name,
        )
        record_event(session, order, "problem", "app", problem="unroutable", line=line.shopify_line_id, sku=line.sku)
    for line in shippable:
        if line not in unroutable:
            resolve_alert(session, f"unroutable:{order.shop_domain}:{order.shopify_id}:{line.shopify_line_id}")
    if not shippable:
        order.state = OrderState.NOTHING_TO_SHIP.value
    elif unroutable:
        order.state = OrderState.HELD.value
    else:
        order.state = OrderState.ROUTED.value
    return RoutingResult(list(by_supplier.values()), unroutable)


def reroute_to_backup(session: Session, delivery: SupplierOrder) -> list[str]:
    """Move a failed delivery's lines to each line's next-best supplier; returns the suppliers used.

    Suppliers that already failed this order are skipped. Lines with no backup stay on the
    failed delivery (its alert stands).
    """
    order = session.get(Order, delivery.order_id)
    failed_here = set(
        session.scalars(select(SupplierOrder.supplier_id).where(SupplierOrder.order_id == order.id, SupplierOrder.state == "failed"))
    ) | {delivery.supplier_id}
    targets: dict[int, SupplierOrder] = {
        so.supplier_id: so for so in session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id)) if so.supplier_id not in failed_here
    }
    used: list[str] = []
    for sol in list(delivery.lines):
        line = session.get(OrderLine, sol.order_line_id)
        backups = [c for c in candidates_for(session, order, line) if c.supplier.id not in failed_here]
        if not backups:
            continue
        best = backups[0]
        target = targets.get(best.supplier.id)
        if target is None:
            target = SupplierOrder(shop_domain=order.shop_domain, order_id=order.id, supplier_id=best.supplier.id, idempotency_key=idempotency_key(order, best.supplier.id))
            session.add(target)
            session.flush()
            targets[best.supplier.id] = target
        elif target.state not in ("pending",):
            continue  # already sent: do not change what the backup was asked for
        sol.supplier_order_id, sol.supplier_sku = target.id, best.supplier_sku
        record_event(session, order, "rerouted", "app", line=line.shopify_line_id, supplier=best.supplier.name, because="primary supplier failed")
        used.append(best.supplier.name)
    session.flush()
    session.expire(delivery, ["lines"])
    return used
