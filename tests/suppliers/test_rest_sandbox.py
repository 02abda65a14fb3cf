"""The REST sandbox supplier's own API: authentication, validation, cancellation rules, fault controls."""
from __future__ import annotations

import httpx
import pytest

from rest_testkit import API_KEY, rest_sandbox, rest_sandbox_server, rest_webhook_receiver  # noqa: F401 (fixtures)

GOOD = {
    "reference": "sbx-1", "ship_to": {"name": "A", "street1": "1 Road", "city": "Town", "country": "GB"},
    "items": [{"sku": "WIDGET-RED", "qty": 1, "line_ref": "l1"}],
}


@pytest.fixture
def http(rest_sandbox):
    with httpx.Client(base_url=rest_sandbox.base_url + "/api/v1", headers={"X-Api-Key": API_KEY}, timeout=5) as client:
        yield client


def test_every_request_needs_the_api_key(rest_sandbox):
    assert httpx.get(rest_sandbox.base_url + "/api/v1/stock?skus=WIDGET-RED").status_code == 401


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"reference": ""}, "invalid"),
        ({"ship_to": {"name": "A", "street1": "1 Road", "city": "Town", "country": "GBR"}}, "invalid"),
        ({"items": []}, "invalid"),
        ({"items": [{"sku": "NOPE", "qty": 1}]}, "unknown_sku"),
        ({"items": [{"sku": "WIDGET-RED", "qty": 0}]}, "invalid"),
        ({"items": [{"sku": "WIDGET-RED", "qty": 1, "line_ref": "x"}, {"sku": "WIDGET-BLUE", "qty": 1, "line_ref": "x"}]}, "invalid"),
    ],
)
def test_bad_orders_are_422_and_create_nothing(http, rest_sandbox, change, code):
    response = http.post("/orders", json={**GOOD, **change})
    assert (response.status_code, response.json()["error"]["code"]) == (422, code)
    assert rest_sandbox.orders.all() == []


def test_a_taken_reference_is_409_with_the_existing_id(http):
    first = http.post("/orders", json=GOOD).json()["order"]
    again = http.post("/orders", json=GOOD)
    assert again.status_code == 409 and again.json()["error"]["order_id"] == first["id"]
    assert http.get("/orders", params={"reference": "sbx-1"}).json()["orders"][0]["id"] == first["id"]


def test_shipped_orders_cannot_be_cancelled_and_cancelling_twice_is_a_no_op(http, rest_sandbox):
    order = http.post("/orders", json=GOOD).json()["order"]
    assert http.post(f"/orders/{order['id']}/cancel").json()["order"]["status"] == "cancelled"
    assert http.post(f"/orders/{order['id']}/cancel").status_code == 200
    other = http.post("/orders", json={**GOOD, "reference": "sbx-2"}).json()["order"]
    rest_sandbox.ship(other["id"])
    assert http.post(f"/orders/{other['id']}/cancel").status_code == 409
    with pytest.raises(ValueError):
        rest_sandbox.ship(other["id"])  # nothing left


def test_faults_refuse_garble_and_come_in_order(http, rest_sandbox):
    rest_sandbox.fail_next(429, retry_after=3)
    rest_sandbox.garble_next()
    limited = http.get("/stock", params={"skus": "WIDGET-RED"})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    garbled = http.post("/orders", json=GOOD)
    assert garbled.status_code == 200 and not garbled.text.startswith("{")
    assert rest_sandbox.orders_created("sbx-1") == 1  # a garbled answer still processed the request
