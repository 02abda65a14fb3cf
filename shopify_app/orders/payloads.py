"""Reading order webhook payloads (REST shape, any API version) into plain snapshots."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

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


def _line(item: dict) -> LineSnapshot | None:
    line_id = exact_id(item)
    if line_id is None:
        return None
    # Older API versions and some apps send current_quantity or fulfillable_quantity only;
    # current_quantity already accounts for edits and refunds.
    quantity = item.get("current_quantity", item.get("quantity", 0))
    sku = item.get("sku")
    return LineSnapshot(
        shopify_line_id=line_id,
        sku=sku.strip() if isinstance(sku, str) and sku.strip() else None,
        variant_id=gid_number(item.get("variant_id")),
        product_id=gid_number(item.get("product_id")),
        vendor=item.get("vendor"),
        title=item.get("title") or item.get("name"),
        quantity=int(quantity or 0),
        price=str(item["price"]) if item.get("price") is not None else None,
        # Tips and custom lines may omit it; Shopify's default for a product line is True.
        requires_shipping=bool(item.get("requires_shipping", True)),
        gift_card=bool(item.get("gift_card", False)),
    )


def parse_order(payload: Any) -> OrderSnapshot:
    """An orders/* webhook payload (or GraphQL-derived dict in the same shape) -> snapshot."""
    if not isinstance(payload, dict):
        raise PayloadError("order payload is not an object")
    order_id = exact_id(payload)
    if order_id is None:
        raise PayloadError("order payload has no id")
    customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
    lines = tuple(filter(None, (_line(i) for i in payload.get("line_items") or [] if isinstance(i, dict))))
    try:
        return OrderSnapshot(
            shopify_id=order_id,
            name=payload.get("name"),
            email=payload.get("email") or payload.get("contact_email") or customer.get("email"),
            customer_id=exact_id(customer) if customer else None,
            customer_email=customer.get("email"),
            shipping_address=payload.get("shipping_address") if isinstance(payload.get("shipping_address"), dict) else None,
            currency=payload.get("currency"),
            total_price=str(payload["total_price"]) if payload.get("total_price") is not None else None,
            financial_status=payload.get("financial_status"),
            fulfillment_status=payload.get("fulfillment_status"),
            cancelled_at=parse_time(payload.get("cancelled_at")),
            created_at=parse_time(payload.get("created_at")),
            updated_at=parse_time(payload.get("updated_at")),
            lines=lines,
        )
    except ValueError as exc:
        raise PayloadError(f"unreadable order field: {exc}") from None
