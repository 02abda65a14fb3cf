"""The sandbox supplier answers Printful v2 shapes over real HTTP."""
from __future__ import annotations

import json

import httpx
import pytest

from conftest import REPO
from sandbox.supplier.printful import SandboxSupplier

SPEC = REPO.parent / "shared" / "suppliers" / "printful-v2" / "openapi.json"


@pytest.fixture(scope="module")
def supplier():
    s = SandboxSupplier(token="t0k")
    s.start()
    yield s
    s.stop()


def test_requires_bearer_token(supplier):
    assert httpx.get(f"{supplier.base_url}/v2/catalog-variants/4011/availability").status_code == 401


def test_availability_has_the_fields_the_spec_requires(supplier):
    spec = json.loads(SPEC.read_text())
    schemas = spec["components"]["schemas"]
    body = httpx.get(f"{supplier.base_url}/v2/catalog-variants/4013/availability", headers={"Authorization": "Bearer t0k"}).json()
    assert {"data", "filter_settings", "_links"} <= set(body)
    assert set(schemas["VariantStockAvailability"]["required"]) <= set(body["data"])
    region = body["data"]["techniques"][0]["selling_regions"][0]
    assert set(schemas["SellingRegionStockAvailability"]["required"]) <= set(region)
    assert region["name"] in schemas["SellingRegionStockAvailability"]["properties"]["name"]["enum"]
    assert region["availability"] == "out of stock"
