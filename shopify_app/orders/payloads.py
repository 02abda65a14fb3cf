"""Reading order webhook payloads (REST shape, any API version) into plain snapshots."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..bounds import MAX_ID
from ..privacy import gid_number


@dataclass(frozen=True)
class LineSnapshot:
    """What we keep of a line item."""

    shopify_line_id: str
    sku: str | None
    variant_id: str | None
    product_id: str | None
    vendor: str | None
    title: str | None
    quantity: int
    price: str | None
    requires_shipping: bool
    gift_card: bool


@dataclass(frozen=True)
class OrderSnapshot:
    """What we keep of an order, as of `updated_at`."""

    shopify_id: str
    name: str | None
    email: str | None
    customer_id: str | None
    customer_email: str | None
    shipping_address: dict | None
    currency: str | None
    total_price: str | None
    financial_status: str | None
    fulfillment_status: str | None
    cancelled_at: dt.datetime | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    lines: tuple[LineSnapshot, ...]


class PayloadError(ValueError):
    """The payload is not an order we can read (dead-letter it; retrying cannot help)."""


# What a real Shopify payload can hold; anything outside is a forged or broken payload that no
# retry can fix (and would overflow a column on PostgreSQL), so it is refused with the reason.
MAX_QUANTITY = 1_000_000
MAX_AMOUNT = Decimal(10) ** 12
ID_PATTERN = re.compile(r"[0-9]{1,19}")


def checked_id(value: Any, what: str) -> str | None:
    """A Shopify id (number or GID) as its exact digits; PayloadError when it is not one."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PayloadError(f"{what} is not an id")
    number = gid_number(value)
    if not ID_PATTERN.fullmatch(number or "") or not 0 < int(number) <= MAX_ID:
        raise PayloadError(f"{what} is not an id")
    return number


def checked_quantity(value: Any, what: str) -> int:
    """A whole number of units, 0..MAX_QUANTITY (None counts as 0)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
        raise PayloadError(f"{what} must be a whole number from 0 to {MAX_QUANTITY}")
    return value


def checked_amount(value: Any, what: str) -> str | None:
    """A money amount (decimal string or number) kept as text; PayloadError when it is not a decimal."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PayloadError(f"{what} is not a decimal amount")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise PayloadError(f"{what} is not a decimal amount") from None
    if not amount.is_finite() or abs(amount) >= MAX_AMOUNT:
        raise PayloadError(f"{what} is not a decimal amount")
    return str(value)


def checked_text(value: Any, what: str, max_length: int | None) -> str | None:
    """Text (or None) no longer than its column."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{what} must be text")
    if max_length is not None and len(value) > max_length:
        raise PayloadError(f"{what} is longer than {max_length} characters")
    return value


def parse_time(value: Any) -> dt.datetime | None:
    """ISO 8601 with offset -> aware UTC datetime."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def exact_id(obj: dict, key: str = "id") -> str | None:
    """The object's id, preferring the GID (numeric ids may have been through a float)."""
    return gid_number(obj.get("admin_graphql_api_id")) or gid_number(obj.get(key))


def _line(item: Any, where: str) -> LineSnapshot | None:
    if not isinstance(item, dict):
        raise PayloadError(f"{where} is not an object")
    line_id = checked_id(item.get("admin_graphql_api_id"), f"{where}.admin_graphql_api_id") or checked_id(item.get("id"), f"{where}.id")
    if line_id is None:
        return None
    # Older API versions and some apps send current_quantity or fulfillable_quantity only;
    # current_quantity already accounts for edits and refunds.
    quantities = {key: checked_quantity(item[key], f"{where}.{key}") for key in ("quantity", "current_quantity") if key in item}
    quantity = quantities.get("current_quantity", quantities.get("quantity", 0))
    sku = checked_text(item.get("sku"), f"{where}.sku", 255)
    return LineSnapshot(
        shopify_line_id=line_id,
        sku=sku.strip() if sku and sku.strip() else None,
        variant_id=checked_id(item.get("variant_id"), f"{where}.variant_id"),
        product_id=checked_id(item.get("product_id"), f"{where}.product_id"),
        vendor=checked_text(item.get("vendor"), f"{where}.vendor", 255),
        title=checked_text(item.get("title") or item.get("name"), f"{where}.title", None),
        quantity=quantity,
        price=checked_amount(item.get("price"), f"{where}.price"),
        # Tips and custom lines may omit it; Shopify's default for a product line is True.
        requires_shipping=bool(item.get("requires_shipping", True)),
        gift_card=bool(item.get("gift_card", False)),
    )


def parse_order(payload: Any) -> OrderSnapshot:
    """An orders/* webhook payload (or GraphQL-derived dict in the same shape) -> snapshot."""
    if not isinstance(payload, dict):
        raise PayloadError("order payload is not an object")
    order_id = checked_id(payload.get("admin_graphql_api_id"), "admin_graphql_api_id") or checked_id(payload.get("id"), "id")
    if order_id is None:
        raise PayloadError("order payload has no id")
    customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
    items = payload.get("line_items") or []
    if not isinstance(items, list):
        raise PayloadError("line_items is not a list")
    lines = tuple(filter(None, (_line(item, f"line_items[{n}]") for n, item in enumerate(items))))
    email = payload.get("email") or payload.get("contact_email") or customer.get("email")
    try:
        return OrderSnapshot(
            shopify_id=order_id,
            name=checked_text(payload.get("name"), "name", 64),
            email=checked_text(email, "email", 255),
            customer_id=(checked_id(customer.get("admin_graphql_api_id"), "customer.admin_graphql_api_id") or checked_id(customer.get("id"), "customer.id")) if customer else None,
            customer_email=checked_text(customer.get("email"), "customer.email", 255),
            shipping_address=payload.get("shipping_address") if isinstance(payload.get("shipping_address"), dict) else None,
            currency=checked_text(payload.get("currency"), "currency", 8),
            total_price=checked_amount(payload.get("total_price"), "total_price"),
            financial_status=checked_text(payload.get("financial_status"), "financial_status", 32),
            fulfillment_status=checked_text(payload.get("fulfillment_status"), "fulfillment_status", 32),
            cancelled_at=parse_time(payload.get("cancelled_at")),
            created_at=parse_time(payload.get("created_at")),
            updated_at=parse_time(payload.get("updated_at")),
            lines=lines,
        )
    except PayloadError:
        raise
    except (ValueError, OverflowError) as exc:
        raise PayloadError(f"unreadable order field: {exc}") from None


def check_refund(payload: Any) -> dict:
    """A refunds/create payload whose lines can be read; PayloadError names the first impossible value."""
    if not isinstance(payload, dict):
        raise PayloadError("refunds/create payload is not an object")
    checked_id(payload.get("id"), "id")
    checked_text(payload.get("admin_graphql_api_id"), "admin_graphql_api_id", 255)
    items = payload.get("refund_line_items") or []
    if not isinstance(items, list):
        raise PayloadError("refund_line_items is not a list")
    for n, item in enumerate(items):
        where = f"refund_line_items[{n}]"
        if not isinstance(item, dict):
            raise PayloadError(f"{where} is not an object")
        checked_quantity(item.get("quantity"), f"{where}.quantity")
        checked_id(item.get("line_item_id"), f"{where}.line_item_id")
        checked_id(item.get("location_id"), f"{where}.location_id")
        checked_text(item.get("restock_type"), f"{where}.restock_type", 32)
        line_item = item.get("line_item")
        if line_item is not None and not isinstance(line_item, dict):
            raise PayloadError(f"{where}.line_item is not an object")
        checked_text((line_item or {}).get("admin_graphql_api_id"), f"{where}.line_item.admin_graphql_api_id", 255)
    transactions = payload.get("transactions") or []
    if not isinstance(transactions, list) or not all(isinstance(t, dict) for t in transactions):
        raise PayloadError("transactions is not a list of objects")
    return payload
