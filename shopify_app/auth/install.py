"""The authorization-code install flow for non-embedded installs, with ShopifyAPI's helpers.

ShopifyAPI builds the permission URL, checks the callback's query HMAC and timestamp, and
sanitises the shop domain. The code-for-token POST goes through our httpx client instead
of ShopifyAPI's urllib call, so it has a timeout and can be routed to the sandbox.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets

import shopify
from flask import Blueprint, abort, current_app, redirect, request
from shopify.utils.shop_url import sanitize_shop_domain
from sqlalchemy import delete, func, select, update

from ..models import OAuthState, utcnow
from .tokens import TokenUnavailable, shop_name

log = logging.getLogger(__name__)
blueprint = Blueprint("install", __name__)

STATE_TTL = dt.timedelta(minutes=10)
# /auth/install is unauthenticated: each call adds a row. Rows older than STATE_TTL are
# useless (the callback refuses them) and are deleted on every insert, and the live ones
# are capped, so the table stays bounded whoever calls.
MAX_LIVE_STATES_PER_SHOP = 10
MAX_LIVE_STATES = 10_000


def configure_shopify_api(settings) -> None:
    """Give ShopifyAPI the app's key and secret (it keeps them on the Session class)."""
    shopify.Session.setup(api_key=settings.api_key, secret=settings.api_secret)


def sanitized_shop(value: str | None) -> str | None:
    """A shop domain like 'x.myshopify.com', or None if the input is not one."""
    shop = sanitize_shop_domain(value) if value else None
    # The library takes a name of any length; a DNS label is at most 63 characters (a longer one reached
    # the install's String(255) state row: a 500 on PostgreSQL, and a row for no shop anywhere else).
    return shop if shop and len(shop.partition(".")[0]) <= 63 else None


@blueprint.get("/auth/install")
def begin_install():
    """Start the install: store a state nonce and send the merchant to Shopify's consent page."""
    services = current_app.extensions["services"]
    shop = sanitized_shop(request.args.get("shop"))
    if shop is None:
        abort(400, "invalid shop domain")
    nonce = secrets.token_urlsafe(32)
    with services.session_factory.begin() as session:
        if not store_state(session, nonce, shop):
            abort(429, "too many installs in progress; try again in a few minutes")
    session_ = shopify.Session(shop, services.settings.api_version)
    url = session_.create_permission_url(
        services.settings.scopes.split(","), f"{services.settings.app_url}/auth/callback", state=nonce
    )
    return redirect(services.public_shopify_url(url))


def store_state(session, nonce: str, shop: str) -> bool:
    """Purge stale states, then add this one unless the shop's or the table's cap is reached."""
    session.execute(delete(OAuthState).where(OAuthState.created_at <= utcnow() - STATE_TTL))
    live = select(func.count()).select_from(OAuthState)
    if session.scalar(live) >= MAX_LIVE_STATES or session.scalar(live.where(OAuthState.shop_domain == shop)) >= MAX_LIVE_STATES_PER_SHOP:
        return False
    session.add(OAuthState(nonce=nonce, shop_domain=shop))
    return True


def valid_callback_params(params: dict) -> bool:
    """ShopifyAPI's HMAC and timestamp check, False (not a 500) for a malformed timestamp."""
    try:
        return bool(shopify.Session.validate_params(params))
    except (ValueError, TypeError):
        return False


@blueprint.get("/auth/callback")
def finish_install():
    """Check HMAC, timestamp and state; exchange the code for an offline token."""
    services = current_app.extensions["services"]
    params = request.args.to_dict()
    shop = sanitized_shop(params.get("shop"))
    if shop is None:
        abort(400, "invalid shop domain")
    if not valid_callback_params(params):
        abort(401, "invalid hmac or stale request")
    with services.session_factory.begin() as session:
        # Consume the nonce in one statement: a replayed callback matches nothing.
        consumed = session.execute(
            update(OAuthState)
            .where(
                OAuthState.nonce == params.get("state", ""),
                OAuthState.shop_domain == shop,
                OAuthState.used_at.is_(None),
                OAuthState.created_at > utcnow() - STATE_TTL,
            )
            .values(used_at=utcnow())
        ).rowcount
    if consumed != 1:
        abort(403, "unknown or used state")
    if not params.get("code"):
        abort(400, "missing code")
    try:
        exchange_authorization_code(services, shop, params["code"])
    except TokenUnavailable:
        abort(502, "Shopify refused the authorization code")
    subscribe_shop(services, shop)
    return redirect(services.app_home_in_admin_url(shop))


def subscribe_shop(services, shop: str) -> None:
    """When the app keeps shop-level webhook subscriptions, make them right now (the reconcile job re-checks them)."""
    if services.settings.webhook_subscriptions != "shop":
        return
    from ..webhooks.subscriptions import reconcile_subscriptions

    try:
        reconcile_subscriptions(services.gateway(shop), app_url=services.settings.app_url, mode="shop")
    except Exception as exc:  # the install stands; reconciliation finds what is missing within its interval
        log.warning("webhook subscriptions for shop=%s not reconciled at install: %s", shop, type(exc).__name__)


def exchange_authorization_code(services, shop: str, code: str) -> None:
    """POST the code to Shopify's token endpoint and store the (expiring) offline token."""
    response = services.http_client.post(
        f"https://{shop}/admin/oauth/access_token",
        json={
            "client_id": services.settings.api_key,
            "client_secret": services.settings.api_secret,
            "code": code,
            "expiring": 1,
        },
    )
    if response.status_code != 200:
        log.warning("authorization code exchange failed for shop=%s: HTTP %s", shop, response.status_code)
        raise TokenUnavailable(f"HTTP {response.status_code}")
    data = response.json()
    now = utcnow()
    expires = now + dt.timedelta(seconds=data["expires_in"]) if data.get("expires_in") else None
    refresh_expires = now + dt.timedelta(seconds=data["refresh_token_expires_in"]) if data.get("refresh_token_expires_in") else None
    services.tokens.save(shop, data["access_token"], data.get("refresh_token"), expires, refresh_expires, data.get("scope"))
    if services.scheduler is not None:
        services.scheduler.add_shop_jobs(shop)
    log.info("installed shop=%s via authorization code (%s)", shop, shop_name(shop))
