"""Inside Shopify's admin (real mode): App Bridge's nav menu and title bar carry the navigation and the page's actions, the page draws no nav of its own.

Rendered server-side with the app in real mode (no sandbox): App Bridge itself comes from Shopify's
CDN and cannot run here, so this checks the markup App Bridge reads.
"""
from __future__ import annotations

from html.parser import HTMLParser

from flask import g

from shopify_app.models import Shop
from shopify_app.orders.models import Order
from shopify_app.web import page_data
from shopify_app.web.pages import render_page

SHOP = "demo.myshopify.com"


class Tags(HTMLParser):
    """Every start tag with its attributes and the tags it sits in."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.found: list[tuple[str, dict, tuple]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs), tuple(self.stack)))
        if tag not in ("input", "meta", "link", "br", "img"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass


def tags(html: str) -> list[tuple[str, dict, tuple]]:
    parser = Tags()
    parser.feed(html)
    return parser.found


def test_embedded_pages_use_app_bridge_for_navigation_title_and_actions(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    factory = app.extensions["services"].session_factory
    with factory.begin() as session:
        session.add(Shop(domain=SHOP, currency_code="ILS", iana_timezone="Asia/Jerusalem"))
        order = Order(shop_domain=SHOP, shopify_id="77", name="#1077", currency="ILS", total_price="120.00",
                      shipping_address={"name": "Noa Levi", "country_code": "IL"})
        session.add(order)
        session.flush()
        order_id = order.id
    with factory() as session, app.test_request_context(f"/problems?shop={SHOP}&host=abc&embedded=1&locale=he"):
        g.shop_domain = SHOP
        g.shop_profile = {"currency_code": "ILS", "iana_timezone": "Asia/Jerusalem"}
        problems = render_page("problems.html", "problems", **page_data.problems(session, SHOP))
        orders = render_page("orders.html", "orders", filters={"q": "", "state": "", "supplier": "", "problem": ""}, **page_data.orders(session, SHOP))
        detail = render_page("order.html", "orders", title="#1077", back={"href": "/orders", "label": "הזמנות"}, **page_data.order_detail(session, SHOP, order_id))
    found = tags(problems)
    assert not [t for t in found if t[0] == "nav"]  # no own nav inside the admin
    menu = [a for tag, a, parents in found if tag == "a" and "ui-nav-menu" in parents]
    assert [a["href"].split("?")[0] for a in menu] == ["/", "/orders", "/suppliers", "/mappings", "/inventory", "/returns", "/cases", "/problems", "/settings"]
    assert menu[0].get("rel") == "home" and all("locale=he" in a["href"] for a in menu)
    [bar] = [a for tag, a, _ in found if tag == "ui-title-bar"]
    assert bar["title"] == "בעיות"
    actions = [(tag, a) for tag, a, parents in found if "ui-title-bar" in parents]
    assert ("button", {"class": "primary", "variant": "primary", "data-action": "POST /api/reconcile", "data-done": "ההתאמה הופעלה"}) in actions
    assert '<html lang="he" dir="rtl">' in problems and "app-bridge.js" in problems and "sandbox-bridge.js" not in problems
    # The orders list: customer, total in the order's currency, destination in Hebrew.
    row = orders.split('data-order="#1077"')[1].split("</tr>")[0]
    assert "Noa Levi" in row and "₪" in row and "120.00" in row and "ישראל" in row
    assert [a for tag, a, parents in tags(detail) if tag == "a" and "ui-title-bar" in parents] == [{"variant": "breadcrumb", "href": "/orders"}]
