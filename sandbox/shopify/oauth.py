"""Shopify's OAuth side: token exchange, refresh, authorization codes, session tokens, query HMACs.

All checks Shopify makes are made here (client credentials, the ID token's signature,
audience, destination and expiry, single-use codes, refresh tokens used once but retried
until their replacement is used), with wall-clock
time from the store so tests can move time instead of sleeping.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

import jwt

from .store import AccessToken, AppRegistration, AuthorizationCode, RefreshToken, ShopState, Store

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
ONLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:online-access-token"

ACCESS_TOKEN_TTL = 3600
REFRESH_TOKEN_TTL = 90 * 24 * 3600  # 7776000 s
AUTHORIZATION_CODE_TTL = 600
ONLINE_TOKEN_TTL = 24 * 3600
JWT_LEEWAY_SECONDS = 5


class OAuthError(Exception):
    """An error answer from the token endpoint: HTTP status plus OAuth error code."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict[str, str]:
        """The JSON body Shopify sends."""
        return {"error": self.error, "error_description": self.description}


@dataclass
class IssuedToken:
    """What the token endpoint hands back."""

    access: AccessToken
    refresh: RefreshToken | None

    def response(self, now: float, user: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The token endpoint's JSON body (expiry fields only for expiring tokens)."""
        body: dict[str, Any] = {"access_token": self.access.token, "scope": ",".join(self.access.scopes)}
        if self.access.expires_at is not None:
            body["expires_in"] = int(round(self.access.expires_at - now))
        if self.refresh is not None:
            body["refresh_token"] = self.refresh.token
            body["refresh_token_expires_in"] = int(round(self.refresh.expires_at - now))
        if user is not None:
            body["associated_user_scope"] = body["scope"]
            body["associated_user"] = dict(user)
        return body


def query_hmac(params: Mapping[str, Any], secret: str) -> str:
    """Shopify's query-string HMAC: hex HMAC-SHA256 over the sorted `k=v` pairs joined by `&`, without `hmac`."""
    pairs = []
    for key, value in params.items():
        if key == "hmac":
            continue
        # Escape the delimiters so a value cannot forge another pair.
        k = str(key).replace("%", "%25").replace("=", "%3D").replace("&", "%26")
        v = str(value).replace("%", "%25").replace("&", "%26")
        pairs.append(f"{k}={v}")
    message = "&".join(sorted(pairs))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def admin_host_param(shop_domain: str) -> str:
    """The `host` parameter: base64 of admin.shopify.com/store/<name>, padding stripped like Shopify's."""
    name = shop_domain.removesuffix(".myshopify.com")
    return base64.b64encode(f"admin.shopify.com/store/{name}".encode()).decode().rstrip("=")


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


class OAuthAuthority:
    """Issues and checks credentials for the sandbox's shops and apps."""

    def __init__(self, store: Store):
        self.store = store

    # -- session tokens (App Bridge ID tokens) ---------------------------------------------

    def mint_session_token(self, shop_domain: str, client_id: str, ttl: int = 60, user_id: str = "1") -> str:
        """An App Bridge session token: HS256 with the app's secret, Shopify's claims."""
        app = self._app_or_raise(client_id)
        shop = self.store.require_shop(shop_domain)
        now = int(self.store.wall_clock())
        claims = {
            "iss": f"https://{shop.domain}/admin",
            "dest": f"https://{shop.domain}",
            "aud": client_id,
            "sub": str(user_id),
            "exp": now + ttl,
            "nbf": now,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "sid": secrets.token_hex(16),
        }
        return jwt.encode(claims, app.client_secret, algorithm="HS256")

    def verify_session_token(self, token: str, app: AppRegistration, shop: ShopState) -> dict[str, Any]:
        """The token's claims if Shopify would accept it for this app and shop; OAuthError otherwise."""
        try:
            claims = jwt.decode(token, app.client_secret, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False})
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_subject_token", f"Subject token could not be verified: {exc}") from None
        now = self.store.wall_clock()
        if claims.get("aud") != app.client_id:
            raise OAuthError("invalid_subject_token", "Subject token audience does not match client_id.")
        if claims.get("dest") != f"https://{shop.domain}":
            raise OAuthError("invalid_subject_token", "Subject token destination does not match the shop.")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < now - JWT_LEEWAY_SECONDS:
            raise OAuthError("invalid_subject_token", "Subject token has expired.")
        if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] > now + JWT_LEEWAY_SECONDS:
            raise OAuthError("invalid_subject_token", "Subject token is not yet valid.")
        return claims

    # -- the token endpoint ---------------------------------------------------------------

    def token_endpoint(self, shop: ShopState, body: Mapping[str, Any]) -> dict[str, Any]:
        """Answer POST /admin/oauth/access_token (any grant); raises OAuthError."""
        app = self._authenticate_client(body)
        grant = body.get("grant_type")
        if grant == TOKEN_EXCHANGE_GRANT:
            return self._token_exchange(shop, app, body)
        if grant == "refresh_token":
            return self._refresh(shop, app, body)
        if grant in (None, "", "authorization_code") and body.get("code"):
            return self._authorization_code(shop, app, body)
        raise OAuthError("unsupported_grant_type", f"The grant type {grant!r} is not supported.")

    def _authenticate_client(self, body: Mapping[str, Any]) -> AppRegistration:
        app = self.store.app(str(body.get("client_id") or ""))
        if app is None or not hmac.compare_digest(str(body.get("client_secret") or ""), app.client_secret):
            raise OAuthError("invalid_client", "Client authentication failed: unknown client_id or wrong client_secret.")
        return app

    def _token_exchange(self, shop: ShopState, app: AppRegistration, body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("subject_token_type") != ID_TOKEN_TYPE:
            raise OAuthError("invalid_request", "subject_token_type must be urn:ietf:params:oauth:token-type:id_token.")
        requested = body.get("requested_token_type") or OFFLINE_TOKEN_TYPE
        if requested not in (OFFLINE_TOKEN_TYPE, ONLINE_TOKEN_TYPE):
            raise OAuthError("invalid_request", f"Unsupported requested_token_type {requested!r}.")
        subject = body.get("subject_token")
        if not subject:
            raise OAuthError("invalid_subject_token", "The subject_token is missing.")
        claims = self.verify_session_token(str(subject), app, shop)
        with self.store.lock:
            now = self.store.wall_clock()
            self.store.installation(shop, app.client_id)
            if requested == ONLINE_TOKEN_TYPE:
                issued = self._issue(shop, app, app.scopes, now, expires_in=ONLINE_TOKEN_TTL, with_refresh=False, online=True, user_id=claims.get("sub"))
                return issued.response(now, self._associated_user(claims.get("sub")))
            expiring = _flag(body.get("expiring", 0))
            issued = self._issue(shop, app, app.scopes, now, expires_in=ACCESS_TOKEN_TTL if expiring else None, with_refresh=expiring)
            return issued.response(now)

    def _refresh(self, shop: ShopState, app: AppRegistration, body: Mapping[str, Any]) -> dict[str, Any]:
        presented = str(body.get("refresh_token") or "")
        with self.store.lock:
            now = self.store.wall_clock()
            record = shop.refresh_tokens.get(presented)
            if record is None or record.client_id != app.client_id or record.expires_at <= now:
                raise OAuthError("invalid_grant", "The refresh token is invalid, expired, or has already been used.")
            if record.used:
                # A retried refresh (its answer was lost): Shopify accepts the previous refresh
                # token until its replacement has been used once, and answers with that pair.
                replacement = shop.refresh_tokens.get(record.replaced_by or "")
                access = shop.access_tokens.get(replacement.access_token) if replacement else None
                if replacement is None or replacement.used or access is None or access.revoked:
                    raise OAuthError("invalid_grant", "The refresh token is invalid, expired, or has already been used.")
                shop.refresh_retries += 1
                return IssuedToken(access, replacement).response(now)
            # Used once: the old refresh token and the access token it came with are replaced now.
            record.used = True
            old = shop.access_tokens.get(record.access_token)
            if old is not None:
                old.revoked = True
            issued = self._issue(shop, app, old.scopes if old else app.scopes, now, expires_in=ACCESS_TOKEN_TTL, with_refresh=True)
            record.replaced_by = issued.refresh.token
            shop.refresh_count += 1
            return issued.response(now)

    def _authorization_code(self, shop: ShopState, app: AppRegistration, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            now = self.store.wall_clock()
            code = shop.authorization_codes.get(str(body.get("code")))
            if code is None or code.used or code.client_id != app.client_id or code.expires_at <= now:
                raise OAuthError("invalid_request", "The authorization code was not found or was already used")
            code.used = True
            self.store.installation(shop, app.client_id)
            expiring = _flag(body.get("expiring", 0))
            issued = self._issue(shop, app, code.scopes, now, expires_in=ACCESS_TOKEN_TTL if expiring else None, with_refresh=expiring)
            return issued.response(now)

    def _issue(self, shop: ShopState, app: AppRegistration, scopes, now: float, *, expires_in: int | None, with_refresh: bool, online: bool = False, user_id: str | None = None) -> IssuedToken:
        prefix = "shpua_" if online else "shpat_"
        access = AccessToken(prefix + secrets.token_hex(16), app.client_id, tuple(scopes), now + expires_in if expires_in else None, online, user_id)
        shop.access_tokens[access.token] = access
        refresh = None
        if with_refresh:
            refresh = RefreshToken("shprt_" + secrets.token_hex(16), app.client_id, access.token, now + REFRESH_TOKEN_TTL)
            shop.refresh_tokens[refresh.token] = refresh
        return IssuedToken(access, refresh)

    def issue_offline_token(self, shop_domain: str, client_id: str, *, expiring: bool = False) -> dict[str, Any]:
        """Test helper: install the app and return a token response without the HTTP dance."""
        app = self._app_or_raise(client_id)
        with self.store.lock:
            shop = self.store.require_shop(shop_domain)
            now = self.store.wall_clock()
            self.store.installation(shop, client_id)
            issued = self._issue(shop, app, app.scopes, now, expires_in=ACCESS_TOKEN_TTL if expiring else None, with_refresh=expiring)
            return issued.response(now)

    @staticmethod
    def _associated_user(user_id: Any) -> dict[str, Any]:
        number = int(user_id) if str(user_id).isdigit() else 1
        return {"id": number, "first_name": "Sandbox", "last_name": "Staff", "email": f"staff{number}@example.com", "account_owner": number == 1, "locale": "en", "collaborator": False, "email_verified": True}

    # -- Admin API tokens ---------------------------------------------------------------

    def authenticate(self, shop: ShopState, token: str | None) -> AccessToken | None:
        """The access token's record if it is valid for this shop now."""
        if not token:
            return None
        with self.store.lock:
            record = shop.access_tokens.get(token)
            if record is None or record.revoked:
                return None
            if record.expires_at is not None and record.expires_at <= self.store.wall_clock():
                return None
            return record

    def revoke_all(self, shop_domain: str, client_id: str | None = None) -> int:
        """Revoke every token of the shop (or of one app on it), e.g. to simulate an uninstall."""
        with self.store.lock:
            shop = self.store.require_shop(shop_domain)
            revoked = 0
            for record in shop.access_tokens.values():
                if not record.revoked and (client_id is None or record.client_id == client_id):
                    record.revoked = True
                    revoked += 1
            for refresh in shop.refresh_tokens.values():
                if client_id is None or refresh.client_id == client_id:
                    refresh.used = True
            return revoked

    # -- authorization-code install -----------------------------------------------------

    def authorize_redirect(self, shop: ShopState, params: Mapping[str, str]) -> str:
        """The merchant approves: the redirect URL back to the app, with a code and Shopify's HMAC."""
        app = self.store.app(params.get("client_id", ""))
        if app is None:
            raise OAuthError("invalid_request", "The client_id is not a registered app.")
        redirect_uri = params.get("redirect_uri") or (f"{app.app_url}/auth/callback" if app.app_url else "")
        if not redirect_uri:
            raise OAuthError("invalid_request", "The redirect_uri is missing.")
        if app.app_url and urlsplit(redirect_uri).netloc != urlsplit(app.app_url).netloc:
            raise OAuthError("invalid_request", "The redirect_uri is not whitelisted.")
        requested = [s.strip() for s in (params.get("scope") or "").split(",") if s.strip()]
        with self.store.lock:
            now = self.store.wall_clock()
            code = AuthorizationCode(secrets.token_hex(16), app.client_id, tuple(requested or app.scopes), now + AUTHORIZATION_CODE_TTL)
            shop.authorization_codes[code.code] = code
        query: dict[str, str] = {"code": code.code, "host": admin_host_param(shop.domain), "shop": shop.domain, "timestamp": str(int(now))}
        if params.get("state") is not None:
            query["state"] = params["state"]
        query["hmac"] = query_hmac(query, app.client_secret)
        return _append_query(redirect_uri, query)

    def app_home_url(self, shop: ShopState, client_id: str, locale: str = "en") -> str:
        """Where the admin sends the browser to open an embedded app: its URL with an id_token and the admin user's locale."""
        app = self._app_or_raise(client_id)
        if not app.app_url:
            raise OAuthError("invalid_request", f"App {client_id} has no app_url registered.")
        now = int(self.store.wall_clock())
        query = {
            "embedded": "1",
            "host": admin_host_param(shop.domain),
            "id_token": self.mint_session_token(shop.domain, client_id),
            "locale": locale,
            "session": secrets.token_hex(32),
            "shop": shop.domain,
            "timestamp": str(now),
        }
        query["hmac"] = query_hmac(query, app.client_secret)
        return _append_query(f"{app.app_url}/", query)

    def _app_or_raise(self, client_id: str) -> AppRegistration:
        app = self.store.app(client_id)
        if app is None:
            raise KeyError(f"app {client_id} is not registered; call register_app first")
        return app


def _append_query(url: str, params: Mapping[str, str]) -> str:
    from urllib.parse import urlencode

    return url + ("&" if "?" in url else "?") + urlencode(params)
