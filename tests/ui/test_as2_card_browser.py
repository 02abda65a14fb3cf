"""The AS2 card of an EDI partner's page in a real headless Chromium: what to give the partner (our AS2 id, URL and
certificate, with its date), and a new key pair made by the merchant (confirmed in a dialog) shown back with the old
certificate's remaining validity; a refused switch date explained next to its field."""
from __future__ import annotations

import datetime as dt

import pytest

from sandbox.supplier.as2_partner import make_certificate
from shopify_app.suppliers.as2_models import As2Identity
from shopify_app.suppliers.audit import SupplierAuditEntry
from shopify_app.suppliers.models import Supplier
from ui.test_browser import browser_page, chromium_browser, open_page  # noqa: F401 (fixtures)
from ui.ui_world import SHOP, serve


EDI = {"our_qualifier": "ZZ", "our_id": "DROPSHIPAPP", "our_application_code": "DROPSHIPAPP", "partner_qualifier": "01", "partner_id": "123456789",
       "partner_application_code": "WHOLESALE", "ack_window_minutes": 60}  # as tests/suppliers/edi_testkit.edi_settings()


@pytest.fixture
def shop(app_factory, sqlite_url, sandbox_shopify):
    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url)
    yield from serve(app, sandbox_shopify)


def test_the_merchant_reads_the_as2_setup_and_makes_a_new_key_pair(shop, browser_page) -> None:
    services = shop.services
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="AS2 Wholesale", kind="edi_x12", settings={**EDI, "transport": {
            "kind": "as2", "our_as2_id": "DROPSHIPAPP-AS2", "partner_as2_id": "WHOLESALE-AS2", "url": "https://as2.partner.example/as2",
            "partner_certificate": make_certificate("WHOLESALE PARTNER")[1].decode(), "encryption": "aes_256_cbc", "digest": "sha256", "mdn_mode": "sync"}})
        session.add(supplier)
        session.flush()
        supplier_id = supplier.id
    page, errors = browser_page
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation before a new key pair
    page.goto(shop.admin_url())
    page.wait_for_selector("h1:text-is('Dashboard')", timeout=15_000)
    open_page(page, "Suppliers")
    page.click("tr[data-supplier='AS2 Wholesale'] a")
    page.wait_for_selector("#as2-setup", timeout=30_000)  # the shop's key pair is made on the first view
    card = page.inner_text("#as2-setup")
    assert "DROPSHIPAPP-AS2" in card and "WHOLESALE-AS2" in card and "WHOLESALE PARTNER" in card
    assert page.inner_text("#as2-inbound-url").startswith("http") and "/as2/" in page.inner_text("#as2-inbound-url")
    first = page.input_value("#as2-certificate")
    with services.session_factory() as session:
        identity = session.query(As2Identity).filter_by(shop_domain=SHOP).one()
        assert first.strip() == identity.certificate_pem.strip()
        assert f"{identity.not_after:%Y-%m-%d}" in page.inner_text("#as2-certificate-valid")
    assert page.query_selector("#as2-previous-certificate") is None

    # Saved, told, reloaded: the POST makes a 3072-bit RSA key, which took over 30 s once on a loaded 2-core CI box.
    with page.expect_navigation(timeout=90_000):
        page.click("#as2-new-key-pair")
    page.wait_for_selector("#as2-previous-certificate", timeout=30_000)
    second = page.input_value("#as2-certificate")
    assert second.startswith("-----BEGIN CERTIFICATE-----") and second != first
    with services.session_factory() as session:
        identity = session.query(As2Identity).filter_by(shop_domain=SHOP).one()
        assert identity.certificate_pem.strip() == second.strip() and identity.previous_certificate_pem.strip() == first.strip()
        assert f"{identity.previous_not_after:%Y-%m-%d}" in page.inner_text("#as2-previous-certificate")
        assert session.query(SupplierAuditEntry).filter_by(supplier_id=supplier_id, action="as2_key_pair_rolled").count() == 1
    assert page.query_selector("#as2-switch-date") is None  # signing with the new pair at once

    # The date input offers today (at once) to 60 days ahead; a day typed outside (a mistyped year) is refused by the
    # server and the reason shows next to the field, not only in the toast; no key pair is made.
    today = dt.datetime.now(dt.timezone.utc).date()
    assert (page.get_attribute("#as2-sign-from", "min"), page.get_attribute("#as2-sign-from", "max")) == (f"{today}", f"{today + dt.timedelta(days=60)}")
    past = today.replace(year=today.year - 1)
    page.fill("#as2-sign-from", f"{past}")
    page.click("#as2-new-key-pair")
    page.wait_for_selector("#as2-key-pair [data-error-for='sign_from']:not(:empty)", timeout=30_000)
    assert f"{past} is past" in page.inner_text("#as2-key-pair [data-error-for='sign_from']")
    assert page.get_attribute("#as2-sign-from", "aria-invalid") == "true"
    assert page.input_value("#as2-certificate") == second
    with services.session_factory() as session:
        assert session.query(As2Identity).filter_by(shop_domain=SHOP).one().certificate_pem.strip() == second.strip()

    # A planned rollover: the new pair signs from the day agreed with partners, the card says which.
    switch = today + dt.timedelta(days=14)
    page.fill("#as2-sign-from", f"{switch}")
    with page.expect_navigation(timeout=30_000):
        page.click("#as2-new-key-pair")
    page.wait_for_selector("#as2-switch-date", timeout=30_000)
    assert f"{switch}" in page.inner_text("#as2-switch-date")
    with services.session_factory() as session:
        identity = session.query(As2Identity).filter_by(shop_domain=SHOP).one()
        assert f"{identity.sign_from:%Y-%m-%d}" == f"{switch}" and identity.previous_certificate_pem.strip() == second.strip()
    assert errors == []
