"""The file channel adapter on the sandbox SFTP server passes the shared contract cases that apply."""
from __future__ import annotations

import pytest

from file_channel_testkit import FileSupplierController, build_adapter, file_world  # noqa: F401 (fixture)
from supplier_contract import SupplierContract


class TestFileChannelContract(SupplierContract):
    @pytest.fixture
    def supplier(self, file_world):  # noqa: F811 (the imported fixture)
        settings = {**file_world.settings, "timeout_seconds": 4, "known_skus": [*FileSupplierController.in_stock_skus, FileSupplierController.out_of_stock_sku]}  # the lost-answer case holds its answer 8 s
        file_world.supplier.publish_stock()
        adapter = build_adapter(settings)
        return adapter, FileSupplierController(adapter, file_world)

    def test_rate_limiting_is_transient_and_says_when_to_retry(self, supplier):
        pytest.skip("SFTP has no Retry-After: a refused upload is transient with no hint (test_a_server_error_on_place_... covers it)")

    def test_errors_on_reads_are_transient_never_outcome_unknown(self, supplier):
        pytest.skip("get_order answers from the PO log and asks the server nothing; reads that do reach the server "
                    "(get_stock) are checked in test_file_channel_adapter.py")

    def test_the_skipped_webhook_cases_really_do_not_apply(self, supplier):
        adapter, controller = supplier
        assert controller.supports_webhooks is False
        with pytest.raises(NotImplementedError):
            adapter.parse_webhook({}, b"{}")
