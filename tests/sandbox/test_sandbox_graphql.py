"""The sandbox answers Admin GraphQL like Shopify: schema-valid shapes, paging, filters, errors."""
from __future__ import annotations

import pytest
from graphql import parse

from sandbox_testkit import SHOP, assert_conforms, graphql
from sandbox_testkit import client, clock, gql, sandbox, token, wall  # noqa: F401 (fixtures)

PRODUCTS_PAGE = """
query ProductsPage($first: Int, $last: Int, $after: String, $before: String) {
  products(first: $first, last: $last, after: $after, before: $before) {
    edges {
      cursor
      node {
        __typename
        id
        title
        handle
        status
        totalInventory
        variants(first: 10) {
          nodes { id sku price inventoryQuantity inventoryItem { id tracked } }
          pageInfo { hasNextPage }
        }
      }
    }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def test_product_pages_cover_every_product_once_and_conform_to_the_schema(sandbox, gql):
    document = parse(PRODUCTS_PAGE)
    seen, after, pages = [], None, 0
    while True:
        body = gql(PRODUCTS_PAGE, {"first": 3, "after": after}).json()
        assert "errors" not in body, body
        assert_conforms(sandbox.schema, document, body["data"])
        connection = body["data"]["products"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        assert connection["pageInfo"]["hasPreviousPage"] is (pages > 0)
        assert connection["pageInfo"]["endCursor"] == connection["edges"][-1]["cursor"]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    stored = [p["id"] for p in sandbox.store.shop(SHOP).all("Product")]
    assert pages == 2 and len(stored) == 4
    assert seen == sorted(stored, key=lambda g: int(g.rsplit("/", 1)[1]))


def test_last_and_before_page_backwards(gql):
    everything = gql(PRODUCTS_PAGE, {"first": 10}).json()["data"]["products"]["edges"]
    last_two = gql(PRODUCTS_PAGE, {"last": 2}).json()["data"]["products"]
    assert [e["node"]["id"] for e in last_two["edges"]] == [e["node"]["id"] for e in everything[-2:]]
    assert last_two["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": everything[-2]["cursor"],
        "endCursor": everything[-1]["cursor"],
    }
    before = gql(PRODUCTS_PAGE, {"last": 1, "before": last_two["pageInfo"]["startCursor"]}).json()["data"]["products"]
    assert [e["node"]["id"] for e in before["edges"]] == [everything[-3]["node"]["id"]]


def test_cursor_survives_deleting_the_item_it_points_at(sandbox, gql):
    first = gql(PRODUCTS_PAGE, {"first": 2}).json()["data"]["products"]
    boundary = first["edges"][-1]["node"]["id"]
    sandbox.store.shop(SHOP).remove(boundary)
    rest = gql(PRODUCTS_PAGE, {"first": 10, "after": first["pageInfo"]["endCursor"]}).json()["data"]["products"]
    assert len(rest["edges"]) == 2 and boundary not in [e["node"]["id"] for e in rest["edges"]]


def test_connection_without_first_or_last_is_an_error(gql):
    body = gql("{ products { nodes { id } } }").json()
    assert body["errors"][0]["message"] == "you must provide one of first or last"


def test_inventory_levels_and_named_quantities(sandbox, gql):
    shop = sandbox.store.shop(SHOP)
    variant = sandbox.store.variant_by_sku(shop, "MUG-WHT")  # 40 stocked, 2 sold by a seeded order
    item = variant["inventoryItem"].gid
    location = shop.all("Location")[0]["id"]
    query = """
    query($item: ID!, $location: ID!) {
      inventoryItem(id: $item) {
        sku
        inventoryLevel(locationId: $location) { quantities(names: ["available", "on_hand", "committed"]) { name quantity } }
        inventoryLevels(first: 5) { nodes { location { id name } } }
      }
    }"""
    data = gql(query, {"item": item, "location": location}).json()["data"]["inventoryItem"]
    assert data["sku"] == "MUG-WHT"
    assert data["inventoryLevel"]["quantities"] == [
        {"name": "available", "quantity": 38},
        {"name": "on_hand", "quantity": 40},
        {"name": "committed", "quantity": 2},
    ]
    assert data["inventoryLevels"]["nodes"] == [{"location": {"id": location, "name": "Sandbox Warehouse"}}]


def test_node_and_nodes_find_any_stored_object_by_type(sandbox, gql):
    shop = sandbox.store.shop(SHOP)
    ids = [shop.all(t)[0]["id"] for t in ("Product", "ProductVariant", "InventoryItem", "Location", "Order", "InventoryLevel")]
    query = """
    query($ids: [ID!]!) {
      nodes(ids: $ids) {
        __typename
        id
        ... on Product { title }
        ... on ProductVariant { sku }
        ... on Order { name lineItems(first: 5) { nodes { sku quantity } } }
      }
    }"""
    body = gql(query, {"ids": ids + ["gid://shopify/Product/999"]}).json()
    assert "errors" not in body, body
    nodes = body["data"]["nodes"]
    assert [n["__typename"] for n in nodes[:-1]] == ["Product", "ProductVariant", "InventoryItem", "Location", "Order", "InventoryLevel"]
    assert nodes[-1] is None
    assert nodes[0]["title"] == "Ceramic Mug" and nodes[1]["sku"] == "MUG-WHT"
    assert nodes[4]["lineItems"]["nodes"] == [{"sku": "MUG-WHT", "quantity": 2}, {"sku": "TEE-M", "quantity": 1}]
    assert_conforms(sandbox.schema, parse(query), body["data"])
    single = gql("query($id: ID!) { node(id: $id) { id ... on Location { name } } }", {"id": ids[3]}).json()
    assert single["data"]["node"] == {"id": ids[3], "name": "Sandbox Warehouse"}


def test_malformed_id_is_an_error_and_unknown_id_is_null(gql):
    assert gql('{ product(id: "gid://shopify/Product/1") { id } }').json()["data"] == {"product": None}
    body = gql('{ product(id: "42") { id } }').json()
    assert body["errors"][0]["message"] == "Invalid global id '42'"


def test_orders_updated_since_filter_and_sort(sandbox, wall, gql):
    shop = sandbox.store.shop(SHOP)
    first_order, second_order = (o["id"] for o in shop.all("Order"))
    wall.advance(60)
    cutoff = sandbox.store.now_iso()
    wall.advance(60)
    later = sandbox.store.create_order(shop, [{"sku": "TEE-S", "quantity": 1}])
    wall.advance(60)
    sandbox.store.update_order(shop, first_order, note="gift wrap")  # updated after `later` was created
    query = """
    query($q: String) {
      orders(first: 10, query: $q, sortKey: UPDATED_AT) { nodes { id updatedAt note } }
    }"""
    nodes = gql(query, {"q": f"updated_at:>'{cutoff}'"}).json()["data"]["orders"]["nodes"]
    assert [n["id"] for n in nodes] == [later["id"], first_order]
    assert nodes[1]["note"] == "gift wrap"
    everything = gql(query, {"q": None}).json()["data"]["orders"]["nodes"]
    assert [n["id"] for n in everything] == [second_order, later["id"], first_order]


def test_products_query_filter(gql):
    body = gql('{ products(first: 10, query: "status:draft") { nodes { title } } }').json()
    assert body["data"]["products"]["nodes"] == [{"title": "Canvas Tote"}]
    body = gql('{ products(first: 10, query: "sku:TEE-M") { nodes { title } } }').json()
    assert body["data"]["products"]["nodes"] == [{"title": "Cotton T-Shirt"}]


def test_shop_and_current_app_installation(sandbox, gql):
    query = "{ shop { id name myshopifyDomain currencyCode plan { displayName partnerDevelopment shopifyPlus } } currentAppInstallation { id accessScopes { handle } } }"
    body = gql(query).json()
    assert_conforms(sandbox.schema, parse(query), body["data"])
    assert body["data"]["shop"]["myshopifyDomain"] == SHOP
    assert body["data"]["shop"]["plan"] == {"displayName": "Basic", "partnerDevelopment": False, "shopifyPlus": False}
    handles = {s["handle"] for s in body["data"]["currentAppInstallation"]["accessScopes"]}
    assert {"write_products", "write_orders", "write_inventory"} <= handles
    sandbox.set_plan(SHOP, "Plus")
    assert gql("{ shop { plan { shopifyPlus } } }").json()["data"]["shop"]["plan"]["shopifyPlus"] is True


def test_invalid_documents_get_shopify_shaped_validation_errors(gql):
    response = gql("{ shop { id nmae } products(frist: 2) { nodes { id } } }")
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    by_code = {e["extensions"]["code"]: e for e in body["errors"]}
    assert set(by_code) == {"undefinedField", "argumentNotAccepted"}
    assert by_code["undefinedField"]["locations"] == [{"line": 1, "column": 13}]
    assert "nmae" in by_code["undefinedField"]["message"]
    for error in body["errors"]:
        assert set(error) == {"message", "locations", "extensions"}

    missing = gql("{ product { id } }").json()["errors"]
    assert [e["extensions"]["code"] for e in missing] == ["missingRequiredArguments"]
    syntax = gql("{ shop { id }").json()["errors"]
    assert syntax[0]["locations"] and syntax[0]["extensions"]["code"] == "parseError"


def test_a_repeated_document_is_parsed_once_and_answers_alike(gql, monkeypatch):
    from sandbox.shopify import executor

    parsed = []
    real_parse = executor.parse
    monkeypatch.setattr(executor, "parse", lambda text: parsed.append(text) or real_parse(text))
    query = "{ shop { id name } }  # repeated-document test"
    first, second = gql(query).json(), gql(query).json()
    assert "errors" not in first and first["data"] == second["data"]
    assert parsed == [query]  # the second request reused the checked document

    invalid = "{ shop { id nmae } }  # repeated-invalid test"
    errors = gql(invalid).json()["errors"]
    errors[0]["message"] = "changed by a caller"  # not the cached copy
    assert gql(invalid).json()["errors"] == gql(invalid).json()["errors"] != errors
    assert parsed.count(invalid) == 1


def test_missing_scope_is_access_denied(sandbox, client):
    sandbox.register_app("narrow-app", "narrow-secret", scopes=["read_products"])
    narrow = sandbox.issue_access_token(SHOP, "narrow-app")["access_token"]
    query = '{ order(id: "gid://shopify/Order/1") { id } products(first: 1) { nodes { id } } }'
    body = graphql(client, narrow, query).json()
    assert body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert body["errors"][0]["path"] == ["order"]
    assert body["data"]["order"] is None and len(body["data"]["products"]["nodes"]) == 1
    # A non-null root field that is denied nulls the whole answer, as GraphQL requires.
    denied = graphql(client, narrow, "{ orders(first: 1) { nodes { id } } }").json()
    assert denied["data"] is None and denied["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


def test_unknown_token_is_401_and_unknown_shop_is_404(sandbox, client, token):
    response = graphql(client, "shpat_nope", "{ shop { id } }")
    assert response.status_code == 401
    assert response.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    assert graphql(client, token, "{ shop { id } }", shop="nowhere.myshopify.com").status_code == 404
    other = sandbox.add_shop("other.myshopify.com")
    assert other is not None
    # A token is only good for the shop it was issued for.
    assert graphql(client, token, "{ shop { id } }", shop="other.myshopify.com").status_code == 401


def test_unimplemented_root_field_says_so(gql):
    body = gql("{ shopLocales { locale } }").json()
    assert body["errors"][0]["extensions"]["code"] == "NOT_IMPLEMENTED_IN_SANDBOX"


def test_app_documents_run_cleanly_when_present(sandbox, gql):
    """The app's own query documents execute without errors (skipped until they exist)."""
    documents = pytest.importorskip("integrations.shopify.documents")
    shop = sandbox.store.shop(SHOP)
    variables = {
        "ShopInfo": {},
        "LocationsList": {},
        "WebhookSubscriptions": {},
        "ProductsPage": {"first": 2},
        "OrdersForSync": {"first": 1, "query": "updated_at:>'2000-01-01T00:00:00Z'"},
        "OrderForSync": {"id": shop.all("Order")[0]["id"]},
        "InventoryLevelsByItem": {"id": shop.all("InventoryItem")[0]["id"]},
    }
    ran = 0
    for name, vars_ in variables.items():
        if name not in documents.DOCUMENTS:
            continue
        body = gql(documents.get_document(name), vars_).json()
        assert "errors" not in body, (name, body["errors"])
        assert_conforms(sandbox.schema, parse(documents.get_document(name)), body["data"])
        ran += 1
    assert ran > 0
