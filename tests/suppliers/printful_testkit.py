"""Fixtures for the Printful tests: the sandbox supplier, a webhook receiver, the adapter and its controller.

No conftest.py here on purpose (a second `conftest` would shadow tests/conftest.py);
test modules import these fixtures by name.
"""
from __future__ import annotations

import http.server
import threading
from typing import Any, Iterator, Mapping

import httpx
import pytest

from integrations.suppliers.printful import PrintfulAdapter
from sandbox.supplier.printful import SandboxSupplier
from supplier_contract import WebhookMessage

STORE_ID = 1
READ_TIMEOUT = 2.0  # the adapter's, in these tests (0.75 s timed out a normal answer once on a loaded 2-core box)
HOLD_SECONDS = READ_TIMEOUT + 0.5  # a "lost answer" arrives this late


class WebhookReceiver:
    """A tiny HTTP endpoint on 127.0.0.1 that keeps every POST it gets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[WebhookMessage] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver._messages.append(WebhookMessage(dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhooks/printful"

    def take(self) -> list[WebhookMessage]:
        """Everything received since the last call."""
        with self._lock:
            taken, self._messages = self._messages, []
        return taken

    def stop(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()


class PrintfulSandboxController:
    """The contract suite's controller for the Printful sandbox (see supplier_contract.SupplierController)."""

    in_stock_skus = ("TSHIRT-BLK-S", "MUG-WHT-11")
    out_of_stock_sku = "TSHIRT-BLK-L"
    unknown_sku = "NO-SUCH-SKU-1"
    supports_webhooks = True
    cancels_placed_orders = False  # v2 DELETE deletes only draft, failed or canceled orders

    def __init__(self, sandbox: SandboxSupplier, receiver: WebhookReceiver):
        self.sandbox = sandbox
        self.receiver = receiver

    def ship(self, supplier_order_id: str, lines: Mapping[str, int] | None = None) -> None:
        """Ship {line_ref: quantity}; line_ref is the order item's external_id at Printful."""
        self.sandbox.ship(int(supplier_order_id), items=lines)

    def set_stock(self, supplier_sku: str, in_stock: bool) -> None:
        """In or out of stock everywhere."""
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
        """Orders created with this external_id."""
        return self.sandbox.orders_created(external_id)

    def supplier_has(self, supplier_order_id: str) -> tuple[dict[str, int], str]:
        """({item external_id: quantity}, recipient city) of the order as Printful holds it."""
        order = self.sandbox.order(int(supplier_order_id))
        return {item.external_id: item.quantity for item in order.items}, order.recipient.get("city")

    def start_production(self, supplier_order_id: str) -> None:
        """The order goes into production (inprocess)."""
        self.sandbox.start_production(int(supplier_order_id))

    def fail_order(self, supplier_order_id: str, reason: str) -> None:
        """Printful fails the order (order_failed webhook)."""
        self.sandbox.fail(int(supplier_order_id), reason)

    def take_webhooks(self) -> list[WebhookMessage]:
        """Webhooks delivered since the last call."""
        self.sandbox.flush_webhooks()
        return self.receiver.take()


def make_adapter(sandbox: SandboxSupplier, **overrides: Any) -> PrintfulAdapter:
    """A PrintfulAdapter pointed at the sandbox, with the sandbox's SKUs and webhook secret."""
    config = sandbox.webhooks.config
    options: dict[str, Any] = {
        "base_url": sandbox.base_url,
        "products": sandbox.variant_ids_by_sku(),
        "store_id": STORE_ID,
        "timeout": httpx.Timeout(READ_TIMEOUT, connect=2.0),
        "webhook_secret_key": config.secret_key if config else None,
    }
    options.update(overrides)
    return PrintfulAdapter(sandbox.token, **options)


@pytest.fixture(scope="module")
def printful_sandbox() -> Iterator[SandboxSupplier]:
    """One sandbox server per module, checking its own responses against the spec."""
    sandbox = SandboxSupplier(token="contract-token", store_id=STORE_ID, check_responses=True)
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """Where the sandbox sends webhooks."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def sandbox(printful_sandbox: SandboxSupplier, webhook_receiver: WebhookReceiver) -> Iterator[SandboxSupplier]:
    """The sandbox, reset, webhooks going to the receiver; fails the test if it broke the spec."""
    printful_sandbox.reset()
    webhook_receiver.take()
    printful_sandbox.configure_webhooks(webhook_receiver.url)
    yield printful_sandbox
    printful_sandbox.flush_webhooks()
    assert printful_sandbox.schema_violations == []


@pytest.fixture
def printful_supplier(sandbox: SandboxSupplier, webhook_receiver: WebhookReceiver) -> Iterator[tuple[PrintfulAdapter, PrintfulSandboxController]]:
    """(adapter, controller) for the contract suite."""
    adapter = make_adapter(sandbox)
    yield adapter, PrintfulSandboxController(sandbox, webhook_receiver)
    adapter.close()
