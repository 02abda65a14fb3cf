"""The email purchase-order adapter against a real local SMTP server passes the shared contract cases that apply."""
from __future__ import annotations

import pytest

from email_testkit import email_supplier, smtp, smtp_server  # noqa: F401 (fixtures)
from supplier_contract import SupplierContract


class TestEmailPoContract(SupplierContract):
    @pytest.fixture
    def supplier(self, email_supplier):  # noqa: F811 (the imported fixture)
        return email_supplier

    def test_rate_limiting_is_transient_and_says_when_to_retry(self, supplier):
        pytest.skip("SMTP has no Retry-After: a 4xx reply is transient with no hint (test_email_po_smtp.py checks the 4xx)")

    def test_errors_on_reads_are_transient_never_outcome_unknown(self, supplier):
        pytest.skip("reads answer from the local sent log and send nothing over SMTP, so there is no request to fail "
                    "(test_email_po_adapter.py checks that an unreadable log is transient, never 'not found')")

    def test_the_skipped_webhook_cases_really_do_not_apply(self, supplier):
        adapter, controller = supplier
        assert controller.supports_webhooks is False
        with pytest.raises(NotImplementedError):
            adapter.parse_webhook({}, b"{}")
