"""The cjdropshipping preset against the CJ sandbox: envelope errors, tokens that expire, one parcel per order, stock per warehouse, pacing.

The sandbox's answers are checked against cj_spec.py's schemas (written from CJ's documentation)
with jsonschema, so the preset is not only checked against the sandbox written next to it.
"""
from __future__ import annotations

import httpx
import pytest
from jsonschema import Draft202012Validator

from cj_testkit import CJ_KEY, cj, cj_adapter, cj_server  # noqa: F401 (fixtures)
from integrations.suppliers.base import Address, CredentialsRejected, OrderLine, PermanentSupplierError, PlaceOrder, SupplierOrderStatus, TransientSupplierError
from sandbox.supplier.cj_spec import REQUESTS, RESPONSES


def order(external_id: str, vid: str = "92511400-C758-4474-93CA-66D442F5F787", quantity: int = 2, country: str = "DE") -> PlaceOrder:
    return PlaceOrder(
        external_id=external_id,
        shipping_address=Address(name="Ada Lovelace", address1="Hauptstr. 1", address2="2. OG", city="Berlin", country_code=country, zip="10115", phone="+49301234"),
        lines=(OrderLine(line_ref="101", supplier_sku=vid, quantity=quantity),),
        note="gift wrap",
    )


def test_places_finds_and_reads_an_order_in_cj_shapes(cj):
    adapter = cj_adapter(cj)
    placed = adapter.place_order(order("so-cj-1"))
    assert placed.status is SupplierOrderStatus.ACKNOWLEDGED and placed.cost == "8.0"
    [(_, _, sent)] = [r for r in cj.received if r[1].endswith("createOrderV2")]
    assert not list(Draft202012Validator(REQUESTS["createOrderV2"]).iter_errors(sent))
    assert (sent["shippingCountry"], sent["shippingCountryCode"], sent["shippingProvince"]) == ("Germany", "DE", "")
    assert sent["remark"] == "so-cj-1 | gift wrap" and sent["products"] == [{"vid": "92511400-C758-4474-93CA-66D442F5F787", "quantity": 2, "storeLineItemId": "101"}]
    assert sent["logisticName"] == "CJPacket Ordinary" and sent["payType"] == 2
    assert adapter.find_order("so-cj-1").supplier_order_id == placed.supplier_order_id
    assert adapter.find_order("so-cj-unknown") is None
    again = adapter.place_order(order("so-cj-1"))  # CJ refuses the number (result false, a code): we continue with the first
    assert again.supplier_order_id == placed.supplier_order_id and cj.orders_created("so-cj-1") == 1


def test_the_sandbox_answers_in_the_documented_shapes(cj):
    adapter = cj_adapter(cj)
    placed = adapter.place_order(order("so-cj-shape"))
    cj.ship(placed.supplier_order_id)
    token = adapter.inner._client._auth["CJ-Access-Token"]
    base = cj.base_url + "/api2.0/v1"
    with httpx.Client(headers={"CJ-Access-Token": token}) as client:
        answers = {
            "getOrderDetail": client.get(f"{base}/shopping/order/getOrderDetail", params={"orderId": placed.supplier_order_id}),
            "queryByVid": client.get(f"{base}/product/stock/queryByVid", params={"vid": "MUG-WHT"}),
            "trackInfo": client.get(f"{base}/logistic/trackInfo", params={"trackNumber": cj.order(placed.supplier_order_id).track_number}),
            "getAccessToken": client.post(f"{base}/authentication/getAccessToken", json={"apiKey": "wrong"}),
        }
    for name, answer in answers.items():
        assert answer.status_code == 200
        errors = [e.message for e in Draft202012Validator(RESPONSES[name]).iter_errors(answer.json())]
        assert errors == [], (name, errors)
    assert answers["getAccessToken"].json()["result"] is False


def test_a_refusal_inside_http_200_is_permanent_with_its_message_never_outcome_unknown(cj):
    adapter = cj_adapter(cj)
    with pytest.raises(PermanentSupplierError) as refused:
        adapter.place_order(order("so-cj-bad", vid="NO-SUCH-VID"))
    assert "1604001" in str(refused.value) and "Variant not found" in str(refused.value)
    assert not isinstance(refused.value, (CredentialsRejected, TransientSupplierError))
    with pytest.raises(PermanentSupplierError) as param:
        adapter.place_order(order("so-cj-bad2", country="Germany"))  # not a 2-letter code: CJ's "Param error"
    assert "1600100" in str(param.value) and "Param error" in str(param.value)
    assert cj.orders_created("so-cj-bad") == cj.orders_created("so-cj-bad2") == 0


def test_tokens_are_fetched_once_refreshed_when_expired_and_a_wrong_key_is_a_credentials_error(cj):
    adapter = cj_adapter(cj)
    adapter.get_stock(["MUG-WHT"])
    adapter.get_stock(["TEE-S"])
    assert cj.calls_to("getAccessToken") == 1  # kept, not fetched per call (CJ allows one per 5 minutes)
    cj.expire_tokens()  # CJ refuses the token before our clock says it expired: code 1600001
    assert adapter.get_stock(["MUG-WHT"])[0].available == 45
    assert cj.calls_to("refreshAccessToken") == 1 and cj.calls_to("getAccessToken") == 1
    wrong = cj_adapter(cj, credentials={"api_key": "CJ0@api@not-the-key"})
    with pytest.raises(CredentialsRejected):
        wrong.get_stock(["MUG-WHT"])


def test_one_parcel_per_order_read_from_the_order_itself(cj):
    adapter = cj_adapter(cj)
    placed = adapter.place_order(order("so-cj-ship"))
    assert adapter.get_shipments(placed.supplier_order_id) == []  # no tracking number yet: no parcel
    number = cj.ship(placed.supplier_order_id)
    [parcel] = adapter.get_shipments(placed.supplier_order_id)
    assert (parcel.shipment_id, parcel.tracking_number, parcel.carrier, parcel.lines) == (number, number, "CJPacket Ordinary", ())
    assert adapter.get_order(placed.supplier_order_id).status is SupplierOrderStatus.SHIPPED


def test_cancel_before_payment_works_and_after_payment_is_refused(cj):
    from integrations.suppliers.base import CancellationRefused

    paying = cj_adapter(cj)
    assert paying.can_cancel_when == {SupplierOrderStatus.PENDING}  # the app knows a paid CJ order is past cancelling
    paid = paying.place_order(order("so-cj-paid"))
    with pytest.raises(CancellationRefused):
        paying.cancel_order(paid.supplier_order_id)
    # Create only (payType 3): CJ waits for payment. Same account, so the token already held (CJ grants one per 5 minutes).
    unpaid = cj_adapter(cj, {"static_body": {"payType": 3}}, credentials=paying._credentials)
    placed = unpaid.place_order(order("so-cj-unpaid"))
    assert placed.status is SupplierOrderStatus.PENDING
    assert unpaid.cancel_order(placed.supplier_order_id).status is SupplierOrderStatus.CANCELLED
    assert cj.calls_to("getAccessToken") == 1


def test_stock_is_summed_over_the_warehouses_that_ship_to_the_suppliers_countries(cj):
    cj.set_stock("SPLIT", warehouses={"CN": 500, "US": 0})
    cj.set_stock("US-ONLY", warehouses={"CN": 0, "US": 12})
    anywhere = cj_adapter(cj)
    levels = {level.supplier_sku: (level.in_stock, level.available) for level in anywhere.get_stock(["SPLIT", "US-ONLY", "NOT-AT-CJ"])}
    assert levels == {"SPLIT": (True, 500), "US-ONLY": (True, 12)}  # not "the last row": 500 in CN is not 0
    germany = cj_adapter(cj, {"ship_to_countries": ["DE"]}, credentials=anywhere._credentials)  # the US warehouse does not ship to Germany
    assert {l.supplier_sku: l.available for l in germany.get_stock(["SPLIT", "US-ONLY"])} == {"SPLIT": 500, "US-ONLY": 0}
    usa = cj_adapter(cj, {"stock_warehouses": {"countries": ["US"]}}, credentials=anywhere._credentials)
    assert {l.supplier_sku: l.available for l in usa.get_stock(["SPLIT", "US-ONLY"])} == {"SPLIT": 500, "US-ONLY": 12}


def test_the_pace_keeps_calls_under_the_suppliers_limit(cj):
    skus = [f"VID-{n}" for n in range(14)]
    for sku in skus:
        cj.set_stock(sku, warehouses={"CN": 3})
    cj.rate_limit(10)
    paced = cj_adapter(cj, {"rate_limit": {"requests_per_second": 8}})
    assert [level.available for level in paced.get_stock(skus)] == [3] * 14
    assert cj.refused_for_rate == 0
    with pytest.raises(TransientSupplierError):  # unpaced, CJ refuses part of the burst (code 1600200): retried later, never lost
        cj_adapter(cj, {"rate_limit": {"requests_per_second": 100}}, credentials=paced._credentials).get_stock(skus)
    assert cj.refused_for_rate > 0
