"""Turning a GraphQL `Order` (OrderSyncFields, or a bulk export's joined lines) into the REST webhook shape that sync reads."""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from decimal import Decimal
from typing import Any, Iterable, Iterator


def _amount(money: dict | None) -> str | None:
    return ((money or {}).get("shopMoney") or {}).get("amount")


def _money_set(bag: dict | None) -> dict | None:
    """A GraphQL MoneyBag as REST's `*_set` ({shop_money, presentment_money})."""
    if not bag:
        return None
    return {
        "shop_money": {"amount": (bag.get("shopMoney") or {}).get("amount")},
        "presentment_money": {"amount": (bag.get("presentmentMoney") or {}).get("amount")},
    }


def _nodes(connection: dict | list | None) -> list:
    """A connection's nodes, whether read as `nodes` or `edges { node }` (bulk queries use edges)."""
    if isinstance(connection, list):
        return connection
    if not connection:
        return []
    if "nodes" in connection:
        return list(connection["nodes"] or [])
    return [edge["node"] for edge in connection.get("edges") or [] if edge and edge.get("node") is not None]


DISCOUNT_TYPES = {
    "DiscountCodeApplication": "discount_code",
    "AutomaticDiscountApplication": "automatic",
    "ManualDiscountApplication": "manual",
    "ScriptDiscountApplication": "script",
}


def _discount_application(node: dict) -> dict:
    value = node.get("value") or {}
    percentage = value.get("percentage")
    return {
        "type": DISCOUNT_TYPES.get(node.get("__typename"), node.get("__typename")),
        "code": node.get("code"),
        "title": node.get("title"),
        "description": node.get("description"),
        "value": str(percentage) if percentage is not None else value.get("amount"),
        "value_type": "percentage" if percentage is not None else "fixed_amount",
        "target_type": (node.get("targetType") or "").lower() or None,
        "target_selection": (node.get("targetSelection") or "").lower() or None,
        "allocation_method": (node.get("allocationMethod") or "").lower() or None,
    }


def _tip_line_ids(order: dict[str, Any], items: list[dict]) -> set[str]:
    """Which lines are the tip: GraphQL has no tip flag on LineItem, so the lines that are no product,
    ship nothing and add up exactly to totalTipReceived (a tip is a line item in Shopify)."""
    tip = Decimal(_amount(order.get("totalTipReceivedSet")) or "0")
    if tip <= 0:
        return set()
    candidates = [
        item for item in items
        if not item.get("product") and not item.get("variant") and not item.get("requiresShipping", True) and not item.get("isGiftCard")
    ]
    total = sum((Decimal(_amount(item.get("originalUnitPriceSet")) or "0") * (item.get("quantity") or 0) for item in candidates), Decimal(0))
    return {item["id"] for item in candidates} if candidates and total == tip else set()


def _line_payload(item: dict, is_tip: bool) -> dict:
    return {
        "admin_graphql_api_id": item["id"],
        "sku": item.get("sku"),
        "title": item.get("title"),
        "vendor": item.get("vendor"),
        "quantity": item.get("quantity"),
        "current_quantity": item.get("currentQuantity"),
        "requires_shipping": item.get("requiresShipping", True),
        "gift_card": item.get("isGiftCard", False),
        "variant_id": (item.get("variant") or {}).get("id"),
        "product_id": (item.get("product") or {}).get("id"),
        "price": _amount(item.get("originalUnitPriceSet")),
        "price_set": _money_set(item.get("originalUnitPriceSet")),
        "discount_allocations": [
            {"amount_set": _money_set(allocation.get("allocatedAmountSet"))} for allocation in item.get("discountAllocations") or []
        ] if "discountAllocations" in item else None,
        "tax_lines": [{"price_set": _money_set(tax.get("priceSet"))} for tax in item.get("taxLines") or []] if "taxLines" in item else None,
        "is_tip": is_tip,
    }


def order_payload_from_graphql(order: dict[str, Any]) -> dict[str, Any]:
    """Map OrderSyncFields' result to the fields parse_order() reads."""
    address = order.get("shippingAddress")
    shipping_address = None
    if address:
        shipping_address = {
            "name": address.get("name"),
            "first_name": address.get("firstName"),
            "last_name": address.get("lastName"),
            "company": address.get("company"),
            "address1": address.get("address1"),
            "address2": address.get("address2"),
            "city": address.get("city"),
            "province_code": address.get("provinceCode"),
            "country_code": address.get("countryCodeV2"),
            "zip": address.get("zip"),
            "phone": address.get("phone"),
        }
    items = _nodes(order.get("lineItems"))
    tips = _tip_line_ids(order, items)
    payload = {
        "admin_graphql_api_id": order["id"],
        "name": order.get("name"),
        "email": order.get("email"),
        "created_at": order.get("createdAt"),
        "updated_at": order.get("updatedAt"),
        "cancelled_at": order.get("cancelledAt"),
        "financial_status": (order.get("displayFinancialStatus") or "").lower() or None,
        "fulfillment_status": (order.get("displayFulfillmentStatus") or "").lower() or None,
        "currency": order.get("currencyCode"),
        "presentment_currency": order.get("presentmentCurrencyCode"),
        "customer_locale": order.get("customerLocale"),
        "taxes_included": order.get("taxesIncluded"),
        "total_price": _amount(order.get("totalPriceSet")),
        "total_price_set": _money_set(order.get("totalPriceSet")),
        "subtotal_price_set": _money_set(order.get("subtotalPriceSet")),
        "total_discounts_set": _money_set(order.get("totalDiscountsSet")),
        "total_shipping_price_set": _money_set(order.get("totalShippingPriceSet")),
        "total_tax_set": _money_set(order.get("totalTaxSet")),
        "total_tip_received_set": _money_set(order.get("totalTipReceivedSet")),
        "customer": {"admin_graphql_api_id": order["customer"]["id"]} if order.get("customer") else None,
        "shipping_address": shipping_address,
        "line_items": [_line_payload(item, item["id"] in tips) for item in items],
    }
    if "discountApplications" in order:
        payload["discount_applications"] = [_discount_application(node) for node in _nodes(order.get("discountApplications"))]
    return payload


def orders_from_bulk_lines(objects: Iterable[dict]) -> Iterator[dict]:
    """Whole orders from an OrdersBulkExport JSONL stream.

    Since 2026-01 the file is ungrouped: a line item or discount application may come before
    or after its order, so children are joined to their parent by `__parentId`. The objects
    are spooled into a temporary SQLite file first (memory stays flat however large the
    shop), then each order is yielded with its children, in file order.
    """
    with tempfile.TemporaryDirectory(prefix="orders-bulk-") as folder:
        db = sqlite3.connect(os.path.join(folder, "spool.db"))
        try:
            db.execute("CREATE TABLE parents (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
            db.execute("CREATE TABLE children (seq INTEGER PRIMARY KEY, parent TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL)")
            for obj in objects:
                parent = obj.get("__parentId")
                if parent is None:
                    db.execute("INSERT OR REPLACE INTO parents (id, body) VALUES (?, ?)", (obj["id"], json.dumps(obj)))
                else:
                    kind = "lineItems" if str(obj.get("id", "")).startswith("gid://shopify/LineItem/") else "discountApplications"
                    db.execute("INSERT INTO children (parent, kind, body) VALUES (?, ?, ?)", (parent, kind, json.dumps(obj)))
            db.execute("CREATE INDEX children_parent ON children (parent, seq)")
            for order_id, body in _rows(db):
                joined: dict[str, list] = {"lineItems": [], "discountApplications": []}
                for kind, child in db.execute("SELECT kind, body FROM children WHERE parent = ? ORDER BY seq", (order_id,)):
                    joined[kind].append(json.loads(child))
                yield dict(json.loads(body), lineItems={"nodes": joined["lineItems"]}, discountApplications={"nodes": joined["discountApplications"]})
        finally:
            db.close()


def _rows(db) -> Iterator[tuple[str, str]]:
    """The spooled orders in file order, 500 at a time (never the whole file in memory)."""
    last = 0
    while True:
        batch = db.execute("SELECT rowid, id, body FROM parents WHERE rowid > ? ORDER BY rowid LIMIT 500", (last,)).fetchall()
        if not batch:
            return
        for rowid, order_id, body in batch:
            yield order_id, body
        last = batch[-1][0]


def with_every_line_item(gateway, order: dict | None) -> dict | None:
    """The order (OrderSyncFields) with all its line items: the pages after the first 50 read with OrderLineItems."""
    if not order:
        return order
    connection = order.get("lineItems") or {}
    page = connection.get("pageInfo") or {}
    nodes = list(_nodes(connection))
    while page.get("hasNextPage"):
        data = gateway.query("OrderLineItems", {"id": order["id"], "after": page.get("endCursor")})
        more = ((data.get("order") or {}).get("lineItems")) or {}
        nodes.extend(_nodes(more))
        page = more.get("pageInfo") or {}
    return dict(order, lineItems={"nodes": nodes, "pageInfo": {"hasNextPage": False}})


def read_order(gateway, gid: str) -> dict:
    """OrderForSync's answer ({"order": ...}) with every line item of the order."""
    data = gateway.query("OrderForSync", {"id": gid})
    return dict(data, order=with_every_line_item(gateway, data.get("order")))
