"""The customer's order page in the store (through the sandbox's app proxy) in a real headless Chromium, in Polish and Hebrew.

The shopper looks up a delivered order, reports a damaged item with a photo, the merchant answers
from the admin's Cases page, and the shopper sees the answer; screenshots under
tests/artifacts/proxy-<lang>-*.png.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from PIL import Image
from sqlalchemy import select

from conftest import API_KEY
from shopify_app.cases.models import Case, CasePhoto
from shopify_app.orders.models import Order
from ui.test_browser import ARTIFACTS, browser_page, chromium_browser, open_page, shop  # noqa: F401 (fixtures)
from ui.ui_world import SHOP

# What the page must show that does not depend on a translation pass: CLDR's month names and number formats.
LANGUAGE_MARKS = {"pl": ("ltr", " zł"), "he": ("rtl", "₪")}


@pytest.mark.parametrize("lang", ["pl", "he"])
def test_a_shopper_follows_an_order_reports_damage_with_a_photo_and_sees_the_merchants_answer(shop, browser_page, lang, tmp_path) -> None:  # noqa: F811
    page, errors = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    shop.shopify.register_app_proxy(API_KEY, f"{shop.app_url}/proxy")
    with shop.services.session_factory() as session:
        order = session.scalar(select(Order).where(Order.shopify_id == shop.shipped[0]["id"].rsplit("/", 1)[-1]))
        name, email = order.name, order.email
    store = shop.shopify.base_url

    page.goto(f"{store}/apps/orders?shop={SHOP}&locale={lang}")
    direction, _money = LANGUAGE_MARKS[lang]
    assert page.get_attribute("#dso-orders", "lang") == lang and page.get_attribute("#dso-orders", "dir") == direction
    assert page.inner_text("header.theme-header")  # inside the store's layout
    page.fill("#dso-lookup input[name=order]", name)
    page.fill("#dso-lookup input[name=email]", email)
    page.click("#dso-lookup button[type=submit]")
    page.wait_for_selector("#dso-parcels .dso-parcel", timeout=15_000)
    assert page.get_attribute("#dso-parcels .dso-parcel li[data-step=shipped]", "class").split()[0] == "done"
    with shop.services.session_factory() as session:
        from shopify_app.suppliers.models import SupplierOrder, SupplierShipment

        parcel = session.scalar(select(SupplierShipment).join(SupplierOrder).where(SupplierOrder.order_id == order.id))
    assert parcel.tracking_number in page.inner_text("#dso-parcels")  # the supplier's tracking, in the shopper's page
    page.screenshot(path=str(ARTIFACTS / f"proxy-{lang}-order.png"), full_page=True)

    photo = tmp_path / "broken.png"
    Image.new("RGB", (120, 90), (180, 40, 40)).save(photo)
    page.select_option("#dso-report select[name=kind]", "damaged")
    page.fill("#dso-report textarea[name=message]", "Kubek przyszedł pęknięty <b>!</b>" if lang == "pl" else "הספל הגיע שבור <b>!</b>")
    page.set_input_files("#dso-report input[type=file]", str(photo))
    page.click("#dso-report button[type=submit]")
    page.wait_for_selector("#dso-notice", timeout=15_000)
    # The photo is served back through the proxy (re-encoded, same size).
    # Polled with a locator, not wait_for_function: its string predicate is compiled with new Function() in
    # the page, which the page's CSP (no 'unsafe-eval') refuses whenever the first check finds the image loading.
    expect(page.locator("#dso-cases img")).to_have_js_property("complete", True, timeout=15_000)
    assert page.evaluate("document.querySelector('#dso-cases img').naturalWidth") == 120
    assert "<b>!</b>" in page.inner_text("#dso-cases .dso-body")  # typed markup shows as text
    token = page.get_attribute("#dso-report input[name=t]", "value")
    with shop.services.session_factory() as session:
        case = session.scalars(select(Case)).one()
        assert case.kind == "damaged" and session.scalars(select(CasePhoto)).one().width == 120

    # The merchant answers from the admin.
    page.goto(shop.admin_url())
    page.wait_for_selector("h1:text-is('Dashboard')", timeout=15_000)
    open_page(page, "Cases")
    assert page.get_attribute(f"#cases tr[data-case='{case.id}'] [data-clock]", "data-clock") == "running"
    page.click(f"#cases tr[data-case='{case.id}'] a")
    page.wait_for_selector("#reply-form", timeout=15_000)
    expect(page.locator("#case-messages img")).to_have_js_property("complete", True, timeout=15_000)
    assert page.evaluate("document.querySelector('#case-messages img').naturalWidth") == 120
    page.screenshot(path=str(ARTIFACTS / f"proxy-{lang}-admin-case.png"), full_page=True)
    page.fill("#reply-form textarea[name=body]", "Przepraszamy, nowy kubek jest już w drodze." if lang == "pl" else "מצטערים, ספל חדש בדרך.")
    page.click("#reply-form >> text=Send reply")
    page.wait_for_selector("#toast.show >> text=Reply sent", timeout=15_000)

    # Back in the store, the shopper sees it.
    page.goto(f"{store}/apps/orders/order?t={token}&locale={lang}")
    page.wait_for_selector("#dso-cases [data-author=merchant]", timeout=15_000)
    assert ("nowy kubek" if lang == "pl" else "ספל חדש") in page.inner_text("#dso-cases [data-author=merchant]")
    assert page.get_attribute("#dso-orders", "dir") == direction
    page.screenshot(path=str(ARTIFACTS / f"proxy-{lang}-answered.png"), full_page=True)
    assert errors == []
