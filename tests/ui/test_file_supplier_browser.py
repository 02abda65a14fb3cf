"""Issue 15: a file supplier's page in a real headless Chromium: the mapping editor, a preview of a sample file with its refused rows,
saving the mapping, reading the folders now and the files processed, driven only by clicking and typing."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from sandbox.supplier.sftp_server import SandboxSftpServer
from shopify_app.suppliers.file_channel_models import FileChannelFile
from shopify_app.suppliers.models import ProductMapping, Supplier
from ui.test_browser import ARTIFACTS, browser_page, chromium_browser, open_page  # noqa: F401 (fixture)
from ui.ui_world import SHOP, serve


@pytest.fixture
def shop(app_factory, sqlite_url, sandbox_shopify):
    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url)
    yield from serve(app, sandbox_shopify)


@pytest.fixture
def sftp(tmp_path):
    with SandboxSftpServer(tmp_path / "sftp", {"shop": "pw"}) as server:
        yield server


def test_the_merchant_maps_previews_and_reads_a_suppliers_stock_file(shop, sftp, browser_page, tmp_path) -> None:
    services = shop.services
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Grosshandel Files", kind="files", credentials_enc=services.box.encrypt(json.dumps({"password": "pw"})),
                            settings={"transport": "sftp", "host": sftp.host, "port": sftp.port, "username": "shop", "host_key_fingerprint": sftp.fingerprint, "timeout_seconds": 15})
        session.add(supplier)
        session.flush()
        session.add(ProductMapping(shop_domain=SHOP, sku="TEE-S", supplier_id=supplier.id, supplier_sku="W-TEE"))
        supplier_id = supplier.id
    page, errors = browser_page
    page.goto(shop.admin_url())
    page.wait_for_selector("h1:text-is('Dashboard')", timeout=15_000)
    open_page(page, "Suppliers")
    page.click("tr[data-supplier='Grosshandel Files'] a")
    page.wait_for_selector("#file-channel", timeout=15_000)

    form = "#file-mapping-stock"
    page.fill(f"{form} [name='columns.sku']", "Artikel")
    page.fill(f"{form} [name='columns.available']", "Bestand")
    page.select_option(f"{form} [name='delimiter']", ";")
    page.check(f"{form} [name='decimal_comma']")
    sample = tmp_path / "lager.csv"
    sample.write_bytes("\ufeffArtikel;Bestand;Lager\nW-TEE;1.234,0;Berlin\nW-MUG;viele;Berlin\n".encode())
    page.set_input_files("#fp-stock", str(sample))
    page.click(f"{form} [data-file-preview]")
    page.wait_for_selector("#file-preview-stock table.preview-rows")
    assert page.inner_text("#file-preview-stock table.preview-rows tr:nth-child(2)").split() == ["2", "W-TEE", "1234"]
    assert "available 'viele' is not a whole number" in page.inner_text("#file-preview-stock table.preview-refused")

    with page.expect_navigation():
        page.click(f"{form} [data-sup-submit]")
    page.wait_for_selector("#file-channel")
    with services.session_factory() as session:
        saved = session.get(Supplier, supplier_id).settings["mappings"]["stock"]
    assert (saved["columns"], saved["delimiter"], saved["decimal_comma"]) == ({"sku": "Artikel", "available": "Bestand"}, ";", True)
    assert page.input_value(f"{form} [name='columns.sku']") == "Artikel"  # the saved mapping is shown again

    # The supplier drops the file; reading the folders twice (two looks at an unchanged file) applies it.
    stock_folder = sftp.home("shop") / "from_supplier" / "stock"
    stock_folder.mkdir(parents=True)
    (stock_folder / "lager_1.csv").write_bytes(sample.read_bytes())
    for _ in range(2):
        with page.expect_navigation():
            page.click("[data-file-poll]")
        page.wait_for_selector("#file-channel")
    page.wait_for_selector("#file-runs tr[data-file='lager_1.csv'][data-status='applied']")
    page.click("#file-runs tr[data-file='lager_1.csv'] summary")
    assert "Row 3: available 'viele' is not a whole number" in page.inner_text("#file-runs tr[data-file='lager_1.csv']")  # the refused row and why
    with services.session_factory() as session:
        assert session.scalar(select(ProductMapping.stock).where(ProductMapping.supplier_id == supplier_id)) == 1234
        assert session.scalar(select(FileChannelFile.rows_refused).where(FileChannelFile.name == "lager_1.csv", FileChannelFile.status == "applied")) == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "file_supplier.png"), full_page=True)
    assert errors == []
