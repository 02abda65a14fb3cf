"""The Printful adapter against the Printful sandbox passes the shared supplier contract."""
from __future__ import annotations

import pytest

from printful_testkit import printful_sandbox, printful_supplier, sandbox, webhook_receiver  # noqa: F401 (fixtures)
from supplier_contract import SupplierContract


class TestPrintfulContract(SupplierContract):
    @pytest.fixture
    def supplier(self, printful_supplier):  # noqa: F811 (the imported fixture)
        return printful_supplier
