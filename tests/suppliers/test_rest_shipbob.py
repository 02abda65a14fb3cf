"""The shipbob preset against the ShipBob sandbox (adapter level, and end to end: Shopify order -> ShipBob -> Shopify fulfillment).

The sandbox's answers are validated with jsonschema against shipbob_spec.py (written from ShipBob's reference).
"""
from __future__ import annotations

import httpx
import pytest
from jsonschema import Draft202012Validator

from integrations.suppliers.base import Address, CancellationRefused, OrderLine, PlaceOrder, SupplierOrderStatus
from integrations.suppliers.registry import build_adapter
from preset_world import forwarded, served_world, tracking_numbers
from sandbox.supplier.shipbob import ShipBobSandbox
from sandbox.supplier.shipbob_spec import CREATE_ORDER, RESPONSES
from shopify_app.suppliers.polling import poll_shipments


@pytest.fixture(scope="module")
def shipbob_server():
    server = ShipBobSandbox()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def shipbob(shipbob_server):
    shipbob_server.reset()
    return shipbob_server


def adapter_for(shipbob, **settings):
    return build_adapter("rest", shipbob.adapter_credentials(), {**shipbob.adapter_settings(), "rate_limit": {"requests_per_second": 50}, **settings})


def order(external_id: str) -> PlaceOrder:
    return PlaceOrder(external_id, Address(name="John Doe", address1="100 N Racine Ave", city="Chicago", country_code="US", province_code="IL", zip="60607"),
                      (OrderLine("11", "LIGHT-ROAST", 2, name="Light Roast Coffee"), OrderLine("12", "DARK-ROAST", 1)))


def test_places_in_shipbob_shapes_and_a_taken_reference_continues_with_the_first(shipbob):
    adapter = adapter_for(shipbob)
    placed = adapter.place_order(order("so-sb-1"))
    assert placed.status is SupplierOrderStatus.ACKNOWLEDGED
    [(_, _, sent)] = [r for r in shipbob.received if r[0] == "POST"]
    assert not list(Draft202012Validator(CREATE_ORDER).iter_errors(sent))
    assert sent["order_number"] == "so-sb-1" and sent["products"][0] == {"reference_id": "LIGHT-ROAST", "quantity": 2, "name": "Light Roast Coffee / LIGHT-ROAST"}
    assert adapter.place_order(order("so-sb-1")).supplier_order_id == placed.supplier_order_id  # 422 "already exists": found by reference
    assert shipbob.orders_created("so-sb-1") == 1
    headers = {"Authorization": f"Bearer {shipbob.token}", "shipbob_channel_id": str(shipbob.channel_id)}
    for name, path in [("get_order", f"/1.0/order/{placed.supplier_order_id}"), ("get_orders", "/1.0/order?ReferenceIds=so-sb-1"),
                       ("get_shipments", f"/1.0/order/{placed.supplier_order_id}/shipment")]:
        answer = httpx.get(shipbob.base_url + path, headers=headers).json()
        assert not [e.message for e in Draft202012Validator(RESPONSES[name]).iter_errors(answer)], name


def test_a_parcel_counts_once_it_has_left_and_a_labelled_order_cannot_be_cancelled(shipbob):
    adapter = adapter_for(shipbob)
    placed = adapter.place_order(order("so-sb-2"))
    assert adapter.get_shipments(placed.supplier_order_id) == []  # listed by ShipBob, but "Processing": not shipped
    number = shipbob.ship(placed.supplier_order_id)
    [parcel] = adapter.get_shipments(placed.supplier_order_id)
    assert (parcel.tracking_number, parcel.carrier) == (number, "USPS")
    assert [(line.supplier_sku, line.quantity) for line in parcel.lines] == [("LIGHT-ROAST", 2), ("DARK-ROAST", 1)]
    with pytest.raises(CancellationRefused):
        adapter.cancel_order(placed.supplier_order_id)
    other = adapter.place_order(order("so-sb-3"))
    assert adapter.cancel_order(other.supplier_order_id).status is SupplierOrderStatus.CANCELLED


@pytest.fixture
def world(sandboxed_app, sandbox_shopify, shipbob_server):
    shipbob_server.reset()
    with served_world(sandboxed_app, sandbox_shopify, shipbob_server) as world:
        yield world


def test_shipbob_places_and_tracks_from_preset_and_settings_alone(world):
    shipbob = world.supplier_server
    assert world.api("post", f"/api/suppliers/{world.supplier_id}/test-connection").get_json()["test"]["ok"] is True
    order, delivery = forwarded(world, "TEE-S", 1)
    assert delivery.state == "placed", delivery.last_error
    assert [(p["reference_id"], p["quantity"]) for p in shipbob.orders[int(delivery.supplier_order_id)]["products"]] == [("TEE-S", 1)]
    number = shipbob.ship(delivery.supplier_order_id)
    poll_shipments(world.services)
    assert tracking_numbers(world, order) == [number]
