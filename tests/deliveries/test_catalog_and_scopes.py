"""Catalog and scopes webhooks end to end: the sandbox Shopify's catalog changes (productDelete,
inventoryItemUpdate, productVariantsBulkUpdate) reach the app as products/* and inventory_items/*,
the mirror follows and the inventory sync stops pushing to what is gone; app/scopes_update is recorded
and a missing scope alerts until granted again."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from conftest import API_KEY, sample_json
from deliveries.delivery_world import ADMIN_APP, SHOP, DeliveryWorld
from orders.forwarding_kit import deliver
from sandbox.shopify.catalog_changes import product_payload
from sandbox.shopify.server import DEFAULT_APP_SCOPES
from sandbox.supplier.rest_supplier import RestSandboxSupplier
from shopify_app.granted_scopes import missing_alert_key, missing_scopes
from shopify_app.inventory.feeds import pull_supplier_stock
from shopify_app.inventory.models import CatalogVariant, InventoryLevel
from shopify_app.inventory.sync import sync_inventory
from shopify_app.models import Shop, WebhookDelivery
from shopify_app.suppliers.forwarding import adapter_from_record
from shopify_app.suppliers.models import Alert, ProductMapping, Supplier

SKUS = ("MUG-WHT", "TEE-S", "TEE-M", "TEE-L")


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    server = make_server("127.0.0.1", 0, sandboxed_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    supplier_server = RestSandboxSupplier()
    supplier_server.start()
    world = DeliveryWorld(sandboxed_app, sandbox_shopify, supplier_server, f"http://127.0.0.1:{server.server_port}")
    with world.services.session_factory.begin() as session:
        for sku in ("TEE-M", "TEE-L"):
            session.add(ProductMapping(shop_domain=SHOP, sku=sku, supplier_id=world.supplier_id, supplier_sku=sku, cost="4.00"))
    yield world
    supplier_server.stop()
    server.shutdown()


def admin(world, query: str, variables: dict) -> dict:
    """A mutation as the merchant's admin (or another app) sends it; Shopify's webhooks follow."""
    token = world.token_of(ADMIN_APP)
    with world.shopify.http_client() as client:
        body = client.post(world.shopify.graphql_url(SHOP), json={"query": query, "variables": variables}, headers={"X-Shopify-Access-Token": token}).json()
    assert "errors" not in body, body
    [payload] = body["data"].values()
    assert payload["userErrors"] == [], payload
    return payload


def stock_everything(world, available: int):
    for sku in SKUS:
        world.supplier_server.set_stock(sku, available=available)
    with world.services.session_factory() as session:
        adapter = adapter_from_record(session.get(Supplier, world.supplier_id), world.services.box)
    assert pull_supplier_stock(world.services.session_factory, world.supplier_id, adapter).status == "applied"


def shopify_available(world, sku: str) -> int:
    variant = world.store.variant_by_sku(SHOP, sku)
    return world.store.inventory_level(SHOP, variant["inventoryItem"].gid, world.location)["_quantities"]["available"]


def variants(world) -> dict[str, CatalogVariant]:
    with world.services.session_factory() as session:
        return {v.variant_gid: v for v in session.scalars(select(CatalogVariant).where(CatalogVariant.shop_domain == SHOP))}


def test_deleted_untracked_and_renamed_items_stop_being_pushed(world):
    stock_everything(world, 30)
    first = sync_inventory(world.services, SHOP)
    assert (first.status, first.rows_failed) == ("done", 0) and first.quantities_set >= 4
    mug = world.store.variant_by_sku(SHOP, "MUG-WHT")
    tee_s, tee_m = world.store.variant_by_sku(SHOP, "TEE-S"), world.store.variant_by_sku(SHOP, "TEE-M")
    mug_item = mug["inventoryItem"].gid

    admin(world, "mutation($input: ProductDeleteInput!) { productDelete(input: $input) { deletedProductId userErrors { field message } } }",
          {"input": {"id": mug["product"].gid}})
    admin(world, "mutation($id: ID!, $input: InventoryItemInput!) { inventoryItemUpdate(id: $id, input: $input) { inventoryItem { id tracked } userErrors { field message } } }",
          {"id": tee_s["inventoryItem"].gid, "input": {"tracked": False}})
    admin(world, "mutation($p: ID!, $v: [ProductVariantsBulkInput!]!) { productVariantsBulkUpdate(productId: $p, variants: $v) { productVariants { sku } userErrors { field message } } }",
          {"p": tee_m["product"].gid, "v": [{"id": tee_m["id"], "inventoryItem": {"sku": "TEE-M-2026"}}]})
    world.drain()

    mirror = variants(world)
    assert mug["id"] not in mirror  # the product's variants left the mirror...
    with world.services.session_factory() as session:
        assert session.scalars(select(InventoryLevel).where(InventoryLevel.inventory_item_gid == mug_item)).all() == []  # ...with their levels
    assert mirror[tee_s["id"]].tracked is False
    assert mirror[tee_m["id"]].sku == "TEE-M-2026"

    before = {sku: shopify_available(world, sku) for sku in ("TEE-S", "TEE-M-2026", "TEE-L")}
    stock_everything(world, 12)
    second = sync_inventory(world.services, SHOP)
    # Only TEE-L is still ours: no error against Shopify for the deleted item, nothing set on the others.
    assert (second.status, second.rows_failed, second.quantities_set, second.error) == ("done", 0, 1, None)
    after = {sku: shopify_available(world, sku) for sku in ("TEE-S", "TEE-M-2026", "TEE-L")}
    assert after == before | {"TEE-L": after["TEE-L"]} and after["TEE-L"] != before["TEE-L"]


def test_product_updates_out_of_order_change_nothing_and_removed_variants_leave(world):
    sync_inventory(world.services, SHOP)  # mirrors the catalog
    tee = world.store.variant_by_sku(SHOP, "TEE-S")
    product = world.store.require_shop(SHOP).get(tee["product"].gid)
    with world.store.lock:
        payload = product_payload(world.store.require_shop(SHOP), product)
    newer = payload | {"updated_at": "2099-01-02T00:00:00+00:00", "variants": [v | ({"sku": "TEE-S-NEW"} if v["admin_graphql_api_id"] == tee["id"] else {}) for v in payload["variants"]]}
    older = payload | {"updated_at": "2099-01-01T00:00:00+00:00"}
    deliver(world.app, "products/update", newer)
    deliver(world.app, "products/update", older)  # arrives late
    assert variants(world)[tee["id"]].sku == "TEE-S-NEW"
    # A variant deleted in the admin: its item's levels leave; products/update no longer lists it.
    world.store.delete_variant(SHOP, tee["id"])
    world.shopify.deliver_pending()
    world.drain()
    assert tee["id"] not in variants(world)
    deliver(world.app, "products/update", sample_json("products_update") | {"variants": "many"})
    with world.services.session_factory() as session:
        dead = session.scalar(select(WebhookDelivery).where(WebhookDelivery.topic == "products/update").order_by(WebhookDelivery.id.desc()))
        assert (dead.status, dead.last_error) == ("dead", "BadCatalogPayload: variants is not a list of at most 2048")


def test_a_missing_scope_alerts_until_it_is_granted_again(world):
    reduced = [s for s in DEFAULT_APP_SCOPES if s not in ("read_returns", "write_returns")]
    world.store.change_granted_scopes(SHOP, API_KEY, reduced)
    world.shopify.deliver_pending()
    world.drain()
    with world.services.session_factory() as session:
        alert = session.scalar(select(Alert).where(Alert.dedupe_key == missing_alert_key(SHOP)))
        assert (alert.kind, alert.severity, alert.resolved_at) == ("scopes_missing", "critical", None)
        expected = missing_scopes(world.services.settings.scopes, reduced)  # write_x covers read_x: what the app asks for decides
        assert expected and set(expected) <= {"read_returns", "write_returns"}
        assert f"missing access it needs: {', '.join(expected)}." in alert.message
        assert session.scalar(select(Shop.scopes).where(Shop.domain == SHOP)) == ",".join(reduced)
    late = {"id": 1, "previous": [], "current": ["read_products"], "updated_at": "2020-01-01T00:00:00Z"}
    deliver(world.app, "app/scopes_update", late)  # an earlier change delivered late: ignored
    world.store.change_granted_scopes(SHOP, API_KEY, list(DEFAULT_APP_SCOPES))
    world.shopify.deliver_pending()
    world.drain()
    with world.services.session_factory() as session:
        assert session.scalar(select(Alert.resolved_at).where(Alert.dedupe_key == missing_alert_key(SHOP))) is not None
        assert session.scalar(select(Shop.scopes).where(Shop.domain == SHOP)) == ",".join(DEFAULT_APP_SCOPES)


def test_a_product_update_before_the_first_export_leaves_the_full_mirror_to_it(world):
    tee = world.store.variant_by_sku(SHOP, "TEE-S")
    with world.store.lock:
        payload = product_payload(world.store.require_shop(SHOP), world.store.require_shop(SHOP).get(tee["product"].gid))
    deliver(world.app, "products/update", payload)
    assert variants(world) == {}  # a partial mirror would make the first sync skip the export
    sync_inventory(world.services, SHOP)
    assert len(variants(world)) == len(world.store.require_shop(SHOP).all("ProductVariant"))
