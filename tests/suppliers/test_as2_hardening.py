"""AS2 against someone holding a partner's URL, and against a merchant's slips: asynchronous MDNs only to the partner's own
server, no switch date in the past."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from test_edi_over_as2 import OUR_AS2_ID, PARTNER_AS2_ID, SHOP, messages, wait_for, world  # noqa: F401
from shopify_app.suppliers import as2_keys
from shopify_app.suppliers.as2_inbound import on_partner_server


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
