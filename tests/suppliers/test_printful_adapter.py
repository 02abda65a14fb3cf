"""Printful-specific behaviour of the adapter: the two-step placement, error sorting, paging, logging, returns."""
from __future__ import annotations

import email.utils
import json
import logging
import time

import httpx
import pytest

from integrations.suppliers.base import (
    CancellationRefused,
    OrderLine,
    OutcomeUnknown,
    PermanentSupplierError,
    PlaceOrder,
    ReturnLine,
    SupplierOrderNotFound,
    SupplierOrderStatus,
    TransientSupplierError,
)
from integrations.suppliers.printful import PrintfulAdapter, PrintfulProduct
from integrations.suppliers.printful.client import retry_after_seconds
from printful_testkit import HOLD_SECONDS, make_adapter, printful_sandbox, sandbox, webhook_receiver  # noqa: F401 (fixtures)
from supplier_contract import order_request

TOKEN = "secret-token-never-logged"


class Controller:
    in_stock_skus = ("TSHIRT-BLK-S", "MUG-WHT-11")


def request(external_id: str = "so-1001") -> PlaceOrder:
    return order_request(Controller, external_id)


def mock_adapter(handler, **options) -> PrintfulAdapter:
    products = {"TSHIRT-BLK-S": 4011, "MUG-WHT-11": PrintfulProduct(19001, ({"placement": "default", "technique": "sublimation", "layers": [{"type": "file", "url": "https://x.test/a.png"}]},))}
    return PrintfulAdapter(TOKEN, products=products, base_url="https://printful.test", transport=httpx.MockTransport(handler), **options)


def order_body(order_id: int = 11, status: str = "draft", external_id: str = "so-1001") -> dict:
    return {"data": {"id": order_id, "external_id": external_id, "status": status, "costs": {"total": "21.45"}}}


# -- placing against the sandbox --------------------------------------------------------------


def test_the_create_body_carries_our_key_line_refs_print_files_and_store(sandbox):
    mug = PrintfulProduct(19001, ({"placement": "default", "technique": "sublimation", "layers": [{"type": "file", "url": "https://x.test/a.png"}]},))
    placed = make_adapter(sandbox, products={**sandbox.variant_ids_by_sku(), "MUG-WHT-11": mug}).place_order(request())
    [body] = [body for method, path, body in sandbox.received if (method, path) == ("POST", "/v2/orders")]
    assert body["external_id"] == "so-1001" and body["shipping"] == "STANDARD"
    assert [(i["catalog_variant_id"], i["external_id"], i["quantity"]) for i in body["order_items"]] == [(4011, "line-a", 2), (19001, "line-b", 1)]
    assert body["order_items"][1]["placements"][0]["layers"][0]["url"] == "https://x.test/a.png"
    assert "address2" not in body["recipient"]  # unknown fields are left out, not sent as null
    assert placed.status == SupplierOrderStatus.ACKNOWLEDGED
    assert placed.cost == "29.20"  # 2 x 9.25 + 5.95 + 4.75 shipping


def test_a_wrong_store_or_token_is_permanent(sandbox):
    with pytest.raises(PermanentSupplierError):
        make_adapter(sandbox, store_id=2).place_order(request("so-store"))
    wrong_token = PrintfulAdapter("nope", base_url=sandbox.base_url, products=sandbox.variant_ids_by_sku())
    with pytest.raises(PermanentSupplierError):
        wrong_token.get_order("1")
    assert sandbox.orders_created("so-store") == 0


def test_a_confirmation_that_never_happened_is_finished_by_placing_again(sandbox):
    adapter = make_adapter(sandbox)
    sandbox.fail_next(503, route="POST /v2/orders/")  # the create goes through, the confirmation does not
    with pytest.raises(TransientSupplierError):
        adapter.place_order(request("so-2"))
    assert adapter.find_order("so-2").status == SupplierOrderStatus.PENDING  # a Printful draft
    assert adapter.place_order(request("so-2")).status == SupplierOrderStatus.ACKNOWLEDGED
    assert sandbox.orders_created("so-2") == 1


def test_a_confirmation_whose_answer_was_lost_is_not_sent_twice(sandbox):
    adapter = make_adapter(sandbox)
    sandbox.time_out_next(HOLD_SECONDS, route="POST /v2/orders/")
    with pytest.raises(OutcomeUnknown):
        adapter.place_order(request("so-3"))
    assert adapter.find_order("so-3").status == SupplierOrderStatus.ACKNOWLEDGED
    assert adapter.place_order(request("so-3")).status == SupplierOrderStatus.ACKNOWLEDGED
    confirmations = [route for route, _ in sandbox.faults.served if route.endswith("/confirmation")]
    assert len(confirmations) == 1
    assert sandbox.orders_created("so-3") == 1


def test_an_external_id_with_a_slash_round_trips(sandbox):
    adapter = make_adapter(sandbox)
    placed = adapter.place_order(request("shop/1001"))
    assert adapter.find_order("shop/1001").supplier_order_id == placed.supplier_order_id


def test_a_numeric_sku_is_a_catalog_variant_id(sandbox):
    placed = make_adapter(sandbox, products={}).place_order(PlaceOrder("so-num", request().shipping_address, (OrderLine("l1", "4012", 1),)))
    assert sandbox.order(int(placed.supplier_order_id)).items[0].catalog_variant_id == 4012


def test_cancelling_once_production_started_is_refused(sandbox):
    adapter = make_adapter(sandbox)
    placed = adapter.place_order(request("so-4"))
    sandbox.start_production(int(placed.supplier_order_id))
    with pytest.raises(CancellationRefused):
        adapter.cancel_order(placed.supplier_order_id)


def test_stock_follows_the_selling_region(sandbox):
    sandbox.variant_by_sku("TSHIRT-BLK-M").stock = {"worldwide": "out of stock", "europe": "in stock"}
    assert make_adapter(sandbox, selling_region="europe").get_stock(["TSHIRT-BLK-M"])[0].in_stock is True
    assert make_adapter(sandbox).get_stock(["TSHIRT-BLK-M"])[0].in_stock is False


def test_the_token_and_the_address_never_reach_the_logs_or_errors(sandbox, caplog):
    adapter = make_adapter(sandbox)
    caplog.set_level(logging.DEBUG)
    errors = []
    adapter.place_order(request("so-log"))
    for fault in (lambda: sandbox.fail_next(400), lambda: sandbox.fail_next(503), lambda: sandbox.time_out_next(HOLD_SECONDS)):
        fault()
        try:
            adapter.place_order(request("so-log-2"))
        except Exception as exc:  # noqa: BLE001 (collecting messages)
            errors.append(str(exc))
    text = caplog.text + "\n".join(errors)
    assert len(errors) == 3
    for secret in (sandbox.token, "Ada Lovelace", "Analytical", "N1 9GU"):
        assert secret not in text


# -- error sorting with a scripted Printful -----------------------------------------------------


def test_a_taken_external_id_worded_as_a_400_is_looked_up():
    def printful(req: httpx.Request) -> httpx.Response:
        if req.method == "POST" and req.url.path == "/v2/orders":
            return httpx.Response(400, json={"code": 400, "result": "Order with this External ID already exists", "error": {"reason": "BadRequest", "message": "Order with this External ID already exists"}})
        if req.url.raw_path == b"/v2/orders/@so-1001":
            return httpx.Response(200, json=order_body(status="pending"))
        return httpx.Response(500)

    assert mock_adapter(printful).place_order(request()).supplier_order_id == "11"


def test_a_conflict_whose_order_cannot_be_seen_yet_is_transient():
    def printful(req: httpx.Request) -> httpx.Response:
        if req.method == "POST":
            return httpx.Response(409, json={"code": 409, "result": "conflict", "error": {"reason": 409, "message": "conflict"}})
        return httpx.Response(404, json={"code": 404, "result": "Not found", "error": {"reason": "NotFound", "message": "Not found"}})

    with pytest.raises(TransientSupplierError):
        mock_adapter(printful).place_order(request())


def test_an_other_validation_error_is_permanent_with_its_status_and_never_the_remote_body():
    def printful(req: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"code": 400, "result": "Recipient: invalid country", "error": {"reason": "BadRequest", "message": "Recipient: invalid country"}})

    # The message reaches merchants; the remote body stays on `detail` for the adapter's own decisions.
    with pytest.raises(PermanentSupplierError, match=r"\(HTTP 400\)") as caught:
        mock_adapter(printful).place_order(request())
    assert "invalid country" not in str(caught.value) and caught.value.detail == "Recipient: invalid country"


def test_unknown_skus_are_refused_before_any_request():
    def printful(req: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    with pytest.raises(PermanentSupplierError, match="NOPE"):
        mock_adapter(printful).place_order(PlaceOrder("so-x", request().shipping_address, (OrderLine("l1", "NOPE", 1),)))
    assert mock_adapter(printful).get_stock(["NOPE"]) == []


def test_a_deleted_draft_counts_as_cancelled():
    deleted = []

    def printful(req: httpx.Request) -> httpx.Response:
        if req.method == "DELETE":
            deleted.append(req.url.path)
            return httpx.Response(204)
        if deleted:
            return httpx.Response(404, json={"code": 404, "result": "Not found", "error": {"reason": "NotFound", "message": "Not found"}})
        return httpx.Response(200, json=order_body(status="draft"))

    cancelled = mock_adapter(printful).cancel_order("11")
    assert (cancelled.supplier_order_id, cancelled.status) == ("11", SupplierOrderStatus.CANCELLED)
    assert deleted == ["/v2/orders/11"]


def test_cancelling_an_unknown_order_is_not_found():
    def printful(req: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"code": 404, "result": "Not found", "error": {"reason": "NotFound", "message": "Not found"}})

    with pytest.raises(SupplierOrderNotFound):
        mock_adapter(printful).cancel_order("11")


def test_shipments_are_read_across_pages_and_only_sent_ones_count():
    def shipment(shipment_id: int, status: str = "shipped") -> dict:
        return {"id": shipment_id, "carrier": "DHL", "tracking_url": f"https://t.test/{shipment_id}", "shipment_status": status,
                "shipped_at": "2024-05-01T10:00:00Z", "estimated_delivery": {"from_date": "2024-05-03", "to_date": "2024-05-06"},
                "shipment_items": [{"order_item_external_id": "line-a", "quantity": 1}]}

    pages = {0: [shipment(n) for n in range(1, 101)], 100: [shipment(101), shipment(102, "pending")]}

    def printful(req: httpx.Request) -> httpx.Response:
        offset = int(req.url.params["offset"])
        return httpx.Response(200, json={"data": pages[offset], "paging": {"total": 102, "offset": offset, "limit": 100}, "_links": {"self": {"href": "x"}}})

    shipments = mock_adapter(printful).get_shipments("11")
    assert [s.shipment_id for s in shipments] == [str(n) for n in range(1, 102)]
    assert shipments[0].estimated_delivery == "2024-05-06" and shipments[0].tracking_number is None


def test_connection_refused_is_transient_even_for_a_create():
    adapter = PrintfulAdapter(TOKEN, products={"TSHIRT-BLK-S": 4011, "MUG-WHT-11": 19001}, base_url="http://127.0.0.1:9", timeout=1.0)
    with pytest.raises(TransientSupplierError) as caught:
        adapter.place_order(request())
    assert not isinstance(caught.value, OutcomeUnknown)


def test_retry_after_comes_as_seconds_a_date_or_the_rate_limit_reset():
    now = time.time()
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": "12"})) == 12
    from_date = retry_after_seconds(httpx.Response(503, headers={"Retry-After": email.utils.formatdate(now + 30, usegmt=True)}))
    assert 25 <= from_date <= 31
    assert retry_after_seconds(httpx.Response(429, headers={"X-Ratelimit-Reset": "4"})) == 4
    assert retry_after_seconds(httpx.Response(503)) is None


def test_returns_are_refused_without_calling_printful():
    def printful(req: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    with pytest.raises(PermanentSupplierError, match="no return authorizations"):
        mock_adapter(printful).create_return_authorization("11", [ReturnLine("line-a", "TSHIRT-BLK-S", 1, "too small")])


def test_the_store_header_and_bearer_token_are_sent():
    seen = {}

    def printful(req: httpx.Request) -> httpx.Response:
        seen.update(req.headers)
        return httpx.Response(200, content=json.dumps(order_body(status="pending")))

    mock_adapter(printful, store_id=42).get_order("11")
    assert seen["authorization"] == f"Bearer {TOKEN}" and seen["x-pf-store-id"] == "42"
