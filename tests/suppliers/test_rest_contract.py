"""The generic REST adapter, with the sandbox-rest preset, against the REST sandbox passes the shared supplier contract."""
from __future__ import annotations

import pytest

from rest_testkit import rest_sandbox, rest_sandbox_server, rest_supplier, rest_webhook_receiver  # noqa: F401 (fixtures)
from supplier_contract import SupplierContract


class TestRestContract(SupplierContract):
    @pytest.fixture
    def supplier(self, rest_supplier):  # noqa: F811 (the imported fixture)
        return rest_supplier
