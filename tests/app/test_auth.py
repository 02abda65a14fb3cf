"""Embedded auth against the sandbox Shopify: session tokens, token exchange, refresh, install flow."""
from __future__ import annotations

import datetime as dt
import threading
import time
import urllib.parse

import httpx
import jwt
import pytest
from sqlalchemy import select, update

from conftest import API_KEY, API_SECRET, install_shop, webhook_headers
from shopify_app.auth.tokens import OfflineTokenStore
from shopify_app.models import OAuthState, Shop, ShopToken, WebhookDelivery

SHOP = "demo.myshopify.com"
CSP = "frame-ancestors https://demo.myshopify.com https://admin.shopify.com;"


def open_app_home(app, sandbox, shop=SHOP, **token_kw):
    token = sandbox.mint_session_token(shop, API_KEY, **token_kw)
    return app.test_client().get(f"/?shop={shop}&host=abc&embedded=1&id_token={token}")


def bearer(sandbox, shop=SHOP, **kw):
    return {"Authorization": f"Bearer {sandbox.mint_session_token(shop, API_KEY, **kw)}"}


def token_row(app, shop=SHOP):
    with app.extensions["services"].session_factory() as session:
        return session.scalar(select(ShopToken).join(Shop).where(Shop.domain == shop))


def test_app_home_exchanges_the_session_token_for_an_expiring_offline_token(sandboxed_app, sandbox_shopify):
    response = open_app_home(sandboxed_app, sandbox_shopify)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].endswith(CSP)
    row = token_row(sandboxed_app)
    assert row is not None and row.refresh_token_enc is not None
    assert row.expires_at > dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=50)
    token = sandboxed_app.extensions["services"].tokens.access_token(SHOP)
    assert token.startswith("shpat_") and token.encode() not in row.access_token_enc
    # The stored token really works against the Admin API.
    data = sandboxed_app.extensions["services"].gateway(SHOP).query("ShopInfo")
    assert data["shop"]["myshopifyDomain"] == SHOP


def test_app_home_without_id_token_bounces_to_the_patch_page(sandboxed_app):
    response = sandboxed_app.test_client().get(f"/?shop={SHOP}&host=abc&embedded=1")
    assert response.status_code == 302
    assert response.headers["Location"].split("?")[0].endswith("/auth/patch-id-token")


def test_every_html_response_carries_frame_ancestors(sandboxed_app):
    response = sandboxed_app.test_client().get(f"/auth/patch-id-token?shop={SHOP}&shopify-reload=%2F")
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"].endswith(CSP)


def test_api_requires_a_valid_session_token(sandboxed_app, sandbox_shopify):
    client = sandboxed_app.test_client()
    open_app_home(sandboxed_app, sandbox_shopify)
    assert client.get("/api/shop").status_code == 401
    assert client.get("/api/shop", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
    expired = bearer(sandbox_shopify, ttl=-120)
    assert client.get("/api/shop", headers=expired).status_code == 401
    wrong_audience = jwt.encode({"iss": f"https://{SHOP}/admin", "dest": f"https://{SHOP}", "aud": "another-app", "sub": "1", "exp": int(time.time()) + 60, "nbf": int(time.time()) - 5}, API_SECRET, algorithm="HS256")
    assert client.get("/api/shop", headers={"Authorization": f"Bearer {wrong_audience}"}).status_code == 401
    forged = jwt.encode({"iss": f"https://{SHOP}/admin", "dest": f"https://{SHOP}", "aud": API_KEY, "sub": "1", "exp": int(time.time()) + 60}, "guessed-secret-0123456789abcdef0123456789", algorithm="HS256")
    assert client.get("/api/shop", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    ok = client.get("/api/shop", headers=bearer(sandbox_shopify))
    assert ok.status_code == 200 and ok.get_json()["shop"] == SHOP and ok.get_json()["installed"] is True


def test_api_only_ever_sees_the_token_shops_data(sandboxed_app, sandbox_shopify):
    sandbox_shopify.add_shop("other.myshopify.com")
    install_shop(sandboxed_app, SHOP, "other.myshopify.com")
    client = sandboxed_app.test_client()
    for shop in (SHOP, "other.myshopify.com"):
        body = b"{broken"
        client.post("/webhooks", data=body, headers=webhook_headers("orders/create", body, shop=shop))
    with sandboxed_app.extensions["services"].session_factory.begin() as session:
        session.execute(update(WebhookDelivery).values(status="dead", last_error="x"))
        other_id = session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.shop_domain == "other.myshopify.com"))
    mine = client.get("/api/dead-letters", headers=bearer(sandbox_shopify)).get_json()["dead_letters"]
    assert len(mine) == 1 and mine[0]["id"] != other_id
    assert client.post(f"/api/dead-letters/{other_id}/retry", headers=bearer(sandbox_shopify)).status_code == 404
    assert client.post(f"/api/dead-letters/{mine[0]['id']}/retry", headers=bearer(sandbox_shopify)).status_code == 200
    assert client.get("/api/shop", headers=bearer(sandbox_shopify)).get_json()["webhooks"] == {"pending": 1}


def expire_soon(app, shop=SHOP):
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(ShopToken).values(expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)))


def test_token_is_refreshed_before_expiry(sandboxed_app, sandbox_shopify):
    open_app_home(sandboxed_app, sandbox_shopify)
    tokens = sandboxed_app.extensions["services"].tokens
    first = tokens.access_token(SHOP)
    expire_soon(sandboxed_app)
    second = tokens.access_token(SHOP)
    assert second != first and sandbox_shopify.refresh_count(SHOP) == 1
    assert sandboxed_app.extensions["services"].gateway(SHOP).query("ShopInfo")["shop"]["myshopifyDomain"] == SHOP


def test_racing_refreshes_from_two_workers_refresh_once(sandboxed_app, sandbox_shopify):
    open_app_home(sandboxed_app, sandbox_shopify)
    services = sandboxed_app.extensions["services"]
    expire_soon(sandboxed_app)
    # Two stores = two worker processes, each with its own identity and HTTP client.
    stores = [OfflineTokenStore(services.session_factory, services.box, services.shopify, sandbox_shopify.http_client()) for _ in range(2)]
    results, barrier = [], threading.Barrier(4)

    def read(store):
        barrier.wait()
        results.append(store.access_token(SHOP))

    threads = [threading.Thread(target=read, args=(stores[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sandbox_shopify.refresh_count(SHOP) == 1
    assert len(set(results)) == 1 and len(results) == 4


def test_install_flow_with_state_nonce_and_query_hmac(sandboxed_app, sandbox_shopify):
    client = sandboxed_app.test_client()
    start = client.get("/auth/install?shop=demo")
    assert start.status_code == 302
    consent = start.headers["Location"]
    assert consent.startswith(sandbox_shopify.base_url + "/admin/oauth/authorize")
    approved = httpx.get(consent, follow_redirects=False)
    assert approved.status_code == 302
    callback = urllib.parse.urlsplit(approved.headers["Location"])
    params = dict(urllib.parse.parse_qsl(callback.query))
    assert params["shop"] == SHOP and params["state"]
    tampered = dict(params, shop="evil.myshopify.com")
    assert client.get("/auth/callback", query_string=tampered).status_code == 401
    done = client.get("/auth/callback", query_string=params)
    assert done.status_code == 302
    assert token_row(sandboxed_app) is not None
    assert sandboxed_app.extensions["services"].gateway(SHOP).query("ShopInfo")["shop"]["myshopifyDomain"] == SHOP
    assert client.get("/auth/callback", query_string=params).status_code == 403  # state used up
    with sandboxed_app.extensions["services"].session_factory() as session:
        assert session.scalar(select(OAuthState.used_at)) is not None


@pytest.mark.parametrize("bad", ["", "https://evil.com", "demo.myshopify.com.evil.com", "../../etc"])
def test_install_rejects_unsanitary_shop_domains(sandboxed_app, bad):
    assert sandboxed_app.test_client().get("/auth/install", query_string={"shop": bad}).status_code == 400


def test_scheduler_job_refreshes_tokens_expiring_before_its_next_run(sandboxed_app, sandbox_shopify):
    from scheduler.embedded import TOKEN_REFRESH_EVERY, keep_token_fresh

    open_app_home(sandboxed_app, sandbox_shopify)
    services = sandboxed_app.extensions["services"]
    keep_token_fresh(services, SHOP)
    assert sandbox_shopify.refresh_count(SHOP) == 0  # an hour left: nothing to do
    with services.session_factory.begin() as session:
        # Expires after the refresh margin but before the job would run again.
        session.execute(update(ShopToken).values(expires_at=dt.datetime.now(dt.timezone.utc) + TOKEN_REFRESH_EVERY * 0.9))
    keep_token_fresh(services, SHOP)
    assert sandbox_shopify.refresh_count(SHOP) == 1
