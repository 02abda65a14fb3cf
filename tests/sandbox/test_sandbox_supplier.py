"""The sandbox supplier speaks Printful v2 over real HTTP: shapes checked against the spec, rules, faults, webhooks."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest

from sandbox.shopify.store import Store, seed_demo_shop
from sandbox.supplier.openapi_spec import load_spec
from sandbox.supplier.printful import SandboxSupplier
from sandbox_testkit import receiver  # noqa: F401 (fixture: a local HTTP endpoint that records POSTs)

TOKEN = "t0k"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server():
    supplier = SandboxSupplier(token=TOKEN, check_responses=True)
    supplier.start()
    yield supplier
    supplier.stop()


@pytest.fixture
def supplier(server):
    server.reset()
    yield server
    assert server.schema_violations == []


@pytest.fixture(scope="module")
def spec():
    return load_spec()


def create_body(external_id: str = "ext-1", variant_id: int = 4011, quantity: int = 2) -> dict:
    return {
        "external_id": external_id,
        "recipient": {"name": "Ada Lovelace", "address1": "12 Analytical Way", "city": "London", "country_code": "GB", "zip": "N1 9GU"},
        "order_items": [
            {"source": "catalog", "catalog_variant_id": variant_id, "quantity": quantity, "external_id": "line-a", "placements": []},
            {"source": "catalog", "catalog_variant_id": 19001, "quantity": 1, "external_id": "line-b", "retail_price": "12.00", "placements": []},
        ],
    }


def post_order(supplier: SandboxSupplier, body: dict | None = None, **kwargs) -> httpx.Response:
    return httpx.post(f"{supplier.base_url}/v2/orders", json=body or create_body(), headers=AUTH, **kwargs)


def assert_fits(spec, method: str, path: str, response: httpx.Response) -> None:
    body = response.json() if response.content else None
    assert spec.response_errors(method, path, response.status_code, body) == []


# -- auth and shapes --------------------------------------------------------------------------


def test_requires_the_bearer_token(supplier, spec):
    response = httpx.get(f"{supplier.base_url}/v2/catalog-variants/4011/availability")
    assert response.status_code == 401
    assert_fits(spec, "get", "/v2/catalog-variants/{id}/availability", response)
    assert httpx.get(f"{supplier.base_url}/v2/orders", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_another_store_id_is_forbidden(supplier):
    response = httpx.get(f"{supplier.base_url}/v2/orders", headers={**AUTH, "X-PF-Store-Id": "999"})
    assert response.status_code == 403


def test_order_lifecycle_responses_fit_the_spec(supplier, spec):
    created = post_order(supplier)
    assert created.status_code == 200
    assert_fits(spec, "post", "/v2/orders", created)
    order = created.json()["data"]
    assert (order["status"], order["external_id"]) == ("draft", "ext-1")
    assert [item["external_id"] for item in order["order_items"]] == ["line-a", "line-b"]

    by_id = httpx.get(f"{supplier.base_url}/v2/orders/{order['id']}", headers=AUTH)
    by_external_id = httpx.get(f"{supplier.base_url}/v2/orders/@ext-1", headers=AUTH)
    assert by_id.json() == by_external_id.json()
    assert_fits(spec, "get", "/v2/orders/{order_id}", by_id)

    confirmed = httpx.post(f"{supplier.base_url}/v2/orders/{order['id']}/confirmation", headers=AUTH)
    assert_fits(spec, "post", "/v2/orders/{order_id}/confirmation", confirmed)
    assert confirmed.json()["data"]["status"] == "pending"

    supplier.ship(order["id"], tracking_number="1Z1", carrier="UPS", items={"line-a": 1})
    supplier.ship(order["id"])
    shipments = httpx.get(f"{supplier.base_url}/v2/orders/{order['id']}/shipments", headers=AUTH)
    assert_fits(spec, "get", "/v2/orders/{order_id}/shipments", shipments)
    first, second = shipments.json()["data"]
    assert first["carrier"] == "UPS" and first["tracking_url"].endswith("/1Z1")
    assert "tracking_number" not in first  # the spec's Shipment has none; only webhooks carry it
    assert [(i["order_item_external_id"], i["quantity"]) for i in first["shipment_items"]] == [("line-a", 1)]
    assert sorted((i["order_item_external_id"], i["quantity"]) for i in second["shipment_items"]) == [("line-a", 1), ("line-b", 1)]
    assert shipments.json()["paging"] == {"total": 2, "offset": 0, "limit": 20}

    listed = httpx.get(f"{supplier.base_url}/v2/orders", headers=AUTH)
    assert_fits(spec, "get", "/v2/orders", listed)
    assert httpx.get(f"{supplier.base_url}/v2/orders/{order['id']}", headers=AUTH).json()["data"]["status"] == "fulfilled"


def test_catalog_responses_fit_the_spec(supplier, spec):
    availability = httpx.get(f"{supplier.base_url}/v2/catalog-variants/4013/availability", headers=AUTH)
    assert_fits(spec, "get", "/v2/catalog-variants/{id}/availability", availability)
    region = availability.json()["data"]["techniques"][0]["selling_regions"][0]
    assert (region["name"], region["availability"]) == ("worldwide", "out of stock")
    variant = httpx.get(f"{supplier.base_url}/v2/catalog-variants/4011", headers=AUTH)
    assert_fits(spec, "get", "/v2/catalog-variants/{id}", variant)
    missing = httpx.get(f"{supplier.base_url}/v2/catalog-variants/1/availability", headers=AUTH)
    assert missing.status_code == 404
    assert_fits(spec, "get", "/v2/catalog-variants/{id}/availability", missing)


def test_the_seeded_catalog_covers_the_demo_shop_skus(supplier):
    shop = seed_demo_shop(Store())
    shop_skus = {variant["sku"] for variant in shop.all("ProductVariant") if variant.get("sku")}
    assert shop_skus and shop_skus <= set(supplier.variant_ids_by_sku())
    assert {"TSHIRT-BLK-S", "TSHIRT-BLK-M", "TSHIRT-BLK-L", "MUG-WHT-11"} <= set(supplier.variant_ids_by_sku())


# -- rules ------------------------------------------------------------------------------------


def test_an_invalid_create_body_is_a_400_and_creates_nothing(supplier, spec):
    body = create_body("bad-1")
    del body["order_items"][0]["catalog_variant_id"]
    body["order_items"][1]["quantity"] = "two"
    response = post_order(supplier, body)
    assert response.status_code == 400
    assert_fits(spec, "post", "/v2/orders", response)
    message = response.json()["error"]["message"]
    assert "order_items.0" in message and "catalog_variant_id" in message and "order_items.1.quantity" in message
    assert "Analytical" not in message  # validation messages never echo values
    assert supplier.orders_created("bad-1") == 0

    assert httpx.post(f"{supplier.base_url}/v2/orders", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}).status_code == 400
    assert post_order(supplier, {"order_items": []}).status_code == 400  # recipient is required
    assert post_order(supplier, create_body("bad-2", variant_id=1)).status_code == 400  # no such variant
    assert post_order(supplier, create_body("bad-3", quantity=0)).status_code == 400
    assert supplier.orders_created("bad-2") == supplier.orders_created("bad-3") == 0


def test_a_taken_external_id_is_a_400_and_the_first_order_stays(supplier, spec):
    """Create lists only 200 and 400: a taken external_id is a 400 naming it, never an undocumented 409."""
    first = post_order(supplier, create_body("dup-1"))
    second = post_order(supplier, create_body("dup-1", quantity=5))
    assert second.status_code == 400 and "external ID" in second.json()["error"]["message"]
    assert_fits(spec, "post", "/v2/orders", second)
    assert supplier.orders_created("dup-1") == 1
    assert supplier.order("@dup-1").id == first.json()["data"]["id"]
    assert supplier.order("@dup-1").items[0].quantity == 2


def test_an_external_id_with_a_slash_is_one_path_segment(supplier):
    post_order(supplier, create_body("shop/1001"))
    response = httpx.get(f"{supplier.base_url}/v2/orders/@shop%2F1001", headers=AUTH)
    assert response.status_code == 200 and response.json()["data"]["external_id"] == "shop/1001"


def test_delete_removes_only_draft_failed_or_canceled_orders(supplier, spec):
    """The spec: "An order can be deleted if it's status is draft, failed or cancelled"; DELETE lists 409 as its refusal."""
    draft = post_order(supplier, create_body("c-1")).json()["data"]["id"]
    confirmed = post_order(supplier, create_body("c-2")).json()["data"]["id"]
    in_production = post_order(supplier, create_body("c-3")).json()["data"]["id"]
    failed = post_order(supplier, create_body("c-4")).json()["data"]["id"]
    for order_id in (confirmed, in_production, failed):
        httpx.post(f"{supplier.base_url}/v2/orders/{order_id}/confirmation", headers=AUTH)
    supplier.start_production(in_production)
    supplier.fail(failed)

    for order_id in (draft, failed):
        deleted = httpx.delete(f"{supplier.base_url}/v2/orders/{order_id}", headers=AUTH)
        assert deleted.status_code == 204 and not deleted.content
        assert httpx.get(f"{supplier.base_url}/v2/orders/{order_id}", headers=AUTH).status_code == 404  # deleted, not cancelled
    for order_id, status in ((confirmed, "pending"), (in_production, "inprocess")):
        refused = httpx.delete(f"{supplier.base_url}/v2/orders/{order_id}", headers=AUTH)
        assert refused.status_code == 409
        assert_fits(spec, "delete", "/v2/orders/{order_id}", refused)
        assert supplier.order(order_id).status == status

    again = httpx.post(f"{supplier.base_url}/v2/orders/{confirmed}/confirmation", headers=AUTH)
    assert again.status_code == 200 and again.json()["data"]["status"] == "pending"  # confirmation lists only 200: no change


def test_shipping_more_than_is_left_is_refused(supplier):
    order_id = post_order(supplier).json()["data"]["id"]
    with pytest.raises(ValueError):
        supplier.ship(order_id)  # a draft does not ship
    httpx.post(f"{supplier.base_url}/v2/orders/{order_id}/confirmation", headers=AUTH)
    supplier.ship(order_id, items={"line-a": 2})
    with pytest.raises(ValueError):
        supplier.ship(order_id, items={"line-a": 1})


# -- faults -----------------------------------------------------------------------------------


def test_refusals_are_not_processed(supplier, spec):
    supplier.fail_next(503)
    refused = post_order(supplier, create_body("f-1"))
    assert refused.status_code == 503
    assert_fits(spec, "post", "/v2/orders", refused)
    supplier.fail_next(429, retry_after=3)
    throttled = post_order(supplier, create_body("f-1"))
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    assert supplier.orders_created("f-1") == 0
    assert post_order(supplier, create_body("f-1")).status_code == 200


def test_a_timed_out_request_is_processed_anyway(supplier):
    supplier.time_out_next(0.6)
    with pytest.raises(httpx.ReadTimeout):
        post_order(supplier, create_body("t-1"), timeout=httpx.Timeout(0.2, connect=2.0))
    assert supplier.orders_created("t-1") == 1


def test_a_garbled_answer_comes_after_processing(supplier):
    supplier.garble_next()
    response = post_order(supplier, create_body("g-1"))
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert supplier.orders_created("g-1") == 1


def test_faults_can_target_one_route(supplier):
    supplier.fail_next(500, route="POST /v2/orders/")  # confirmations only
    order_id = post_order(supplier).json()["data"]["id"]
    assert httpx.post(f"{supplier.base_url}/v2/orders/{order_id}/confirmation", headers=AUTH).status_code == 500
    assert httpx.post(f"{supplier.base_url}/v2/orders/{order_id}/confirmation", headers=AUTH).status_code == 200


def test_latency_and_a_seeded_failure_rate(supplier):
    supplier.set_latency(0.05)
    started = time.monotonic()
    httpx.get(f"{supplier.base_url}/v2/orders", headers=AUTH)
    assert time.monotonic() - started >= 0.05
    supplier.set_latency(0)
    supplier.set_failure_rate(0.5)
    statuses = [httpx.get(f"{supplier.base_url}/v2/orders", headers=AUTH).status_code for _ in range(30)]
    assert 0 < sum(status >= 500 for status in statuses) < 30


# -- webhooks ---------------------------------------------------------------------------------


def test_webhooks_are_spec_shaped_and_signed(supplier, spec, receiver):
    configured = httpx.post(f"{supplier.base_url}/v2/webhooks", headers=AUTH, json={
        "default_url": receiver.url,
        "events": [{"type": name} for name in ("shipment_sent", "order_failed", "order_canceled", "order_put_hold",
                                               "order_remove_hold", "order_updated", "shipment_out_of_stock", "shipment_returned")]
        + [{"type": "catalog_stock_updated", "params": [{"name": "products", "value": [{"id": 71}]}]}],
    })
    assert_fits(spec, "post", "/v2/webhooks", configured)
    secret_key = configured.json()["result"]["secret_key"]
    assert_fits(spec, "get", "/v2/webhooks", httpx.get(f"{supplier.base_url}/v2/webhooks", headers=AUTH))

    shipped = post_order(supplier, create_body("w-1")).json()["data"]["id"]
    failed = post_order(supplier, create_body("w-2")).json()["data"]["id"]
    for order_id in (shipped, failed):
        httpx.post(f"{supplier.base_url}/v2/orders/{order_id}/confirmation", headers=AUTH)
    supplier.hold(shipped)
    supplier.release_hold(shipped)
    supplier.report_out_of_stock(shipped)
    supplier.ship(shipped, items={"line-a": 1})
    supplier.return_shipment(shipped)
    supplier.fail(failed, "Card declined")
    supplier.cancel(failed)
    supplier.set_stock("TSHIRT-BLK-M", False)  # product 71: reported
    supplier.set_stock("MUG-WHT-11", False)  # product 19: not subscribed
    supplier.flush_webhooks()

    received = receiver.received()
    types = [json.loads(message.body)["type"] for message in received]
    for expected in ("order_put_hold", "order_remove_hold", "shipment_out_of_stock", "shipment_sent", "shipment_returned",
                     "order_failed", "order_canceled", "order_updated", "catalog_stock_updated"):
        assert expected in types
    assert types.count("catalog_stock_updated") == 1
    assert "order_created" not in types  # not subscribed
    for message in received:
        event = json.loads(message.body)
        assert spec.webhook_errors(event["type"], event) == [], event["type"]
        expected_signature = hmac.new(bytes.fromhex(secret_key), message.body, hashlib.sha256).hexdigest()
        assert message.headers["x-pf-webhook-signature"] == expected_signature
        assert message.headers["x-pf-webhook-public-key"]

    assert httpx.delete(f"{supplier.base_url}/v2/webhooks", headers=AUTH).status_code == 204
    supplier.fail(shipped)
    supplier.flush_webhooks()
    assert len(receiver.received()) == len(received)


def test_a_route_sends_an_orders_events_to_its_own_url_and_the_rest_to_the_configured_one(supplier, receiver):
    """The benchmark's store-per-shop stand-in (bench/peak_orders.py): the route picks an order event's URL; others keep the configuration's."""
    supplier.configure_webhooks(f"{receiver.url}/default")
    def route(payload):
        data = payload["data"]  # a list for stock events
        return f"{receiver.url}/shop-two" if isinstance(data, dict) and data["order"]["external_id"] == "w-2" else None

    supplier.webhooks.route = route
    try:
        for external_id in ("w-1", "w-2"):
            order_id = post_order(supplier, create_body(external_id)).json()["data"]["id"]
            httpx.post(f"{supplier.base_url}/v2/orders/{order_id}/confirmation", headers=AUTH)
        supplier.set_stock("TSHIRT-BLK-M", False)
        supplier.flush_webhooks()
    finally:
        supplier.webhooks.route = None
    by_path = {}
    for message in receiver.received():
        event = json.loads(message.body)
        by_path.setdefault(message.path, []).append((event["type"], (event["data"].get("order") or {}).get("external_id") if isinstance(event["data"], dict) else None))
    assert by_path["/shop-two"] == [("order_updated", "w-2")]
    assert ("order_updated", "w-1") in by_path["/default"] and ("catalog_stock_updated", None) in by_path["/default"]


def test_reset_forgets_orders_and_restores_stock(supplier):
    post_order(supplier, create_body("r-1"))
    supplier.set_stock("TSHIRT-BLK-S", False)
    supplier.fail_next(500, count=3)
    supplier.reset()
    assert supplier.orders_created("r-1") == 0
    assert supplier.variant_by_sku("TSHIRT-BLK-S").in_stock
    assert supplier.faults.pending() == 0


def test_path_query_and_headers_are_validated_too_not_only_bodies(supplier):
    """openapi-core checks every part of a request: what the spec refuses is a 400 naming the part, never the value."""
    order_id = post_order(supplier, create_body("v-1")).json()["data"]["id"]
    cases = [
        ("GET", f"/v2/orders/{order_id}/shipments?limit=500", {}),                      # query: limit maximum 100
        ("GET", "/v2/catalog-variants/4011/availability?selling_region_name=mars", {}),  # query: not in the enum
        ("GET", f"/v2/orders/{order_id}/shipments?offset=-1", {}),                      # query: offset minimum 0
    ]
    for method, path, headers in cases:
        answer = httpx.request(method, f"{supplier.base_url}{path}", headers={**AUTH, **headers})
        assert answer.status_code == 400, path
        message = answer.json()["error"]["message"]
        assert "InvalidParameter" in message and "mars" not in message
    assert len(supplier.refused_requests) == len(cases)
    assert httpx.get(f"{supplier.base_url}/v2/catalog-variants/4011/availability?selling_region_name=europe", headers=AUTH).status_code == 200
    assert httpx.get(f"{supplier.base_url}/v2/orders/{order_id}", headers={**AUTH, "X-PF-Store-Id": "1"}).status_code == 200


def test_every_answer_carries_the_documented_rate_limit_headers(supplier):
    answer = httpx.get(f"{supplier.base_url}/v2/catalog-variants/4011/availability", headers=AUTH)
    assert answer.headers["X-Ratelimit-Policy"] == "120;w=60;" and answer.headers["X-Ratelimit-Limit"] == "120"
    assert int(answer.headers["X-Ratelimit-Remaining"]) < 120 and float(answer.headers["X-Ratelimit-Reset"]) > 0
