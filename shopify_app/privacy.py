"""Customer and shop personal data: where we hold it, how to export it, how to erase it.

A compliance request reaches every table without a hand-kept list: `privacy_search` sweeps
every per-shop table (text and JSON columns, nested payloads, JSON inside strings) for the
customer's rows and values, and `privacy_files` the shop's files under the instance folder.
Parts of the app may still register a CustomerDataSource, for a readable summary in exports
(orders, returns) or to clear whole columns.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from sqlalchemy import Text, and_, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from .bounds import json_or_none
from .models import ComplianceExport, WebhookDelivery
from .privacy_search import (
    ADDRESS_MARKERS,
    PERSONAL_OBJECTS,
    REDACTED,
    Needles,
    TableLinks,
    app_tables,
    rows_under,
    shop_mention,
    shop_rows,
    sweep,
    text_columns,
)
from .webhooks.registry import COMPLIANCE_TOPICS

# Kept for callers that scrub a payload by its keys alone (e.g. an order's shipping address).
PERSONAL_KEYS = frozenset(
    {
        "email", "contact_email", "phone", "first_name", "last_name", "name", "company",
        "address1", "address2", "city", "zip", "province", "province_code", "latitude",
        "longitude", "browser_ip", "note", "customer_locale", "accepts_marketing",
    }
)
# Not re-exported: an export is *of* the data, the log holds counts only.
NOT_EXPORTED_TABLES = frozenset({"compliance_exports", "compliance_log"})


@dataclass(frozen=True)
class CustomerRef:
    """Who a compliance request is about, as Shopify names them."""

    shop_domain: str
    customer_id: str | None
    email: str | None
    phone: str | None
    order_ids: frozenset[str] = field(default_factory=frozenset)
    emails: frozenset[str] = field(default_factory=frozenset)  # the addresses their orders had (filled by pinned_to_orders)


@dataclass(frozen=True)
class CustomerDataSource:
    """One store of personal data: export(session, ref) -> data, redact(session, ref) -> rows changed."""

    name: str
    export: Callable[[Session, CustomerRef], Any]
    redact: Callable[[Session, CustomerRef], int]


CUSTOMER_DATA_SOURCES: list[CustomerDataSource] = []


def customer_data_source(source: CustomerDataSource) -> CustomerDataSource:
    """Register a place that holds customer data."""
    CUSTOMER_DATA_SOURCES[:] = [s for s in CUSTOMER_DATA_SOURCES if s.name != source.name] + [source]
    return source


def gid_number(value: Any) -> str | None:
    """'gid://shopify/Customer/12' or 12 -> '12' (ids stay exact: never through a float)."""
    if value is None:
        return None
    text = str(value)
    return text.rsplit("/", 1)[-1] if text.startswith("gid://") else text


def scrub(value: Any, inside_personal: bool = False) -> Any:
    """A copy of a payload with personal values replaced by key; ids and amounts are kept."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            personal_obj = inside_personal or key in PERSONAL_OBJECTS
            if key in PERSONAL_KEYS and not isinstance(item, (dict, list)) and item is not None:
                out[key] = REDACTED
            elif personal_obj and isinstance(item, str) and key not in ("id", "admin_graphql_api_id"):
                out[key] = REDACTED
            else:
                out[key] = scrub(item, personal_obj)
        return out
    if isinstance(value, list):
        return [scrub(item, inside_personal) for item in value]
    return value


# --- who the customer is, and which rows are theirs ---------------------------------

@dataclass
class Footprint:
    """The customer's identifying values and the ids of rows that are theirs, gathered before anything changes."""

    needles: Needles
    order_ids: set[int]
    links: dict[str, TableLinks]


def _collect_person(value: Any, strong: set, weak: set, phones: set, personal: bool = False) -> None:
    """Identifying values inside a payload's person and address objects (and its top-level email/phone)."""
    if isinstance(value, list):
        for item in value:
            _collect_person(item, strong, weak, phones, personal)
        return
    if not isinstance(value, dict):
        return
    personal = personal or bool(ADDRESS_MARKERS & value.keys())
    for key in ("email", "contact_email", "phone"):
        if isinstance(value.get(key), str):
            strong.add(value[key])
            if key == "phone":
                phones.add(value[key])
    if personal:
        first, last = value.get("first_name"), value.get("last_name")
        if isinstance(first, str) and isinstance(last, str):
            strong.add(f"{first} {last}")
        name = value.get("name")
        if isinstance(name, str):
            (strong if " " in name.strip() else weak).add(name)
        if isinstance(value.get("address1"), str):
            strong.add(value["address1"])
        weak.update(v for k in ("first_name", "last_name", "address2", "city", "zip", "company") if isinstance(v := value.get(k), str))
    for key, item in value.items():
        if isinstance(item, (dict, list)):
            _collect_person(item, strong, weak, phones, personal or key in PERSONAL_OBJECTS)


def orders_named(payload: Any, topic: str) -> set[str]:
    """The Shopify orders a payload (of any topic, at any depth) names."""
    named: set[str] = set()
    if isinstance(payload, dict) and topic.startswith("orders/"):
        named.add(gid_number(payload.get("admin_graphql_api_id") or payload.get("id")))
    stack = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            named.add(gid_number(item.get("order_id")))
            order = item.get("order")
            if isinstance(order, dict):
                named.add(gid_number(order.get("admin_graphql_api_id") or order.get("id")))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and item.startswith("gid://shopify/Order/"):
            named.add(gid_number(item))
        elif isinstance(item, str) and item.lstrip()[:1] in ("{", "["):
            stack.append(_parse(item))  # a supplier's body kept as text inside our JSON
    named.discard(None)
    return named


def _scalar_texts(payload: Any):
    """Every scalar of a payload as text, JSON inside strings included."""
    stack = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None:
            parsed = _parse(item) if isinstance(item, str) and item.lstrip()[:1] in ("{", "[") else None
            if isinstance(parsed, (dict, list)):
                stack.append(parsed)
            else:
                yield str(item)


def _parse(body: Any) -> Any:
    return json_or_none(body) if isinstance(body, str) else None  # not JSON, or nested too deeply: searched as text


def customer_footprint(session: Session, ref: CustomerRef) -> Footprint:
    """The customer's values (from the request, their orders and those orders' payloads) and their rows."""
    from .orders.privacy import customer_orders
    from .reconcile.models import Desync
    from .returns.models import ReturnCase
    from .suppliers.models import Alert, SupplierOrder, SupplierShipment

    orders = customer_orders(session, ref)
    strong: set = {ref.email, ref.phone}
    weak: set = set()
    phones: set = {ref.phone}
    customer_ids = {ref.customer_id}
    for order in orders:
        strong |= {order.email, order.customer_email}
        customer_ids.add(order.customer_id)
        _collect_person(order.shipping_address, strong, weak, phones, personal=True)
    order_ids = {order.id for order in orders}
    shopify_ids = {order.shopify_id for order in orders} | set(ref.order_ids)
    names = {order.name for order in orders if order.name}
    # The orders' own webhooks carry what the order row does not keep: names, billing and default addresses.
    rows = session.execute(
        select(WebhookDelivery.topic, WebhookDelivery.body).where(
            WebhookDelivery.shop_domain == ref.shop_domain, WebhookDelivery.topic.like("orders/%"),
            or_(*[WebhookDelivery.body.contains(shopify_id, autoescape=True) for shopify_id in sorted(shopify_ids)]),
        )
    ) if shopify_ids else []
    for topic, body in rows:
        payload = _parse(body)
        if orders_named(payload, topic) & shopify_ids:
            _collect_person(payload, strong, weak, phones)
            customer = payload.get("customer") if isinstance(payload, dict) else None
            if isinstance(customer, dict):
                customer_ids.add(gid_number(customer.get("admin_graphql_api_id") or customer.get("id")))
    needles = Needles.build(strong, weak, phones, customer_ids)

    deliveries = session.execute(select(SupplierOrder.id, SupplierOrder.idempotency_key, SupplierOrder.supplier_order_id).where(SupplierOrder.order_id.in_(order_ids))).all() if order_ids else []
    delivery_ids = [d.id for d in deliveries]
    case_ids = session.scalars(select(ReturnCase.id).where(ReturnCase.order_id.in_(order_ids))).all() if order_ids else []
    shipment_ids = session.scalars(select(SupplierShipment.id).where(SupplierShipment.supplier_order_id.in_(delivery_ids))).all() if delivery_ids else []
    refs = {f"order:{i}" for i in order_ids} | {f"delivery:{i}" for i in delivery_ids} | {f"return:{i}" for i in case_ids} | {f"shipment:{i}" for i in shipment_ids}
    # A supplier event names our delivery by its key or the supplier's order id, not by Shopify's order.
    delivery_refs = {str(v) for d in deliveries for v in (d.idempotency_key, d.supplier_order_id) if v and len(str(v)) >= 5}
    inbox_hints = tuple(sorted(shopify_ids | delivery_refs | {c for c in customer_ids if c}))

    def inbox_is_theirs(row: dict) -> bool:
        payload = _parse(row.get("body"))
        named = orders_named(payload, row.get("topic") or "")
        if named:
            return bool(named & shopify_ids)
        # A supplier's event names our delivery (its key or the supplier's order id) as a whole value.
        return bool(delivery_refs) and any(text in delivery_refs for text in _scalar_texts(payload))

    def inbox_is_another_order(row: dict) -> bool:
        named = orders_named(_parse(row.get("body")), row.get("topic") or "")
        return bool(named) and not named & shopify_ids

    links = {
        "webhook_inbox": TableLinks(hints=inbox_hints, check=inbox_is_theirs, others_check=inbox_is_another_order),
        "desyncs": TableLinks(sql=Desync.__table__.c.ref.in_(sorted(refs)) if refs else None),
        "alerts": TableLinks(sql=Alert.__table__.c.subject.in_(sorted(names)) if names else None),
    }
    return Footprint(needles, order_ids, links)


def _links_for_all_tables(tables: list, footprint: Footprint) -> dict[str, TableLinks]:
    """Registered links, plus every table that is or hangs by foreign keys from orders (the customer's, and others' left alone)."""
    links = dict(footprint.links)
    for table in tables:
        if table.name in links:
            continue
        theirs = rows_under(table, "orders", footprint.order_ids)
        if theirs is not None:
            links[table.name] = TableLinks(sql=theirs, others_sql=rows_under(table, "orders", footprint.order_ids, others=True))
    return links


def _not_exported(table: str, row: dict) -> bool:
    return table in NOT_EXPORTED_TABLES or (table == "webhook_inbox" and row.get("topic") in COMPLIANCE_TOPICS)


def export_customer(session: Session, ref: CustomerRef, settings=None, footprint: Footprint | None = None) -> dict:
    """Everything we hold on the customer: summaries by source, then what was found per table and per file."""
    from .privacy_files import sweep_shop_files

    footprint = footprint or customer_footprint(session, ref)
    tables = app_tables(session)
    found = sweep(session, ref.shop_domain, footprint.needles, _links_for_all_tables(tables, footprint), write=False, skip_row=_not_exported, tables=tables)
    return {
        "sources": {source.name: source.export(session, ref) for source in CUSTOMER_DATA_SOURCES},
        "tables": found.found,
        "files": sweep_shop_files(session, ref.shop_domain, settings, footprint.needles, write=False) if settings is not None else {},
    }


def pinned_to_orders(session: Session, ref: CustomerRef) -> CustomerRef:
    """The request with the customer's orders and emails as found now, so each source finds the same ones whatever ran before it."""
    from .orders.privacy import customer_orders

    orders = customer_orders(session, ref)
    emails = {ref.email, *ref.emails, *(o.email for o in orders), *(o.customer_email for o in orders)} - {None, ""}
    return replace(ref, order_ids=ref.order_ids | {o.shopify_id for o in orders}, emails=frozenset(emails))


def redact_customer(session: Session, ref: CustomerRef, settings=None) -> dict:
    """Erase the customer's personal data everywhere (the request's own body too); counts per source, table and file."""
    from .privacy_files import sweep_shop_files

    footprint = customer_footprint(session, ref)  # before anything changes: the values come from the rows redacted below
    ref = pinned_to_orders(session, ref)  # the orders' source clears the emails the other sources find the orders by
    sources = {source.name: source.redact(session, ref) for source in CUSTOMER_DATA_SOURCES}
    tables = app_tables(session)
    result = sweep(session, ref.shop_domain, footprint.needles, _links_for_all_tables(tables, footprint), write=True, tables=tables)
    files = sweep_shop_files(session, ref.shop_domain, settings, footprint.needles, write=True) if settings is not None else {}
    return {"sources": sources, "tables": result.changed, "files": len(files)}


def forget_request_bodies(session: Session, ref: CustomerRef, footprint: Footprint | None = None) -> int:
    """Redact the customer's values from the compliance requests in the inbox (once handled they are only a record)."""
    footprint = footprint or customer_footprint(session, ref)
    only_requests = lambda table, row: row.get("topic") not in COMPLIANCE_TOPICS  # noqa: E731
    return sweep(session, ref.shop_domain, footprint.needles, {}, write=True, skip_row=only_requests, only_tables={"webhook_inbox"}).changed.get("webhook_inbox", 0)


def _redact_exports(session: Session, ref: CustomerRef) -> int:
    if not ref.customer_id:
        return 0
    result = session.execute(
        delete(ComplianceExport).where(ComplianceExport.shop_domain == ref.shop_domain, ComplianceExport.customer_id == ref.customer_id)
    )
    return result.rowcount


customer_data_source(CustomerDataSource("compliance_exports", lambda session, ref: [], _redact_exports))


# --- shop erasure ---------------------------------------------------------------------

def erase_shop(session: Session, shop_domain: str, keep_delivery_id: int | None = None, settings=None) -> dict[str, int]:
    """Delete everything we hold for a shop: every table that is per shop, its files, registered stores; counts per table."""
    from . import all_models
    from .privacy_files import erase_shop_files
    from .suppliers.as2_keys import forget_shop_keys

    session.flush()
    counts: dict[str, int] = {}
    if settings is not None:
        counts["files"] = erase_shop_files(session, shop_domain, settings)  # first: the supplier rows name the files
    ours = {table.name for table in all_models.Base.metadata.tables.values()}
    tables = app_tables(session)
    # Children before parents: app_tables lists ours (parents first), then the tables only the
    # live database knows (which may reference ours), so the reverse deletes those first.
    ordered = list(reversed(tables))
    mention = shop_mention(shop_domain)
    for table in ordered:
        scope = shop_rows(table, shop_domain)
        if scope is not None:
            if table.name == "webhook_inbox" and keep_delivery_id is not None:
                scope = scope & (table.c.id != keep_delivery_id)  # the shop/redact request stays as its record
            deleted = session.execute(delete(table).where(scope)).rowcount
        elif table.name in ours:
            deleted = _delete_mentions(session, table, shop_domain, mention)
        else:
            deleted = 0
        if deleted:
            counts[table.name] = deleted
    session.expire_all()
    forget_shop_keys(shop_domain)  # its AS2 private keys decrypted in this process go with its rows
    return counts


def _delete_mentions(session: Session, table, shop_domain: str, mention) -> int:
    """Rows of a table that is not per shop but names the shop (e.g. job runs `token-refresh:<shop>`)."""
    columns = text_columns(table)
    pk = list(table.primary_key.columns)
    if not columns or not pk:
        return 0
    pk_names = {c.name for c in pk}
    candidates = session.execute(
        select(*pk, *[c for c in columns if c.name not in pk_names]).where(
            or_(*[func.lower(cast(c, Text)).contains(shop_domain.lower(), autoescape=True) for c in columns])
        )
    ).mappings().all()
    count = 0
    for row in candidates:
        if any(mention.search(value if isinstance(value, str) else json.dumps(value)) for c in columns if (value := row[c.name]) is not None):
            count += session.execute(delete(table).where(and_(*[c == row[c.name] for c in pk]))).rowcount
    return count
