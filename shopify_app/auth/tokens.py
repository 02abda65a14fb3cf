"""Offline access tokens: obtained by token exchange, stored encrypted, refreshed before expiry.

Refresh uses a lease on the token row, claimed with one conditional UPDATE, instead of
holding a row lock (SELECT ... FOR UPDATE) across the HTTP call: SQLite has no row
locks, and holding its write lock for a network round trip would stall webhook intake.
The UPDATE itself is atomic on both databases, so exactly one worker wins the claim;
the others wait for the token's generation to change and then read the new token.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import httpx
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from ..crypto import SecretBox
from ..models import Shop, ShopStatus, ShopToken, utcnow

log = logging.getLogger(__name__)

PLAINTEXT_CACHE_SIZE = 1024  # shops' tokens decrypted, per process
REFRESH_LEASE_SECONDS = 30
# A refresh whose answer was lost (5xx after Shopify acted, or a broken connection) is sent
# again with the same refresh token: Shopify accepts the previous refresh token until its
# replacement has been used, and answers with the pair it issued. The SDK already repeats
# 5xx twice at once; these are further attempts with a pause, all inside the lease.
REFRESH_ATTEMPTS = 3
REFRESH_RETRY_PAUSE_SECONDS = 0.5
TRANSIENT_REFRESH_CODES = frozenset({"server_error", "network_error"})


class TokenUnavailable(Exception):
    """No usable offline token: the merchant must open the app (or reinstall) again."""


def shop_name(shop_domain: str) -> str:
    """'demo.myshopify.com' -> 'demo' (the SDK's form)."""
    return shop_domain.removesuffix(".myshopify.com")


def shop_domain_of(name_or_domain: str) -> str:
    """'demo' or 'demo.myshopify.com' -> 'demo.myshopify.com'."""
    name = name_or_domain.strip().lower()
    return name if name.endswith(".myshopify.com") else f"{name}.myshopify.com"


def _parse_iso(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(value: dt.datetime | None) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


@dataclass
class ShopTokenSource:
    """The gateway's view of one shop's token: current value, and a way to force a refresh."""

    store: "OfflineTokenStore"
    shop_domain: str

    def access_token(self) -> str:
        """A token valid for at least the refresh margin."""
        return self.store.access_token(self.shop_domain)

    def invalidate(self) -> None:
        """Shopify said 401: treat the stored token as expired so the next read refreshes."""
        self.store.mark_expired(self.shop_domain)


class OfflineTokenStore:
    """Exchange, store (encrypted), read and refresh shops' offline tokens."""

    def __init__(self, session_factory: sessionmaker, box: SecretBox, shopify, http_client: httpx.Client, refresh_margin_seconds: int = 300, sleep=time.sleep):
        from ..db import read_only

        self.session_factory = session_factory
        # Token reads happen inside handlers' write transactions: read without the write lock.
        self.read_session_factory = read_only(session_factory)
        self.read_engine = self.read_session_factory.kw["bind"]
        self.box = box
        self.shopify = shopify  # shopify_app.sdk.ShopifyApp
        self.http_client = http_client
        self.margin = dt.timedelta(seconds=refresh_margin_seconds)
        self.sleep = sleep
        self._plain: dict[bytes, str] = {}
        self._plain_lock = threading.Lock()
        self.owner = uuid.uuid4().hex
        # Install completion (lifecycle.complete_install): run in the transaction that stores a
        # shop's first token (or its token after a reinstall), then once it is committed.
        self.on_install: Callable[[Session, str], None] | None = None
        self.after_install: Callable[[str], None] | None = None

    def source(self, shop_domain: str) -> ShopTokenSource:
        """A token source for the gateway."""
        return ShopTokenSource(self, shop_domain)

    def exchange(self, id_token) -> str:
        """Trade a verified session token for an expiring offline token and store it."""
        result = self.shopify.exchange_using_token_exchange("offline", id_token=id_token, expiring=True, http_client=self.http_client)
        if not result.ok or result.access_token is None:
            log.warning("token exchange failed: %s", result.log.code)
            raise TokenUnavailable(result.log.code)
        token = result.access_token
        domain = shop_domain_of(token.shop)
        self.save(domain, token.token, token.refresh_token, _parse_iso(token.expires), _parse_iso(token.refresh_token_expires), token.scope)
        return token.token

    def save(self, shop_domain: str, access_token: str, refresh_token: str | None, expires_at, refresh_expires_at, scope: str | None) -> None:
        """Store a token pair atomically (installing or reinstalling the shop)."""
        with self.session_factory.begin() as session:
            shop = session.scalar(select(Shop).where(Shop.domain == shop_domain))
            if shop is None:
                shop = Shop(domain=shop_domain)
                session.add(shop)
                session.flush()
            installing = shop.status != ShopStatus.INSTALLED.value or session.scalar(select(ShopToken.id).where(ShopToken.shop_id == shop.id)) is None
            shop.status = ShopStatus.INSTALLED.value
            shop.uninstalled_at = None
            shop.scopes = scope
            row = session.scalar(select(ShopToken).where(ShopToken.shop_id == shop.id))
            if row is None:
                row = ShopToken(shop_id=shop.id, generation=0, access_token_enc=b"")
                session.add(row)
            row.access_token_enc = self.box.encrypt(access_token)
            row.refresh_token_enc = self.box.encrypt(refresh_token) if refresh_token else None
            row.expires_at = expires_at
            row.refresh_token_expires_at = refresh_expires_at
            row.scope = scope
            row.generation = (row.generation or 0) + 1
            row.refresh_lease_owner = row.refresh_lease_until = None
            if installing and self.on_install is not None:
                self.on_install(session, shop_domain)
        if installing and self.after_install is not None:
            self.after_install(shop_domain)

    def is_installed(self, shop_domain: str) -> bool:
        """True if the shop installed the app (a token is stored) and has not uninstalled it since."""
        with self.read_session_factory() as session:
            return self._row(session, shop_domain) is not None

    def has_usable_token(self, shop_domain: str) -> bool:
        """True if a token is stored that is valid or can still be refreshed."""
        with self.read_session_factory() as session:
            row = self._row(session, shop_domain)
            if row is None:
                return False
            now = utcnow()
            if row.expires_at is None or row.expires_at > now + self.margin:
                return True
            return bool(row.refresh_token_enc) and (row.refresh_token_expires_at is None or row.refresh_token_expires_at > now)

    def access_token(self, shop_domain: str) -> str:
        """The shop's access token, refreshed first if it expires within the margin."""
        deadline = time.monotonic() + REFRESH_LEASE_SECONDS + 5
        while True:
            # Every Shopify call asks: a Core statement built once on a plain connection, not an ORM
            # Session around it (its set-up and close cost more than the statement: issue 19 part C).
            with self.read_engine.connect() as conn:
                row = conn.execute(_CURRENT_TOKEN, {"shop": shop_domain, "installed": ShopStatus.INSTALLED.value}).first()
            if row is None:
                raise TokenUnavailable("no offline token stored")
            now = utcnow()
            if row.expires_at is None or row.expires_at > now + self.margin:
                return self._plaintext(row.access_token_enc)
            generation, token_id = row.generation, row.id
            if self._claim_refresh(token_id, generation):
                return self._refresh(shop_domain, token_id)
            # Someone else is refreshing: wait for the generation to move on.
            if time.monotonic() > deadline:
                raise TokenUnavailable("timed out waiting for another worker's refresh")
            self.sleep(0.05)

    def refresh_if_expiring(self, shop_domain: str, within: dt.timedelta) -> bool:
        """Refresh now if the token expires within `within` (the scheduler's look-ahead)."""
        with self.read_session_factory() as session:
            row = self._row(session, shop_domain)
            if row is None or row.expires_at is None or row.expires_at > utcnow() + within:
                return False
            generation, token_id = row.generation, row.id
        if self._claim_refresh(token_id, generation):
            self._refresh(shop_domain, token_id)
            return True
        return False

    def mark_expired(self, shop_domain: str) -> None:
        """Force the next access_token() call to refresh."""
        with self.session_factory.begin() as session:
            row = self._row(session, shop_domain)
            if row is not None:
                row.expires_at = utcnow()

    def refresh_due(self, within: dt.timedelta) -> list[str]:
        """Domains of installed shops whose token expires within `within` (for the scheduler)."""
        with self.read_session_factory() as session:
            rows = session.execute(
                select(Shop.domain)
                .join(ShopToken, ShopToken.shop_id == Shop.id)
                .where(Shop.status == ShopStatus.INSTALLED.value, ShopToken.expires_at.is_not(None), ShopToken.expires_at < utcnow() + within)
            )
            return [r[0] for r in rows]

    def _plaintext(self, ciphertext: bytes) -> str:
        # Every Shopify call reads the token: Fernet's HMAC + AES per call cost ~0.15 ms of CPU, the
        # top item of a shipment's push. Keyed by the stored ciphertext, so a refreshed or
        # re-encrypted token is a new entry; the process holds the key anyway.
        with self._plain_lock:
            token = self._plain.get(ciphertext)
        if token is None:
            token = self.box.decrypt(ciphertext)
            with self._plain_lock:
                if len(self._plain) >= PLAINTEXT_CACHE_SIZE:
                    self._plain.clear()
                self._plain[ciphertext] = token
        return token

    def _row(self, session, shop_domain: str) -> ShopToken | None:
        return session.scalar(
            select(ShopToken).join(Shop).where(Shop.domain == shop_domain, Shop.status == ShopStatus.INSTALLED.value)
        )

    def _claim_refresh(self, token_id: int, generation: int) -> bool:
        now = utcnow()
        with self.session_factory.begin() as session:
            result = session.execute(
                update(ShopToken)
                .where(
                    ShopToken.id == token_id,
                    ShopToken.generation == generation,
                    or_(ShopToken.refresh_lease_until.is_(None), ShopToken.refresh_lease_until < now),
                )
                .values(refresh_lease_owner=self.owner, refresh_lease_until=now + dt.timedelta(seconds=REFRESH_LEASE_SECONDS))
            )
            return result.rowcount == 1

    def _refresh(self, shop_domain: str, token_id: int) -> str:
        with self.read_session_factory() as session:
            row = session.get(ShopToken, token_id)
            refresh_token = self.box.decrypt(row.refresh_token_enc) if row.refresh_token_enc else None
            refresh_expires = row.refresh_token_expires_at
        if not refresh_token:
            self._release(token_id)
            raise TokenUnavailable("token expired and no refresh token stored")
        for attempt in range(1, REFRESH_ATTEMPTS + 1):
            # We already decided to refresh; "expires now" makes the SDK do it rather than
            # apply its own 60-second rule. The same refresh token every time: never drop
            # it until the new pair is stored.
            result = self.shopify.refresh_token_exchanged_access_token(
                {
                    "shop": shop_name(shop_domain),
                    "refresh_token": refresh_token,
                    "expires": _iso(utcnow()),
                    "refresh_token_expires": _iso(refresh_expires),
                    "access_mode": "offline",
                },
                http_client=self.http_client,
            )
            if result.ok or result.log.code not in TRANSIENT_REFRESH_CODES or attempt == REFRESH_ATTEMPTS:
                break
            log.warning("token refresh for shop=%s lost its answer (%s), retrying with the same refresh token (attempt %d)",
                        shop_domain, result.log.code, attempt)
            self.sleep(REFRESH_RETRY_PAUSE_SECONDS * attempt)
        if not result.ok or result.access_token is None:
            # The stored refresh token is kept: a later try repeats this refresh safely.
            self._release(token_id)
            log.warning("token refresh failed for shop=%s: %s", shop_domain, result.log.code)
            raise TokenUnavailable(result.log.code)
        new = result.access_token
        with self.session_factory.begin() as session:
            row = session.get(ShopToken, token_id)
            # Only the lease holder writes; the new pair is stored in one transaction.
            if row.refresh_lease_owner != self.owner:
                raise TokenUnavailable("refresh lease lost")
            row.access_token_enc = self.box.encrypt(new.token)
            row.refresh_token_enc = self.box.encrypt(new.refresh_token) if new.refresh_token else row.refresh_token_enc
            row.expires_at = _parse_iso(new.expires)
            row.refresh_token_expires_at = _parse_iso(new.refresh_token_expires) or row.refresh_token_expires_at
            row.generation += 1
            row.refresh_lease_owner = row.refresh_lease_until = None
        log.info("token refreshed for shop=%s", shop_domain)
        return new.token

    def _release(self, token_id: int) -> None:
        with self.session_factory.begin() as session:
            session.execute(
                update(ShopToken)
                .where(ShopToken.id == token_id, ShopToken.refresh_lease_owner == self.owner)
                .values(refresh_lease_owner=None, refresh_lease_until=None)
            )


_CURRENT_TOKEN = (select(ShopToken.id, ShopToken.generation, ShopToken.expires_at, ShopToken.access_token_enc).join(Shop)
                  .where(Shop.domain == bindparam("shop"), Shop.status == bindparam("installed")))
