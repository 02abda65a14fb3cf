"""Reading an order's fulfillment orders from Shopify and keeping our copy of them.

Reads happen outside any write transaction (a prefetch, or a job before its short
transaction); `store_fulfillment_orders` then writes what was read and says which
fulfillment orders someone else (the merchant, Shopify's fraud check, another app) put on
hold or released, so forwarding can stop or resume.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ..models import utcnow
from ..orders.models import Order
from ..db import persistent, with_defaults
from ..privacy import gid_number
from .locations import Manager, manager_of
from .models import FulfillmentOrderRecord

FINISHED = ("CLOSED", "CANCELLED")
WORKABLE = ("OPEN", "IN_PROGRESS")
ACCEPTED_REQUESTS = ("ACCEPTED", "CANCELLATION_REJECTED")


def read_every_fulfillment_order(gateway, order_gid: str) -> dict:
    """FulfillmentOrdersForOrder's answer with every fulfillment order and every line of each (all pages). Network."""
    data = gateway.query("FulfillmentOrdersForOrder", {"id": order_gid})
    order = data.get("order")
    if not order:
        return data
    connection = order.get("fulfillmentOrders") or {}
    nodes = list(connection.get("nodes") or [])
    page = connection.get("pageInfo") or {}
    while page.get("hasNextPage"):  # split, moved or merged orders: the first page can be all closed ones
        more = (gateway.query("FulfillmentOrdersForOrder", {"id": order_gid, "after": page.get("endCursor")}).get("order") or {}).get("fulfillmentOrders") or {}
        nodes.extend(more.get("nodes") or [])
        page = more.get("pageInfo") or {}
    return dict(data, order=dict(order, fulfillmentOrders={"nodes": [with_every_line(gateway, node) for node in nodes], "pageInfo": {"hasNextPage": False}}))


def with_every_line(gateway, node: dict) -> dict:
    """A fulfillment order node with all its line items: the pages after the first read with FulfillmentOrderLineItems. Network."""
    connection = node.get("lineItems") or {}
    lines = list(connection.get("nodes") or [])
    page = connection.get("pageInfo") or {}
    while page.get("hasNextPage"):
        more = (gateway.query("FulfillmentOrderLineItems", {"id": node["id"], "after": page.get("endCursor")}).get("fulfillmentOrder") or {}).get("lineItems") or {}
        lines.extend(more.get("nodes") or [])
        page = more.get("pageInfo") or {}
    return dict(node, lineItems={"nodes": lines, "pageInfo": {"hasNextPage": False}})


def read_fulfillment_orders(gateway, order_gid: str) -> list[dict] | None:
    """The order's fulfillment orders as plain dicts (None when Shopify does not know the order). Network: call outside transactions."""
    data = read_every_fulfillment_order(gateway, order_gid)
    order = data.get("order")
    if order is None:
        return None
    primary = (data.get("primaryLocation") or {}).get("id")
    found = []
    for node in (order.get("fulfillmentOrders") or {}).get("nodes", []):
        location = (node.get("assignedLocation") or {}).get("location") or {}
        found.append({
            "gid": node["id"],
            "status": node["status"],
            "request_status": node.get("requestStatus"),
            "updated_at": node.get("updatedAt"),
            "location_gid": location.get("id"),
            "location_primary": location.get("id") is not None and location.get("id") == primary,
            "holds": [{"id": h["id"], "handle": h.get("handle"), "reason": h.get("reason"), "ours": bool(h.get("heldByRequestingApp"))}
                      for h in node.get("fulfillmentHolds") or []],
            "lines": [{"id": item["id"], "line": gid_number(item["lineItem"]["id"]), "remaining": item["remainingQuantity"], "total": item["totalQuantity"]}
                      for item in (node.get("lineItems") or {}).get("nodes", [])],
        })
    return found


def fulfillment_orders_if_forwardable(gateway, snapshot) -> list[dict] | None:
    """For a paid, live order snapshot: its fulfillment orders (what routing needs); else None (no call)."""
    from ..orders.sync import FORWARDABLE_FINANCIAL_STATUSES

    if snapshot.cancelled_at or (snapshot.financial_status or "") not in FORWARDABLE_FINANCIAL_STATUSES:
        return None
    return read_fulfillment_orders(gateway, f"gid://shopify/Order/{snapshot.shopify_id}")


@dataclass
class HoldChanges:
    """Fulfillment orders whose holds by others appeared or went away in this sync."""

    placed: list[FulfillmentOrderRecord] = field(default_factory=list)
    released: list[FulfillmentOrderRecord] = field(default_factory=list)
    # For routing in the same transaction (issue 20 part H): every record of the order, oldest
    # first (what fulfillment_orders_of reads), and the location manager each was classified by.
    records: list[FulfillmentOrderRecord] = field(default_factory=list)
    managers: dict[int, Manager] = field(default_factory=dict)


def foreign_holds(record: FulfillmentOrderRecord) -> list[dict]:
    """Holds that are not the app's own (the merchant's, Shopify's, other apps')."""
    return [h for h in record.holds or [] if not h.get("ours")]


def store_fulfillment_orders(session: Session, order: Order, fulfillment_orders: list[dict], fresh: bool = False) -> HoldChanges:
    """Upsert what Shopify said about the order's fulfillment orders; classify each by location.

    `fresh`: the order was inserted in this transaction, so it has no records yet: nothing is
    read, and the new records are written by a Core INSERT (see _insert_new).
    """
    changes = HoldChanges()
    existing = {} if fresh else {r.shopify_id: r for r in session.scalars(select(FulfillmentOrderRecord).where(FulfillmentOrderRecord.order_id == order.id))}
    classified = []
    new: list[FulfillmentOrderRecord] = []
    for fo in fulfillment_orders:
        number = gid_number(fo["gid"])
        record = existing.get(number)
        if record is not None and record.shopify_updated_at and fo.get("updated_at") and fo["updated_at"] < record.shopify_updated_at:
            continue  # an older read than what we hold
        manager = manager_of(session, order.shop_domain, fo["location_gid"], fo["location_primary"])
        if record is None:
            # No hold wish yet, said explicitly: routing then clears it without an UPDATE (it compares with a known value).
            record = FulfillmentOrderRecord(shop_domain=order.shop_domain, order_id=order.id, shopify_id=number, status=fo["status"], holds=[], lines=[],
                                            app_hold_reason=None, app_hold_note=None)
            if fresh:
                new.append(record)  # inserted below, once every field is set
            else:
                session.add(record)
        was_held = bool(foreign_holds(record))
        record.location_gid, record.location_primary = fo["location_gid"], fo["location_primary"]
        record.status, record.request_status, record.shopify_updated_at = fo["status"], fo["request_status"], fo.get("updated_at")
        record.managed_by, record.supplier_id = manager.managed_by, manager.supplier_id
        existing[number] = record
        classified.append((record, manager))
        record.lines, record.holds = fo["lines"], fo["holds"]
        ours = [h["id"] for h in fo["holds"] if h["ours"]]
        record.app_hold_id = ours[0] if ours else None  # Shopify's word on our own hold (also recovers a lost answer)
        now_held = bool(foreign_holds(record))
        if now_held and not was_held:
            changes.placed.append(record)
        elif was_held and not now_held:
            changes.released.append(record)
    if new:
        _insert_new(session, new)
    session.flush()
    changes.records = sorted(existing.values(), key=lambda record: record.id)
    changes.managers = {record.id: manager for record, manager in classified}
    return changes


_records = FulfillmentOrderRecord.__table__
# A new order's records by a Core statement built once (issue 19 part C: the unit of work's
# SELECT and flush of them were a fifth of routing a new order).
_INSERT_RECORDS = insert(_records).returning(_records.c.id, sort_by_parameter_order=True)
_RECORD_COLUMNS = tuple(column.key for column in _records.columns if not column.primary_key)


def _insert_new(session: Session, records: list[FulfillmentOrderRecord]) -> None:
    """Insert transient records with Core and make them persistent as if loaded (no read back)."""
    now = utcnow()
    rows = [with_defaults(_records, {key: value for key, value in vars(record).items() if key in _RECORD_COLUMNS} | {"created_at": now, "updated_at": now})
            for record in records]
    ids = session.connection().execute(_INSERT_RECORDS, rows).scalars().all()
    for record, row, record_id in zip(records, rows, ids):
        for key, value in row.items():
            if key not in vars(record):
                setattr(record, key, value)
        record.id = record_id
        persistent(session, record)


def fulfillment_orders_of(session: Session, order: Order) -> list[FulfillmentOrderRecord]:
    """Our copy of the order's fulfillment orders, oldest first."""
    return list(session.scalars(select(FulfillmentOrderRecord).where(FulfillmentOrderRecord.order_id == order.id).order_by(FulfillmentOrderRecord.id)))
