"""Issue 15: the merchant chooses batched POs on a file supplier's page in a real headless Chromium: a refused time shows its
reason at the field, a good schedule is saved and shown back with the next batch, and per order can be chosen again."""
from __future__ import annotations

import json

import pytest

from sandbox.supplier.sftp_server import SandboxSftpServer
from shopify_app.suppliers.models import Supplier
from ui.test_browser import browser_page, chromium_browser, open_page  # noqa: F401 (fixtures)
from ui.ui_world import SHOP, serve


@pytest.fixture
def shop(app_factory, sqlite_url, sandbox_shopify):
    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url)
    yield from serve(app, sandbox_shopify)


@pytest.fixture
def sftp(tmp_path):
    with SandboxSftpServer(tmp_path / "sftp", {"shop": "pw"}) as server:
        yield server


def test_the_merchant_sets_business_day_batches_and_back_to_per_order(shop, sftp, browser_page) -> None:
    services = shop.services
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Batch Files", kind="files", credentials_enc=services.box.encrypt(json.dumps({"password": "pw"})),
                            settings={"transport": "sftp", "host": sftp.host, "port": sftp.port, "username": "shop", "host_key_fingerprint": sftp.fingerprint})
        session.add(supplier)
        session.flush()
        supplier_id = supplier.id
    page, errors = browser_page
    page.goto(shop.admin_url())
    page.wait_for_selector("h1:text-is('Dashboard')", timeout=15_000)
    open_page(page, "Suppliers")
    page.click("tr[data-supplier='Batch Files'] a")
    page.wait_for_selector("#po-batching", timeout=15_000)
    assert page.input_value("#pb-mode") == "per_order"
    assert "Next batch" not in page.inner_text("#po-batching-status")

    page.select_option("#pb-mode", "batched")
    page.fill("#pb-times", "10:00, 25:00")
    page.click("[data-po-batching]")
    page.wait_for_selector("#toast.show.error")
    assert "25:00" in page.inner_text("#toast") and "HH:MM" in page.inner_text("#toast")  # the reason, nothing saved
    with services.session_factory() as session:
        assert "po_batching" not in session.get(Supplier, supplier_id).settings

    page.fill("#pb-times", "15:00, 10:00")
    for day in ("sat", "sun"):
        page.uncheck(f"#pb-day-{day}")
    with page.expect_navigation():
        page.click("[data-po-batching]")
    page.wait_for_selector("#po-batching")
    with services.session_factory() as session:
        assert session.get(Supplier, supplier_id).settings["po_batching"] == {
            "mode": "batched", "times": ["10:00", "15:00"], "weekdays": ["mon", "tue", "wed", "thu", "fri"]}
    assert page.input_value("#pb-mode") == "batched" and page.input_value("#pb-times") == "10:00, 15:00"
    assert page.is_checked("#pb-day-mon") and not page.is_checked("#pb-day-sat")
    assert "Next batch" in page.inner_text("#po-batching-status") and "0 orders waiting" in page.inner_text("#po-batching-status")

    page.select_option("#pb-mode", "per_order")
    with page.expect_navigation():
        page.click("[data-po-batching]")
    page.wait_for_selector("#po-batching")
    with services.session_factory() as session:
        assert session.get(Supplier, supplier_id).settings["po_batching"] == {"mode": "per_order"}
    assert errors == []
