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
from ..db import loaded, with_defaults
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
    return _foreign(record.holds)


def store_fulfillment_orders(session: Session, order: Order, fulfillment_orders: list[dict], fresh: bool = False) -> HoldChanges:
    """Upsert what Shopify said about the order's fulfillment orders; classify each by location.

    `fresh`: the order was inserted in this transaction, so it has no records yet: nothing is
    read, and the new records are written by a Core INSERT (see _store_new).
    """
    if fresh:
        return _store_new(session, order, fulfillment_orders)
    changes = HoldChanges()
    existing = {r.shopify_id: r for r in session.scalars(select(FulfillmentOrderRecord).where(FulfillmentOrderRecord.order_id == order.id))}
    classified = []
    for fo in fulfillment_orders:
        number = gid_number(fo["gid"])
        record = existing.get(number)
        if _older(record.shopify_updated_at if record is not None else None, fo):
            continue  # an older read than what we hold
        manager = manager_of(session, order.shop_domain, fo["location_gid"], fo["location_primary"])
        if record is None:
            # No hold wish yet, said explicitly: routing then clears it without an UPDATE (it compares with a known value).
            record = FulfillmentOrderRecord(shop_domain=order.shop_domain, order_id=order.id, shopify_id=number, status=fo["status"], holds=[], lines=[],
                                            app_hold_reason=None, app_hold_note=None)
            session.add(record)
        was_held = bool(foreign_holds(record))
        for key, value in _fields(fo, manager).items():
            setattr(record, key, value)
        existing[number] = record
        classified.append((record, manager))
        _note_hold_change(changes, record, was_held, bool(foreign_holds(record)))
    session.flush()
    changes.records = sorted(existing.values(), key=lambda record: record.id)
    changes.managers = {record.id: manager for record, manager in classified}
    return changes


def _older(held: str | None, fo: dict) -> bool:
    """Whether `fo` is an older read than the version `held` (what we hold of it, if anything)."""
    return bool(held and fo.get("updated_at") and fo["updated_at"] < held)


def _fields(fo: dict, manager: Manager) -> dict:
    """The record's columns a read of its fulfillment order sets (in the order the sync always set them)."""
    ours = [h["id"] for h in fo["holds"] if h["ours"]]
    return {"location_gid": fo["location_gid"], "location_primary": fo["location_primary"], "status": fo["status"], "request_status": fo["request_status"],
            "shopify_updated_at": fo.get("updated_at"), "managed_by": manager.managed_by, "supplier_id": manager.supplier_id,
            "lines": fo["lines"], "holds": fo["holds"],
            "app_hold_id": ours[0] if ours else None}  # Shopify's word on our own hold (also recovers a lost answer)


def _note_hold_change(changes: HoldChanges, record, was_held: bool, now_held: bool) -> None:
    if now_held and not was_held:
        changes.placed.append(record)
    elif was_held and not now_held:
        changes.released.append(record)


_records = FulfillmentOrderRecord.__table__
# A new order's records by a Core statement built once (issue 19 part C: the unit of work's
# SELECT and flush of them were a fifth of routing a new order). Keyed back by shopify_id
# (unique in a shop): one statement on SQLite too (see orders.sync._INSERT_LINES).
_INSERT_RECORDS = insert(_records).returning(_records.c.id, _records.c.shopify_id)


def _store_new(session: Session, order: Order, fulfillment_orders: list[dict]) -> HoldChanges:
    """store_fulfillment_orders for an order inserted in this transaction: rows built as plain values, one INSERT, records made persistent without reading back."""
    changes = HoldChanges()
    rows: dict[str, dict] = {}  # by Shopify id; a fulfillment order listed twice is one record (the newer read)
    noted: list[tuple[str, bool, bool]] = []
    managers: dict[str, Manager] = {}
    for fo in fulfillment_orders:
        number = gid_number(fo["gid"])
        row = rows.get(number)
        if _older(row["shopify_updated_at"] if row is not None else None, fo):
            continue  # an older read than what we hold
        manager = manager_of(session, order.shop_domain, fo["location_gid"], fo["location_primary"])
        was_held = bool(row is not None and _foreign(row["holds"]))
        if row is None:
            # No hold wish yet, said explicitly: routing then clears it without an UPDATE (it compares with a known value).
            row = rows[number] = {"shop_domain": order.shop_domain, "order_id": order.id, "shopify_id": number, "app_hold_reason": None, "app_hold_note": None}
        row.update(_fields(fo, manager))
        managers[number] = manager
        noted.append((number, was_held, bool(_foreign(row["holds"]))))
    records: dict[str, FulfillmentOrderRecord] = {}
    if rows:
        now = utcnow()
        values = [with_defaults(_records, row | {"created_at": now, "updated_at": now}) for row in rows.values()]
        ids = dict((shopify_id, record_id) for record_id, shopify_id in session.connection().execute(_INSERT_RECORDS, values))
        records = {row["shopify_id"]: loaded(session, FulfillmentOrderRecord, dict(row, id=ids[row["shopify_id"]])) for row in values}
    for number, was_held, now_held in noted:
        _note_hold_change(changes, records[number], was_held, now_held)
    session.flush()  # (what was pending before, as the ORM path flushes it)
    changes.records = sorted(records.values(), key=lambda record: record.id)
    changes.managers = {records[number].id: manager for number, manager in managers.items()}
    return changes


def _foreign(holds) -> list[dict]:
    return [h for h in holds or [] if not h.get("ours")]


def fulfillment_orders_of(session: Session, order: Order) -> list[FulfillmentOrderRecord]:
    """Our copy of the order's fulfillment orders, oldest first."""
    return list(session.scalars(select(FulfillmentOrderRecord).where(FulfillmentOrderRecord.order_id == order.id).order_by(FulfillmentOrderRecord.id)))
