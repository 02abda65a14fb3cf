"""Finding the customer's order: by number and email (rate-limited, constant-time, one answer for every miss) or by the logged-in customer; then a signed view token."""
from __future__ import annotations

import datetime as dt
import hmac
import re

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..orders.models import Order
from .rate_limit import count_attempt

WINDOW = dt.timedelta(minutes=15)
MAX_PER_IP = 20  # lookups per client IP per window (a shop's customers behind one NAT stay well under it)
MAX_PER_ORDER = 5  # lookups per order number per window: guessing an email for a known number stops here
MAX_CASE_POSTS_PER_ORDER = 5  # reports + messages per order per window: a real customer writes a few, not hundreds
MAX_CASE_POSTS_PER_IP = 10  # reports + messages per client address per window (one household, a few orders)
TOKEN_MAX_AGE = 2 * 3600  # seconds a view link stays valid
MAX_LISTED_ORDERS = 20
_DIGITS = re.compile(r"#?\s*([A-Za-z0-9-]{1,32})")
# Compared when no order matched, so a miss takes the time of a wrong email.
_NO_EMAIL = b"\x00" * 32


class RateLimited(Exception):
    """Too many attempts from this IP or on this order number."""


def normalized_number(text: str | None) -> str | None:
    """'#1001', ' 1001 ' -> '1001'; None when it cannot be an order number."""
    match = _DIGITS.fullmatch((text or "").strip())
    return match.group(1) if match else None


def _same_email(given: str, stored: str | None) -> bool:
    a = given.strip().lower().encode()
    b = (stored or "").strip().lower().encode() or _NO_EMAIL
    return hmac.compare_digest(a, b)


def find_order(session_factory, shop: str, number: str, email: str, client_ip: str) -> Order | None:
    """The order with this number whose email matches, or None (the caller answers the same for every None); raises RateLimited."""
    # Per shop: a busy store (or an abuser of one) never uses up another store's lookups.
    ip_count = count_attempt(session_factory, f"lookup-ip:{shop}:{client_ip}", WINDOW)
    order_count = count_attempt(session_factory, f"lookup-order:{shop}:{number.lower()}", WINDOW)
    if ip_count > MAX_PER_IP or order_count > MAX_PER_ORDER:
        raise RateLimited()
    with session_factory() as session:
        candidates = session.scalars(select(Order).where(Order.shop_domain == shop, Order.name.in_((f"#{number}", number))).limit(5)).all()
        match = None
        for order in candidates:
            # Both emails compared with no early exit: the time does not tell which one matched.
            same = [_same_email(email, order.email), _same_email(email, order.customer_email)]
            if any(same) and match is None:
                match = order
        if not candidates:
            _same_email(email, None)  # a miss costs the compare a wrong email costs
        if match is not None:
            session.expunge(match)
        return match


def count_case_post(session_factory, shop: str, order_id: int, client_ip: str) -> None:
    """Count one report/message on an order; raises RateLimited beyond the per-order or per-address limit."""
    ip_count = count_attempt(session_factory, f"case-ip:{shop}:{client_ip}", WINDOW)
    order_count = count_attempt(session_factory, f"case-order:{shop}:{order_id}", WINDOW)
    if ip_count > MAX_CASE_POSTS_PER_IP or order_count > MAX_CASE_POSTS_PER_ORDER:
        raise RateLimited()


def customer_orders(session: Session, shop: str, customer_id: str) -> list[Order]:
    """The logged-in customer's orders in this shop, newest first (Shopify vouches for the id in the signed query)."""
    if not customer_id.isdigit():
        return []
    ids = (customer_id, f"gid://shopify/Customer/{customer_id}")
    return session.scalars(select(Order).where(Order.shop_domain == shop, Order.customer_id.in_(ids))
                           .order_by(Order.id.desc()).limit(MAX_LISTED_ORDERS)).all()


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="proxy-order-view:v1")


def view_token(secret: str, shop: str, order_id: int) -> str:
    """A signed, short-lived token naming one order of one shop: what the page's links and forms carry instead of an id."""
    return _serializer(secret).dumps([shop, order_id])


def order_id_from_token(secret: str, shop: str, token: str | None) -> int | None:
    """The order id the token names, if it is ours, unexpired and for this shop; else None."""
    if not token or len(token) > 400:
        return None
    try:
        token_shop, order_id = _serializer(secret).loads(token, max_age=TOKEN_MAX_AGE)
    except (BadSignature, ValueError, TypeError):
        return None
    return order_id if token_shop == shop and isinstance(order_id, int) else None
