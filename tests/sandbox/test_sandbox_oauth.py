"""OAuth against the sandbox: token exchange, refresh, authorization codes, App Home loads, session tokens."""
from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
import urllib.parse

import httpx
import jwt
import pytest

from sandbox_testkit import CLIENT_ID, CLIENT_SECRET, SHOP, graphql
from sandbox_testkit import client, clock, sandbox, wall  # noqa: F401 (fixtures)

TOKEN_URL = f"https://{SHOP}/admin/oauth/access_token"
APP_URL = "http://127.0.0.1:9"


def exchange(client: httpx.Client, id_token: str, *, expiring: int = 1, secret: str = CLIENT_SECRET, mode: str = "offline") -> httpx.Response:
    return client.post(TOKEN_URL, json={
        "client_id": CLIENT_ID,
        "client_secret": secret,
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": id_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "requested_token_type": f"urn:shopify:params:oauth:token-type:{mode}-access-token",
        "expiring": expiring,
    })


def refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    return client.post(TOKEN_URL, json={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "refresh_token", "refresh_token": refresh_token})


def works(client: httpx.Client, access_token: str) -> int:
    """The HTTP status of a tiny Admin API call made with this token."""
    return graphql(client, access_token, "{ shop { id } }").status_code


def claims(**overrides) -> dict:
    now = int(time.time())
    base = {"iss": f"https://{SHOP}/admin", "dest": f"https://{SHOP}", "aud": CLIENT_ID, "sub": "1", "exp": now + 60, "nbf": now, "iat": now, "jti": "j", "sid": "s"}
    return {**base, **overrides}


def test_token_exchange_issues_an_expiring_offline_token_that_works(sandbox, client):
    response = exchange(client, sandbox.mint_session_token(SHOP, CLIENT_ID))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "scope", "expires_in", "refresh_token", "refresh_token_expires_in"}
    assert body["access_token"].startswith("shpat_") and body["refresh_token"].startswith("shprt_")
    assert (body["expires_in"], body["refresh_token_expires_in"]) == (3600, 7776000)
    assert "write_orders" in body["scope"].split(",")  # the deployed scopes (write_orders grants read)
    assert works(client, body["access_token"]) == 200


def test_non_expiring_and_online_tokens(sandbox, client):
    offline = exchange(client, sandbox.mint_session_token(SHOP, CLIENT_ID), expiring=0).json()
    assert set(offline) == {"access_token", "scope"}
    online = exchange(client, sandbox.mint_session_token(SHOP, CLIENT_ID, user_id="42"), mode="online").json()
    assert online["access_token"].startswith("shpua_") and online["expires_in"] > 0
    assert online["associated_user"]["id"] == 42 and "refresh_token" not in online


@pytest.mark.parametrize(
    "make_token, secret, error",
    [
        (lambda sb: jwt.encode(claims(aud="someone-else"), CLIENT_SECRET, algorithm="HS256"), CLIENT_SECRET, "invalid_subject_token"),
        (lambda sb: sb.mint_session_token(SHOP, CLIENT_ID, ttl=-60), CLIENT_SECRET, "invalid_subject_token"),
        (lambda sb: jwt.encode(claims(), "not-the-app-secret-0123456789abcdef", algorithm="HS256"), CLIENT_SECRET, "invalid_subject_token"),
        (lambda sb: jwt.encode(claims(dest="https://other.myshopify.com"), CLIENT_SECRET, algorithm="HS256"), CLIENT_SECRET, "invalid_subject_token"),
        (lambda sb: sb.mint_session_token(SHOP, CLIENT_ID), "wrong-client-secret", "invalid_client"),
    ],
    ids=["wrong-aud", "expired", "wrong-signing-secret", "other-shop", "wrong-client-secret"],
)
def test_token_exchange_refusals(sandbox, client, make_token, secret, error):
    response = exchange(client, make_token(sandbox), secret=secret)
    assert response.status_code == 400
    assert response.json()["error"] == error and response.json()["error_description"]


def test_expiring_access_token_stops_working_after_an_hour(sandbox, client, wall):
    body = exchange(client, sandbox.mint_session_token(SHOP, CLIENT_ID)).json()
    wall.advance(3599)
    assert works(client, body["access_token"]) == 200
    wall.advance(2)
    assert works(client, body["access_token"]) == 401


def test_refresh_returns_a_new_pair_and_retires_the_old_one(sandbox, client):
    first = exchange(client, sandbox.mint_session_token(SHOP, CLIENT_ID)).json()
    response = refresh(client, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    assert second["expires_in"] == 3600
    assert works(client, first["access_token"]) == 401
    assert works(client, second["access_token"]) == 200
    # A retried refresh (its answer lost) is accepted until the replacement is used: same pair.
    retried = refresh(client, first["refresh_token"])
    assert retried.status_code == 200
    assert (retried.json()["access_token"], retried.json()["refresh_token"]) == (second["access_token"], second["refresh_token"])
    assert sandbox.refresh_count(SHOP) == 1
    third = refresh(client, second["refresh_token"])
    assert third.status_code == 200 and sandbox.refresh_count(SHOP) == 2
    # The replacement has been used: now the first refresh token is dead, and so is the second's retry window's pair.
    reused = refresh(client, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert works(client, second["access_token"]) == 401 and works(client, third.json()["access_token"]) == 200


def test_racing_refreshes_with_one_refresh_token_succeed_once(sandbox, client):
    first = exchange(client, sandbox.mint_session_token(SHOP, CLIENT_ID)).json()
    barrier, statuses, pairs = threading.Barrier(6), [], set()

    def race():
        with sandbox.http_client() as own:
            barrier.wait()
            answer = refresh(own, first["refresh_token"])
            statuses.append(answer.status_code)
            pairs.add((answer.json()["access_token"], answer.json()["refresh_token"]))

    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # One refresh happens; the others are answered as retries of it, with the same pair.
    assert statuses == [200] * 6 and len(pairs) == 1
    assert sandbox.refresh_count(SHOP) == 1


def test_refresh_token_expires_after_ninety_days(sandbox, client, wall):
    first = exchange(client, sandbox.mint_session_token(SHOP, CLIENT_ID)).json()
    wall.advance(90 * 24 * 3600 + 1)
    assert refresh(client, first["refresh_token"]).json()["error"] == "invalid_grant"


def shopify_query_hmac(params: dict, secret: str) -> str:
    """Recomputed independently: hex HMAC-SHA256 of the sorted k=v pairs (hmac excluded) joined by &."""
    message = "&".join(sorted(f"{k}={v}" for k, v in params.items() if k != "hmac"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_authorize_redirect_carries_a_valid_hmac_and_a_single_use_code(sandbox, client):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=APP_URL, scopes="read_products,read_orders")
    query = {"client_id": CLIENT_ID, "scope": "read_orders", "redirect_uri": f"{APP_URL}/auth/callback", "state": "nonce-123", "shop": SHOP}
    response = httpx.get(f"{sandbox.base_url}/admin/oauth/authorize", params=query)
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{APP_URL}/auth/callback"
    params = dict(urllib.parse.parse_qsl(location.query))
    assert set(params) == {"code", "hmac", "host", "shop", "state", "timestamp"}
    assert params["shop"] == SHOP and params["state"] == "nonce-123"
    assert base64.b64decode(params["host"] + "==").decode() == "admin.shopify.com/store/demo"
    assert params["hmac"] == shopify_query_hmac(params, CLIENT_SECRET)
    assert params["hmac"] != shopify_query_hmac(dict(params, shop="evil.myshopify.com"), CLIENT_SECRET)

    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": params["code"]}
    token = client.post(TOKEN_URL, data=form)  # form-encoded, like ShopifyAPI's request_token
    assert token.status_code == 200 and token.json()["scope"] == "read_orders"
    assert works(client, token.json()["access_token"]) == 200
    assert client.post(TOKEN_URL, data=form).status_code == 400  # codes are single use


def test_authorize_refuses_a_foreign_redirect_uri(sandbox):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=APP_URL)
    query = {"client_id": CLIENT_ID, "scope": "read_orders", "redirect_uri": "https://evil.example/cb", "shop": SHOP}
    assert httpx.get(f"{sandbox.base_url}/admin/oauth/authorize", params=query).status_code == 400


def test_opening_the_app_redirects_with_a_valid_session_token(sandbox, wall):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=APP_URL)
    response = httpx.get(f"{sandbox.base_url}/admin/apps/{CLIENT_ID}", params={"shop": SHOP})
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{APP_URL}/"
    params = dict(urllib.parse.parse_qsl(location.query))
    assert params["shop"] == SHOP and params["embedded"] == "1"
    assert base64.b64decode(params["host"] + "==").decode() == "admin.shopify.com/store/demo"
    assert params["hmac"] == shopify_query_hmac(params, CLIENT_SECRET)
    decoded = jwt.decode(params["id_token"], CLIENT_SECRET, algorithms=["HS256"], audience=CLIENT_ID)
    assert decoded["iss"] == f"https://{SHOP}/admin" and decoded["dest"] == f"https://{SHOP}"
    assert decoded["exp"] - decoded["iat"] == 60 and decoded["sub"] == "1"
    assert {"nbf", "jti", "sid"} <= set(decoded)


def test_session_token_endpoint_for_plain_browsers(sandbox):
    response = httpx.get(f"{sandbox.base_url}/admin/session-token", params={"shop": SHOP, "client_id": CLIENT_ID})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    decoded = jwt.decode(response.json()["token"], CLIENT_SECRET, algorithms=["HS256"], audience=CLIENT_ID)
    assert decoded["dest"] == f"https://{SHOP}"
    assert httpx.get(f"{sandbox.base_url}/admin/session-token", params={"shop": SHOP, "client_id": "nope"}).status_code == 404


def test_shopifys_own_sdk_accepts_the_sandbox(sandbox, client):
    """Shopify's Python SDK verifies the session token, exchanges and refreshes it, and queries."""
    from shopify_app.sdk import ShopifyApp

    sdk = ShopifyApp(CLIENT_ID, CLIENT_SECRET)
    id_token = sandbox.mint_session_token(SHOP, CLIENT_ID)
    verified = sdk.verify_app_home_req(
        {"method": "GET", "headers": {"Authorization": f"Bearer {id_token}"}, "url": "https://app.example/api/x", "body": ""},
        "/auth/patch-id-token",
    )
    assert verified.ok, verified.log
    exchanged = sdk.exchange_using_token_exchange("offline", id_token=verified.id_token, expiring=True, http_client=client)
    assert exchanged.ok, exchanged.log
    token = exchanged.access_token
    assert token.refresh_token and token.expires
    answer = sdk.admin_graphql_request("{ shop { myshopifyDomain } }", shop="demo", access_token=token.token, api_version="2026-10", http_client=client)
    assert answer.ok and answer.data == {"shop": {"myshopifyDomain": SHOP}}
    assert answer.extensions["cost"]["requestedQueryCost"] == 1
    # "expires" now: the SDK only refreshes tokens within a minute of expiry.
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    refreshed = sdk.refresh_token_exchanged_access_token(
        {"shop": "demo", "refresh_token": token.refresh_token, "expires": now, "refresh_token_expires": token.refresh_token_expires, "access_mode": "offline"},
        http_client=client,
    )
    assert refreshed.ok and refreshed.log.code == "success", refreshed.log
    assert refreshed.access_token.token != token.token and refreshed.access_token.refresh_token != token.refresh_token
    assert sandbox.refresh_count(SHOP) == 1
    assert works(client, token.token) == 401 and works(client, refreshed.access_token.token) == 200
