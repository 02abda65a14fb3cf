"""Upserting orders from webhooks and API reads: newest update wins, out-of-order safe."""
from __future__ import annotations

import dataclasses
import enum
import hashlib
import logging
from typing import NamedTuple

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..db import loaded, with_defaults
from ..kpis.stale_days import mark_order_days
from ..models import utcnow
from .models import Order, OrderLine, OrderState
from .payloads import OrderSnapshot
from .timeline import insert_event, record_event

log = logging.getLogger(__name__)

FORWARDABLE_FINANCIAL_STATUSES = frozenset({"paid", "partially_paid", "partially_refunded"})
ORDER_AMOUNT_FIELDS = (
    "presentment_currency", "subtotal_price", "total_discounts", "total_shipping", "total_tax", "total_tip", "taxes_included",
    "total_price_presentment", "subtotal_price_presentment", "total_discounts_presentment", "total_shipping_presentment",
    "total_tax_presentment", "total_tip_presentment",
)


class Quiet(enum.Enum):
    """How a snapshot was settled without the full sync (see apply_unless_routing_changed)."""

    STALE = "stale"  # older than what we hold: ignored
    SAME = "same"  # what we hold already (only its version may have moved on)
    DETAILS = "details"  # only fields routing and changes never read differ: stored with one UPDATE


def _digest(value) -> str:
    # repr of the parsed snapshot: plain values, tuples, dicts in payload order. Two equal
    # snapshots give the same text; a different key order only costs a full sync, never a skip.
    return hashlib.blake2b(repr(value).encode(), digest_size=16).hexdigest()


def snapshot_digests(snap: OrderSnapshot) -> tuple[str, str]:
    """(routing digest, details digest): what routing and passing changes on read, and everything else but the version."""
    routing = (snap.lines, snap.shipping_address, snap.financial_status, snap.cancelled_at)
    details = dataclasses.replace(snap, lines=(), shipping_address=None, financial_status=None, cancelled_at=None, updated_at=None)
    return _digest(routing), _digest(details)


_orders = Order.__table__
# Built once (statement building and its cache key cost more than running it on this path).
KNOWN_COLUMNS = (_orders.c.id, _orders.c.shopify_updated_at, _orders.c.routing_digest, _orders.c.details_digest, _orders.c.cancelled_at)
_KNOWN = select(*KNOWN_COLUMNS).where(
    _orders.c.shop_domain == bindparam("p_shop"), _orders.c.shopify_id == bindparam("p_shopify_id"))
_NEWER_VERSION = update(_orders).where(_orders.c.id == bindparam("p_id")).values(shopify_updated_at=bindparam("p_updated_at"))
# The order's columns a snapshot sets that routing and passing changes never read: what _details
# makes of a snapshot, written by _apply (ORM) and by the one UPDATE of a details-only change alike.
DETAIL_FIELDS = ("name", "email", "customer_id", "customer_email", "currency", "total_price", *ORDER_AMOUNT_FIELDS, "discount_applications",
                 "fulfillment_status", "shopify_created_at", "shopify_updated_at")
_NEW_DETAILS = update(_orders).where(_orders.c.id == bindparam("p_id")).values(
    **{name: bindparam(f"p_{name}") for name in DETAIL_FIELDS}, details_digest=bindparam("p_details_digest"), customer_locale=func.coalesce(bindparam("p_customer_locale", type_=_orders.c.customer_locale.type), _orders.c.customer_locale))


def apply_unless_routing_changed(session: Session, shop_domain: str, snap: OrderSnapshot) -> Quiet | None:
    """Settle a snapshot whose lines, address, financial and cancel state are what we last applied, in one read and at most one UPDATE.

    None: the full sync is needed (a new order, no digests yet, a cancelled one, or something routing reads changed).
    Otherwise the stored order is exactly what upsert_order would have made of it, and
    routing, changes and cancellation have nothing new to act on: they ran on these very
    inputs when the earlier snapshot was applied.
    """
    if not _may_be_quiet(snap):
        return None  # held without lines, or cancelled: the full path (rare, and its side effects must stay)
    connection = session.connection()
    known = connection.execute(_KNOWN, {"p_shop": shop_domain, "p_shopify_id": snap.shopify_id}).first()
    outcome, write = _quiet_plan(known, snap)
    if write is not None:
        connection.execute(*write)
    return outcome


def settled_as_is(known, snap: OrderSnapshot) -> Quiet | None:
    """STALE or SAME when apply_unless_routing_changed would write nothing for `snap` against the stored `known` row (the _KNOWN columns); else None."""
    if not _may_be_quiet(snap):
        return None
    outcome, write = _quiet_plan(known, snap)
    return outcome if write is None else None


def _may_be_quiet(snap: OrderSnapshot) -> bool:
    return bool(snap.lines) and snap.cancelled_at is None and snap.amounts is not None


def _quiet_plan(known, snap: OrderSnapshot) -> tuple[Quiet | None, tuple | None]:
    """(how the snapshot is settled against the stored row, or None for the full sync; the one UPDATE it takes, or None)."""
    if known is None or known.routing_digest is None or known.cancelled_at is not None:
        return None, None
    if known.shopify_updated_at and snap.updated_at and snap.updated_at < known.shopify_updated_at:
        log.info("ignoring stale update of order %s (%s < %s)", snap.shopify_id, snap.updated_at, known.shopify_updated_at)
        return Quiet.STALE, None
    routing, details = snapshot_digests(snap)
    if routing != known.routing_digest:
        return None, None
    version = snap.updated_at if snap.updated_at is not None and (known.shopify_updated_at is None or snap.updated_at > known.shopify_updated_at) \
        else known.shopify_updated_at
    if details == known.details_digest:
        # The stale-update ignore compares against the newest version seen: a newer one is written.
        return Quiet.SAME, (None if version == known.shopify_updated_at else (_NEWER_VERSION, {"p_id": known.id, "p_updated_at": version}))
    details_now = _details(snap, version)
    values = {f"p_{name}": details_now[name] for name in DETAIL_FIELDS}  # every one of them (the snapshot has its amounts here)
    values.update(p_id=known.id, p_details_digest=details, p_customer_locale=snap.customer_locale)
    return Quiet.DETAILS, (_NEW_DETAILS, values)


_FIND = select(Order).where(Order.shop_domain == bindparam("p_shop"), Order.shopify_id == bindparam("p_shopify_id"))


def _find(session: Session, shop_domain: str, shopify_id: str) -> Order | None:
    return session.scalar(_FIND, {"p_shop": shop_domain, "p_shopify_id": shopify_id})


class Upserted(NamedTuple):
    """What upsert did: the order, whether the snapshot was applied (not stale), whether the order is new in this transaction."""

    order: Order
    applied: bool
    inserted: bool


def upsert_order(session: Session, shop_domain: str, snap: OrderSnapshot) -> tuple[Order, bool]:
    """Create or update the order from a snapshot; returns (order, applied). Stale snapshots are ignored."""
    order, applied, _ = upsert(session, shop_domain, snap)
    return order, applied


def upsert(session: Session, shop_domain: str, snap: OrderSnapshot, absent: bool = False) -> Upserted:
    """upsert_order, also saying whether the order was inserted (then nothing of it existed before: no lines, deliveries, returns).

    `absent`: the caller just read that the order is not stored; it is inserted without looking
    again (if another worker stored it since, the insert does nothing and theirs is updated).
    """
    order = None if absent else _find(session, shop_domain, snap.shopify_id)
    if order is None:
        order = _insert(session, shop_domain, snap)
        if order is not None:
            return Upserted(order, True, True)
        # Another worker created it between our read and insert: update theirs (unless theirs is newer).
        order = _find(session, shop_domain, snap.shopify_id)
    if _stale(order, snap):
        return Upserted(order, False, False)
    return Upserted(_update(session, order, snap), True, False)


_lines = OrderLine.__table__
# A new order, its lines and its "received" event as Core statements built once (issue 19 part C:
# the ORM unit of work inserting them cost 2 ms of CPU an order). An order another worker stored
# meanwhile makes the INSERT do nothing (no savepoint, no IntegrityError): theirs is updated instead.
_INSERT_ORDER = {name: dialect.insert(_orders).on_conflict_do_nothing(index_elements=[_orders.c.shop_domain, _orders.c.shopify_id]).returning(_orders.c.id)
                 for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}
# Keyed back by shopify_line_id (unique in an order), not by parameter order: SQLite runs a
# RETURNING that must keep the parameters' order one row at a time, this one in a single statement.
_INSERT_LINES = insert(_lines).returning(_lines.c.id, _lines.c.shopify_line_id)


def _insert(session: Session, shop_domain: str, snap: OrderSnapshot) -> Order | None:
    """Insert the order with its lines and "received" event; the order (its lines loaded, nothing read back), or None if it is stored already."""
    connection = session.connection()
    now = utcnow()
    values = _details(snap, snap.updated_at)
    values.update(shop_domain=shop_domain, shopify_id=snap.shopify_id, shipping_address=snap.shipping_address, financial_status=snap.financial_status,
                  cancelled_at=snap.cancelled_at, customer_locale=snap.customer_locale, state=_state_of_new(snap), created_at=now, updated_at=now)
    values["routing_digest"], values["details_digest"] = snapshot_digests(snap)
    order_id = connection.execute(_INSERT_ORDER[connection.dialect.name], values).scalar()
    if order_id is None:
        return None
    rows = [dict(_line_values(item), order_id=order_id, shopify_line_id=item.shopify_line_id) for item in snap.lines]
    line_ids = dict((shopify_line_id, line_id) for line_id, shopify_line_id in connection.execute(_INSERT_LINES, rows)) if rows else {}
    insert_event(session, order_id, "received", "store", name=snap.name)
    # The ORM objects of what was just written, made persistent without reading them back:
    # routing works on them (the order's lines in the snapshot's order, as a load would give).
    values["id"] = order_id
    order = loaded(session, Order, with_defaults(_orders, values))
    lines = [loaded(session, OrderLine, dict(row, id=line_ids[row["shopify_line_id"]])) for row in rows]
    set_committed_value(order, "lines", lines)
    return order


def _state_of_new(snap: OrderSnapshot) -> str:
    return OrderState.CANCELLED.value if snap.cancelled_at else OrderState.RECEIVED.value


def _stale(order: Order, snap: OrderSnapshot) -> bool:
    if order.shopify_updated_at and snap.updated_at and snap.updated_at < order.shopify_updated_at:
        log.info("ignoring stale update of order %s (%s < %s)", order.shopify_id, snap.updated_at, order.shopify_updated_at)
        return True
    return False


def _update(session: Session, order: Order, snap: OrderSnapshot) -> Order:
    was_cancelled = order.cancelled_at is not None
    _apply(order, snap)
    _apply_lines(session, order, snap)
    if snap.cancelled_at and not was_cancelled:
        order.state = OrderState.CANCELLED.value
        record_event(session, order, "cancelled", "store")
    return order


def _details(snap: OrderSnapshot, version) -> dict:
    """The DETAIL_FIELDS of a snapshot, `version` as shopify_updated_at (the amounts only when the snapshot has them)."""
    values = dict(name=snap.name, email=snap.email, customer_id=snap.customer_id, customer_email=snap.customer_email, currency=snap.currency,
                  total_price=snap.total_price, fulfillment_status=snap.fulfillment_status, shopify_created_at=snap.created_at, shopify_updated_at=version)
    amounts = snap.amounts
    if amounts is not None:
        values.update({name: getattr(amounts, name) for name in ORDER_AMOUNT_FIELDS}, discount_applications=list(amounts.discount_applications))
    return values


def _apply(order: Order, snap: OrderSnapshot) -> None:
    for name, value in _details(snap, snap.updated_at).items():
        setattr(order, name, value)
    order.shipping_address = snap.shipping_address
    order.financial_status = snap.financial_status
    order.cancelled_at = snap.cancelled_at
    order.customer_locale = snap.customer_locale or order.customer_locale
    order.routing_digest, order.details_digest = snapshot_digests(snap)
    if snap.cancelled_at:
        order.state = OrderState.CANCELLED.value


# What the satisfaction KPIs read of an order's lines (a day's figures per product): changed, the order's days are marked stale.
_PRODUCT_FIELDS = ("product_id", "sku", "title", "is_tip")


def _apply_lines(session: Session, order: Order, snap: OrderSnapshot) -> None:
    existing = {line.shopify_line_id: line for line in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))}
    products_changed = False
    for item in snap.lines:
        line = existing.get(item.shopify_line_id)
        if line is None:
            line = OrderLine(order_id=order.id, shopify_line_id=item.shopify_line_id)
            session.add(line)
            products_changed = True
        elif any(getattr(line, name) != getattr(item, name) for name in _PRODUCT_FIELDS):
            products_changed = True
        _line_fields(line, item)
    if products_changed:  # an edit after the customer's answer changes the per-product figures of days that may have closed
        mark_order_days(session, order.shop_domain, order.id)
    session.flush()


LINE_FIELDS = ("sku", "variant_id", "product_id", "vendor", "title", "price", "quantity", "requires_shipping", "gift_card", "original_quantity", "is_tip",
               "discount", "tax", "price_presentment", "discount_presentment", "tax_presentment")


def _line_values(item) -> dict:
    """The order line's columns from a snapshot line (same names on both)."""
    return {name: getattr(item, name) for name in LINE_FIELDS}


def _line_fields(line: OrderLine, item) -> OrderLine:
    for name, value in _line_values(item).items():
        setattr(line, name, value)
    return line


def ready_to_forward(order: Order) -> bool:
    """Paid, not cancelled, and not yet routed."""
    return (
        order.cancelled_at is None
        and (order.financial_status or "") in FORWARDABLE_FINANCIAL_STATUSES
        and order.state in (OrderState.RECEIVED.value, OrderState.HELD.value)
    )
