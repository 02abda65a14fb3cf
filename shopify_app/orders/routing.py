"""Routing order lines to suppliers and splitting the order into one supplier order each.

Candidates for a line, best first: an explicit mapping for its variant, then one for its
SKU, then a supplier that serves the line's vendor (supplier SKU = Shopify SKU). Among
them: active suppliers that ship to the destination, in stock before out of stock, then
by supplier priority, then by cost. The first is used; the others are its backups.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from sqlalchemy import and_, bindparam, false, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..alerts import raise_alert, resolve_alerts
from ..fulfillment.holds import postpone_deliveries, resume_deliveries
from ..fulfillment.locations import manager_of
from ..fulfillment.models import FulfillmentOrderRecord, ManagedBy
from ..fulfillment.problems import Problem, address_problem, unroutable_problem
from ..fulfillment.sync import ACCEPTED_REQUESTS, FINISHED, WORKABLE, HoldChanges, foreign_holds, fulfillment_orders_of
from ..suppliers.models import FulfillmentModel, ProductMapping, Supplier, SupplierOrder, SupplierOrderLine
from ..models import utcnow
from .models import Order, OrderEvent, OrderLine, OrderState
from ..db import flushed_connection, loaded, with_defaults
from .sync import FORWARDABLE_FINANCIAL_STATUSES
from .timeline import insert_events, record_event


@dataclass(frozen=True)
class Candidate:
    """A supplier that can ship a line, and as what SKU."""

    supplier: Supplier  # or a row of the columns _SUPPLIERS reads (what routing and its callers use of it)
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


class _Mapping(NamedTuple):
    """A product mapping as routing reads it (plain values: no ORM instance to load per row)."""

    supplier_id: int
    variant_id: str | None
    sku: str | None
    supplier_sku: str
    cost: str | None
    in_stock: bool
    supplier: Supplier  # a row of _SUPPLIERS, as Candidate's


_pm = ProductMapping.__table__
_sup = Supplier.__table__
# Both reads are built once per size of their IN lists (an empty list matches nothing), up to
# MAX_LISTED values a list: an expanding IN renders its SQL again at every execution, which cost
# more CPU than the read (issue 19 session 33 part C). Building them per order (operators, IN,
# ORDER BY, the cache key) cost more than running them too (session 30 part C). Longer lists expand.
MAX_LISTED = 8


def _in(column, name: str, size: int | None):
    if size is None:
        return column.in_(bindparam(name, expanding=True))
    return column.in_([bindparam(f"{name}_{n}") for n in range(size)]) if size else false()


@functools.cache
def _mappings_read(variants: int | None, skus: int | None):
    return select(_pm.c.supplier_id, _pm.c.variant_id, _pm.c.sku, _pm.c.supplier_sku, _pm.c.cost, _pm.c.in_stock).where(
        _pm.c.shop_domain == bindparam("p_shop"), or_(_in(_pm.c.variant_id, "p_variants", variants), _in(_pm.c.sku, "p_skus", skus))).order_by(_pm.c.id)


# The mapped suppliers and the shop's suppliers named by a line's vendor in one read: the
# two loads an order made cost more CPU than the rows they read (issue 19 session 31). Rows of
# what routing reads of a supplier, not ORM objects: loading a Supplier (credentials, every
# column, the identity map) cost more than the query (session 32 part O).
@functools.cache
def _suppliers_read(ids: int | None, vendors: int | None):
    return (select(_sup.c.id, _sup.c.shop_domain, _sup.c.name, _sup.c.vendor, _sup.c.priority, _sup.c.fulfillment_model, _sup.c.active,
                   _sup.c.deleted_at, _sup.c.settings)
            .where(or_(_in(_sup.c.id, "p_ids", ids), and_(_sup.c.shop_domain == bindparam("p_shop"), _in(_sup.c.vendor, "p_vendors", vendors))))
            .order_by(_sup.c.id))


def _listed(statement_for, params: dict, **lists: list):
    """The statement for these lists' sizes (built once) and its parameters: one per value up to MAX_LISTED, else an expanding list."""
    sizes = {name: (len(values) if len(values) <= MAX_LISTED else None) for name, values in lists.items()}
    for name, values in lists.items():
        if sizes[name] is None:
            params[f"p_{name}"] = values
        else:
            params.update({f"p_{name}_{n}": value for n, value in enumerate(values)})
    return statement_for(**sizes), params


class CandidateSource:
    """The mappings and vendor suppliers of several lines, read in one query each (routing an order reads them once, not per line)."""

    def __init__(self, session: Session, order: Order, lines: list[OrderLine]):
        variants = sorted({line.variant_id for line in lines if line.variant_id})
        skus = sorted({line.sku for line in lines if line.sku})
        vendors = {line.vendor for line in lines if line.vendor and line.sku}
        rows = session.connection().execute(*_listed(_mappings_read, {"p_shop": order.shop_domain}, variants=variants, skus=skus)).all() if variants or skus else []
        # The suppliers as rows of what routing reads (Candidate hands them on), mapped and by vendor in one query.
        mapped_ids = {row.supplier_id for row in rows}
        # Flushed first: a supplier changed in this transaction is read as changed (the ORM load autoflushed).
        read = flushed_connection(session).execute(*_listed(_suppliers_read, {"p_shop": order.shop_domain}, ids=sorted(mapped_ids), vendors=sorted(vendors))).all() \
            if rows or vendors else []
        suppliers = {s.id: s for s in read if s.id in mapped_ids}
        self.mappings = [_Mapping(*row, supplier=suppliers[row.supplier_id]) for row in rows if row.supplier_id in suppliers]
        self.by_vendor = [s for s in read if s.shop_domain == order.shop_domain and s.vendor in vendors]  # by id, as read

    def for_line(self, order: Order, line: OrderLine) -> list[Candidate]:
        """candidates_for(line), from what was read."""
        mappings = [m for m in self.mappings if (line.variant_id and m.variant_id == line.variant_id) or (line.sku and m.sku == line.sku)]
        vendors = [s for s in self.by_vendor if s.vendor == line.vendor] if line.vendor and line.sku else []
        return _ranked(order, line, mappings, vendors)


def candidates_for(session: Session, order: Order, line: OrderLine) -> list[Candidate]:
    """Every supplier that could ship this line, best first."""
    return CandidateSource(session, order, [line]).for_line(order, line)


def _ranked(order: Order, line: OrderLine, mappings: list[_Mapping], by_vendor: list[Supplier]) -> list[Candidate]:
    country = (order.shipping_address or {}).get("country_code")
    found: dict[int, Candidate] = {}
    if mappings:
        for m in mappings:
            rank = 0 if line.variant_id and m.variant_id == line.variant_id else 1
            if _usable(m.supplier, country) and (m.supplier_id not in found or rank < found[m.supplier_id].rank):
                found[m.supplier_id] = Candidate(m.supplier, m.supplier_sku, m.cost, m.in_stock, rank)
    if line.vendor and line.sku:
        for supplier in by_vendor:
            if supplier.id not in found and _usable(supplier, country):
                found[supplier.id] = Candidate(supplier, line.sku, None, True, 2)
    return sorted(found.values(), key=lambda c: (not c.in_stock, c.rank, c.supplier.priority, _cost(c.cost)))


def idempotency_key(order: Order, supplier_id: int, exchange_key: str = "") -> str:
    """Deterministic per order x supplier (x exchange, for a replacement): the same on every retry, crash or replay."""
    raw = f"{order.shop_domain}:{order.shopify_id}:{supplier_id}" + (f":exchange:{exchange_key}" if exchange_key else "")
    return "do-" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def exchange_lines(session: Session, order: Order) -> tuple[dict[str, str], bool]:
    """({order line's Shopify id: the exchange's key (its return)} for lines an exchange added, whether an exchange is in flight).

    An exchange is in flight from the moment the customer asks for it until its outcome is
    recorded done: the merchant may process it in Shopify's admin at any time (no outcome row
    of ours, or one still pending), and its new lines are known only once we have read the
    processed return. Lines not routed meanwhile wait (the exchange routes them itself once
    recorded), so a replacement never joins a delivery the supplier shipped long ago.
    """
    from ..returns.models import Decision, ReturnCase
    from ..returns.outcome_models import BalanceState, OutcomeKind, OutcomeState, ReturnOutcome

    rows = session.execute(select(ReturnCase.return_gid, ReturnCase.decision, ReturnCase.status, ReturnOutcome.kind, ReturnOutcome.state, ReturnOutcome.exchange_line_gids,
                                  ReturnOutcome.balance_state)
                           .outerjoin(ReturnOutcome, ReturnOutcome.return_case_id == ReturnCase.id)
                           .where(ReturnCase.order_id == order.id, or_(ReturnCase.outcome == OutcomeKind.EXCHANGE, ReturnOutcome.kind == OutcomeKind.EXCHANGE))).all()
    keys: dict[str, str] = {}
    in_flight = False
    for return_gid, decision, status, kind, state, gids, balance_state in rows:
        if kind == OutcomeKind.EXCHANGE and state == OutcomeState.DONE and balance_state == BalanceState.AWAITING_PAYMENT:
            in_flight = True  # the customer owes the replacement's extra price: it waits for payment (returns/exchange_balance.py)
        elif kind == OutcomeKind.EXCHANGE and state == OutcomeState.DONE:
            keys.update({gid.rsplit("/", 1)[-1]: return_gid for gid in gids or []})
        elif kind in (None, OutcomeKind.EXCHANGE) and decision != Decision.DECLINE and (status or "") not in ("canceled", "declined"):
            in_flight = True  # asked for, not recorded done yet (a failed row waits for the merchant)
    return keys, in_flight


@dataclass
class RoutingResult:
    """What routing did to an order."""

    supplier_orders: list[SupplierOrder]
    unroutable: list[OrderLine]
    waiting: list[OrderLine] = field(default_factory=list)  # ours, but not to forward yet (request not accepted, on hold)
    not_ours: list[OrderLine] = field(default_factory=list)  # at a location the app does not manage


# States routing may set; later ones (forwarded, shipped, cancelled) are the forwarding's and tracking's.
ROUTING_STATES = (OrderState.RECEIVED.value, OrderState.HELD.value, OrderState.ROUTED.value, OrderState.NOT_OURS.value)


def may_route(order: Order) -> bool:
    """Paid and not cancelled: routing may run (it is idempotent; it only adds lines not routed yet)."""
    return (
        order.cancelled_at is None
        and (order.financial_status or "") in FORWARDABLE_FINANCIAL_STATUSES
        and order.state not in (OrderState.CANCELLED.value, OrderState.SHIPPED.value, OrderState.FULFILLED_BEFORE_INSTALL.value)
    )


def _allowed(candidate: Candidate, fo: FulfillmentOrderRecord, manager) -> bool:
    if fo.managed_by == ManagedBy.SERVICE:
        return candidate.supplier.id == fo.supplier_id
    if candidate.supplier.fulfillment_model != FulfillmentModel.MERCHANT.value:
        return False  # a service supplier works only its own location's fulfillment orders
    return manager.allowed is None or candidate.supplier.id in manager.allowed


def _forward_now(fo: FulfillmentOrderRecord) -> bool:
    """Shopify says go: a service's request accepted, or a merchant location's order open; nobody else's hold."""
    if foreign_holds(fo) or fo.app_hold_id or fo.status not in WORKABLE:
        return False
    if fo.managed_by == ManagedBy.SERVICE:
        return fo.request_status in ACCEPTED_REQUESTS
    return True


def route_order(session: Session, order: Order, fresh: bool = False, stored: HoldChanges | None = None) -> RoutingResult:
    """Route the lines of the order's fulfillment orders that are ours and due; hold (in Shopify too) what cannot go.

    Works from our copy of the fulfillment orders (see fulfillment.sync): lines at locations
    the app does not manage are left alone ("not ours"); a fulfillment order with a line no
    allowed supplier takes, or an order whose address is redacted or incomplete, gets an app
    hold wish (the hold pump places it in Shopify) and none of its lines go out.
    `fresh`: the order was inserted in this transaction, so it has no supplier orders and no returns to read.
    `stored`: what store_fulfillment_orders just stored in this transaction (every record of the order, classified).
    """
    if fresh:
        routed_line_ids: set[int] = set()
        by_supplier: dict[tuple[int, str], SupplierOrder] = {}
        exchanged, exchange_in_flight = {}, False
    else:
        routed_line_ids = set(session.scalars(select(SupplierOrderLine.order_line_id).join(OrderLine).where(OrderLine.order_id == order.id)))
        by_supplier = {(so.supplier_id, so.exchange_key): so for so in session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id))}
        exchanged, exchange_in_flight = exchange_lines(session, order)
    result = RoutingResult([], [])
    new_lines: list[tuple[tuple[int, str], dict]] = []  # (delivery key, supplier order line) of a fresh order
    routed_events: list[dict] = []
    lines_by_id = {line.shopify_line_id: line for line in order.lines}
    shippable = [line for line in order.lines if line.shippable]
    order_problem = address_problem(order.shipping_address)
    held_by_us: list[tuple[FulfillmentOrderRecord, Problem]] = []
    routed_now = 0
    records = stored.records if stored is not None else fulfillment_orders_of(session, order)
    live = [fo for fo in records if fo.status not in FINISHED]
    sources = CandidateSource(session, order, [line for line in shippable if line.id not in routed_line_ids])
    managers = {}
    known = stored.managers if stored is not None else {}
    for fo in live:  # all classified first: a line's units for a supplier are summed over every fulfillment order
        managers[fo.id] = known.get(fo.id) or manager_of(session, order.shop_domain, fo.location_gid, fo.location_primary)
        if (fo.managed_by, fo.supplier_id) != (managers[fo.id].managed_by, managers[fo.id].supplier_id):  # set only when it changes: nothing to flush
            fo.managed_by, fo.supplier_id = managers[fo.id].managed_by, managers[fo.id].supplier_id
    for fo in live:
        manager = managers[fo.id]
        fo_lines = [lines_by_id[item["line"]] for item in fo.lines if item["remaining"] > 0 and item["line"] in lines_by_id]
        fo_lines = [line for line in dict.fromkeys(fo_lines) if line.shippable]
        lines = [line for line in fo_lines if line.id not in routed_line_ids]
        if exchange_in_flight:
            result.waiting += [line for line in lines if line.shopify_line_id not in exchanged]
            lines = [line for line in lines if line.shopify_line_id in exchanged]
        if fo.managed_by == ManagedBy.NOT_OURS:
            result.not_ours += lines
            fo.app_hold_reason = fo.app_hold_note = None
            # Moved (or unmapped) away after routing: what has not gone out stays with us, postponed.
            placed_at = postpone_deliveries(session, order, fo, "its fulfillment order is at a location the app does not manage")
            if placed_at:
                raise_alert(session, order.shop_domain, "not_ours_after_placement", f"not_ours_after_placement:{order.shop_domain}:{fo.shopify_id}",
                            f"Order {order.name or order.shopify_id}: Shopify now fulfils it from a location the app does not manage, but "
                            f"{', '.join(placed_at)} already has it: cancel it there or move it back.", severity="critical", subject=order.name)
            continue
        if foreign_holds(fo) or (fo.managed_by == ManagedBy.SERVICE and fo.request_status not in ACCEPTED_REQUESTS):
            result.waiting += lines  # Shopify's or the merchant's word first; nothing of ours to judge yet
            continue
        plan, unroutable = [], []
        for line in lines:
            options = [c for c in sources.for_line(order, line) if _allowed(c, fo, manager)]
            (plan.append((line, options)) if options else unroutable.append(line))
        # The address is judged for every line still to ship, routed ones too: an address that became
        # redacted or incomplete before the supplier order went out stops it as well.
        problem = order_problem if fo_lines and order_problem else (unroutable_problem([l.sku or "(none)" for l in unroutable]) if unroutable else None)
        if problem is not None:
            if fo.managed_by == ManagedBy.SERVICE:
                # Shopify denies an app holds on its own service's fulfillment orders: the alert and
                # the postponed supplier order stand in for the hold.
                fo.app_hold_reason = fo.app_hold_note = None
            else:
                fo.app_hold_reason, fo.app_hold_note = problem.reason, problem.note
            held_by_us.append((fo, problem))
            result.unroutable += unroutable
            result.waiting += [line for line, _ in plan]
            postpone_deliveries(session, order, fo, problem.note)
            continue
        if fo.app_hold_reason is not None or fo.app_hold_note is not None:  # nothing wrong (any more): the hold pump releases ours
            fo.app_hold_reason = fo.app_hold_note = None
        if not _forward_now(fo):
            result.waiting += [line for line, _ in plan]
            continue
        if not fresh:  # a new order has no deliveries yet
            resume_deliveries(session, order, fo)  # what a problem of ours postponed may go now
        for line, options in plan:
            best = options[0]
            exchange_key = exchanged.get(line.shopify_line_id, "")  # an exchange's replacement ships as its own delivery
            key = (best.supplier.id, exchange_key)
            units = _units_for(line, best, live, managers)
            routed_line_ids.add(line.id)
            routed_now += 1
            detail = dict(line=line.shopify_line_id, supplier=best.supplier.name, backups=[c.supplier.name for c in options[1:]], fulfillment_order=fo.shopify_id)
            if fresh:  # a new order's deliveries, their lines and events: written with Core statements after the loop
                by_supplier.setdefault(key, None)
                new_lines.append((key, {"order_line_id": line.id, "supplier_sku": best.supplier_sku, "quantity": units,
                                        "other_quantity": max(line.quantity - units, 0)}))
                routed_events.append(detail)
                continue
            delivery = by_supplier.get(key)
            if delivery is None:
                delivery = SupplierOrder(
                    shop_domain=order.shop_domain,
                    order_id=order.id,
                    supplier_id=best.supplier.id,
                    exchange_key=exchange_key,
                    idempotency_key=idempotency_key(order, best.supplier.id, exchange_key),
                )
                session.add(delivery)
                by_supplier[key] = delivery
            routed_line = SupplierOrderLine(order_line_id=line.id, supplier_sku=best.supplier_sku, quantity=units, other_quantity=max(line.quantity - units, 0))
            if delivery.id is None:  # new in this call: inserted with its lines by the flush below (one flush, not one per delivery)
                delivery.lines.append(routed_line)
            else:
                routed_line.supplier_order_id = delivery.id
                session.add(routed_line)
            record_event(session, order, "routed", "app", **detail)
            # A fulfillment order released or accepted after the supplier order went out adds lines to a
            # sent order (one per order x supplier): the order-changes sweep passes them on.
    if new_lines:
        _insert_routed(session, order, by_supplier, new_lines, routed_events)
    _alert_problems(session, order, result, held_by_us, shippable, fresh=fresh)
    if result.not_ours:
        session.flush()  # what was routed is in the database before the timeline is read
    for line in result.not_ours:
        if not _noted_not_ours(order, line):
            record_event(session, order, "not_ours", "app", line=line.shopify_line_id, sku=line.sku)
    result.supplier_orders = list(by_supplier.values())
    state = _state_after(order, result, shippable, routed_line_ids, routed_now, held=bool(held_by_us))
    if fresh and state is not None and state != order.state:
        _write_state(session, order, state)
    elif state is not None:
        order.state = state
    session.flush()  # one flush: supplier orders with their lines, events and the order's state (a new order's: nothing left, usually)
    return result


_deliveries = SupplierOrder.__table__
_orders = Order.__table__
# A new order's routing as Core statements built once (issue 19 part C: the unit of work's flush of
# its supplier orders, their lines and the "routed" events was most of routing's CPU).
_INSERT_DELIVERY = insert(_deliveries).returning(_deliveries.c.id)
_INSERT_ROUTED_LINES = insert(SupplierOrderLine.__table__)


def _insert_routed(session: Session, order: Order, by_supplier: dict, new_lines: list, routed_events: list[dict]) -> None:
    """Write a fresh order's supplier orders (made persistent in `by_supplier`), their lines and the "routed" events."""
    if any(isinstance(pending, OrderEvent) for pending in session.new):
        session.flush()  # events recorded before (e.g. Shopify's holds) keep their place on the timeline
    connection = session.connection()
    now = utcnow()
    for key in by_supplier:
        supplier_id, exchange_key = key
        values = dict(shop_domain=order.shop_domain, order_id=order.id, supplier_id=supplier_id, exchange_key=exchange_key,
                      idempotency_key=idempotency_key(order, supplier_id, exchange_key), next_attempt_at=now, created_at=now)
        delivery_id = connection.execute(_INSERT_DELIVERY, values).scalar_one()
        values["id"] = delivery_id
        by_supplier[key] = loaded(session, SupplierOrder, with_defaults(_deliveries, values))
    connection.execute(_INSERT_ROUTED_LINES, [dict(line, supplier_order_id=by_supplier[key].id) for key, line in new_lines])
    insert_events(session, order.id, "routed", "app", routed_events)


def _units_for(line: OrderLine, supplier: Candidate, live: list[FulfillmentOrderRecord], managers: dict) -> int:
    """Units of the line still to fulfil at our locations this supplier may ship from."""
    # Not the whole line: another location's units, or units shipped before the app saw the order, are not the supplier's.
    return sum(item["remaining"] for fo in live for item in fo.lines or []
               if item["line"] == line.shopify_line_id and fo.managed_by != ManagedBy.NOT_OURS and _allowed(supplier, fo, managers[fo.id]))


def _noted_not_ours(order: Order, line: OrderLine) -> bool:
    return any(e.kind == "not_ours" and (e.detail or {}).get("line") == line.shopify_line_id for e in order.events)


def _alert_problems(session: Session, order: Order, result: RoutingResult, held_by_us, shippable: list[OrderLine], fresh: bool = False) -> None:
    from ..cases.out_of_stock import open_out_of_stock_case  # issue 17 part P: no supplier can take the line: the customer is told

    for line in result.unroutable:
        raise_alert(
            session,
            order.shop_domain,
            "unroutable_line",
            f"unroutable:{order.shop_domain}:{order.shopify_id}:{line.shopify_line_id}",
            f"Order {order.name or order.shopify_id}: no supplier for SKU {line.sku or '(none)'}; the line is held (in Shopify too).",
            severity="critical",
            subject=order.name,
        )
        record_event(session, order, "problem", "app", problem="unroutable", line=line.shopify_line_id, sku=line.sku)
        open_out_of_stock_case(session, order, f"unroutable:{order.shop_domain}:{order.shopify_id}:{line.shopify_line_id}", line.sku)
    solved = [f"unroutable:{order.shop_domain}:{order.shopify_id}:{line.shopify_line_id}" for line in shippable if line not in result.unroutable]
    order_problems = {problem.alert_kind: problem for _, problem in held_by_us if problem.alert_kind != "unroutable_line"}
    for kind in ("customer_data_redacted", "address_incomplete"):
        key = f"{kind}:{order.shop_domain}:{order.shopify_id}"
        if kind in order_problems:
            raise_alert(session, order.shop_domain, kind, key, f"Order {order.name or order.shopify_id}: {order_problems[kind].note}", severity="critical", subject=order.name)
            record_event(session, order, "problem", "app", problem=kind)
        else:
            solved.append(key)
    if not fresh:  # an order new to us has no alerts to resolve (their keys name it; orders are never deleted)
        resolve_alerts(session, solved)  # one statement for every problem that went away


def _state_after(order: Order, result: RoutingResult, shippable: list[OrderLine], routed_line_ids: set[int], routed_now: int, *, held: bool) -> str | None:
    """The order's state after routing, or None when routing leaves it alone."""
    if order.state not in ROUTING_STATES and not routed_now:
        return None
    if not shippable:
        return OrderState.NOTHING_TO_SHIP.value
    if held:
        return OrderState.HELD.value
    if not routed_line_ids and result.not_ours and not result.waiting:
        return OrderState.NOT_OURS.value
    if routed_line_ids:
        return OrderState.ROUTED.value
    return OrderState.RECEIVED.value  # waiting for Shopify (request, hold) or for its fulfillment orders


_SET_STATE = update(_orders).where(_orders.c.id == bindparam("p_id")).values(state=bindparam("p_state"), updated_at=bindparam("p_now"))


def _write_state(session: Session, order: Order, state: str) -> None:
    """A new order's state by one Core UPDATE, kept as committed on the instance (its only change: no unit-of-work flush)."""
    now = utcnow()
    session.connection().execute(_SET_STATE, {"p_id": order.id, "p_state": state, "p_now": now})
    set_committed_value(order, "state", state)
    set_committed_value(order, "updated_at", now)


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
        so.supplier_id: so for so in session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id, SupplierOrder.exchange_key == delivery.exchange_key))
        if so.supplier_id not in failed_here
    }
    used: list[str] = []
    open_fos = [fo for fo in fulfillment_orders_of(session, order) if fo.status not in FINISHED]
    for sol in list(delivery.lines):
        line = session.get(OrderLine, sol.order_line_id)
        backups = [c for c in candidates_for(session, order, line) if c.supplier.id not in failed_here]
        fo = next((fo for fo in open_fos if any(item["line"] == line.shopify_line_id and item["remaining"] > 0 for item in fo.lines or [])), None)
        if fo is not None and backups:
            # The same rule as routing: only a supplier allowed at the line's location may take it.
            manager = manager_of(session, order.shop_domain, fo.location_gid, fo.location_primary)
            allowed = [c for c in backups if manager.managed_by != ManagedBy.NOT_OURS and _allowed(c, fo, manager)]
            if not allowed:
                raise_alert(session, order.shop_domain, "backup_not_allowed", f"backup_not_allowed:{delivery.id}:{line.shopify_line_id}",
                            f"Order {order.name or order.shopify_id}: {', '.join(c.supplier.name for c in backups)} could take SKU {line.sku or '(none)'} instead, "
                            f"but may not fulfil from the location Shopify assigned it to; allow it there to use it as a backup.",
                            severity="warning", subject=order.name)
            backups = allowed
        if not backups:
            continue
        best = backups[0]
        target = targets.get(best.supplier.id)
        if target is None:
            target = SupplierOrder(shop_domain=order.shop_domain, order_id=order.id, supplier_id=best.supplier.id, exchange_key=delivery.exchange_key,
                                   idempotency_key=idempotency_key(order, best.supplier.id, delivery.exchange_key))
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
