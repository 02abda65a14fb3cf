"""Fixtures for the REST adapter tests: the REST sandbox supplier, a webhook receiver, the adapter and its controller.

No conftest.py here on purpose (see printful_testkit.py); test modules import these fixtures by name.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import pytest

from integrations.suppliers.rest import RestAdapter
from integrations.suppliers.rest.factory import rest_from_record
from printful_testkit import WebhookReceiver
from sandbox.supplier.rest_supplier import RestSandboxSupplier
from supplier_contract import WebhookMessage

READ_TIMEOUT = 0.75  # the adapter's, in these tests
HOLD_SECONDS = READ_TIMEOUT + 0.5  # a "lost answer" arrives this late
API_KEY = "rest-contract-key-never-logged"


class RestSandboxController:
    """The contract suite's controller for the REST sandbox (see supplier_contract.SupplierController)."""

    in_stock_skus = ("WIDGET-RED", "WIDGET-BLUE")
    out_of_stock_sku = "GADGET-XL"
    unknown_sku = "NO-SUCH-SKU-1"
    supports_webhooks = True

    def __init__(self, sandbox: RestSandboxSupplier, receiver: WebhookReceiver):
        self.sandbox = sandbox
        self.receiver = receiver

    def supplier_has(self, supplier_order_id: str) -> tuple[dict[str, int], str]:
        """({line_ref: qty}, ship-to city) of the order as the supplier holds it."""
        order = self.sandbox.order(supplier_order_id)
        return {item.line_ref: item.qty for item in order.items}, order.ship_to.get("city")

    def start_production(self, supplier_order_id: str) -> None:
        """The supplier starts processing the order."""
        self.sandbox.orders.set_status(self.sandbox.order(supplier_order_id), "processing")

    def ship(self, supplier_order_id: str, lines: Mapping[str, int] | None = None) -> None:
        """Ship {line_ref: quantity} (None: the rest)."""
        self.sandbox.ship(supplier_order_id, lines)

    def set_stock(self, supplier_sku: str, in_stock: bool) -> None:
        """In or out of stock."""
        self.sandbox.set_stock(supplier_sku, in_stock)

    def fail_next_request(self, status: int = 503, retry_after: float | None = None) -> None:
        """Refuse the next request."""
        self.sandbox.fail_next(status, retry_after=retry_after)

    def time_out_next_request(self) -> None:
        """Process the next request, answer after the adapter gave up."""
        self.sandbox.time_out_next(HOLD_SECONDS)

    def garble_next_response(self) -> None:
        """Process the next request, answer 200 with HTML."""
        self.sandbox.garble_next()

    def orders_created(self, external_id: str) -> int:
        """Orders created with this reference."""
        return self.sandbox.orders_created(external_id)

    def fail_order(self, supplier_order_id: str, reason: str) -> None:
        """The supplier gives up (order.failed webhook)."""
        self.sandbox.fail(supplier_order_id, reason)

    def take_webhooks(self) -> list[WebhookMessage]:
        """Webhooks delivered since the last call."""
        self.sandbox.flush_webhooks()
        return self.receiver.take()


def make_rest_adapter(sandbox: RestSandboxSupplier, settings: Mapping[str, Any] | None = None, credentials: Mapping[str, Any] | None = None) -> RestAdapter:
    """A RestAdapter built as the app builds it (factory, sandbox-rest preset), with a short read timeout."""
    merged = {**sandbox.adapter_settings(), "timeout_seconds": READ_TIMEOUT, "connect_timeout_seconds": 2.0, **(settings or {})}
    return rest_from_record(dict(credentials if credentials is not None else sandbox.adapter_credentials()), merged)


@pytest.fixture(scope="module")
def rest_sandbox_server() -> Iterator[RestSandboxSupplier]:
    """One REST sandbox server per module."""
    sandbox = RestSandboxSupplier(api_key=API_KEY)
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def rest_webhook_receiver() -> Iterator[WebhookReceiver]:
    """Where the REST sandbox sends webhooks."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def rest_sandbox(rest_sandbox_server: RestSandboxSupplier, rest_webhook_receiver: WebhookReceiver) -> Iterator[RestSandboxSupplier]:
    """The sandbox, reset, webhooks going to the receiver."""
    rest_sandbox_server.reset()
    rest_webhook_receiver.take()
    rest_sandbox_server.configure_webhooks(rest_webhook_receiver.url)
    yield rest_sandbox_server
    rest_sandbox_server.flush_webhooks()


@pytest.fixture
def rest_supplier(rest_sandbox: RestSandboxSupplier, rest_webhook_receiver: WebhookReceiver) -> Iterator[tuple[RestAdapter, RestSandboxController]]:
    """(adapter, controller) for the contract suite."""
    adapter = make_rest_adapter(rest_sandbox)
    yield adapter, RestSandboxController(rest_sandbox, rest_webhook_receiver)
    adapter.close()
