"""Injected faults: the next N calls answer 429 (with Retry-After) or 5xx, then service resumes."""
from __future__ import annotations

import httpx

from sandbox_testkit import CLIENT_ID, CLIENT_SECRET, SHOP
from sandbox_testkit import client, clock, gql, sandbox, token, wall  # noqa: F401 (fixtures)


def test_next_calls_answer_429_with_retry_after_then_recover(sandbox, gql):
    sandbox.faults.fail_next(2, 429, retry_after=3)
    first, second, third = (gql("{ shop { id } }") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "3"
    assert "errors" in first.json()
    assert third.json()["data"]["shop"]["id"].startswith("gid://shopify/Shop/")
    assert sandbox.faults.pending() == 0


def test_gateway_errors_and_a_faulty_token_endpoint(sandbox, gql, client):
    sandbox.faults.fail_next(1, 502)
    sandbox.faults.fail_next(1, 503)
    assert [gql("{ shop { id } }").status_code for _ in range(3)] == [502, 503, 200]
    sandbox.faults.fail_next(1, 503, route="oauth")
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "refresh_token", "refresh_token": "shprt_x"}
    url = f"https://{SHOP}/admin/oauth/access_token"
    assert client.post(url, json=body).status_code == 503
    assert client.post(url, json=body).status_code == 400  # service is back: the token is just unknown


def test_faults_do_not_spend_the_cost_bucket(sandbox, gql):
    sandbox.faults.throttle_next(3)
    for _ in range(3):
        gql("{ products(first: 10) { nodes { id } } }")
    status = gql("{ shop { id } }").json()["extensions"]["cost"]["throttleStatus"]
    assert status["currentlyAvailable"] == 2000 - 1


def test_shop_is_chosen_by_host_header(sandbox, token):
    url = f"{sandbox.base_url}/admin/api/2026-10/graphql.json"
    headers = {"X-Shopify-Access-Token": token, "Host": f"{SHOP}:443"}
    answer = httpx.post(url, json={"query": "{ shop { myshopifyDomain } }"}, headers=headers)
    assert answer.json()["data"]["shop"]["myshopifyDomain"] == SHOP
    assert httpx.post(url, json={"query": "{ shop { id } }"}, headers=dict(headers, Host="ghost.myshopify.com")).status_code == 404
    assert httpx.post(url, json={}, headers=headers).status_code == 400
