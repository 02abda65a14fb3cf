"""The admin in a real headless Chromium (Debian's package) driven by Playwright, against the app in sandbox mode.

Every page loads through the sandbox admin and the session-token bounce, the main
actions work (approve a return, retry a dead letter, edit the return policy), and a
screenshot of each page is written under tests/artifacts/.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from shopify_app.models import ShopSetting, WebhookDelivery
from shopify_app.returns.models import ReturnCase
from shopify_app.suppliers.models import Alert
from ui.ui_world import SHOP, serve

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# The machine has no internet: no first-run, sync, component or background connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = (("Dashboard", "dashboard"), ("Orders", "orders"), ("Suppliers", "suppliers"), ("Inventory", "inventory"),
         ("Returns", "returns"), ("Problems", "problems"), ("Settings", "settings"))


@pytest.fixture
def shop(app_factory, sqlite_url, sandbox_shopify):
    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url)
    yield from serve(app, sandbox_shopify)


@pytest.fixture(scope="module")
def chromium_browser():
    """One headless Chromium per test module (launching it cost about a second a test); each test gets its own context."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: `make test` installs it (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium_browser):
    # A new browser context is a fresh profile: no cookies, storage, cache or routes from the last test.
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A resource or script the pages' Content-Security-Policy blocks is logged to the console.
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield page, errors
    context.close()


def open_page(page, label: str) -> None:
    """Click a nav link; the page bounces for a token and lands with its title."""
    page.click(f"nav.app-nav >> text={label}")
    page.wait_for_selector(f"h1:text-is('{label}')", timeout=15_000)
    page.wait_for_load_state("load")  # admin.js (at the end of the body) too: a form submitted before it binds is not prevented


def test_every_page_loads_with_real_data_and_is_screenshotted(shop, browser_page) -> None:
    page, errors = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(shop.admin_url())  # the admin opens the app with an id_token
    page.wait_for_selector("h1:text-is('Dashboard')", timeout=15_000)
    assert page.inner_text("#pipeline-deliveries td[data-state=shipped]") == "2"
    for label, name in PAGES:
        open_page(page, label)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.click("nav.app-nav >> text=Orders")
    page.wait_for_selector("h1:text-is('Orders')")
    page.click(f"text={shop.stuck['name']}")
    page.wait_for_selector("#timeline li")
    assert "Order " + shop.stuck["name"] == page.inner_text("h1")
    page.screenshot(path=str(ARTIFACTS / "order.png"), full_page=True)
    assert errors == []
    assert all((ARTIFACTS / f"{name}.png").stat().st_size > 10_000 for _, name in PAGES)


def test_main_actions_work_in_the_browser(shop, browser_page) -> None:
    page, errors = browser_page
    page.goto(shop.admin_url())
    page.wait_for_selector("h1:text-is('Dashboard')", timeout=15_000)

    open_page(page, "Returns")
    page.click(f"#queue tr[data-return='{shop.review.name}'] >> text=Approve")
    page.wait_for_selector("#toast.show >> text=Return approved")
    page.wait_for_selector("#queue >> text=No returns waiting.", timeout=15_000)
    with shop.services.session_factory() as session:
        case = session.scalar(select(ReturnCase).where(ReturnCase.id == shop.review.id))
        assert (case.decision, case.decided_by) == ("approve", "merchant")
        # Decided: the "needs your decision" alert is over (it stayed open before).
        assert session.scalar(select(Alert.resolved_at).where(Alert.dedupe_key == f"return_review:{case.id}")) is not None
    assert shop.store.require_shop(SHOP).get(shop.review.return_gid)["status"] == "OPEN"  # approved in Shopify too

    open_page(page, "Problems")
    page.click("#dead-letters >> text=Retry")
    page.wait_for_selector("#dead-letters >> text=No dead letters.", timeout=15_000)
    with shop.services.session_factory() as session:
        assert session.scalar(select(WebhookDelivery.status).where(WebhookDelivery.topic == "returns/request", WebhookDelivery.body.like('{"id": 1}%'))) != "dead"

    open_page(page, "Settings")
    # The fields' forms never submit themselves (admin.js, not an inline onsubmit the CSP would block).
    prevented = page.evaluate("""() => new Promise((resolve) => {
        document.addEventListener('submit', (event) => resolve(event.defaultPrevented), { once: true });
        document.getElementById('policy').requestSubmit();
    })""")
    assert prevented is True
    page.fill("#policy input[name=window_days]", "21")
    with page.expect_navigation():  # saved, then the page reloads with the stored values
        page.click("#policy >> text=Save policy")
        page.wait_for_selector("#toast.show >> text=Return policy saved")
    page.wait_for_selector("h1:text-is('Settings')")
    assert page.input_value("#policy input[name=window_days]") == "21"
    with shop.services.session_factory() as session:
        assert session.scalar(select(ShopSetting.value).where(ShopSetting.key == "return_policy"))["window_days"] == 21
    page.fill("#policy input[name=window_days]", "7")  # below the legal minimum: refused, nothing saved
    page.click("#policy >> text=Save policy")
    page.wait_for_selector("#toast.error")
    # The merchant reads which field and why (not just "invalid request"), and the field is marked.
    assert page.text_content("#toast") == "Return window (days from delivery, at least 14): must be at least 14"
    assert page.get_attribute("#policy input[name=window_days]", "aria-invalid") == "true"
    page.fill("#channels input[name=slack_webhook_url]", "not a url")  # the alert-channel checks answer with `problems`
    page.click("#channels >> text=Save channels")
    page.wait_for_selector("#toast.error >> text=slack_webhook_url must be an https:// URL")
    # A saved webhook can be removed from the page (the field only replaces it).
    page.fill("#channels input[name=slack_webhook_url]", "http://127.0.0.1:9/hook")  # loopback: the tests' EGRESS_ALLOW
    with page.expect_navigation():
        page.click("#channels >> text=Save channels")
    page.on("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("#channels >> text=Remove Slack webhook")
    page.wait_for_selector("h1:text-is('Settings')")
    assert page.locator("#channels >> text=Remove Slack webhook").count() == 0
    with shop.services.session_factory() as session:
        assert not (session.scalar(select(ShopSetting.value).where(ShopSetting.key == "alert_channels")) or {}).get("slack_webhook_enc")
    with shop.services.session_factory() as session:
        assert session.scalar(select(ShopSetting.value).where(ShopSetting.key == "return_policy"))["window_days"] == 21
    assert errors == []
