"""AS2 against someone holding a partner's URL, and against a merchant's slips: asynchronous MDNs only to the partner's own
server, no switch date in the past, and per-shop / per-endpoint limits on key-pair rolls and inbound messages."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import select

from test_edi_over_as2 import OUR_AS2_ID, PARTNER_AS2_ID, SHOP, answer_while_the_body_is_still_coming, as2_transport, messages, wait_for, world  # noqa: F401
from edi_testkit import edi_settings
from shopify_app.cases.models import RateCounter
from shopify_app.proxy import rate_limit
from shopify_app.proxy.rate_limit import WindowLimit
from shopify_app.suppliers import as2_keys
from shopify_app.suppliers.as2_inbound import on_partner_server
from shopify_app.suppliers.models import Supplier
from shopify_app.web import as2_api


class Stranger:
    """An HTTP server on 127.0.0.1 that is not the partner's: it records every POST it gets."""

    def __init__(self):
        posts = self.posts = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                return

            def do_POST(self):  # noqa: N802 - http.server's name
                posts.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/mdn"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stranger():
    server = Stranger()
    yield server
    server.stop()


def garbage_asking_for_an_mdn_at(url: str, message_id: str) -> dict[str, str]:
    """Headers of an unsigned message anyone holding the partner's URL could send, asking for an asynchronous MDN at `url`."""
    return {"AS2-From": PARTNER_AS2_ID, "AS2-To": OUR_AS2_ID, "Message-ID": f"<{message_id}@elsewhere>", "Content-Type": "application/pkcs7-mime",
            "Disposition-Notification-To": "mdn@elsewhere", "Disposition-Notification-Options": "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha256",
            "Receipt-Delivery-Option": url}


def test_an_asynchronous_mdn_goes_only_to_the_partners_own_server(world, stranger, caplog):
    app, shopify, partner, supplier_id, _ = world
    caplog.set_level(logging.WARNING, logger="shopify_app.suppliers.as2_inbound")
    # The partner's own signed message asking for its MDN on another server: the message is taken, no MDN is posted there.
    partner.async_mdn_url = stranger.url
    partner.edi.advise_stock({"W-TEE-S": 3})
    [sent] = partner.send_outbox()
    assert (sent.http_status, sent.mdn_status) == (200, None)
    assert len(messages(app, "in")) == 1
    # Anyone holding the URL: an unsigned message (refused), its signed error MDN asked for on another server. Answered as
    # before (200, the MDN "follows"), nothing posted there.
    answer = httpx.post(partner.app_url, content=b"not an AS2 message", headers=garbage_asking_for_an_mdn_at(stranger.url, "forged-1"), timeout=30)
    assert (answer.status_code, answer.text) == (200, "received; the MDN follows")
    # An MDN asked for on the partner's own server (scheme, host and port of its AS2 URL; any path) is posted.
    partner.async_mdn_url = partner.url.rsplit("/", 1)[0] + "/async-mdn"
    sent = partner.send_outbox()  # the first file again (it got no MDN, so the partner keeps it), and nothing new
    assert sent and all(s.http_status == 200 for s in sent)
    wait_for(lambda: len(partner.async_mdns_received) == len(sent), "our asynchronous MDNs at the partner's server")
    assert {message_id for message_id, _, _ in partner.async_mdns_received} == {s.message_id for s in sent}
    assert stranger.posts == []
    refused = [record.getMessage() for record in caplog.records if "asynchronous MDN not sent" in record.getMessage()]
    assert len(refused) == 2
    token = partner.app_url.rsplit("/", 1)[1]
    assert not any(str(stranger.server.server_port) in line or token in line for line in refused)  # neither where it was asked for nor our URL


@pytest.mark.parametrize("asked, partner_url, same", [
    ("http://127.0.0.1:8080/mdn", "http://127.0.0.1:8080/as2", True),
    ("https://AS2.Partner.example/mdn", "https://as2.partner.example:443/as2", True),
    ("http://as2.partner.example:80/x", "http://as2.partner.example/as2", True),
    ("http://127.0.0.1:8081/as2", "http://127.0.0.1:8080/as2", False),  # another port
    ("https://as2.partner.example/as2", "http://as2.partner.example/as2", False),  # another scheme
    ("http://as2.partner.example@evil.example/", "http://as2.partner.example/as2", False),  # the host is evil.example
    ("http://evil.example\\@as2.partner.example/", "http://as2.partner.example/as2", True),  # httpx sends it to as2.partner.example
    ("http://169.254.169.254/latest/meta-data", "https://as2.partner.example/as2", False),
    ("ftp://as2.partner.example/", "ftp://as2.partner.example/", False),
    ("http://as2.partner.example:port/", "http://as2.partner.example/", False),
    ("mailto:mdn@as2.partner.example", "http://as2.partner.example/", False),
])
def test_the_partners_own_server_is_its_as2_urls_scheme_host_and_port(asked, partner_url, same):
    assert on_partner_server(asked, partner_url) is same


def rolls_made(monkeypatch) -> list:
    """The key pairs generated from now on (each call recorded, then made for real)."""
    made = []
    generate = as2_keys.generate_key_pair
    monkeypatch.setattr(as2_keys, "generate_key_pair", lambda *args, **kwargs: made.append(args) or generate(*args, **kwargs))
    return made


def test_a_switch_date_before_today_is_refused_before_a_key_pair_is_made_and_today_means_at_once(world, monkeypatch):
    app, shopify, partner, supplier_id, headers = world
    made = rolls_made(monkeypatch)
    client = app.test_client()
    url = f"/api/suppliers/{supplier_id}/as2/key-pair"
    today = dt.datetime.now(dt.timezone.utc).date()
    for past in (today - dt.timedelta(days=2), today.replace(year=today.year - 1)):  # a slip of a day, a mistyped year
        answer = client.post(url, json={"sign_from": f"{past}"}, headers=headers)
        assert answer.status_code == 400, answer.get_json()
        [field] = answer.get_json()["fields"]
        assert field["field"] == "sign_from" and f"{past} is past" in field["message"]
    assert client.post(url, json={"sign_from": ""}, headers=headers).status_code == 400  # as the API's description says
    assert made == []  # refused before an RSA key was generated
    with pytest.raises(as2_keys.SwitchDateRefused):  # the same for any caller
        as2_keys.roll_key_pair(app.extensions["services"].session_factory, app.extensions["services"].box, SHOP,
                               sign_from=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400))
    assert made == []
    for at_once in ({"sign_from": None}, {}):
        rolled = client.post(url, json=at_once, headers=headers)
        assert rolled.status_code == 200 and rolled.get_json()["as2"]["sign_from"] is None, rolled.get_json()
    assert len(made) == 2


@pytest.fixture
def frozen_counters(monkeypatch):
    """The rate counters' clock, set by the test (fixed windows must not roll over mid-test): a one-item list holding now."""
    now = [dt.datetime(2026, 12, 4, 18, 40, 20, tzinfo=dt.timezone.utc)]
    monkeypatch.setattr(rate_limit, "utcnow", lambda: now[0])
    return now


def test_key_pair_rolls_are_limited_per_shop_and_refused_dates_are_not_counted(world, monkeypatch, frozen_counters):
    app, shopify, partner, supplier_id, headers = world
    monkeypatch.setattr(as2_api, "KEY_PAIR_ROLLS", WindowLimit(2, dt.timedelta(hours=1)))
    made = rolls_made(monkeypatch)
    client = app.test_client()
    url = f"/api/suppliers/{supplier_id}/as2/key-pair"
    past = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=2)
    for _ in range(3):  # refused dates make no key: they do not use the shop's rolls up
        assert client.post(url, json={"sign_from": f"{past}"}, headers=headers).status_code == 400
    for _ in range(2):
        assert client.post(url, headers=headers).status_code == 200
    refused = client.post(url, headers=headers, environ_overrides={"HTTP_ACCEPT_LANGUAGE": "en"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1180"  # 18:40:20 -> the window ends at 19:00
    assert refused.get_json()["error"] == "At most 2 new key pairs an hour: try again in 20 min."
    assert len(made) == 2  # the refused roll made no key
    frozen_counters[0] += dt.timedelta(minutes=20)  # the next window
    assert client.post(url, headers=headers).status_code == 200 and len(made) == 3


def test_the_inbound_endpoint_is_limited_per_endpoint_before_the_body_is_read(world, monkeypatch, frozen_counters):
    app, shopify, partner, supplier_id, headers = world
    monkeypatch.setattr(as2_api, "INBOUND_MESSAGES", WindowLimit(3, dt.timedelta(minutes=1)))
    as2_headers = {"AS2-From": PARTNER_AS2_ID, "AS2-To": OUR_AS2_ID, "Message-ID": "<flood@elsewhere>", "Content-Type": "application/pkcs7-mime"}
    for _ in range(3):  # read and judged (garbage: refused as such)
        assert httpx.post(partner.app_url, content=b"garbage", headers=as2_headers, timeout=30).status_code == 400
    # Over the limit: answered while the body is still coming (none of it read), and with when to come back.
    assert answer_while_the_body_is_still_coming(partner.app_url, as2_headers, wait_seconds=30) == 429
    over = httpx.post(partner.app_url, content=b"garbage", headers=as2_headers, timeout=30)
    assert over.status_code == 429 and over.headers["Retry-After"] == "40" and over.headers["content-type"].startswith("text/plain")
    # Another partner's endpoint (another supplier of the shop) has its own count.
    with app.extensions["services"].session_factory.begin() as session:
        other = Supplier(shop_domain=SHOP, name="Another AS2 partner", kind="edi_x12", settings={**edi_settings(our_application_code="OTHER"), "transport": as2_transport(partner)})
        session.add(other)
        session.flush()
        other_id = other.id
    other_url = app.test_client().get(f"/api/suppliers/{other_id}/as2", headers=headers).get_json()["as2"]["inbound_url"]
    assert other_url != partner.app_url
    assert httpx.post(other_url, content=b"garbage", headers=as2_headers, timeout=30).status_code == 400
    # An unknown endpoint is answered 404 as before, and counted nowhere (a caller cannot fill the counters with made-up tokens).
    assert httpx.post(partner.app_url.rsplit("/", 1)[0] + "/" + "a" * 43, content=b"x", headers=as2_headers, timeout=30).status_code == 404
    with app.extensions["services"].session_factory() as session:
        assert {key for key in session.scalars(select(RateCounter.key))} == {f"as2-in:{SHOP}:{supplier_id}", f"as2-in:{SHOP}:{other_id}"}
    frozen_counters[0] += dt.timedelta(minutes=1)  # the next minute: taken again
    assert httpx.post(partner.app_url, content=b"garbage", headers=as2_headers, timeout=30).status_code == 400
    assert messages(app, "in") == []
