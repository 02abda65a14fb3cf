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
    original_quantity: int | None = None
    discount: str | None = None  # discount allocations of all units (line and order discounts)
    tax: str | None = None  # tax lines of all units
    price_presentment: str | None = None
    discount_presentment: str | None = None
    tax_presentment: str | None = None
    is_tip: bool = False


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
    amounts: OrderAmounts = None  # type: ignore[assignment]  # always set by parse_order
    customer_locale: str | None = None  # the checkout's language: customer notices are written in it


@dataclass(frozen=True)
class OrderAmounts:
    """An order's money beyond its total: shop currency, and the customer's (presentment) currency."""

    presentment_currency: str | None = None
    subtotal_price: str | None = None
    total_discounts: str | None = None
    total_shipping: str | None = None
    total_tax: str | None = None
    total_tip: str | None = None
    taxes_included: bool | None = None
    total_price_presentment: str | None = None
    subtotal_price_presentment: str | None = None
    total_discounts_presentment: str | None = None
    total_shipping_presentment: str | None = None
    total_tax_presentment: str | None = None
    total_tip_presentment: str | None = None
    discount_applications: tuple[dict, ...] = ()


class PayloadError(ValueError):
    """The payload is not an order we can read (dead-letter it; retrying cannot help)."""


class LinesWithoutIds(PayloadError):
    """Some line has neither `id` nor `admin_graphql_api_id`: the order must be re-read through GraphQL."""


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


def _money_set(value: Any, what: str) -> tuple[str | None, str | None]:
    """(shop amount, presentment amount) of a REST `*_set` object ({shop_money, presentment_money})."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise PayloadError(f"{what} is not a money set")
    amounts = []
    for side in ("shop_money", "presentment_money"):
        money = value.get(side)
        if money is not None and not isinstance(money, dict):
            raise PayloadError(f"{what}.{side} is not money")
        amounts.append(checked_amount((money or {}).get("amount"), f"{what}.{side}.amount"))
    return amounts[0], amounts[1]


def _money(obj: dict, key: str, where: str, set_key: str | None = None) -> tuple[str | None, str | None]:
    """An amount and its presentment twin: from `<key>_set` when present (exact, both currencies), else the plain field."""
    shop, presentment = _money_set(obj.get(set_key or f"{key}_set"), f"{where}{set_key or key + '_set'}")
    plain = checked_amount(obj.get(key), f"{where}{key}")  # checked even when the set is there: a broken one is a broken payload
    return (plain if shop is None else shop), presentment


def _sum(amounts: list[str | None]) -> str | None:
    """Exact decimal sum as text; None when nothing was given."""
    present = [Decimal(a) for a in amounts if a is not None]
    return str(sum(present, Decimal(0))) if present else None


def _summed(items: Any, where: str, key: str) -> tuple[str | None, str | None]:
    """Sum of a list's `<key>` amounts (and their presentment twins): discount allocations, tax lines."""
    if items is None:
        return None, None
    if not isinstance(items, list):
        raise PayloadError(f"{where} is not a list")
    shop, presentment = [], []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise PayloadError(f"{where}[{n}] is not an object")
        amount, twin = _money(item, key, f"{where}[{n}].")
        shop.append(amount)
        presentment.append(twin)
    return _sum(shop) if shop else "0", _sum(presentment) if shop else "0"


def line_is_identified(item: Any) -> bool:
    """Whether a payload line carries an id we can key it on (its GID or its numeric id)."""
    return not isinstance(item, dict) or item.get("admin_graphql_api_id") is not None or item.get("id") is not None


def _line(item: Any, where: str) -> LineSnapshot:
    if not isinstance(item, dict):
        raise PayloadError(f"{where} is not an object")
    # The GID first: numeric ids may have been through a float somewhere on the way.
    line_id = checked_id(item.get("admin_graphql_api_id"), f"{where}.admin_graphql_api_id") or checked_id(item.get("id"), f"{where}.id")
    if line_id is None:  # parse_order checks this first; kept as a guard so a line is never dropped
        raise LinesWithoutIds(f"{where} has neither id nor admin_graphql_api_id")
    # Older API versions and some apps send current_quantity or fulfillable_quantity only;
    # current_quantity already accounts for edits and refunds.
    quantities = {key: checked_quantity(item[key], f"{where}.{key}") for key in ("quantity", "current_quantity") if key in item}
    quantity = quantities.get("current_quantity", quantities.get("quantity", 0))
    sku = checked_text(item.get("sku"), f"{where}.sku", 255)
    price, price_presentment = _money(item, "price", f"{where}.")
    if "discount_allocations" in item:
        discount, discount_presentment = _summed(item.get("discount_allocations"), f"{where}.discount_allocations", "amount")
    else:  # payloads from before discount allocations: the line's own total discount
        discount, discount_presentment = _money(item, "total_discount", f"{where}.")
    tax, tax_presentment = _summed(item.get("tax_lines"), f"{where}.tax_lines", "price")
    return LineSnapshot(
        shopify_line_id=line_id,
        sku=sku.strip() if sku and sku.strip() else None,
        variant_id=checked_id(item.get("variant_id"), f"{where}.variant_id"),
        product_id=checked_id(item.get("product_id"), f"{where}.product_id"),
        vendor=checked_text(item.get("vendor"), f"{where}.vendor", 255),
        title=checked_text(item.get("title") or item.get("name"), f"{where}.title", None),
        quantity=quantity,
        price=price,
        # Tips and custom lines may omit it; Shopify's default for a product line is True.
        requires_shipping=bool(item.get("requires_shipping", True)),
        gift_card=bool(item.get("gift_card", False)),
        original_quantity=quantities.get("quantity", quantity),
        discount=discount,
        tax=tax,
        price_presentment=price_presentment,
        discount_presentment=discount_presentment,
        tax_presentment=tax_presentment,
        # REST marks a tip line with the gateway that took it ("present only on tips").
        is_tip=item.get("tip_payment_gateway") is not None or item.get("tip_payment_method") is not None or item.get("is_tip") is True,
    )


DISCOUNT_APPLICATION_KEYS = ("type", "code", "title", "description", "value", "value_type", "target_type", "target_selection", "allocation_method")


def _discount_applications(value: Any) -> tuple[dict, ...]:
    """The order's discount applications (codes, automatic, manual, scripts), as plain bounded dicts."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PayloadError("discount_applications is not a list")
    applications = []
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise PayloadError(f"discount_applications[{n}] is not an object")
        entry = {key: checked_text(item.get(key), f"discount_applications[{n}].{key}", 255) for key in DISCOUNT_APPLICATION_KEYS if key not in ("value",) and item.get(key) is not None}
        if item.get("value") is not None:
            entry["value"] = checked_amount(item.get("value"), f"discount_applications[{n}].value")
        applications.append(entry)
    return tuple(applications)


def _amounts(payload: dict, lines: tuple[LineSnapshot, ...]) -> OrderAmounts:
    subtotal = _money(payload, "subtotal_price", "")
    discounts = _money(payload, "total_discounts", "")
    shipping = _money(payload, "total_shipping_price", "", "total_shipping_price_set")
    tax = _money(payload, "total_tax", "")
    total_presentment = _money(payload, "total_price", "")[1]
    tip = _money(payload, "total_tip_received", "", "total_tip_received_set")
    tip_presentment = tip[1]
    if tip_presentment is None and tip[0] is not None:
        # REST has no set for the tip: its tip lines carry the presentment amount.
        tip_lines = [line for line in lines if line.is_tip]
        if tip_lines:
            tip_presentment = _sum([_times(line.price_presentment, line.quantity) for line in tip_lines])
        elif Decimal(tip[0]) == 0:
            tip_presentment = tip[0]  # no tip: nothing in either currency
    taxes_included = payload.get("taxes_included")
    return OrderAmounts(
        presentment_currency=checked_text(payload.get("presentment_currency"), "presentment_currency", 8),
        subtotal_price=subtotal[0], subtotal_price_presentment=subtotal[1],
        total_discounts=discounts[0], total_discounts_presentment=discounts[1],
        total_shipping=shipping[0], total_shipping_presentment=shipping[1],
        total_tax=tax[0], total_tax_presentment=tax[1],
        total_tip=tip[0], total_tip_presentment=tip_presentment,
        total_price_presentment=total_presentment,
        taxes_included=taxes_included if isinstance(taxes_included, bool) else None,
        discount_applications=_discount_applications(payload.get("discount_applications")),
    )


def _times(amount: str | None, quantity: int) -> str | None:
    return None if amount is None else str(Decimal(amount) * quantity)


def parse_order(payload: Any) -> OrderSnapshot:
    """An orders/* webhook payload (or GraphQL-derived dict in the same shape) -> snapshot.

    LinesWithoutIds when a line has no id at all: the caller re-reads the order through
    GraphQL rather than drop the line (or the order's only line).
    """
    if not isinstance(payload, dict):
        raise PayloadError("order payload is not an object")
    order_id = checked_id(payload.get("admin_graphql_api_id"), "admin_graphql_api_id") or checked_id(payload.get("id"), "id")
    if order_id is None:
        raise PayloadError("order payload has no id")
    customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
    items = payload.get("line_items") or []
    if not isinstance(items, list):
        raise PayloadError("line_items is not a list")
    unidentified = [n for n, item in enumerate(items) if not line_is_identified(item)]
    if unidentified:
        raise LinesWithoutIds(f"order {order_id}: line_items{unidentified} have neither id nor admin_graphql_api_id")
    lines = tuple(_line(item, f"line_items[{n}]") for n, item in enumerate(items))
    email = payload.get("email") or payload.get("contact_email") or customer.get("email")
    try:
        total_price = _money(payload, "total_price", "")[0]
        return OrderSnapshot(
            shopify_id=order_id,
            name=checked_text(payload.get("name"), "name", 64),
            email=checked_text(email, "email", 255),
            customer_id=(checked_id(customer.get("admin_graphql_api_id"), "customer.admin_graphql_api_id") or checked_id(customer.get("id"), "customer.id")) if customer else None,
            customer_email=checked_text(customer.get("email"), "customer.email", 255),
            shipping_address=payload.get("shipping_address") if isinstance(payload.get("shipping_address"), dict) else None,
            currency=checked_text(payload.get("currency"), "currency", 8),
            total_price=total_price,
            financial_status=checked_text(payload.get("financial_status"), "financial_status", 32),
            fulfillment_status=checked_text(payload.get("fulfillment_status"), "fulfillment_status", 32),
            cancelled_at=parse_time(payload.get("cancelled_at")),
            created_at=parse_time(payload.get("created_at")),
            updated_at=parse_time(payload.get("updated_at")),
            lines=lines,
            amounts=_amounts(payload, lines),
            customer_locale=_locale_tag(payload.get("customer_locale")),
        )
    except PayloadError:
        raise
    except (ValueError, OverflowError, InvalidOperation) as exc:
        raise PayloadError(f"unreadable order field: {exc}") from None


def _locale_tag(value: Any) -> str | None:
    # Only the notices' language depends on it: an odd tag is dropped, never a dead-lettered order.
    return value if isinstance(value, str) and 0 < len(value) <= 16 else None


def check_refund(payload: Any) -> dict:
    """A refunds/create payload whose lines can be read; PayloadError names the first impossible value."""
    if not isinstance(payload, dict):
        raise PayloadError("refunds/create payload is not an object")
    checked_id(payload.get("id"), "id")
    checked_text(payload.get("admin_graphql_api_id"), "admin_graphql_api_id", 255)
    named_return = payload.get("return")
    if named_return is not None:
        if not isinstance(named_return, dict):
            raise PayloadError("return is not an object")
        checked_id(named_return.get("id"), "return.id")
        checked_text(named_return.get("admin_graphql_api_id"), "return.admin_graphql_api_id", 255)
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
