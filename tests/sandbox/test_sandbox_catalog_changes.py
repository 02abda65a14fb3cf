"""Catalog changes in the sandbox send what Shopify sends: products/update and inventory_items/update with
the REST shapes of Shopify's samples, products/delete and inventory_items/delete; orders of deleted products still ship."""
from __future__ import annotations

import json
from pathlib import Path

from sandbox_testkit import CLIENT_ID, CLIENT_SECRET, SHOP
from sandbox_testkit import client, clock, gql, receiver, sandbox, token, wall  # noqa: F401 (fixtures)
from test_sandbox_fulfillment import fulfil, fulfillment_orders

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "shopify" / "webhook-samples-2025-01"
BULK_UPDATE = """
mutation($p: ID!, $v: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $p, variants: $v) { productVariants { sku } userErrors { field message } }
}
"""


def sample_keys(name: str) -> set[str]:
    return set(json.loads((SAMPLES / f"{name}.json").read_text()))


def test_a_variant_edit_sends_products_update_and_inventory_items_update_in_shopifys_shapes(sandbox, gql, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, webhook_topics=["products/update", "inventory_items/update"])
    variant = sandbox.store.variant_by_sku(SHOP, "TEE-S")
    body = gql(BULK_UPDATE, {"p": variant["product"].gid, "v": [{"id": variant["id"], "inventoryItem": {"sku": "TEE-S-2", "tracked": False}}]}).json()
    assert body["data"]["productVariantsBulkUpdate"] == {"productVariants": [{"sku": "TEE-S-2"}], "userErrors": []}
    got = {r.headers["X-Shopify-Topic"]: json.loads(r.body) for r in receiver.wait_for(2)}
    product, item = got["products/update"], got["inventory_items/update"]
    assert set(product) == sample_keys("products_update") and set(item) == sample_keys("inventory_items_update")
    assert set(product["variants"][0]) == set(json.loads((SAMPLES / "products_update.json").read_text())["variants"][0])
    [edited] = [v for v in product["variants"] if v["admin_graphql_api_id"] == variant["id"]]
    assert (edited["sku"], edited["inventory_item_id"]) == ("TEE-S-2", int(variant["inventoryItem"].gid.rsplit("/", 1)[-1]))
    assert [v["admin_graphql_api_id"] for v in product["variant_gids"]] == [v["admin_graphql_api_id"] for v in product["variants"]]
    assert (item["admin_graphql_api_id"], item["sku"], item["tracked"]) == (variant["inventoryItem"].gid, "TEE-S-2", False)


def test_an_order_of_a_deleted_product_still_ships(sandbox, gql, receiver):
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, app_url=receiver.url, webhook_topics=["products/delete", "inventory_items/delete"])
    order = sandbox.store.create_order(SHOP, [{"sku": "BTL-500", "quantity": 1}])
    variant = sandbox.store.variant_by_sku(SHOP, "BTL-500")
    sandbox.store.delete_product(SHOP, variant["product"].gid)
    sandbox.deliver_pending()
    got = receiver.wait_for(2)
    assert [r.headers["X-Shopify-Topic"] for r in got] == ["products/delete", "inventory_items/delete"]
    assert json.loads(got[0].body) == {"id": int(variant["product"].gid.rsplit("/", 1)[-1])}
    [fo] = fulfillment_orders(gql, order["id"])["fulfillmentOrders"]["nodes"]
    assert fulfil(gql, fo["id"])["userErrors"] == []
