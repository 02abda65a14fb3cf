"""Fixtures for the CJdropshipping preset tests: the CJ sandbox, and the adapter as the app builds it (refreshing tokens in memory)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from integrations.suppliers.registry import build_adapter
from integrations.suppliers.runtime import SupplierRef
from sandbox.supplier.cj import CjSandbox
from shopify_app.suppliers.credentials import RefreshingAdapter

CJ_KEY = "CJ4711@api@5f0c1c1e0a0b4c2d9e8f7a6b5c4d3e2f"


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
