"""CJdropshipping with no code: a supplier record of preset + settings places a Shopify order at CJ, its parcel becomes a
Shopify fulfillment with CJ's tracking number, and its stock is read per warehouse (app on loopback, sandbox Shopify,
CJ sandbox; SQLite and PostgreSQL)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from cj_testkit import CJ_KEY
from preset_world import forwarded, served_world, tracking_numbers
from sandbox.supplier.cj import CjSandbox
from shopify_app.inventory.feeds import pull_supplier_stock
from shopify_app.suppliers.forwarding import adapter_from_record
from shopify_app.suppliers.models import ProductMapping, Supplier
from shopify_app.suppliers.polling import poll_shipments


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    cj = CjSandbox(api_key=CJ_KEY)
    cj.start()
    with served_world(sandboxed_app, sandbox_shopify, cj) as world:
        yield world
    cj.stop()


def stored_credentials(world) -> dict:
    with world.services.session_factory() as session:
        return json.loads(world.services.box.decrypt(session.get(Supplier, world.supplier_id).credentials_enc))


def test_cj_places_tracks_and_reads_stock_from_preset_and_settings_alone(world):
    cj: CjSandbox = world.supplier_server
    with world.services.session_factory() as session:
        assert session.get(Supplier, world.supplier_id).settings == cj.adapter_settings()  # preset, base URL, pace: no code

    tested = world.api("post", f"/api/suppliers/{world.supplier_id}/test-connection").get_json()["test"]
    assert tested["ok"] is True, tested
    assert set(stored_credentials(world)) == {"api_key", "access_token", "refresh_token", "expires_at"}  # the token is kept, encrypted

    order, delivery = forwarded(world, "MUG-WHT", 2)
    assert delivery.state == "placed" and delivery.supplier_order_id, (delivery.state, delivery.last_error)
    at_cj = cj.order(delivery.supplier_order_id)
    assert at_cj.order_number == delivery.idempotency_key and [(p["vid"], p["quantity"]) for p in at_cj.body["products"]] == [("MUG-WHT", 2)]
    assert cj.calls_to("getAccessToken") == 1  # the connection test's token served the order too

    cj.expire_tokens()  # fifteen days later: CJ refuses the token; the app refreshes it once and stores the new one
    number = cj.ship(delivery.supplier_order_id)
    poll_shipments(world.services)
    assert tracking_numbers(world, order) == [number]
    assert cj.calls_to("refreshAccessToken") == 1 and cj.calls_to("getAccessToken") == 1
    trail = world.api("get", f"/api/suppliers/{world.supplier_id}/audit").get_json()["audit"]
    assert [e["actor"] for e in trail if e["action"] == "credentials_refreshed"] == ["system", "system"]

    with world.services.session_factory() as session:
        adapter = adapter_from_record(session.get(Supplier, world.supplier_id), world.services.box)
    assert pull_supplier_stock(world.services.session_factory, world.supplier_id, adapter).status == "applied"
    with world.services.session_factory() as session:
        stock = {m.sku: (m.in_stock, m.stock) for m in session.scalars(select(ProductMapping).where(ProductMapping.supplier_id == world.supplier_id))}
    assert stock == {"MUG-WHT": (True, 45), "TEE-S": (True, 30)}  # 40 in CN + 5 in the US: summed, not the last row
