"""Fixtures for the CJdropshipping preset tests: the CJ sandbox, and the adapter as the app builds it (refreshing tokens in memory)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from integrations.suppliers.registry import build_adapter
from integrations.suppliers.runtime import SupplierRef
from sandbox.supplier.cj import CjSandbox
from shopify_app.suppliers.credentials import RefreshingAdapter

CJ_KEY = "CJ4711@api@5f0c1c1e0a0b4c2d9e8f7a6b5c4d3e2f"
READ_TIMEOUT = 0.75  # the adapter's, in the contract suite
HOLD_SECONDS = READ_TIMEOUT + 0.5  # a "lost answer" arrives this late


@pytest.fixture(scope="module")
def cj_server() -> Iterator[CjSandbox]:
    """One CJ sandbox per module."""
    cj = CjSandbox(api_key=CJ_KEY)
    cj.start()
    yield cj
    cj.stop()


@pytest.fixture
def cj(cj_server: CjSandbox) -> CjSandbox:
    """The CJ sandbox, reset."""
    cj_server.reset()
    return cj_server


def cj_adapter(cj: CjSandbox, settings: dict[str, Any] | None = None, credentials: dict[str, Any] | None = None) -> RefreshingAdapter:
    """The REST adapter with the cjdropshipping preset, wrapped as adapter_from_record wraps it (no store: tokens kept in memory)."""
    merged = {**cj.adapter_settings(), **(settings or {})}
    creds = dict(credentials if credentials is not None else cj.adapter_credentials())
    inner = build_adapter("rest", creds, merged)
    return RefreshingAdapter(inner, SupplierRef("demo.myshopify.com", 1), "rest", merged, creds, None)


class CjController:
    """The contract suite's controller for the CJ sandbox (see supplier_contract.SupplierController)."""

    in_stock_skus = ("92511400-C758-4474-93CA-66D442F5F787", "MUG-WHT")
    out_of_stock_sku = "OUT-OF-STOCK-VID"
    unknown_sku = "NO-SUCH-VID-1"
    supports_webhooks = False
    ships_partially = False  # CJ ships an order as one parcel

    def __init__(self, cj: CjSandbox):
        self.cj = cj
        cj.set_stock(self.out_of_stock_sku, warehouses={"CN": 0, "US": 0})

    def supplier_has(self, supplier_order_id: str) -> tuple[dict[str, int], str]:
        order = self.cj.order(supplier_order_id)
        return {p["storeLineItemId"]: p["quantity"] for p in order.body["products"]}, order.body["shippingCity"]

    def start_production(self, supplier_order_id: str) -> None:
        with self.cj.lock:
            self.cj._order(supplier_order_id).status = "UNSHIPPED"  # paid and picked

    def ship(self, supplier_order_id: str, lines: Any = None) -> None:
        self.cj.ship(supplier_order_id)

    def set_stock(self, supplier_sku: str, in_stock: bool) -> None:
        self.cj.set_stock(supplier_sku, warehouses={"CN": 50 if in_stock else 0})

    def fail_next_request(self, status: int = 503, retry_after: float | None = None) -> None:
        self.cj.fail_next(status, retry_after=retry_after)

    def time_out_next_request(self) -> None:
        self.cj.time_out_next(HOLD_SECONDS)

    def garble_next_response(self) -> None:
        self.cj.garble_next()

    def orders_created(self, external_id: str) -> int:
        return self.cj.orders_created(external_id)

    def fail_order(self, supplier_order_id: str, reason: str) -> None:
        raise NotImplementedError("CJ sends no webhooks here")

    def take_webhooks(self) -> list:
        return []
