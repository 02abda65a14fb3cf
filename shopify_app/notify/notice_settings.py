"""A shop's customer-notice settings: which steps are on, the follow-up delay, the review link, its sender.

Defaults avoid double emails: Shopify itself sends the order confirmation and the shipping
confirmation (with carrier and tracking) to every customer, so our "order received" and
"shipped" notices start OFF (a merchant who turns Shopify's off turns ours on). Shopify's
"out for delivery" and "delivered" emails are optional and off in a new store, so ours start
ON, as do the steps Shopify has no email for: delay with the new estimate, the follow-up, and
the review request (sent only when a review link is set).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from .customer_models import NoticeSettings, NoticeUnsubscribe
from .notice_links import email_digest

STEPS = ("order_received", "shipped", "out_for_delivery", "delivered", "delay", "follow_up", "review_request")
DEFAULT_STEPS = {"order_received": False, "shipped": False, "out_for_delivery": True, "delivered": True,
                 "delay": True, "follow_up": True, "review_request": True}
MARKETING_STEPS = frozenset({"follow_up", "review_request"})  # carry an unsubscribe link; an unsubscribe stops them
FOLLOW_UP_DAYS = (1, 60)
DEFAULT_FOLLOW_UP_DAYS = 7


def settings_row(session: Session, shop_domain: str) -> NoticeSettings | None:
    """The shop's stored settings row (None until the merchant saves any)."""
    return session.scalar(select(NoticeSettings).where(NoticeSettings.shop_domain == shop_domain))


def notice_settings(session: Session, shop_domain: str) -> dict:
    """The effective settings: steps (all known), follow_up_days, review_url, sender and whether it is verified."""
    row = settings_row(session, shop_domain)
    steps = dict(DEFAULT_STEPS)
    if row is not None:
        steps.update({k: bool(v) for k, v in (row.steps or {}).items() if k in DEFAULT_STEPS})
    return {
        "steps": steps,
        "follow_up_days": row.follow_up_days if row is not None else DEFAULT_FOLLOW_UP_DAYS,
        "review_url": row.review_url if row is not None else None,
        "sender_name": row.sender_name if row is not None else None,
        "sender_address": row.sender_address if row is not None else None,
        "sender_verified": bool(row is not None and row.sender_address and row.sender_verified_at),
    }


def step_on(settings: dict, kind: str) -> bool:
    """Whether notices of `kind` are sent for the shop (kinds that are not lifecycle steps always are)."""
    return settings["steps"].get(kind, True)


def is_unsubscribed(session: Session, shop_domain: str, email: str | None) -> bool:
    """Whether this customer asked this shop for no more follow-ups and review requests."""
    if not email:
        return False
    return session.scalar(select(NoticeUnsubscribe.id).where(NoticeUnsubscribe.shop_domain == shop_domain,
                                                               NoticeUnsubscribe.email_digest == email_digest(shop_domain, email))) is not None


def review_link_problem(url: str | None) -> str | None:
    """Why a review link cannot be saved (only absolute http(s) links), or None when it can."""
    if url is None or url == "":
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an absolute http(s) link"
    return None
