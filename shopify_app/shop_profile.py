"""The shop's profile from Shopify (name, currency, IANA time zone, primary domain), stored per shop.

The admin shows money in the shop's currency and times in the shop's time zone. Shopify's
`shop` query is read when a page finds the profile missing or older than a day; the call
happens before the write transaction that stores it (no network inside a write).
"""
from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

from sqlalchemy import select

from .models import Shop, utcnow

log = logging.getLogger(__name__)
MAX_AGE = dt.timedelta(days=1)


def shop_profile(session, shop_domain: str) -> dict:
    """What we know of the shop: name, currency_code, iana_timezone, primary_domain (None where unknown)."""
    shop = session.scalar(select(Shop).where(Shop.domain == shop_domain))
    if shop is None:
        return {"name": None, "currency_code": None, "iana_timezone": None, "primary_domain": None, "refreshed_at": None}
    return {"name": shop.name, "currency_code": shop.currency_code, "iana_timezone": shop.iana_timezone,
            "primary_domain": shop.primary_domain, "refreshed_at": shop.profile_refreshed_at}


def _valid_timezone(name: str | None) -> str | None:
    # Only a zone the server knows is kept: format_when must never fail on a page.
    try:
        return name if name and zoneinfo.ZoneInfo(name) else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def refresh_shop_profile(services, shop_domain: str) -> dict:
    """Read Shopify's shop query (outside any transaction), then store the profile; returns it."""
    # One attempt: a page waits for this, and a failed read is simply tried again on a later page.
    data = services.gateway(shop_domain, max_attempts=1).query("ShopInfo")["shop"]
    currency = (data.get("currencyCode") or "").upper()[:3] or None
    values = {"name": (data.get("name") or "")[:255] or None, "currency_code": currency,
              "iana_timezone": _valid_timezone(data.get("ianaTimezone")),
              "primary_domain": ((data.get("primaryDomain") or {}).get("host") or "")[:255] or None}
    with services.session_factory.begin() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == shop_domain))
        if shop is not None:
            for key, value in values.items():
                setattr(shop, key, value)
            shop.profile_refreshed_at = utcnow()
    return values


def ensure_fresh_profile(services, shop_domain: str) -> dict:
    """The stored profile, refreshed first when missing or stale; a failed refresh keeps the old one (pages fall back to UTC)."""
    with services.session_factory() as session:
        profile = shop_profile(session, shop_domain)
    if profile["refreshed_at"] is not None and utcnow() - profile["refreshed_at"] <= MAX_AGE:
        return profile
    try:
        return {**refresh_shop_profile(services, shop_domain), "refreshed_at": utcnow()}
    except Exception:  # the page still renders: with the stored profile, or UTC and no shop currency
        log.warning("could not read the shop profile of %s", shop_domain, exc_info=True)
        return profile
