"""Plain http to a target the operator allowed by address (EGRESS_ALLOW CIDRs): checked when a connection opens, on the addresses it connects to."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.egress import PLAIN_HTTP_REFUSED, EgressPolicy, EgressRefused

LOOPBACK_ONLY = EgressPolicy.from_allow_list("127.0.0.1/32")
PUBLIC_IP = "93.184.215.14"


class KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # answers on one connection until the client closes it

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    httpd.hits = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dns(monkeypatch):
    """Answers for *.plain.test names (a list per name, the last one repeating); counts lookups per name."""
    real_getaddrinfo = socket.getaddrinfo
    answers: dict[str, list[str]] = {}
    lookups: dict[str, int] = {}

    def fake(host, *args, **kwargs):
        if host in answers:
            lookups[host] = lookups.get(host, 0) + 1
            queue = answers[host]
            return real_getaddrinfo(queue.pop(0) if len(queue) > 1 else queue[0], *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return answers, lookups


def test_one_lookup_per_new_connection_and_the_address_checked_is_the_one_connected_to(server, dns):
    answers, lookups = dns
    # A name that answers an allowed address once, then a public one: plain http must never go to the public one.
    answers["api.plain.test"] = ["127.0.0.1", PUBLIC_IP]
    with LOOPBACK_ONLY.client() as client:
        for _ in range(3):
            assert client.get(f"http://api.plain.test:{server.server_port}/x").text == "ok"
    assert server.hits == ["/x"] * 3
    assert lookups["api.plain.test"] == 1  # the connection was checked when it opened, then kept alive


def test_plain_http_to_addresses_outside_the_allow_list_is_refused_when_connecting(server, dns):
    answers, _ = dns
    answers["inside.plain.test"] = ["10.0.0.5"]
    answers["mixed.plain.test"] = ["127.0.0.1"]
    with LOOPBACK_ONLY.client() as client:
        with pytest.raises(EgressRefused) as refused:
            client.get("http://inside.plain.test/x")
        assert refused.value.reason == PLAIN_HTTP_REFUSED
        with pytest.raises(EgressRefused, match="did not allow"):
            client.get("http://nowhere.invalid/x")  # a name that does not resolve: refused as before
        with pytest.raises(EgressRefused, match="did not allow"):
            EgressPolicy().client().get(f"http://127.0.0.1:{server.server_port}/x")  # no allow-list: refused before any lookup
    assert server.hits == []
