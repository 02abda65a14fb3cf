"""Every Printful adapter operation through openapi-core, both ways, and the adapter against every body the spec allows.

openapi-core (an independent OpenAPI 3 validator) checks each request the adapter sends
(path, query, headers, body) and each answer the sandbox gives, on the wire between them.
Then Hypothesis draws response bodies from the spec's own schemas; each one openapi-core
accepts must be read by the adapter: parsed when it carries what the adapter needs, else
refused as an unreadable answer (a SupplierError), never a crash.
"""
from __future__ import annotations

import json
import re
import warnings

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from integrations.suppliers.base import Amendment, OrderLine, SupplierError, SupplierOrderStatus
from integrations.suppliers.printful import PrintfulAdapter, PrintfulProduct
from integrations.suppliers.printful.pacing import LeakyBucket
from openapi_strategies import from_schema
from printful_testkit import STORE_ID, printful_sandbox, sandbox, webhook_receiver  # noqa: F401 (fixtures)
from sandbox.supplier.openapi_spec import spec_path
from supplier_contract import order_request

RAW_SPEC = json.loads(spec_path().read_text())
# The published file repeats one enum value in an unrelated OAuth-scopes schema; a strict
# check of the document refuses it, so only the operations are validated.
OPENAPI = OpenAPI.from_dict(RAW_SPEC, config=Config(spec_validator_cls=None))
HOST = "https://api.printful.com"


def _template(path: str) -> str:
    """The spec's path template for a concrete path."""
    for template in RAW_SPEC["paths"]:
        pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            return template
    return path


def _validate(request: httpx.Request, response: httpx.Response) -> list[str]:
    raw_path = request.url.raw_path.decode().split("?", 1)[0]
    headers = {name: value for name, value in request.headers.items()}
    mock_request = MockRequest(HOST, request.method.lower(), raw_path, args=dict(request.url.params),
                               headers=headers, data=request.content or None,
                               content_type=request.headers.get("content-type") if request.content else None)
    problems = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unsupported scheme type": security is checked by the sandbox
        try:
            OPENAPI.validate_request(mock_request)
        except Exception as error:  # openapi-core's errors share no narrower public base
            if "Security" not in type(error).__name__:
                problems.append(f"request {request.method} {raw_path}: {type(error).__name__} {error.__cause__ or ''}")
        if response.status_code != 429:  # documented in the "Rate Limiting" section, not per operation
            mock_response = MockResponse(response.content, status_code=response.status_code,
                                         headers=dict(response.headers), content_type=response.headers.get("content-type") or "application/json")
            try:
                OPENAPI.validate_response(mock_request, mock_response)
            except Exception as error:
                problems.append(f"response {response.status_code} to {request.method} {raw_path}: {type(error).__name__} {error.__cause__ or ''}")
    return problems


class Wiretap(httpx.BaseTransport):
    """The real HTTP transport, with every exchange kept for validation."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.exchanges.append((request, response))
        return response

    def close(self) -> None:
        self.inner.close()


def test_every_adapter_operation_conforms_to_the_spec_both_ways(sandbox):  # noqa: F811 (fixture)
    wire = Wiretap()
    products = {v.sku: PrintfulProduct(v.id, catalog_product_id=v.product_id if v.sku.startswith("TSHIRT") else None)
                for v in sandbox.catalog.values()}
    adapter = PrintfulAdapter(sandbox.token, base_url=sandbox.base_url, products=products, store_id=STORE_ID, transport=wire,
                              timeout=httpx.Timeout(5.0, connect=2.0), bucket=LeakyBucket())

    class Controller:
        in_stock_skus = ("TSHIRT-BLK-S", "MUG-WHT-11")

    request = order_request(Controller, "conf-1/slash")
    placed = adapter.place_order(request)                                    # POST /v2/orders, POST .../confirmation
    assert adapter.place_order(request).supplier_order_id == placed.supplier_order_id  # 400 taken external_id, GET @id
    assert adapter.find_order(request.external_id).supplier_order_id == placed.supplier_order_id
    assert adapter.find_order("conf-missing") is None                         # 404
    change = Amendment(reference="conf-1-A1", lines=(OrderLine("line-a", "TSHIRT-BLK-S", 1), OrderLine("line-b", "MUG-WHT-11", 1)))
    adapter.amend_order(placed.supplier_order_id, change)                     # PATCH /v2/orders/{id}
    sandbox.ship(int(placed.supplier_order_id), items={"line-a": 1})
    assert len(adapter.get_shipments(placed.supplier_order_id)) == 1          # GET .../shipments
    levels = adapter.get_stock(["TSHIRT-BLK-S", "TSHIRT-BLK-L", "MUG-WHT-11", "NO-SUCH"])  # product and variant availability
    assert {level.supplier_sku: level.in_stock for level in levels} == {"TSHIRT-BLK-S": True, "TSHIRT-BLK-L": False, "MUG-WHT-11": True}

    refused = adapter.place_order(order_request(Controller, "conf-2"))
    with pytest.raises(SupplierError):
        adapter.cancel_order(refused.supplier_order_id)                       # confirmed: refused before any DELETE
    sandbox.fail(int(refused.supplier_order_id))
    assert adapter.cancel_order(refused.supplier_order_id).status == SupplierOrderStatus.CANCELLED  # DELETE 204, then 404
    sandbox.fail_next(409, route="DELETE")
    failed = adapter.place_order(order_request(Controller, "conf-3"))
    sandbox.fail(int(failed.supplier_order_id))
    adapter.conflict_pause = 0.01
    assert adapter.cancel_order(failed.supplier_order_id).status == SupplierOrderStatus.CANCELLED  # 409, retried

    created = adapter.register_webhooks("https://app.example.com/suppliers/1/webhooks", expires_at="2030-01-01T00:00:00Z")
    assert created["secret_key"] == sandbox.webhooks.config.secret_key and adapter.webhook_secret_key == created["secret_key"]
    assert adapter.webhook_configuration()["default_url"] == "https://app.example.com/suppliers/1/webhooks"

    problems = [problem for req, resp in wire.exchanges for problem in _validate(req, resp)]
    assert problems == []
    seen = {(req.method, _template(req.url.raw_path.decode().split("?")[0]), resp.status_code) for req, resp in wire.exchanges}
    expected = {
        ("POST", "/v2/orders", 200), ("POST", "/v2/orders", 400), ("POST", "/v2/orders/{order_id}/confirmation", 200),
        ("GET", "/v2/orders/{order_id}", 200), ("GET", "/v2/orders/{order_id}", 404), ("PATCH", "/v2/orders/{order_id}", 200),
        ("GET", "/v2/orders/{order_id}/shipments", 200), ("GET", "/v2/catalog-products/{id}/availability", 200),
        ("GET", "/v2/catalog-variants/{id}/availability", 200), ("DELETE", "/v2/orders/{order_id}", 204),
        ("DELETE", "/v2/orders/{order_id}", 409), ("POST", "/v2/webhooks", 200), ("GET", "/v2/webhooks", 200),
    }
    assert expected <= seen
    assert sandbox.refused_requests == []
    adapter.close()


# -- every body the spec allows ------------------------------------------------------------------


def _response_schema(name: str) -> dict:
    return RAW_SPEC["components"]["responses"][name]["content"]["application/json"]["schema"]


def _accepted(method: str, path: str, body: dict) -> bool:
    """Whether openapi-core accepts `body` as the 200 answer to this request."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            OPENAPI.validate_response(MockRequest(HOST, method, path), MockResponse(json.dumps(body).encode(), status_code=200))
        except Exception:
            return False
    return True


def _adapter_answering(body: dict, **options) -> PrintfulAdapter:
    def printful(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    return PrintfulAdapter("prop-token", base_url="https://printful.test", transport=httpx.MockTransport(printful), bucket=LeakyBucket(), **options)


PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


@PROPERTY
@given(from_schema(RAW_SPEC, _response_schema("GetOrderById")))
def test_every_order_body_the_spec_allows_is_read_or_refused_cleanly(body):
    assume(_accepted("get", "/v2/orders/11", body))
    adapter = _adapter_answering(body)
    data = body["data"]
    try:
        order = adapter.get_order("11")
    except SupplierError:
        assert not (isinstance(data.get("id"), int) and isinstance(data.get("status"), str))  # refused only when it lacks them
        return
    assert order.supplier_order_id == str(data["id"]) and order.raw == data


@PROPERTY
@given(from_schema(RAW_SPEC, _response_schema("GetShipments")))
def test_every_shipments_body_the_spec_allows_is_read_or_refused_cleanly(body):
    assume(_accepted("get", "/v2/orders/11/shipments", body))
    # Left the facility: shipped or returned; without a status, a shipped_at says so.
    sent = [s for s in body["data"] if s.get("shipment_status") in ("shipped", "returned") or (not s.get("shipment_status") and s.get("shipped_at"))]
    try:
        shipments = _adapter_answering(body).get_shipments("11")
    except SupplierError:  # refused as unreadable only for a parcel that left without what we need: an id, item quantities
        assert any(not isinstance(s.get("id"), int) or any(not isinstance(item.get("quantity"), int) for item in s.get("shipment_items") or ())
                   for s in sent)
        return
    assert all(isinstance(s.get("id"), int) for s in sent)  # a parcel that left without an id is never dropped silently
    assert {shipment.shipment_id for shipment in shipments} == {str(s["id"]) for s in sent}
    assert len({s.shipment_id for s in shipments}) == len(shipments)  # once each, however the pages repeat


@PROPERTY
@given(from_schema(RAW_SPEC, _response_schema("GetVariantStockAvailabilityById")), st.sampled_from(["worldwide", "europe"]))
def test_every_variant_availability_body_is_read_or_refused_cleanly(body, region):
    assume(_accepted("get", "/v2/catalog-variants/4011/availability", body))
    levels = _adapter_answering(body, products={"SKU": 4011}, selling_region=region).get_stock(["SKU"])  # the schema requires all we read
    regions = [r for t in body["data"]["techniques"] for r in t["selling_regions"]]
    chosen = [r for r in regions if r["name"] == region] or regions
    assert [level.in_stock for level in levels] == [any(r["availability"] == "in stock" for r in chosen)]


@PROPERTY
@given(from_schema(RAW_SPEC, _response_schema("GetProductStockAvailabilityById")))
def test_every_product_availability_body_is_read_or_refused_cleanly(body):
    assume(_accepted("get", "/v2/catalog-products/71/availability", body))
    ids = [entry["catalog_variant_id"] for entry in body["data"]]
    products = {f"SKU-{variant_id}": PrintfulProduct(variant_id, catalog_product_id=71) for variant_id in ids}
    levels = _adapter_answering(body, products=products).get_stock(list(products))  # the schema requires all we read
    assert {level.supplier_sku for level in levels} == set(products)


@PROPERTY
@given(from_schema(RAW_SPEC, RAW_SPEC["components"]["responses"]["WebhookCreated"]["content"]["application/json"]["schema"]))
def test_every_webhook_registration_answer_is_read_or_refused_cleanly(body):
    assume(_accepted("post", "/v2/webhooks", body))
    try:
        result = _adapter_answering(body).register_webhooks("https://app.example.com/hook")
    except SupplierError:
        assert not (isinstance(body.get("result"), dict) and isinstance(body["result"].get("secret_key"), str) and body["result"]["secret_key"])
        return
    assert result["secret_key"] == body["result"]["secret_key"]
