"""Inventory sync end to end: REST sandbox supplier -> our records -> sandbox Shopify, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from conftest import API_KEY, install_shop, sample_json
from orders.forwarding_kit import deliver, paid_sandbox_order
from sandbox.supplier.rest_supplier import RestSandboxSupplier
from shopify_app.inventory.catalog_mirror import mirror_catalog
from shopify_app.inventory.feeds import pull_supplier_stock
from shopify_app.inventory.models import CatalogVariant, InventoryLevel
from shopify_app.inventory.sync import sync_inventory
from shopify_app.suppliers.forwarding import adapter_from_record
from shopify_app.suppliers.models import ProductMapping, Supplier

SHOP = "demo.myshopify.com"
SKUS = ("MUG-WHT", "MUG-BLK", "TEE-S", "TEE-M", "TEE-L", "BTL-500")


@pytest.fixture
def rest_supplier_server():
    sandbox = RestSandboxSupplier()
    sandbox.start()
    yield sandbox
    sandbox.stop()


class World:
    """The app on the sandbox Shopify's demo shop, with the REST sandbox as its supplier at the warehouse."""

    def __init__(self, app, shopify, supplier_server):
        self.app, self.shopify, self.supplier_server = app, shopify, supplier_server
        self.services = app.extensions["services"]
        self.shop = shopify.store.require_shop(SHOP)
        self.location = self.shop.all("Location")[0]["id"]
        self.services.tokens.save(SHOP, shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_inventory")
        with self.services.session_factory.begin() as session:
            supplier = Supplier(
                shop_domain=SHOP, name="Rest sandbox", kind="rest", location_gid=self.location,
                settings=supplier_server.adapter_settings(),
                credentials_enc=self.services.box.encrypt(json.dumps(supplier_server.adapter_credentials())),
                inventory_terms={"safety_buffer": 2},
            )
            session.add(supplier)
            session.flush()
            for sku in SKUS:
                session.add(ProductMapping(shop_domain=SHOP, sku=sku, supplier_id=supplier.id, supplier_sku=sku, cost="4.00"))
            self.supplier_id = supplier.id

    def pull(self):
        with self.services.session_factory() as session:
            adapter = adapter_from_record(session.get(Supplier, self.supplier_id), self.services.box)
        return pull_supplier_stock(self.services.session_factory, self.supplier_id, adapter)

    def sync(self, **kw):
        return sync_inventory(self.services, SHOP, **kw)

    def shopify_available(self, sku: str) -> int:
        variant = self.shopify.store.variant_by_sku(SHOP, sku)
        level = self.shopify.store.inventory_level(SHOP, variant["inventoryItem"].gid if hasattr(variant["inventoryItem"], "gid") else variant["inventoryItem"]["id"], self.location)
        return level["_quantities"]["available"]

    def item_of(self, sku: str) -> str:
        variant = self.shopify.store.variant_by_sku(SHOP, sku)
        item = variant["inventoryItem"]
        return item.gid if hasattr(item, "gid") else item["id"]


@pytest.fixture
def world(sandboxed_app, sandbox_shopify, rest_supplier_server):
    return World(sandboxed_app, sandbox_shopify, rest_supplier_server)


def test_a_feed_change_at_the_supplier_reaches_shopify_within_one_sync(world) -> None:
    world.supplier_server.set_stock("MUG-WHT", available=7)
    assert world.pull().status == "applied"
    run = world.sync()
    assert run.status == "done", run.error
    # The supplier's counts less the buffer of 2, never below zero.
    assert {sku: world.shopify_available(sku) for sku in SKUS} == {"MUG-WHT": 5, "MUG-BLK": 38, "TEE-S": 28, "TEE-M": 28, "TEE-L": 0, "BTL-500": 10}
    assert run.calls == 1 and run.quantities_set == 5  # one call; TEE-L already showed 0
    again = world.sync()
    assert (again.calls, again.quantities_set) == (0, 0)  # nothing changed: nothing sent
    world.supplier_server.set_stock("BTL-500", available=3)
    world.pull()
    changed = world.sync()
    assert (changed.calls, changed.quantities_set) == (1, 1)
    assert world.shopify_available("BTL-500") == 1


def test_a_burst_of_orders_never_takes_available_below_zero(world) -> None:
    world.supplier_server.set_stock("MUG-WHT", available=6)
    world.pull()
    world.sync()
    assert world.shopify_available("MUG-WHT") == 4
    for _ in range(1, 8):  # seven orders against four units, before the supplier's next feed
        paid_sandbox_order(world.app, world.shopify, skus=("MUG-WHT",))
    run = world.sync()
    assert run.status == "done"
    assert world.shopify_available("MUG-WHT") == 0
    with world.services.session_factory() as session:
        level = session.scalar(select(InventoryLevel).where(InventoryLevel.inventory_item_gid == world.item_of("MUG-WHT")))
        assert level.desired == 0 and level.supply == 4


def test_a_change_in_shopify_we_had_not_seen_is_read_before_we_write(world, caplog) -> None:
    world.pull()
    world.sync()
    assert world.shopify_available("TEE-S") == 28
    # Shopify sells 3 behind our back (no webhook reaches us), then the supplier restocks 5.
    world.shopify.store.set_quantity(SHOP, world.item_of("TEE-S"), world.location, "available", 25)
    world.supplier_server.set_stock("TEE-S", available=35)
    world.pull()
    run = world.sync()
    assert run.stale_retries == 1
    # The unexplained sale is kept; the supplier's new 5 units are added on top.
    assert world.shopify_available("TEE-S") == 30


def test_a_throttled_store_is_waited_out_not_failed(world, caplog, monkeypatch) -> None:
    world.pull()
    # Empty the bucket when the sync's first query arrives: drained earlier, it refills (100 points/s)
    # while a loaded machine is still getting there, and the sync would never meet the throttle.
    bucket = world.shopify.store.require_shop(SHOP).bucket
    take = bucket.try_take

    def empty_at_the_first_query(cost: int) -> bool:
        monkeypatch.setattr(bucket, "try_take", take)
        bucket.drain()
        return take(cost)

    monkeypatch.setattr(bucket, "try_take", empty_at_the_first_query)
    with caplog.at_level(logging.INFO, logger="integrations.shopify.gateway"):
        run = world.sync()
    assert run.status == "done", run.error
    assert world.shopify_available("MUG-BLK") == 38
    assert any("throttled" in r.getMessage() or "pacing" in r.getMessage() for r in caplog.records)


def test_the_catalog_mirror_reads_every_variant_and_level(world) -> None:
    stats = mirror_catalog(world.services.session_factory, world.services.gateway(SHOP), world.services.http_client, SHOP, poll_every=0.05)
    with world.services.session_factory() as session:
        skus = set(session.scalars(select(CatalogVariant.sku)))
        level = session.scalar(select(InventoryLevel).where(InventoryLevel.inventory_item_gid == world.item_of("MUG-WHT"), InventoryLevel.location_gid == world.location))
    assert set(SKUS) <= skus
    assert stats.variants == len(world.shop.all("ProductVariant"))
    assert level.available == world.shopify_available("MUG-WHT")


def test_inventory_level_webhooks_update_the_mirror_and_late_ones_are_ignored(world) -> None:
    world.pull()
    world.sync()
    item_number, location_number = world.item_of("TEE-M").rsplit("/", 1)[-1], world.location.rsplit("/", 1)[-1]
    payload = sample_json("inventory_levels_update") | {
        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location_number}?inventory_item_id={item_number}",
        "available": 11, "updated_at": "2099-01-01T00:00:00Z",
    }
    deliver(world.app, "inventory_levels/update", payload)
    deliver(world.app, "inventory_levels/update", payload | {"available": 99, "updated_at": "2098-01-01T00:00:00Z"})
    with world.services.session_factory() as session:
        level = session.scalar(select(InventoryLevel).where(InventoryLevel.inventory_item_gid == world.item_of("TEE-M")))
        assert level.available == 11


def test_the_app_runs_on_2026_04_the_oldest_version_supported_from_2027(sandbox_shopify, app_factory, database_url, rest_supplier_server) -> None:
    app = app_factory(database_url, sandbox_shopify_url=sandbox_shopify.base_url, api_version="2026-04")
    world = World(app, sandbox_shopify, rest_supplier_server)
    world.pull()
    run = world.sync()
    assert run.status == "done", run.error
    assert world.shopify_available("MUG-BLK") == 38


def test_the_inventory_api_reports_feeds_syncs_and_failures(world) -> None:
    client = world.app.test_client()
    headers = {"Authorization": f"Bearer {world.shopify.mint_session_token(SHOP, API_KEY)}"}
    upload = client.post(f"/api/suppliers/{world.supplier_id}/stock-feed", data=b"sku,available\nMUG-WHT,9\nMUG-BLK,-4\nNOPE,3\nTEE-S,2.5\n"
                         b"MUG-BLK,1\nTEE-M,5\nTEE-L,0\nBTL-500,4\nTEE-S,3\n", headers=headers | {"Content-Type": "text/csv"})
    assert upload.status_code == 201, upload.get_json()
    feed = upload.get_json()["feed"]
    assert feed["status"] == "applied" and feed["rows_refused"] == 3
    assert sorted(e.get("row") or 0 for e in feed["errors"]) == [0, 3, 5]
    synced = client.post("/api/inventory/sync", headers=headers).get_json()["sync"]
    assert synced["status"] == "done" and synced["quantities_set"] >= 4
    assert world.shopify_available("MUG-WHT") == 7
    overview = client.get("/api/inventory", headers=headers).get_json()
    supplier = overview["suppliers"][0]
    assert supplier["last_feed"]["id"] == feed["id"] and supplier["stale"] is False
    assert overview["last_sync"]["id"] == synced["id"]
    # A feed that empties most of the catalog is held, then confirmed through the API.
    held = client.post(f"/api/suppliers/{world.supplier_id}/stock-feed", json=[{"sku": "MUG-WHT", "available": 9}], headers=headers).get_json()["feed"]
    assert held["status"] == "needs_confirmation"
    assert client.get("/api/inventory", headers=headers).get_json()["suppliers"][0]["held_feeds"][0]["id"] == held["id"]
    confirmed = client.post(f"/api/inventory/feeds/{held['id']}/confirm", headers=headers)
    assert confirmed.status_code == 200 and confirmed.get_json()["feed"]["status"] == "confirmed"
    assert client.post(f"/api/inventory/feeds/{held['id']}/confirm", headers=headers).status_code == 409
    world.shopify.add_shop("other.myshopify.com")
    install_shop(world.app, "other.myshopify.com")
    assert client.get(f"/api/inventory/feeds/{held['id']}", headers={"Authorization": f"Bearer {world.shopify.mint_session_token('other.myshopify.com', API_KEY)}"}).status_code == 404


def test_a_feed_can_be_fetched_from_a_url_and_an_unreachable_one_is_refused(world) -> None:
    import http.server
    import threading

    body = b"sku,available\nMUG-WHT,12\nMUG-BLK,40\nTEE-S,30\nTEE-M,30\nTEE-L,0\nBTL-500,12\n"

    class Feed(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    headers = {"Authorization": f"Bearer {world.shopify.mint_session_token(SHOP, API_KEY)}"}
    client = world.app.test_client()
    try:
        fetched = client.post(f"/api/suppliers/{world.supplier_id}/stock-feed", json={"url": f"http://127.0.0.1:{server.server_port}/stock.csv"}, headers=headers)
        assert fetched.status_code == 201, fetched.get_json()
        assert fetched.get_json()["feed"]["source"] == "url" and fetched.get_json()["feed"]["rows_refused"] == 0
        world.sync()
        assert world.shopify_available("MUG-WHT") == 10
    finally:
        server.shutdown()
        server.server_close()
    unreachable = client.post(f"/api/suppliers/{world.supplier_id}/stock-feed", json={"url": f"http://127.0.0.1:{server.server_port}/gone.csv"}, headers=headers)
    assert unreachable.status_code == 422 and "could not be read" in unreachable.get_json()["error"]


def test_a_deny_supplier_stops_its_variants_selling_past_zero(world) -> None:
    for sku in ("MUG-WHT", "TEE-S"):
        variant = world.shopify.store.variant_by_sku(SHOP, sku)
        variant["inventoryPolicy"] = "CONTINUE"
    with world.services.session_factory.begin() as session:
        session.get(Supplier, world.supplier_id).inventory_terms = {"safety_buffer": 2, "out_of_stock_policy": "deny"}
    world.pull()
    assert world.sync(refresh_catalog=True).status == "done"
    assert {world.shopify.store.variant_by_sku(SHOP, sku)["inventoryPolicy"] for sku in SKUS} == {"DENY"}
    with world.services.session_factory() as session:
        assert set(session.scalars(select(CatalogVariant.inventory_policy).where(CatalogVariant.sku.in_(SKUS)))) == {"DENY"}


def test_a_stock_webhook_from_the_supplier_is_a_delta_feed_that_reaches_shopify(world) -> None:
    import threading

    from werkzeug.serving import make_server

    from shopify_app.inventory.models import StockFeedRun
    from shopify_app.webhooks.worker import InboxWorker

    server = make_server("127.0.0.1", 0, world.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        world.pull()
        world.sync()
        world.supplier_server.configure_webhooks(f"http://127.0.0.1:{server.server_port}/suppliers/{world.supplier_id}/webhooks")
        world.supplier_server.set_stock("TEE-M", available=4)
        world.supplier_server.flush_webhooks()
        InboxWorker(world.services.session_factory, world.services.settings, world.services).drain()
    finally:
        server.shutdown()
        server.server_close()
    with world.services.session_factory() as session:
        run = session.scalar(select(StockFeedRun).order_by(StockFeedRun.id.desc()).limit(1))
        assert (run.source, run.full, run.skus_changed) == ("webhook", False, 1)
    world.sync()
    assert world.shopify_available("TEE-M") == 2
    assert world.shopify_available("TEE-S") == 28  # a delta: the others are untouched


def test_inventory_drift_is_found_by_reconciliation_and_pushed_right(world) -> None:
    import datetime as dt

    from shopify_app.reconcile.runner import run_reconciliation

    world.pull()
    world.sync()
    # Someone lowers TEE-S in the admin; the sync keeps an unexplained decrease (it may be a sale)...
    world.shopify.store.set_quantity(SHOP, world.item_of("TEE-S"), world.location, "available", 20)
    item_number, location_number = world.item_of("TEE-S").rsplit("/", 1)[-1], world.location.rsplit("/", 1)[-1]
    deliver(world.app, "inventory_levels/update", sample_json("inventory_levels_update") | {
        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location_number}?inventory_item_id={item_number}", "available": 20, "updated_at": "2099-01-01T00:00:00Z"})
    world.sync()
    assert world.shopify_available("TEE-S") == 20
    # ...until reconciliation, past the in-flight window, finds the drift and pushes the supplier's figure.
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    run = run_reconciliation(world.services, SHOP, only=("inventory_drift",), now=later)
    assert run.report["inventory_drift"]["found"] == 1 and run.report["inventory_drift"]["repaired"] == 1
    assert world.shopify_available("TEE-S") == 28
