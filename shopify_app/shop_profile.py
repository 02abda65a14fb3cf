"""The shop's profile from Shopify (name, currency, IANA time zone, primary domain), stored per shop.

The admin shows money in the shop's currency and times in the shop's time zone. Shopify's
`shop` query is read by a per-shop scheduler job: at install (and when the scheduler starts)
and then daily, only when the stored profile is missing or older than a day. Pages read only
the stored profile: a page render never waits on Shopify. The call happens before the write
transaction that stores it (no network inside a write).
"""
from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

from sqlalchemy import or_, select

from .models import Shop, ShopStatus, utcnow

log = logging.getLogger(__name__)
MAX_AGE = dt.timedelta(days=1)


def shop_profile(session, shop_domain: str) -> dict:
    """What we know of the shop: name, currency_code, iana_timezone, primary_domain (None where unknown)."""
    shop = session.scalar(select(Shop).where(Shop.domain == shop_domain))
    if shop is None:
        return {"name": None, "currency_code": None, "iana_timezone": None, "primary_domain": None, "primary_locale": None,
                "contact_email": None, "refreshed_at": None}
    return {"name": shop.name, "currency_code": shop.currency_code, "iana_timezone": shop.iana_timezone,
            "primary_domain": shop.primary_domain, "primary_locale": shop.primary_locale, "contact_email": shop.contact_email,
            "refreshed_at": shop.profile_refreshed_at}


def _valid_timezone(name: str | None) -> str | None:
    # Only a zone the server knows is kept: format_when must never fail on a page.
    try:
        return name if name and zoneinfo.ZoneInfo(name) else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _primary_locale(domain) -> str | None:
    # The storefront's language on its primary domain: customer notices fall back to it when an
    # order has no locale (read from the domain: Query.shopLocales would need one more scope, read_locales).
    locale = ((domain or {}).get("localization") or {}).get("defaultLocale")
    return locale[:16] if isinstance(locale, str) and locale else None


def refresh_shop_profile(services, shop_domain: str) -> dict:
    """Read Shopify's shop query (outside any transaction), then store the profile; returns it."""
    # One attempt: a failed read is simply tried again on the job's next run.
    data = services.gateway(shop_domain, max_attempts=1).query("ShopInfo")["shop"]
    currency = (data.get("currencyCode") or "").upper()[:3] or None
    values = {"name": (data.get("name") or "")[:255] or None, "currency_code": currency,
              "iana_timezone": _valid_timezone(data.get("ianaTimezone")),
              "primary_domain": ((data.get("primaryDomain") or {}).get("host") or "")[:255] or None,
              "primary_locale": _primary_locale(data.get("primaryDomain")),
              "contact_email": (data.get("contactEmail") or "")[:255] or None}
    with services.session_factory.begin() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == shop_domain))
        if shop is not None:
            for key, value in values.items():
                setattr(shop, key, value)
            shop.profile_refreshed_at = utcnow()
    return values


def stored_profile(services, shop_domain: str) -> dict:
    """The profile as stored (no Shopify call): what a page shows; UTC and no currency until the job has read it."""
    with (services.read_session_factory or services.session_factory)() as session:
        return shop_profile(session, shop_domain)


def stale_profiles(services) -> list[str]:
    """Installed shops whose profile is missing or older than MAX_AGE (one query: the per-shop job skips the rest)."""
    with services.session_factory() as session:
        return list(session.scalars(select(Shop.domain).where(
            Shop.status == ShopStatus.INSTALLED.value,
            or_(Shop.profile_refreshed_at.is_(None), Shop.profile_refreshed_at < utcnow() - MAX_AGE))))


def refresh_if_stale(services, shop_domain: str) -> dict:
    """The scheduler's job: read Shopify's profile when the stored one is missing or a day old; a failed read keeps the old one."""
    profile = stored_profile(services, shop_domain)
    if profile["refreshed_at"] is not None and utcnow() - profile["refreshed_at"] <= MAX_AGE:
        return profile
    try:
        return {**refresh_shop_profile(services, shop_domain), "refreshed_at": utcnow()}
    except Exception:  # tried again on the next run; pages keep the stored profile (or UTC)
        log.warning("could not read the shop profile of %s", shop_domain, exc_info=True)
        return profile
