"""Issue 18 items 3 and 4 in a real headless Chromium: the mappings page (catalog upload, auto-match review, XLSX import,
filters, bulk edit) and every remaining action (stock feed, tracking file, mark received, per-reason windows, KPI targets
in human units, test alert), driven only by clicking and typing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from channels_kit import SlackReceiver
from mappings.mapping_kit import xlsx
from shopify_app.inventory.catalog_mirror import mirror_catalog
from shopify_app.inventory.models import StockFeedRun
from shopify_app.kpis.targets import get_targets
from shopify_app.models import ShopSetting
from shopify_app.returns.models import ReturnCase
from shopify_app.suppliers.models import ProductMapping, Supplier
from ui.test_browser import ARTIFACTS, browser_page, chromium_browser, open_page  # noqa: F401 (fixture)
from ui.ui_world import SHOP, serve

TEE_M_BARCODE = "4006381333931"


@pytest.fixture
def slack():
    receiver = SlackReceiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def shop(app_factory, sqlite_url, sandbox_shopify):
    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url)
    for seeded in serve(app, sandbox_shopify):
        sandbox_shopify.store.variant_by_sku(SHOP, "TEE-M")["barcode"] = TEE_M_BARCODE
        services = seeded.services
        mirror_catalog(services.session_factory, services.gateway(SHOP), services.http_client, SHOP, poll_every=0.02)
        yield seeded


def mappings_of(shop) -> dict[str, tuple]:
    with shop.services.session_factory() as session:
        return {m.sku: (m.supplier_sku, m.cost) for m in session.scalars(select(ProductMapping).where(ProductMapping.shop_domain == SHOP))}


def reload_done(page) -> None:
    """The action reloads the page after its toast; wait for the fresh page."""
    page.wait_for_load_state("load")
    page.wait_for_selector("h1")


def test_auto_match_review_accept_and_reject_by_clicking(shop, browser_page, tmp_path) -> None:
    page, errors = browser_page
    page.goto(shop.admin_url())
    page.wait_for_selector("h1:text-is('Dashboard')", timeout=15_000)
    open_page(page, "Mappings")
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(f"supplier_sku,barcode,title,cost\nMUG-BLK,,Mug black,\"3,10\"\nRS-TEE-M,{TEE_M_BARCODE},Tee M,4.20\nBTL-500,,Bottle,5\n")
    page.set_input_files("#catalog-file", str(catalog))
    page.click("#catalog-upload")
    page.wait_for_selector("#catalog-report[data-accepted='3']")
    with page.expect_navigation():
        page.click("#auto-match")
    page.wait_for_selector("#proposals tr[data-sku='TEE-M']")
    assert sorted(page.eval_on_selector_all("#proposals tr[data-sku]", "rows => rows.map(r => r.dataset.sku)")) == ["BTL-500", "MUG-BLK", "TEE-M"]
    assert "4006381333931" in page.inner_text("#proposals tr[data-sku='TEE-M']")  # matched by barcode, and says so
    assert mappings_of(shop).keys() == {"MUG-WHT", "TEE-S"}  # nothing mapped before the merchant accepts
    page.check("#proposals tr[data-sku='MUG-BLK'] input")
    page.check("#proposals tr[data-sku='TEE-M'] input")
    with page.expect_navigation():
        page.click("#accept-selected")
    page.wait_for_selector("#proposals tr[data-sku='BTL-500']")
    page.check("#proposals tr[data-sku='BTL-500'] input")
    with page.expect_navigation():
        page.click("#reject-selected")
    page.wait_for_selector("#proposals >> text=No matches waiting")
    assert mappings_of(shop) == {"MUG-WHT": ("MUG-WHT", "4.00"), "TEE-S": ("TEE-S", "4.00"), "MUG-BLK": ("MUG-BLK", "3.10"), "TEE-M": ("RS-TEE-M", "4.20")}
    assert page.inner_text("#variants tr[data-sku='TEE-M'] td[data-col='supplier_sku']") == "RS-TEE-M"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "mappings.png"), full_page=True)
    assert errors == []


def test_an_xlsx_import_is_previewed_then_applied_and_the_table_filters_and_bulk_edits(shop, browser_page, tmp_path) -> None:
    page, errors = browser_page
    workbook = tmp_path / "mappings.xlsx"
    workbook.write_bytes(xlsx([["SKU", "Supplier", "Supplier SKU", "Cost"], ["TEE-L", "Rest sandbox", "RS-L", "2,50"],
                               ["GHOST-1", "Rest sandbox", "RS-G", 1], ["BTL-500", "Rest sandbox", "RS-B", "abc"]]))
    page.goto(shop.admin_url())
    page.wait_for_selector("h1:text-is('Dashboard')", timeout=15_000)
    open_page(page, "Mappings")
    page.set_input_files("#import-file", str(workbook))
    page.click("#import-preview-button")
    page.wait_for_selector("#import-summary[data-accepted='1'][data-refused='2']")
    refused = page.inner_text("#import-refused")
    assert "GHOST-1" in refused and "unknown SKU" in refused and "cost is not a number" in refused
    assert "RS-L" in page.inner_text("#import-rows") and mappings_of(shop).get("TEE-L") is None  # a preview writes nothing
    with page.expect_navigation():
        page.click("#import-apply")
    page.wait_for_selector("h1:text-is('Mappings')")
    assert mappings_of(shop)["TEE-L"] == ("RS-L", "2.50")
    # Filter the table (a GET form through the session-token bounce), then bulk-edit the rows shown.
    page.fill("#table-filters input[name=q]", "TEE-")
    page.select_option("#table-filters select[name=filter]", "unmapped")
    with page.expect_navigation():
        page.click("#table-filters button[type=submit]")
    page.wait_for_selector("#variants tr[data-sku='TEE-M']")
    assert page.eval_on_selector_all("#variants tr[data-sku]", "rows => rows.map(r => r.dataset.sku)") == ["TEE-M"]
    page.check("#variants tr[data-sku='TEE-M'] input[name=variant]")
    page.fill("#bulk-cost", "")
    with page.expect_navigation():
        page.click("#bulk-move")
    page.wait_for_selector("h1:text-is('Mappings')")
    assert mappings_of(shop)["TEE-M"] == ("TEE-M", None)
    page.fill("#table-filters input[name=q]", "TEE-M")
    page.select_option("#table-filters select[name=filter]", "no_cost")
    with page.expect_navigation():
        page.click("#table-filters button[type=submit]")
    page.wait_for_selector("#variants tr[data-sku='TEE-M']")
    page.check("#variants tr[data-sku='TEE-M'] input[name=variant]")
    page.fill("#bulk-cost", "3,75")
    with page.expect_navigation():
        page.click("#bulk-cost-button")
    page.wait_for_selector("h1:text-is('Mappings')")
    assert mappings_of(shop)["TEE-M"] == ("TEE-M", "3.75")
    assert errors == []


def test_every_remaining_action_works_by_clicking(shop, browser_page, tmp_path, slack) -> None:
    page, errors = browser_page
    with shop.services.session_factory.begin() as session:
        session.add(Supplier(shop_domain=SHOP, name="Mail Wholesale", kind="email", settings={"to_addresses": ["po@supplier.example"]}))
    page.goto(shop.admin_url())
    page.wait_for_selector("h1:text-is('Dashboard')", timeout=15_000)

    # A stock feed that would empty every mapped SKU is held; the merchant confirms it here.
    open_page(page, "Inventory")
    feed = tmp_path / "feed.csv"
    feed.write_text("sku,available\nMUG-WHT,0\nTEE-S,0\nNOT-OURS,x\n")
    page.select_option("#feed-supplier", label="Rest sandbox")
    page.set_input_files("#feed-file", str(feed))
    page.click("#feed-upload")
    page.wait_for_selector("#feed-summary[data-status]")
    assert "4" in page.inner_text("#feed-refused")  # the row with a stock that is not a number
    status = page.get_attribute("#feed-summary", "data-status")
    if status == "needs_confirmation":
        with page.expect_navigation():
            page.click("#feed-confirm")
        page.wait_for_selector("h1:text-is('Inventory')")
    with shop.services.session_factory() as session:
        run = session.scalar(select(StockFeedRun).order_by(StockFeedRun.id.desc()).limit(1))
        assert (run.source, run.status, run.rows_refused >= 1) == ("file", "confirmed" if status == "needs_confirmation" else "applied", True)
    assert mappings_of(shop)["MUG-WHT"] and _stock(shop, "MUG-WHT") == 0

    # A tracking file from the email supplier: every row reported (this PO is not one of ours).
    tracking = tmp_path / "tracking.csv"
    tracking.write_text("po_number,sku,quantity,carrier,tracking_number\nPO-NOPE,W-TEE-S,1,UPS,1Z999AA10123456784\n")
    page.select_option("#tracking-supplier", label="Mail Wholesale")
    page.set_input_files("#tracking-file", str(tracking))
    page.click("#tracking-upload")
    page.wait_for_selector("#tracking-rows >> text=unknown_po")

    # Mark a return received, damaged (not resellable).
    headers = {"Authorization": f"Bearer {shop.shopify.mint_session_token(SHOP, _api_key())}"}
    assert shop.app.test_client().post(f"/api/returns/{shop.review.id}/approve", json={}, headers=headers).status_code == 200
    shop.drain()
    open_page(page, "Returns")
    form = f"#receive-{shop.review.id}"
    page.select_option(f"{form} select[name=condition]", "damaged")
    with page.expect_navigation():
        page.click(f"{form} button[data-receive]")
    page.wait_for_selector("h1:text-is('Returns')")
    with shop.services.session_factory() as session:
        case = session.get(ReturnCase, shop.review.id)
        assert [(l.received_quantity, l.restocked_quantity) for l in case.lines] == [(1, 0)]

    # Settings: a per-reason window, refused below 1 with the reason next to the field; KPI targets in %; a test alert.
    open_page(page, "Settings")
    page.fill("#reason-windows input[data-reason=DEFECTIVE]", "5")
    page.click("#save-windows")
    page.wait_for_selector("#toast.show >> text=Return windows saved")
    assert _policy(shop)["reason_windows"]["DEFECTIVE"] == 5
    page.fill("#reason-windows input[data-reason=DEFECTIVE]", "0")
    page.click("#save-windows")
    page.wait_for_selector("#reason-windows .field-error")
    assert page.get_attribute("#reason-windows input[data-reason=DEFECTIVE]", "aria-invalid") == "true"
    assert _policy(shop)["reason_windows"]["DEFECTIVE"] == 5
    assert "14" in page.inner_text("#legal-minimums tr[data-profile=PL]")
    page.fill("#kpi-human input[data-kpi=on_time_min]", "97,5")
    with page.expect_navigation():
        page.click("#save-kpis")
    page.wait_for_selector("h1:text-is('Settings')")
    with shop.services.session_factory() as session:
        assert get_targets(session, SHOP)["on_time_min"] == 0.975
    assert page.input_value("#kpi-human input[data-kpi=on_time_min]") == "97.5"
    assert shop.app.test_client().put("/api/settings/alert-channels", json={"slack_webhook_url": slack.url}, headers=headers).status_code == 200
    page.click("#test-alert")
    page.wait_for_selector("#test-alert-results li[data-channel=slack][data-ok=true]")
    assert len(slack.posts) == 1
    page.screenshot(path=str(ARTIFACTS / "settings-actions.png"), full_page=True)
    assert errors == []


def _api_key() -> str:
    from conftest import API_KEY

    return API_KEY


def _stock(shop, sku: str):
    with shop.services.session_factory() as session:
        return session.scalar(select(ProductMapping.stock).where(ProductMapping.shop_domain == SHOP, ProductMapping.sku == sku))


def _policy(shop) -> dict:
    with shop.services.session_factory() as session:
        return session.scalar(select(ShopSetting.value).where(ShopSetting.shop_domain == SHOP, ShopSetting.key == "return_policy"))
