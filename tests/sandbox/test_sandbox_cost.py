"""Query cost and the leaky bucket: hand-computed costs, THROTTLED at HTTP 200, restore over time, max cost."""
from __future__ import annotations

import pytest
from graphql import parse

from sandbox.shopify.cost import requested_query_cost
from sandbox_testkit import CLIENT_ID, graphql
from sandbox_testkit import client, clock, gql, sandbox, token, wall  # noqa: F401 (fixtures)

PRODUCTS_WITH_VARIANTS = """
{
  products(first: 10) {
    edges { cursor node { id title variants(first: 5) { nodes { sku inventoryItem { id } } } } }
    pageInfo { hasNextPage }
  }
}"""

ORDERS_WITH_FRAGMENT = """
query Orders($n: Int = 3) { orders(first: $n) { nodes { ...OrderLines } } }
fragment OrderLines on Order { id lineItems(first: 4) { nodes { variant { id product { id } } } } }
"""

SUBSCRIBE = """
mutation {
  webhookSubscriptionCreate(topic: ORDERS_CREATE, webhookSubscription: {callbackUrl: "https://example.com/hooks"}) {
    webhookSubscription { id }
    userErrors { field message }
  }
}"""


def cost_of(response) -> dict:
    return response.json()["extensions"]["cost"]


@pytest.mark.parametrize(
    "document, variables, expected",
    [
        ("{ shop { id name } }", None, 1),  # one object
        # variants: 2 + 5 * (inventoryItem 1) = 7; products: 2 + 10 * 7 = 72 (pageInfo, cursor free)
        (PRODUCTS_WITH_VARIANTS, None, 72),
        # lineItems: 2 + 4 * (variant 1 + product 1) = 10; orders: 2 + n * 10 (n defaults to 3)
        (ORDERS_WITH_FRAGMENT, None, 32),
        (ORDERS_WITH_FRAGMENT, {"n": 5}, 52),
        # the mutation's root field 10, plus two objects
        (SUBSCRIBE, None, 12),
    ],
)
def test_requested_cost_matches_hand_computed_values(sandbox, gql, document, variables, expected):
    response = gql(document, variables)
    assert "errors" not in response.json(), response.json()
    assert cost_of(response)["requestedQueryCost"] == expected
    assert requested_query_cost(sandbox.schema, parse(document), None, variables) == expected


def test_actual_cost_counts_what_came_back_and_the_difference_is_refunded(gql):
    # The demo shop has 4 products with 2, 3, 1 and 1 variants: 2 + (2+2) + (2+3) + (2+1) + (2+1) = 17.
    cost = cost_of(gql(PRODUCTS_WITH_VARIANTS))
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (72, 17)
    assert cost["throttleStatus"] == {"maximumAvailable": 2000.0, "currentlyAvailable": 2000 - 17, "restoreRate": 100.0}
    # Two orders with 2 and 1 line items: 2 + (2 + 2*2) + (2 + 1*2) = 12.
    cost = cost_of(gql(ORDERS_WITH_FRAGMENT))
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (32, 12)
    assert cost["throttleStatus"]["currentlyAvailable"] == 2000 - 17 - 12


def test_abstract_selections_cost_their_most_expensive_type(sandbox):
    document = parse("""
    query($id: ID!) {
      node(id: $id) {
        id
        ... on Product { variants(first: 10) { nodes { id } } }
        ... on Order { lineItems(first: 2) { nodes { id } } }
      }
      nodes(ids: ["gid://shopify/Product/1", "gid://shopify/Product/2", "gid://shopify/Product/3"]) { id }
    }""")
    # node: 1 + max(2 + 10, 2 + 2) = 13; nodes: 3 ids * 1 = 3
    assert requested_query_cost(sandbox.schema, document, None, {"id": "gid://shopify/Product/1"}) == 16


@pytest.fixture
def bulk_shop(sandbox):
    """A shop with 100 products of 3 variants each, and a token for it."""
    shop = sandbox.add_shop("bulk.myshopify.com", seed=False)
    for i in range(100):
        sandbox.store.add_product(shop, f"Product {i}", [{"sku": f"P{i}-{v}"} for v in range(3)])
    return shop.domain, sandbox.issue_access_token(shop.domain, CLIENT_ID)["access_token"]


BIG_PAGE = "{ products(first: 100) { nodes { id variants(first: 3) { nodes { id } } } } }"  # 2 + 100 * (2 + 3) = 502


def test_bucket_drains_then_throttles_with_http_200_and_restores_over_time(sandbox, client, clock, bulk_shop):
    shop, token_ = bulk_shop
    available = []
    for _ in range(3):
        response = graphql(client, token_, BIG_PAGE, shop=shop)
        cost = cost_of(response)
        assert response.status_code == 200 and cost["requestedQueryCost"] == cost["actualQueryCost"] == 502
        available.append(cost["throttleStatus"]["currentlyAvailable"])
    assert available == [1498, 996, 494]

    throttled = graphql(client, token_, BIG_PAGE, shop=shop)
    assert throttled.status_code == 200
    body = throttled.json()
    assert "data" not in body
    assert body["errors"] == [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
    assert body["extensions"]["cost"] == {
        "requestedQueryCost": 502,
        "actualQueryCost": None,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 494, "restoreRate": 100.0},
    }

    # (Binary-exact steps: 1/16 s restores 6.25 points.)
    clock.advance(0.0625)  # 500.25: still short of 502
    still = graphql(client, token_, BIG_PAGE, shop=shop)
    assert throttled_code(still) == "THROTTLED" and cost_of(still)["throttleStatus"]["currentlyAvailable"] == 500
    clock.advance(0.0625)  # 506.5
    ok = graphql(client, token_, BIG_PAGE, shop=shop)
    assert "errors" not in ok.json() and cost_of(ok)["throttleStatus"]["currentlyAvailable"] == 4

    clock.advance(60)  # refills, capped at the maximum
    assert cost_of(graphql(client, token_, "{ shop { id } }", shop=shop))["throttleStatus"]["currentlyAvailable"] == 2000 - 1


def throttled_code(response) -> str | None:
    errors = response.json().get("errors") or [{}]
    return errors[0].get("extensions", {}).get("code")


def test_plan_sets_bucket_size_and_restore_rate(sandbox, client, clock, bulk_shop):
    shop, token_ = bulk_shop
    sandbox.set_plan(shop, "Plus")
    status = cost_of(graphql(client, token_, BIG_PAGE, shop=shop))["throttleStatus"]
    assert status == {"maximumAvailable": 20000.0, "currentlyAvailable": 2000 - 502, "restoreRate": 1000.0}
    clock.advance(30)
    assert cost_of(graphql(client, token_, "{ shop { id } }", shop=shop))["throttleStatus"]["currentlyAvailable"] == 20000 - 1
    sandbox.set_plan(shop, "Enterprise")
    assert cost_of(graphql(client, token_, "{ shop { id } }", shop=shop))["throttleStatus"]["restoreRate"] == 2000.0


def test_query_over_max_cost_is_refused_before_running(gql):
    response = gql("{ products(first: 250) { nodes { variants(first: 250) { nodes { id } } } } }")
    body = response.json()
    assert response.status_code == 200 and "data" not in body
    error = body["errors"][0]
    assert error["extensions"] == {"code": "MAX_COST_EXCEEDED", "cost": 2 + 250 * (2 + 250), "maxCost": 1000}
    assert error["message"].startswith("Query cost is 63002, which exceeds the single query max cost limit (1000).")
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 2000  # nothing was deducted
    # Just under the limit runs: 2 + 166 * (2 + 4) = 998.
    ok = gql("{ products(first: 166) { nodes { variants(first: 4) { nodes { id } } } } }").json()
    assert "errors" not in ok and ok["extensions"]["cost"]["requestedQueryCost"] == 998
