"""The EDI X12 adapter over a local exchange folder and the sandbox partner passes the shared contract cases that apply."""
from __future__ import annotations

import pytest

from edi_testkit import edi_supplier, edi_world  # noqa: F401 (fixtures)
from integrations.suppliers.base import SupplierOrderNotFound
from supplier_contract import SupplierContract


class TestEdiContract(SupplierContract):
    @pytest.fixture
    def supplier(self, edi_supplier):  # noqa: F811
        return edi_supplier

    def test_rate_limiting_is_transient_and_says_when_to_retry(self, supplier):
        pytest.skip("a file transport has no Retry-After: a refused connection is transient with no hint")

    def test_errors_on_reads_are_transient_never_outcome_unknown(self, supplier):
        pytest.skip("reads answer from the app's EDI records and touch no folder (poll_inbound's errors are tested in test_edi_partner.py)")

    def test_the_skipped_cases_really_do_not_apply(self, supplier):
        adapter, controller = supplier
        assert controller.supports_webhooks is False
        with pytest.raises(NotImplementedError):
            adapter.parse_webhook({}, b"{}")
        with pytest.raises(SupplierOrderNotFound):  # reads answer from our 850 records: unknown is "not found", never a transport error
            adapter.get_order("PO-NEVER-SENT")
