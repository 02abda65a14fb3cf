"""Issue 18's done-when journey in a real headless Chromium: from a fresh install in sandbox mode, only by clicking and typing in the admin,
add a supplier, test its connection, map products, set the return policy, place a test order and see it forwarded and fulfilled on the
order page. Between clicks the test only lets time pass (what the app's pumps and the supplier do on their own). Screenshots of every
step are kept under tests/artifacts/setup-journey/."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from shopify_app.inventory.sync import sync_inventory
from shopify_app.models import ShopSetting
from shopify_app.orders.models import Order
from shopify_app.suppliers.models import ProductMapping, Supplier, SupplierOrder
from mappings.mapping_kit import xlsx
from ui.setup_world import SHOP, serve_fresh
from ui.test_browser import ARTIFACTS, browser_page, chromium_browser  # noqa: F401 (the Chromium fixture)

SHOTS = ARTIFACTS / "setup-journey"
SKU = "MUG-WHT"


@pytest.fixture
def fresh(app_factory, sqlite_url, sandbox_shopify):
    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url)
    yield from serve_fresh(app, sandbox_shopify)  # not installed: the first admin visit installs it


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def arrive(page, title: str) -> None:
    """A link was followed: the page bounces for a token and lands with its title."""
    page.wait_for_selector(f"h1:text-is('{title}')", timeout=15_000)
    page.wait_for_load_state("load")  # admin.js too (end of the body): its handlers bind the page's forms and buttons


def add_supplier(page, fresh) -> None:
    """Suppliers → Add supplier: the sandbox supplier's form, a refusal shown next to its field, then the supplier saved."""
    page.click("#onboarding li[data-step=connect_supplier] >> text=Suppliers")
    arrive(page, "Add supplier")
    page.select_option("#supplier-kind", "rest:sandbox-rest")
    form = "[data-kind-form='rest:sandbox-rest']"
    assert page.is_visible(form) and not page.is_visible("[data-kind-form='printful']")
    page.fill("#f-name", "Acme Mugs")
    page.fill(f"{form} input[name='settings.base_url']", fresh.supplier_server.base_url)
    page.fill(f"{form} input[name='settings.ship_to_countries']", "US, CA")
    page.click("button[data-sup-create]")  # the API key is missing: refused, the message sits next to its field
    page.wait_for_selector(f"{form} [data-error-for='credentials.api_key']:has-text('This field is required.')")
    assert page.get_attribute(f"{form} input[name='credentials.api_key']", "aria-invalid") == "true"
    shot(page, "02-add-supplier-refused")
    page.fill(f"{form} input[name='credentials.api_key']", fresh.supplier_server.api_key)
    page.fill(f"{form} input[name='credentials.webhook_secret']", fresh.supplier_server.webhook_secret)
    page.click("button[data-sup-create]")
    arrive(page, "Acme Mugs")
    # Entered once: the page shows only the key's last characters.
    assert page.get_attribute("input[name='credentials.api_key']", "placeholder") == f"saved: …{fresh.supplier_server.api_key[-4:]} (type to replace)"
    assert fresh.supplier_server.api_key not in page.content()


def check_connection(page) -> None:
    page.click("#connection >> text=Test connection")
    page.wait_for_selector("#test-result [data-test-ok=true]", timeout=15_000)
    shot(page, "03-connection-tested")


def edit_terms(page) -> None:
    """A refused term is explained next to its field; a good one is saved."""
    page.fill("#terms-form input[name=sla_hours]", "0")
    page.click("#terms-form >> text=Save terms")
    page.wait_for_selector("#terms-form [data-error-for=sla_hours]:not(:empty)")
    assert page.get_attribute("#terms-form input[name=sla_hours]", "aria-invalid") == "true"
    page.fill("#terms-form input[name=sla_hours]", "48")
    with page.expect_navigation():
        page.click("#terms-form >> text=Save terms")
    arrive(page, "Acme Mugs")
    assert page.input_value("#terms-form input[name=sla_hours]") == "48"


def map_products(page, fresh, tmp_path) -> None:
    """The checklist's "Map products" opens the mappings page filtered to the new supplier; an XLSX file (decimal-comma cost, as
    a Polish Excel writes it) is previewed, then applied, by clicking."""
    supplier_link = page.get_attribute("#all-mappings", "href")  # the supplier page links to its mappings too
    assert "/mappings?" in supplier_link and "supplier=" in supplier_link
    page.click("nav.app-nav >> text=Dashboard")
    arrive(page, "Dashboard")
    page.click("#onboarding li[data-step=map_products] >> text=Product mappings")
    arrive(page, "Mappings")
    with fresh.services.session_factory() as session:
        supplier_id = session.scalar(select(Supplier.id).where(Supplier.shop_domain == SHOP))
    assert page.input_value("#table-filters select[name=supplier]") == str(supplier_id)  # filtered to the supplier
    # Time passes: the scheduler's inventory sync mirrors the shop's catalog (the import matches SKUs against it).
    assert sync_inventory(fresh.services, SHOP).status == "done"
    workbook = tmp_path / "mappings.xlsx"
    workbook.write_bytes(xlsx([["SKU", "Supplier", "Supplier SKU", "Cost"], [SKU, "Acme Mugs", SKU, "4,50"], ["NO-SUCH-SKU", "Acme Mugs", "X", "1"]]))
    page.set_input_files("#import-file", str(workbook))
    page.click("#import-preview-button")
    page.wait_for_selector("#import-summary[data-accepted='1'][data-refused='1']")
    assert "NO-SUCH-SKU" in page.inner_text("#import-refused")
    shot(page, "04-mappings-import-preview")
    with page.expect_navigation():
        page.click("#import-apply")
    arrive(page, "Mappings")
    page.wait_for_selector(f"#variants tr[data-sku='{SKU}']")
    shot(page, "04-products-mapped")


def set_return_policy(page) -> None:
    page.click("nav.app-nav >> text=Dashboard")
    arrive(page, "Dashboard")
    page.click("#onboarding li[data-step=return_policy] >> text=Settings")
    arrive(page, "Settings")
    page.fill("#policy input[name=window_days]", "30")
    with page.expect_navigation():
        page.click("#policy >> text=Save policy")
    arrive(page, "Settings")


def place_test_order(page) -> None:
    page.click("nav.app-nav >> text=Dashboard")
    arrive(page, "Dashboard")
    assert page.inner_text("#onboarding-progress") == "3 of 4 steps done"
    shot(page, "05-checklist-before-test-order")
    with page.expect_navigation():
        page.click("#onboarding li[data-step=test_order] button")
    arrive(page, "Dashboard")


def let_time_pass(fresh) -> None:
    """What happens without the merchant: webhooks are handled, the order is forwarded, the supplier ships, tracking reaches Shopify."""
    fresh.drain()
    fresh.forward()
    assert fresh.ship_everything() == 1
    fresh.drain()  # Shopify's fulfillments/create for the app's own fulfillment


def test_from_a_fresh_install_the_merchant_sets_up_everything_by_clicking(fresh, browser_page, tmp_path) -> None:  # noqa: F811
    page, errors = browser_page
    page.goto(fresh.admin_url())  # the first visit: the token exchange installs the app
    arrive(page, "Dashboard")
    assert page.inner_text("#onboarding-progress") == "0 of 4 steps done"
    shot(page, "01-fresh-install")

    add_supplier(page, fresh)
    check_connection(page)
    edit_terms(page)
    map_products(page, fresh, tmp_path)
    set_return_policy(page)
    place_test_order(page)
    let_time_pass(fresh)

    page.click("nav.app-nav >> text=Dashboard")
    arrive(page, "Dashboard")
    assert page.locator("#onboarding").count() == 0  # every step done: the checklist is gone
    shot(page, "06-dashboard-set-up")
    page.click("nav.app-nav >> text=Orders")
    arrive(page, "Orders")
    with fresh.services.session_factory() as session:
        order = session.scalar(select(Order).where(Order.shop_domain == SHOP))
    page.click(f"text={order.name}")
    arrive(page, f"Order {order.name}")
    page.wait_for_selector("text=Acme Mugs")
    content = page.content()
    assert re.search(r'<span class="badge shipped"[^>]*>Shipped</span>', content)  # the supplier order, shipped (badge with its label)
    assert f"<strong>{order.name}.1</strong>" in content  # and fulfilled in Shopify: its fulfillment, read back from Shopify
    with fresh.services.session_factory() as session:
        assert session.get(Order, order.id).fulfillment_status == "fulfilled"
    shot(page, "07-order-forwarded-and-fulfilled")

    # What the clicks stored, and what Shopify holds.
    with fresh.services.session_factory() as session:
        supplier = session.scalar(select(Supplier).where(Supplier.shop_domain == SHOP))
        assert (supplier.name, supplier.kind, supplier.settings["preset"], supplier.settings["ship_to_countries"], supplier.settings["sla_hours"]) == (
            "Acme Mugs", "rest", "sandbox-rest", ["US", "CA"], 48)
        assert session.scalar(select(ProductMapping.cost).where(ProductMapping.supplier_id == supplier.id, ProductMapping.sku == SKU)) == "4.50"
        assert session.scalar(select(ShopSetting.value).where(ShopSetting.shop_domain == SHOP, ShopSetting.key == "return_policy"))["window_days"] == 30
        delivery = session.scalar(select(SupplierOrder).where(SupplierOrder.order_id == order.id))
        assert (delivery.supplier_id, delivery.state) == (supplier.id, "shipped")
    shopify_order = fresh.store.require_shop(SHOP).get(f"gid://shopify/Order/{order.shopify_id}")
    assert shopify_order["displayFulfillmentStatus"] == "FULFILLED"
    assert shopify_order["email"] == "test-order@example.com"
    assert errors == []
