"""The egress policy (issue 12, items 1 and 2): tenant-chosen targets never reach loopback, private or metadata addresses.

Every test here builds a policy WITHOUT the test suite's loopback allow-list (or with it only
where a local server must stand in for the public internet) and proves the refusal against
a real HTTP server on 127.0.0.1 that counts its hits: a refused request never reaches it.
"""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from conftest import API_KEY, make_settings
from integrations import egress
from integrations.egress import EgressPolicy, EgressRefused, InvalidTargetUrl, ResponseTooLarge
from integrations.suppliers.base import PermanentSupplierError, Shipment
from integrations.suppliers.registry import InvalidSupplierSettings, build_adapter, check_supplier_settings
from shopify_app.inventory.feed_file import FeedUnreadable, fetch_feed

STRICT = EgressPolicy()
LOOPBACK_ONLY = EgressPolicy.from_allow_list("127.0.0.1/32")
PUBLIC_IP = "93.184.215.14"
SHOP = "demo.myshopify.com"
SECRET_ROWS = b"sku,available\nroot:x:0:0,not-a-number\nAWS_SECRET_KEY,abc123secret\n"


class CountingServer:
    """A real HTTP server on 127.0.0.1 standing in for an internal service; `hits` counts every request it got."""

    def __init__(self):
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                server.hits.append(self.path)
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{server.port}/secret.csv")
                    self.end_headers()
                elif self.path == "/huge":
                    self.send_response(200)
                    self.end_headers()
                    for _ in range(64):
                        self.wfile.write(b"x" * 65536)  # 4 MB, far past the cap
                elif self.path == "/slow":
                    self.send_response(200)
                    self.end_headers()
                    for _ in range(100):  # a byte every 0.1 s for 10 s: no single read ever times out
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(0.1)
                else:
                    body = SECRET_ROWS
                    self.send_response(200)
                    self.send_header("Content-Type", "text/csv")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            do_POST = do_GET  # noqa: N815

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/secret.csv") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def internal():
    server = CountingServer()
    yield server
    server.stop()


def odd_spellings(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/secret.csv", f"https://127.0.0.1:{port}/secret.csv",
        f"http://0x7f000001:{port}/secret.csv", f"https://0x7f000001:{port}/secret.csv",
        f"https://2130706433:{port}/secret.csv", f"https://0177.0.0.1:{port}/secret.csv", f"https://127.1:{port}/secret.csv",
        f"https://localhost:{port}/secret.csv", f"https://[::1]:{port}/secret.csv", f"https://[::ffff:127.0.0.1]:{port}/secret.csv",
        f"https://[::ffff:7f00:1]:{port}/secret.csv", f"https://0.0.0.0:{port}/secret.csv",
        # IPv4-compatible and IPv4-translated IPv6 forms (found in review: they passed as global)
        f"https://[::7f00:1]:{port}/secret.csv", f"https://[::ffff:0:7f00:1]:{port}/secret.csv", f"https://[2002:7f00:1::]:{port}/secret.csv",
    ]


def test_every_spelling_of_loopback_is_refused_when_saved_and_at_connect_time(internal):
    for url in odd_spellings(internal.port):
        with pytest.raises(InvalidTargetUrl):
            STRICT.check_url(url)
        with STRICT.client() as client, pytest.raises((EgressRefused, httpx.InvalidURL)):  # httpx itself rejects 0177.0.0.1
            client.get(url)
    assert internal.hits == []


@pytest.mark.parametrize("url", [
    "https://169.254.169.254/latest/meta-data/", "http://169.254.169.254/latest/meta-data/", "https://10.0.0.5/", "https://192.168.1.1/",
    "https://172.16.0.1/", "https://100.64.0.1/", "https://[fd00::1]/", "https://[fe80::1]/", "https://224.0.0.1/", "https://240.0.0.1/",
    "https://[64:ff9b::a9fe:a9fe]/", "https://[64:ff9b:1::a9fe:a9fe]/", "https://[::a9fe:a9fe]/", "https://[fec0::1]/", "ftp://example.com/", "file:///etc/passwd", "gopher://127.0.0.1:6379/", "https://user:pw@example.com/",
])
def test_private_link_local_metadata_reserved_and_non_http_targets_are_refused(url):
    with pytest.raises(InvalidTargetUrl):
        STRICT.check_url(url)


def test_a_name_that_rebinds_to_loopback_after_the_check_never_reaches_it(internal, monkeypatch):
    real_getaddrinfo = socket.getaddrinfo
    answers = iter([PUBLIC_IP])  # the first lookup (the save-time check) sees a public address, every later one loopback

    def rebinding_dns(host, *args, **kwargs):
        if host == "feed.rebind.test":
            return real_getaddrinfo(next(answers, "127.0.0.1"), *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    url = f"https://feed.rebind.test:{internal.port}/secret.csv"
    assert STRICT.check_url(url) == url  # looked public when saved
    with STRICT.client() as client, pytest.raises(EgressRefused, match="loopback"):
        client.get(url)
    with pytest.raises(FeedUnreadable, match="loopback"):
        fetch_feed(url, policy=STRICT)
    assert internal.hits == []


def test_a_redirect_from_an_allowed_server_to_an_internal_url_is_not_followed(internal):
    with pytest.raises(FeedUnreadable, match="redirected"):
        fetch_feed(internal.url("/redirect"), policy=LOOPBACK_ONLY)
    assert internal.hits == ["/redirect"]  # never /secret.csv


def test_answers_are_capped_in_bytes_and_in_total_time(internal):
    with LOOPBACK_ONLY.client(max_bytes=1024 * 1024) as client, pytest.raises(ResponseTooLarge):
        client.get(internal.url("/huge"))
    # Each byte arrives well within the 5 s read timeout: only the total cap can stop this.
    with LOOPBACK_ONLY.client(total_seconds=0.5, timeout=5.0) as client, pytest.raises(httpx.TimeoutException):
        client.get(internal.url("/slow"))


def test_proxy_variables_do_not_route_around_the_policy(internal, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", internal.url("/"))
    monkeypatch.setenv("HTTP_PROXY", internal.url("/"))
    with STRICT.client() as client, pytest.raises(EgressRefused):
        client.get("https://10.0.0.5/")
    assert internal.hits == []


# -- suppliers ---------------------------------------------------------------------------------


def rest_settings(base_url: str, **extra) -> dict:
    return {"preset": "sandbox-rest", "base_url": base_url, **extra}


def test_a_rest_supplier_pointing_inside_is_refused_at_save_and_is_a_permanent_error_at_use(internal):
    for url in (internal.url("/v1"), "https://169.254.169.254/v1", f"http://0x7f000001:{internal.port}/v1"):
        with pytest.raises(InvalidSupplierSettings, match="base_url"):
            check_supplier_settings("rest", rest_settings(url), policy=STRICT)
    with pytest.raises(InvalidSupplierSettings, match="base_url"):
        check_supplier_settings("printful", {"base_url": "https://10.0.0.5"}, policy=STRICT)
    previous = egress.configure(STRICT)
    try:
        adapter = build_adapter("rest", {"api_key": "k"}, rest_settings(internal.url("/v1")))
        with pytest.raises(PermanentSupplierError, match="refused by egress policy"):
            adapter.get_stock(["SKU-1"])
    finally:
        egress.configure(previous)
    assert internal.hits == []


def test_supplier_timeouts_over_the_cap_are_refused_at_save_and_clamped_at_use():
    with pytest.raises(InvalidSupplierSettings, match="at most 30"):
        check_supplier_settings("rest", rest_settings("https://93.184.215.14/v1", timeout_seconds=600), policy=STRICT)
    with pytest.raises(InvalidSupplierSettings, match="at most 30"):
        check_supplier_settings("printful", {"timeout_seconds": 600}, policy=STRICT)
    adapter = build_adapter("rest", {"api_key": "k"}, rest_settings("https://93.184.215.14/v1", timeout_seconds=600))
    assert adapter._client._http.timeout.read == 30.0
    printful = build_adapter("printful", {"token": "t"}, {"timeout_seconds": 600})
    assert printful._client._http.timeout.read == 30.0


def test_the_timeout_cap_is_the_operators_within_bounds(sqlite_url):
    from shopify_app.config import ConfigError, load_settings

    env = {"SANDBOX": "1", "DATABASE_URL": sqlite_url}
    assert load_settings(env).supplier_timeout_max_seconds == 30.0
    assert load_settings({**env, "SUPPLIER_TIMEOUT_MAX_SECONDS": "90"}).supplier_timeout_max_seconds == 90.0
    for bad in ("0", "121", "lots"):
        with pytest.raises(ConfigError, match="SUPPLIER_TIMEOUT_MAX_SECONDS"):
            load_settings({**env, "SUPPLIER_TIMEOUT_MAX_SECONDS": bad})
    assert load_settings({**env, "EGRESS_ALLOW": "127.0.0.1/32, ::1"}).egress_allow == ("127.0.0.1/32", "::1")


# -- the app: stock feeds, alert webhooks, tracking links ----------------------------------------


@pytest.fixture
def strict_app(app_factory, sqlite_url, sandbox_shopify):
    """The app as deployed: no EGRESS_ALLOW (it sets the process-wide policy; restored afterwards)."""
    from conftest import install_shop

    previous = egress.current()
    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url, egress_allow=())
    install_shop(app, SHOP)
    app.token = lambda: {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY)}"}
    yield app
    egress.configure(previous)


def add_supplier(app, shop: str = SHOP) -> int:
    from shopify_app.suppliers.models import Supplier

    with app.extensions["services"].session_factory.begin() as session:
        supplier = Supplier(shop_domain=shop, name=f"Acme {shop}", kind="email", settings={})
        session.add(supplier)
        session.flush()
        return supplier.id


def test_a_stock_feed_for_another_shops_or_no_supplier_fetches_nothing(strict_app, internal):
    client = strict_app.test_client()
    others = add_supplier(strict_app, "other.myshopify.com")
    egress.configure(LOOPBACK_ONLY)  # even a URL the policy would fetch is not fetched for a supplier that is not ours
    for supplier_id in (999999, others):
        answer = client.post(f"/api/suppliers/{supplier_id}/stock-feed", json={"url": internal.url()}, headers=strict_app.token())
        assert answer.status_code == 404
    assert internal.hits == []


def test_a_stock_feed_url_inside_is_refused_and_fetched_rows_are_never_quoted(strict_app, internal):
    client = strict_app.test_client()
    supplier_id = add_supplier(strict_app)
    for url in odd_spellings(internal.port)[:4] + [f"http://127.0.0.1:{internal.port}/redirect"]:
        answer = client.post(f"/api/suppliers/{supplier_id}/stock-feed", json={"url": url}, headers=strict_app.token())
        assert answer.status_code == 422 and "secret" not in answer.get_data(as_text=True)
    assert internal.hits == []
    egress.configure(LOOPBACK_ONLY)  # the operator allows this one host: now it is fetched, its content still never shown
    answer = client.post(f"/api/suppliers/{supplier_id}/stock-feed", json={"url": internal.url()}, headers=strict_app.token())
    text = answer.get_data(as_text=True)
    assert answer.status_code == 201 and answer.get_json()["feed"]["rows_refused"] == 2
    assert "root:x" not in text and "not-a-number" not in text and "AWS_SECRET_KEY" not in text and "abc123secret" not in text
    uploaded = client.post(f"/api/suppliers/{supplier_id}/stock-feed", data=SECRET_ROWS, headers={**strict_app.token(), "Content-Type": "text/csv"})
    assert "not-a-number" in uploaded.get_data(as_text=True)  # the merchant's own upload is quoted back to help fix it


@pytest.mark.parametrize("url", [
    "https://169.254.169.254/latest/meta-data/iam/", "https://10.0.0.5/hook", "https://localhost:6379/", "http://127.0.0.1:6379/",
    "https://[::1]/hook", "https://0x7f000001/hook",
])
def test_alert_webhook_urls_inside_are_refused_at_save(strict_app, url):
    answer = strict_app.test_client().put("/api/settings/alert-channels", json={"slack_webhook_url": url}, headers=strict_app.token())
    assert answer.status_code == 400
    assert answer.get_json()["problems"] == ["slack_webhook_url must be an https:// URL to a public host"]


def test_alert_webhook_posts_inside_are_recorded_as_refused_not_as_port_states(internal):
    from shopify_app.notify.alert_channels import SendFailed, post_to_slack

    closed_port = socket.socket()
    closed_port.bind(("127.0.0.1", 0))
    closed = closed_port.getsockname()[1]
    closed_port.close()
    reasons = []
    for url in (internal.url("/hook"), f"https://127.0.0.1:{closed}/hook", "https://10.0.0.5/hook", "https://169.254.169.254/hook"):
        with pytest.raises(SendFailed) as caught:
            post_to_slack(url, "hello", policy=STRICT)
        reasons.append((caught.value.reason, caught.value.permanent))
    assert set(reasons) == {("refused by egress policy", True)}  # an open and a closed port look the same
    assert internal.hits == []


def test_javascript_tracking_links_are_neither_stored_nor_rendered(app_factory, sqlite_url):
    from flask import g

    from shopify_app.orders.models import Order
    from shopify_app.suppliers.models import Supplier, SupplierOrder, SupplierShipment
    from shopify_app.suppliers.tracking import record_shipment
    from shopify_app.web import page_data
    from shopify_app.web.pages import render_page

    app = app_factory(sqlite_url)
    factory = app.extensions["services"].session_factory
    with factory.begin() as session:
        order = Order(shop_domain=SHOP, shopify_id="77", name="#1077")
        supplier = Supplier(shop_domain=SHOP, name="Acme", kind="rest")
        session.add_all([order, supplier])
        session.flush()
        delivery = SupplierOrder(shop_domain=SHOP, order_id=order.id, supplier_id=supplier.id, idempotency_key="do-77", state="placed")
        session.add(delivery)
        session.flush()
        stored = record_shipment(session, delivery, Shipment("s1", "UPS", "1ZEVIL", "javascript:alert(document.cookie)", ()))
        assert (stored.tracking_number, stored.tracking_url) == ("1ZEVIL", None)
        good = record_shipment(session, delivery, Shipment("s2", "UPS", "1ZGOOD", "https://ups.example/track/1ZGOOD", ()))
        assert good.tracking_url == "https://ups.example/track/1ZGOOD"
        # A row stored before the check by an older version:
        session.add(SupplierShipment(supplier_order_id=delivery.id, shipment_id="old", carrier="UPS", tracking_number="1ZOLD", tracking_url="JavaScript:alert(1)", state="fulfilled"))
        order_id = order.id
    with factory() as session, app.test_request_context():
        data = page_data.order_detail(session, SHOP, order_id)
        g.shop_domain = SHOP
        html = render_page("order.html", "orders", **data)
    assert "javascript:" not in html.lower() and "1ZEVIL" in html and "1ZOLD" in html
    assert 'href="https://ups.example/track/1ZGOOD"' in html


def test_the_app_configures_the_process_policy_from_settings(sqlite_url):
    assert EgressPolicy.from_settings(make_settings(sqlite_url)).check_url("http://127.0.0.1:9/") == "http://127.0.0.1:9/"
    strict = EgressPolicy.from_settings(make_settings(sqlite_url, egress_allow=()))
    with pytest.raises(InvalidTargetUrl):
        strict.check_url("http://127.0.0.1:9/")
