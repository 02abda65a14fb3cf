"""Return authorisations through the REST adapter against the REST sandbox supplier's returns desk."""
from __future__ import annotations

import pytest

from integrations.suppliers.base import PermanentSupplierError, ReturnLine, SupplierOrderNotFound
from integrations.suppliers.rest import with_preset
from integrations.suppliers.rest.factory import rest_from_record
from rest_testkit import make_rest_adapter, rest_sandbox, rest_sandbox_server, rest_webhook_receiver  # noqa: F401 (fixtures)
from supplier_contract import LINE_A, order_request


@pytest.fixture
def shipped(rest_sandbox):
    """(adapter, supplier order id) for an order whose first line (2 units) shipped."""
    adapter = make_rest_adapter(rest_sandbox)
    controller_skus = ("WIDGET-RED", "WIDGET-BLUE")

    class Controller:
        in_stock_skus = controller_skus

    placed = adapter.place_order(order_request(Controller(), quantity_a=2, quantity_b=1))
    rest_sandbox.ship(placed.supplier_order_id, {LINE_A: 2})
    yield adapter, placed.supplier_order_id
    adapter.close()


def test_a_return_of_shipped_units_gets_an_rma_with_label_and_address(rest_sandbox, shipped) -> None:
    adapter, order_id = shipped
    answer = adapter.create_return_authorization(order_id, [ReturnLine(LINE_A, "WIDGET-RED", 1, "DEFECTIVE")])
    assert answer.status == "approved" and answer.rma_number.startswith("RMA-")
    assert answer.label_url.endswith(f"/labels/{answer.rma_number}.pdf")
    assert answer.return_address is not None and answer.return_address.country_code == "GB"
    assert rest_sandbox.returns.authorizations[answer.rma_number].items == {"WIDGET-RED": 1}


def test_more_than_was_shipped_or_a_closed_window_is_a_refusal_with_the_status(rest_sandbox, shipped) -> None:
    adapter, order_id = shipped
    too_many = adapter.create_return_authorization(order_id, [ReturnLine(LINE_A, "WIDGET-BLUE", 1)])  # not shipped yet
    assert too_many.status == "refused" and too_many.note == "the supplier refused the return (HTTP 422)"
    rest_sandbox.refuse_returns("Returns closed after 30 days")
    closed = adapter.create_return_authorization(order_id, [ReturnLine(LINE_A, "WIDGET-RED", 1)])
    assert closed.status == "refused" and "HTTP" in closed.note and "30 days" not in closed.note  # never the remote body
    assert rest_sandbox.returns.authorizations == {}


def test_an_unknown_order_or_a_supplier_without_the_call_are_errors(rest_sandbox, shipped) -> None:
    adapter, _ = shipped
    with pytest.raises(SupplierOrderNotFound):
        adapter.create_return_authorization("999999", [ReturnLine(LINE_A, "WIDGET-RED", 1)])
    settings = with_preset(rest_sandbox.adapter_settings())
    del settings["endpoints"]["create_return"]  # a supplier with no returns call configured
    without = rest_from_record(rest_sandbox.adapter_credentials(), settings)
    with pytest.raises(PermanentSupplierError):
        without.create_return_authorization("1001", [ReturnLine(LINE_A, "WIDGET-RED", 1)])
    without.close()
