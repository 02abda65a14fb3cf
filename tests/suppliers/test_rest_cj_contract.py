"""The REST adapter with the cjdropshipping preset (create-only orders, so a cancel before fulfilment is possible) passes the shared supplier contract against the CJ sandbox."""
from __future__ import annotations

import pytest

from cj_testkit import READ_TIMEOUT, CjController, cj, cj_adapter, cj_server  # noqa: F401 (fixtures)
from supplier_contract import SupplierContract


class TestCjContract(SupplierContract):
    @pytest.fixture
    def supplier(self, cj):  # noqa: F811 (the imported fixture)
        # payType 3: CJ creates the order and waits for payment (CREATED, our pending), the status CJ still deletes in.
        adapter = cj_adapter(cj, {"static_body": {"payType": 3}, "timeout_seconds": READ_TIMEOUT, "connect_timeout_seconds": 2.0})
        yield adapter, CjController(cj)
        adapter.close()
