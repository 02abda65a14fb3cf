"""Every admin page in English, Polish and Hebrew in a real headless Chromium: axe-core finds no serious or critical
accessibility violation, Hebrew is laid out right to left, and a screenshot of each page in each language is kept.

axe-core comes bundled in axe-playwright-python (no network at test time). Screenshots go to
tests/artifacts/admin-<lang>-<page>.png (gitignored; CI keeps them as artifacts).
"""
from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy import select

from shopify_app.orders.models import Order
from ui.test_browser import ARTIFACTS, browser_page, chromium_browser, shop  # noqa: F401 (fixtures: the seeded shop served on loopback, Chromium)

LANGS = ("en", "pl", "he")
PAGES = ("dashboard", "orders", "suppliers", "mappings", "inventory", "returns", "problems", "settings")
PATHS = {"dashboard": "/", "orders": "/orders", "suppliers": "/suppliers", "mappings": "/mappings", "inventory": "/inventory", "returns": "/returns",
         "problems": "/problems", "settings": "/settings"}
SERIOUS = ("serious", "critical")


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each (rule, impact, first offending element)."""
    results = Axe().run(page, options={"resultTypes": ["violations"], "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]}})
    return [f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes'][0]['target']}" for v in results.response["violations"] if v["impact"] in SERIOUS]


def open_nav(page, name: str) -> None:
    """Click the page's link in the app's own nav (its label is translated: found by its path), wait until it has loaded."""
    page.click(f"nav.app-nav a[href^='{PATHS[name]}?']")
    page.wait_for_selector(f"body[data-page='{name}'] h1", timeout=15_000)
    page.wait_for_load_state("load")


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_in_each_language_is_accessible_mirrored_in_hebrew_and_screenshotted(shop, browser_page, lang) -> None:  # noqa: F811
    page, errors = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(shop.admin_url() + f"&locale={lang}")  # the admin user's language, passed on as Shopify's `locale`
    page.wait_for_selector("body[data-page='dashboard'] h1", timeout=15_000)
    found: dict[str, list[str]] = {}
    for name in PAGES:
        open_nav(page, name)
        assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == [lang, "rtl" if lang == "he" else "ltr"]
        assert f"locale={lang}" in page.url  # the language survived the link and the session-token bounce
        found[name] = serious_violations(page)
        page.screenshot(path=str(ARTIFACTS / f"admin-{lang}-{name}.png"), full_page=True)
    with shop.services.session_factory() as session:
        order_id = session.scalar(select(Order.id).where(Order.name == shop.stuck["name"]))
    open_nav(page, "orders")
    page.click(f"a[href^='/orders/{order_id}?']")
    page.wait_for_selector("#timeline li", timeout=15_000)
    found["order"] = serious_violations(page)
    page.screenshot(path=str(ARTIFACTS / f"admin-{lang}-order.png"), full_page=True)
    # The pages reached from the suppliers page: add a supplier, and a supplier's own page.
    for name, link, ready in (("supplier-new", "#add-supplier", "#new-supplier"), ("supplier", "tr[data-supplier] a", "#connection-form")):
        open_nav(page, "suppliers")
        page.click(link)
        page.wait_for_selector(ready, timeout=15_000)
        page.wait_for_load_state("load")
        assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == [lang, "rtl" if lang == "he" else "ltr"]
        assert f"locale={lang}" in page.url
        found[name] = serious_violations(page)
        page.screenshot(path=str(ARTIFACTS / f"admin-{lang}-{name}.png"), full_page=True)
    open_nav(page, "orders")
    page.click(f"a[href^='/orders/{order_id}?']")
    page.wait_for_selector("#timeline li", timeout=15_000)
    page.wait_for_load_state("load")  # the stylesheet too: the computed border below read 0px once in a loaded full run
    assert found == {name: [] for name in found}

    # Mirrored in Hebrew: the nav starts at the right edge, the timeline's line runs on the right of its entries.
    links = page.locator("nav.app-nav a")
    first, last = links.first.bounding_box(), links.last.bounding_box()
    assert (first["x"] > last["x"]) is (lang == "he")
    entry = page.locator("#timeline li").first
    box = entry.bounding_box()
    line_at = page.evaluate("(el) => getComputedStyle(el).borderInlineStartWidth !== '0px' && (getComputedStyle(el).direction)", entry.element_handle())
    assert line_at == ("rtl" if lang == "he" else "ltr") and box["width"] > 0
    # The check can fail: a field without a label is a critical finding.
    page.evaluate("document.querySelector('main').append(Object.assign(document.createElement('input'), {name: 'unlabelled'}))")
    assert any(v.startswith("label (critical)") for v in serious_violations(page))
    assert errors == []
    assert all((ARTIFACTS / f"admin-{lang}-{name}.png").stat().st_size > 10_000 for name in (*PAGES, "order", "supplier-new", "supplier"))


def test_a_refused_action_is_explained_in_the_page_language(shop, browser_page) -> None:  # noqa: F811
    page, errors = browser_page
    page.goto(shop.admin_url() + "&locale=pl")
    page.wait_for_selector("body[data-page='dashboard'] h1", timeout=15_000)
    open_nav(page, "problems")
    # An answer without a message of its own (a 503 from a proxy in front of the app): admin.js explains it in Polish.
    page.route("**/api/reconcile", lambda route: route.fulfill(status=503, body=""))
    page.click("[data-action='POST /api/reconcile']")
    page.wait_for_selector("#toast.error")
    assert page.text_content("#toast") == "Coś poszło nie tak (HTTP 503). Spróbuj ponownie."
    assert errors == []
