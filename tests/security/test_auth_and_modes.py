"""Issue 12, modes and auth: sandbox only when asked for, session-token claims, signature headers, redirects, oauth states, CSP."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.parse
import uuid
from html.parser import HTMLParser

import jwt
import pytest
from sqlalchemy import func, select, update

from conftest import API_KEY, API_SECRET, FERNET_KEY, REPO, install_shop, make_settings, printful_supplier, sign, webhook_headers
from shopify_app.auth import install
from shopify_app.config import SANDBOX_API_KEY, SANDBOX_API_SECRET, SANDBOX_ENCRYPTION_KEY, ConfigError, load_settings
from shopify_app.models import OAuthState, ShopStatus, Shop, WebhookDelivery, utcnow

SHOP = "demo.myshopify.com"
APP_URL = "http://127.0.0.1:9"  # make_settings' APP_URL
REAL_ENV = {"SHOPIFY_API_KEY": API_KEY, "SHOPIFY_API_SECRET": API_SECRET, "ENCRYPTION_KEYS": FERNET_KEY}


# -- modes -------------------------------------------------------------------------------

@pytest.mark.parametrize("env, says", [
    ({"SHOPIFY_API_KEY": API_KEY, "ENCRYPTION_KEYS": FERNET_KEY}, "SHOPIFY_API_SECRET is not set"),
    ({"SHOPIFY_API_SECRET": API_SECRET, "ENCRYPTION_KEYS": FERNET_KEY}, "SHOPIFY_API_KEY is not set"),
    ({"ENCRYPTION_KEYS": FERNET_KEY}, "SANDBOX=1"),
    ({"SHOPIFY_API_KEY": API_KEY, "SHOPIFY_API_SECRET": API_SECRET}, "ENCRYPTION_KEYS must be set"),
    ({**REAL_ENV, "SHOPIFY_API_SECRET": SANDBOX_API_SECRET}, "sandbox's public credentials"),
    ({**REAL_ENV, "SHOPIFY_API_SECRET_OLD": SANDBOX_API_SECRET}, "sandbox's public credentials"),
    ({**REAL_ENV, "SHOPIFY_API_KEY": SANDBOX_API_KEY}, "sandbox's public credentials"),
    ({**REAL_ENV, "ENCRYPTION_KEYS": f"{FERNET_KEY},{SANDBOX_ENCRYPTION_KEY}"}, "sandbox's public key"),
    ({**REAL_ENV, "ENCRYPTION_KEYS": "not-a-key"}, "entry 1 is not a Fernet key"),
    ({**REAL_ENV, "SANDBOX": "1"}, "both set"),
    ({"SANDBOX": "1", "SHOPIFY_API_KEY": API_KEY}, "both set"),
])
def test_real_mode_refuses_incomplete_or_public_credentials(env, says):
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(".", r"\.")):
        load_settings(env)


def test_sandbox_mode_only_when_asked_for():
    sandbox = load_settings({"SANDBOX": "1"})
    assert sandbox.sandbox and sandbox.api_secret == SANDBOX_API_SECRET and sandbox.encryption_keys == (SANDBOX_ENCRYPTION_KEY,)
    real = load_settings(REAL_ENV)
    assert not real.sandbox and real.api_secret == API_SECRET and SANDBOX_ENCRYPTION_KEY not in real.encryption_keys


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOPIFY_", "SANDBOX", "ENCRYPTION_KEYS"))}
    return {**env, "RUN_SCHEDULER": "0", **extra}


def test_key_without_secret_refuses_to_start_the_gunicorn_factory_cli_and_worker(tmp_path):
    """The finding: key set, secret unset, and create_app() served with the public sandbox secret."""
    env = _clean_env(SHOPIFY_API_KEY=API_KEY, ENCRYPTION_KEYS=FERNET_KEY, DATABASE_URL=f"sqlite:///{tmp_path}/app.db")
    commands = {
        "create_app": [sys.executable, "-c", "from shopify_app.factory import create_app; create_app()"],
        "cli run": [sys.executable, "-m", "shopify_app.cli", "run"],
        "cli worker": [sys.executable, "-m", "shopify_app.cli", "worker"],
    }
    for name, command in commands.items():
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, name
        assert "configuration error: SHOPIFY_API_SECRET is not set" in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr, (name, done.stderr)


def test_gunicorn_stops_instead_of_serving_or_respawning(tmp_path):
    env = _clean_env(SHOPIFY_API_KEY=API_KEY, ENCRYPTION_KEYS=FERNET_KEY, DATABASE_URL=f"sqlite:///{tmp_path}/app.db")
    gunicorn = [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "1", "shopify_app.factory:create_app()"]
    done = subprocess.run(gunicorn, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done.stderr[-2000:]
    assert "configuration error: SHOPIFY_API_SECRET is not set" in done.stderr, done.stderr[-2000:]


def test_a_token_signed_with_the_public_sandbox_secret_is_refused_in_real_mode(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    install_shop(app, SHOP)
    forged = session_token(secret=SANDBOX_API_SECRET, aud=API_KEY)
    assert app.test_client().get("/api/shop", headers=bearer(forged)).status_code == 401
    body = b"{}"
    forged_uninstall = webhook_headers("app/uninstalled", body, secret=SANDBOX_API_SECRET)
    assert app.test_client().post("/webhooks", data=body, headers=forged_uninstall).status_code == 401


# -- session tokens ----------------------------------------------------------------------

def session_token(shop: str = SHOP, secret: str = API_SECRET, drop: tuple[str, ...] = (), **claims) -> str:
    now = int(time.time())
    payload = {"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": API_KEY, "sub": "1", "exp": now + 60, "nbf": now - 1,
               "iat": now, "jti": str(uuid.uuid4()), "sid": uuid.uuid4().hex} | claims
    for name in drop:
        payload.pop(name)
    return jwt.encode(payload, secret, algorithm="HS256")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


BAD_TOKENS = {
    "no exp": dict(drop=("exp",)),
    "no nbf": dict(drop=("nbf",)),
    "no iss": dict(drop=("iss",)),
    "dest names another shop": dict(dest="https://other.myshopify.com"),
    "dest not myshopify": dict(dest="https://evil.example", iss="https://evil.example/admin"),
    "dest over http": dict(dest=f"http://{SHOP}", iss=f"http://{SHOP}/admin"),
    "dest with a path": dict(dest=f"https://{SHOP}/x", iss=f"https://{SHOP}/x/admin"),
    "iss names another shop": dict(iss="https://other.myshopify.com/admin"),
    "iss without /admin": dict(iss=f"https://{SHOP}"),
}


@pytest.fixture
def real_app(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    install_shop(app, SHOP, "other.myshopify.com")
    return app


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_api_refuses_tokens_without_the_claims_shopify_always_sends(real_app, case):
    client = real_app.test_client()
    assert client.get("/api/shop", headers=bearer(session_token())).status_code == 200  # the control
    response = client.get("/api/shop", headers=bearer(session_token(**BAD_TOKENS[case])))
    assert response.status_code == 401, response.get_json()


@pytest.mark.parametrize("case", ["no exp", "no nbf", "dest names another shop", "dest not myshopify"])
def test_pages_refuse_tokens_without_the_claims_shopify_always_sends(real_app, case):
    response = real_app.test_client().get(f"/?shop={SHOP}&host=abc&embedded=1&id_token={session_token(**BAD_TOKENS[case])}")
    assert response.status_code == 401


def test_api_answers_401_for_a_shop_never_installed_or_uninstalled(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    client = app.test_client()
    assert client.get("/api/shop", headers=bearer(session_token())).status_code == 401  # never installed
    install_shop(app, SHOP)
    assert client.get("/api/shop", headers=bearer(session_token())).status_code == 200
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(Shop).where(Shop.domain == SHOP).values(status=ShopStatus.UNINSTALLED.value))
    assert client.get("/api/shop", headers=bearer(session_token())).status_code == 401
    assert client.get("/api/orders", headers=bearer(session_token())).status_code == 401


# -- signature headers -------------------------------------------------------------------

NON_ASCII = "ünïcødé-sïgnåture"


def test_non_ascii_signatures_answer_401_on_every_signed_route(real_app):
    client = real_app.test_client()
    body = b'{"id": 1}'
    shopify_headers = webhook_headers("orders/create", body) | {"X-Shopify-Hmac-Sha256": NON_ASCII}
    assert client.post("/webhooks", data=body, headers=shopify_headers).status_code == 401
    callback = "/fulfillment_service/fulfillment_order_notification"
    assert client.post(callback, data=body, headers={"X-Shopify-Hmac-Sha256": NON_ASCII, "X-Shopify-Shop-Domain": SHOP}).status_code == 401
    supplier_id = printful_supplier(real_app)
    for header in ("x-pf-webhook-signature", "x-pf-webhook-public-key"):
        signed = {"x-pf-webhook-signature": hmac.new(bytes.fromhex("ab" * 16), body, hashlib.sha256).hexdigest(), header: NON_ASCII}
        assert client.post(f"/suppliers/{supplier_id}/webhooks", data=body, headers=signed).status_code == 401
    with real_app.extensions["services"].session_factory() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_install_callback_with_a_malformed_timestamp_or_hmac_answers_401(real_app):
    client = real_app.test_client()
    for params in ({"shop": SHOP, "timestamp": "soon", "hmac": "00", "code": "x", "state": "s"},
                   {"shop": SHOP, "timestamp": str(int(time.time())), "hmac": NON_ASCII, "code": "x", "state": "s"}):
        assert client.get("/auth/callback", query_string=params).status_code == 401


def test_supplier_webhooks_store_only_the_signature_headers(real_app):
    secret = "ab" * 16
    supplier_id = printful_supplier(real_app, secret)
    body = json.dumps({"type": "package_returned_unknown", "data": {}}).encode()
    signature = hmac.new(bytes.fromhex(secret), body, hashlib.sha256).hexdigest()
    headers = {"x-pf-webhook-signature": signature, "Cookie": "session=merchant-cookie", "Authorization": "Basic dXNlcjpwYXNz",
               "X-Forwarded-For": "203.0.113.9"}
    assert real_app.test_client().post(f"/suppliers/{supplier_id}/webhooks", data=body, headers=headers).status_code == 200
    with real_app.extensions["services"].session_factory() as session:
        stored = session.scalars(select(WebhookDelivery.body)).one()
    assert json.loads(stored)["headers"] == {"x-pf-webhook-signature": signature}
    assert "merchant-cookie" not in stored and "dXNlcjpwYXNz" not in stored and "203.0.113.9" not in stored


# -- redirects ---------------------------------------------------------------------------

FORGED_HOST = {"Host": "evil.example"}


def test_the_session_token_bounce_points_at_app_url_whatever_the_host_header(real_app):
    response = real_app.test_client().get(f"/orders?shop={SHOP}&host=abc&embedded=1", headers=FORGED_HOST)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"{APP_URL}/auth/patch-id-token?")
    expired = session_token(exp=int(time.time()) - 120)
    response = real_app.test_client().get(f"/?shop={SHOP}&id_token={expired}", headers=FORGED_HOST)
    assert response.status_code == 302 and response.headers["Location"].startswith(f"{APP_URL}/auth/patch-id-token?")


def test_install_redirect_uri_is_under_app_url_whatever_the_host_header(real_app):
    response = real_app.test_client().get(f"/auth/install?shop={SHOP}", headers=FORGED_HOST)
    assert response.status_code == 302
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response.headers["Location"]).query))
    assert query["redirect_uri"] == f"{APP_URL}/auth/callback"
    assert "evil.example" not in response.headers["Location"]


# -- oauth states ------------------------------------------------------------------------

def state_count(app, **where) -> int:
    with app.extensions["services"].session_factory() as session:
        query = select(func.count()).select_from(OAuthState)
        for column, value in where.items():
            query = query.where(getattr(OAuthState, column) == value)
        return session.scalar(query)


def test_stale_oauth_states_are_purged_when_a_new_install_starts(real_app):
    old = utcnow() - install.STATE_TTL - dt.timedelta(seconds=5)
    with real_app.extensions["services"].session_factory.begin() as session:
        session.add_all([OAuthState(nonce=f"old-{n}", shop_domain=f"s{n}.myshopify.com", created_at=old) for n in range(50)])
        session.add(OAuthState(nonce="old-used", shop_domain=SHOP, created_at=old, used_at=old))
    assert real_app.test_client().get(f"/auth/install?shop={SHOP}").status_code == 302
    assert state_count(real_app) == 1  # only the new one


def test_unauthenticated_installs_cannot_grow_the_oauth_states_table(real_app, monkeypatch):
    client = real_app.test_client()
    for _ in range(install.MAX_LIVE_STATES_PER_SHOP):
        assert client.get(f"/auth/install?shop={SHOP}").status_code == 302
    assert client.get(f"/auth/install?shop={SHOP}").status_code == 429
    assert state_count(real_app, shop_domain=SHOP) == install.MAX_LIVE_STATES_PER_SHOP
    # Across shop names too: the whole table has a ceiling.
    monkeypatch.setattr(install, "MAX_LIVE_STATES", install.MAX_LIVE_STATES_PER_SHOP + 5)
    answers = [client.get(f"/auth/install?shop=shop{n}.myshopify.com").status_code for n in range(10)]
    assert answers == [302] * 5 + [429] * 5
    assert state_count(real_app) == install.MAX_LIVE_STATES


# -- content security policy -------------------------------------------------------------

def directives(header: str) -> dict[str, list[str]]:
    return {parts[0]: parts[1:] for parts in (d.split() for d in header.split(";")) if parts}


class InlineScriptFinder(HTMLParser):
    """Collects inline script bodies and on* event-handler attributes (both need 'unsafe-inline').

    A `<script type="application/json">` data block is not a script: browsers never run it
    and CSP's script-src does not govern it (the admin passes its translated messages so).
    """

    def __init__(self):
        super().__init__()
        self.inline: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        self.inline += [f"{tag} {name}" for name in names if name.startswith("on")]
        self._in_inline_script = tag == "script" and "src" not in names and names.get("type") != "application/json"

    def handle_data(self, data):
        if self._in_inline_script and data.strip():
            self.inline.append(data.strip()[:60])

    def handle_endtag(self, tag):
        self._in_inline_script = False


def test_admin_pages_send_a_script_src_without_unsafe_inline_and_have_no_inline_scripts(sandboxed_app, sandbox_shopify):
    client = sandboxed_app.test_client()
    pages = ["/", "/orders", "/suppliers", "/suppliers/new", "/mappings", "/inventory", "/returns", "/problems", "/settings"]
    responses = {path: client.get(f"{path}?shop={SHOP}&host=abc&embedded=1&id_token={sandbox_shopify.mint_session_token(SHOP, API_KEY)}") for path in pages}
    responses["bounce"] = client.get(f"/auth/patch-id-token?shop={SHOP}&shopify-reload=%2F")
    for path, response in responses.items():
        assert response.status_code == 200, path
        policy = directives(response.headers["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"], path
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"] and policy["default-src"] == ["'self'"]
        assert policy["frame-ancestors"] == [f"https://{SHOP}", "https://admin.shopify.com"]
        assert sandbox_shopify.base_url in policy["connect-src"]  # the sandbox's token endpoint
        finder = InlineScriptFinder()
        finder.feed(response.get_data(as_text=True))
        assert finder.inline == [], path


def test_real_mode_allows_app_bridge_from_shopifys_cdn_and_nothing_inline(real_app):
    response = real_app.test_client().get(f"/auth/patch-id-token?shop={SHOP}&shopify-reload=%2F")
    assert response.status_code == 200 and "cdn.shopify.com/shopifycloud/app-bridge.js" in response.get_data(as_text=True)
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'", "https://cdn.shopify.com"]
    assert "'unsafe-inline'" not in policy["script-src"] and policy["object-src"] == ["'none'"]


def test_the_patch_page_refuses_a_shop_that_is_not_a_shop_domain(real_app):
    """The SDK copies ?shop= into a response header: a newline there was a 500."""
    client = real_app.test_client()
    assert client.get("/auth/patch-id-token?shop=demo.myshopify.com%0AX-Evil:%201&shopify-reload=%2F").status_code == 400
    assert client.get("/auth/patch-id-token?shop=evil.example&shopify-reload=%2F").status_code == 400
    assert client.get(f"/auth/patch-id-token?shop={SHOP}&shopify-reload=%2F").status_code == 200
