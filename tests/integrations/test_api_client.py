"""ApiClient (integrations/api_client.py) against a real server on 127.0.0.1: httpx's requests and answers on its short path, no cookies kept."""
from __future__ import annotations

import base64
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from integrations.api_client import ApiClient, ApiTransport
from integrations.egress import EgressPolicy
from integrations.shopify.transport import http_client_for


class Echo(BaseHTTPRequestHandler):
    """Answers with what it received; /cookie sets one, /redirect redirects, /gzip answers compressed."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {"method": self.command, "target": self.path, "headers": sorted((k.lower(), v) for k, v in self.headers.items()),
                "body": base64.b64encode(body).decode()}
        payload = json.dumps(seen).encode()
        content_type = "application/json"
        if self.path.startswith("/latin1"):
            payload, content_type = json.dumps(seen | {"name": "Zoë"}, ensure_ascii=False).encode("latin-1"), "application/json; charset=iso-8859-1"
        if self.path.startswith("/utf8"):
            payload, content_type = json.dumps(seen | {"name": "Zoë"}, ensure_ascii=False).encode(), "application/json; charset=UTF-8"
        self.send_response(302 if self.path.startswith("/redirect") else 200)
        if self.path.startswith("/redirect"):
            self.send_header("Location", "/elsewhere")
        if self.path.startswith("/cookie"):
            self.send_header("Set-Cookie", "session=from-one-shop; Path=/")
        if self.path.startswith("/gzip"):
            payload = gzip.compress(payload)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


CALLS = [
    ("GET", "/v2/orders/@so-1001", {}),
    ("GET", "/v2/orders", {"params": {"limit": 100, "offset": 0, "status": "a b"}}),
    ("GET", "/v2/catalog-variants/12/availability?selling_region_name=worldwide", {}),
    ("POST", "/v2/orders", {"json": {"external_id": "so-1", "recipient": {"name": "Zoë Ä"}, "order_items": [{"quantity": 2}]}}),
    ("POST", "/v2/orders/9/confirmation", {"headers": {"Authorization": "Bearer t", "accept": "text/plain"}}),
    ("PUT", "/v1/ünïcode path/x y", {"content": b"raw bytes"}),
    ("DELETE", "/v2/orders/9", {"timeout": 3.0}),
    ("POST", "ABSOLUTE/admin/api/2026-10/graphql.json", {"json": {"query": "{ shop { name } }"}, "headers": {"X-Shopify-Access-Token": "tok"}}),
    ("GET", "relative/no/slash", {}),
    ("GET", "/latin1/answer", {}),  # a charset other than UTF-8: the answer's text decoded with it
    ("GET", "/utf8/answer", {}),
]


@pytest.mark.parametrize("base_path", ["", "/api/"])
def test_every_plain_call_sends_what_httpx_client_sends(server, base_path):
    options = {"base_url": server + base_path, "headers": {"User-Agent": "dropship-app/test", "Accept": "application/json"}, "timeout": 7.0}
    with httpx.Client(**options) as plain, ApiClient(transport=ApiTransport(), **options) as lean:
        for method, url, kwargs in CALLS:
            url = url.replace("ABSOLUTE", server)
            expected, got = plain.request(method, url, **kwargs), lean.request(method, url, **kwargs)
            assert got.text == expected.text and got.encoding == expected.encoding, (method, url)
            if "latin1" not in url:  # JSON in latin-1 is not JSON to httpx (json() reads bytes as UTF-8/16/32)
                assert got.json() == expected.json(), (method, url)
            assert (got.status_code, got.headers.get("content-type"), got.http_version) == (expected.status_code, expected.headers.get("content-type"), expected.http_version)
            assert got.request.extensions["timeout"] == expected.request.extensions["timeout"]
            assert str(got.request.url) == str(expected.request.url)
            assert got.elapsed.total_seconds() >= 0


def test_a_url_used_again_is_the_same_target_and_follows_a_new_base_url(server):
    options = {"headers": {"User-Agent": "dropship-app/test"}}
    with httpx.Client(base_url=server + "/api/", **options) as plain, ApiClient(transport=ApiTransport(), base_url=server + "/api/", **options) as lean:
        for _ in range(2):  # the second round uses the URLs parsed in the first
            for method, url, kwargs in CALLS:
                url = url.replace("ABSOLUTE", server)
                assert str(lean.request(method, url, **kwargs).request.url) == str(plain.request(method, url, **kwargs).request.url)
        for n in range(300):  # more URLs than the client keeps: each call still goes where it says
            assert lean.get(f"/v2/orders/{n}/confirmation").json()["target"] == f"/api/v2/orders/{n}/confirmation"
        assert lean.get("/v2/orders/7/confirmation").json()["target"] == "/api/v2/orders/7/confirmation"
        assert lean.get("/v2/orders").json()["target"] == "/api/v2/orders"
        lean.base_url = server + "/other/"  # a new base: no URL of the old one is used again
        assert lean.get("/v2/orders").json()["target"] == "/other/v2/orders"
        assert str(lean.get("/v2/orders", params={"a": "1"}).request.url) == server + "/other/v2/orders?a=1"
        assert str(lean.get("/v2/orders").request.url) == server + "/other/v2/orders"  # the params were not kept on the parsed URL


def test_no_cookie_from_an_answer_is_sent_on_later_calls(server):
    clients = [EgressPolicy(sandbox=True).client(base_url=server), http_client_for(server)]
    for client in clients:
        with client:
            assert client.get("/cookie").status_code == 200
            headers = dict(client.get("/next").json()["headers"])
            assert "cookie" not in headers
            assert len(client.cookies) == 0


def test_compressed_answers_are_decoded_and_redirects_are_offered_not_followed(server):
    with EgressPolicy(sandbox=True).client(base_url=server) as client:
        assert client.get("/gzip").json()["target"] == "/gzip"
        moved = client.get("/redirect")
        assert moved.status_code == 302 and moved.history == []
        assert moved.next_request is not None and moved.next_request.url.path == "/elsewhere"


def test_streamed_calls_and_failures_keep_httpx_behaviour(server):
    with EgressPolicy(sandbox=True).client(base_url=server) as client:
        with client.stream("GET", "/streamed") as response:
            assert json.loads(b"".join(response.iter_bytes()))["target"] == "/streamed"
        with pytest.raises(httpx.ConnectError) as refused:
            client.get("http://127.0.0.1:9/nothing-listens")
        assert refused.value.request.url.port == 9  # httpx's errors carry their request
    with pytest.raises(RuntimeError):
        client.get("/closed")
