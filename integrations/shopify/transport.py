"""httpx transport that sends `https://<shop>.myshopify.com/...` calls to a local sandbox.

Shopify's SDK builds its URLs from the shop name, so in sandbox mode we reroute at the
network edge: the request keeps its path, body and `Host: <shop>.myshopify.com`
header (the sandbox tells shops apart by it) and goes to the sandbox's address.
"""
from __future__ import annotations

import httpx

from ..api_client import ApiClient, ApiTransport
from ..tls_defaults import default_verify_context


class SandboxRoutingTransport(httpx.BaseTransport):
    """Rewrite every request's scheme/host/port to the sandbox base URL."""

    def __init__(self, sandbox_base_url: str, inner: httpx.BaseTransport | None = None):
        target = httpx.URL(sandbox_base_url)
        self._scheme, self._host, self._port = target.scheme, target.host, target.port
        self._inner = inner or ApiTransport(verify=default_verify_context())
        # id(original URL) -> (that URL, its rerouted copy): ApiClient hands the same URL object for a
        # shop's endpoint on every call, so the copy (a URL parse) is made once. The original is kept
        # in the entry, so its id cannot be reused by another URL while the entry lives.
        self._rerouted_urls: dict[int, tuple[httpx.URL, httpx.URL]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(self._rerouted(request))

    def handle_whole(self, request: httpx.Request) -> httpx.Response:
        """ApiClient's whole-answer path, when the inner transport has it."""
        inner = getattr(self._inner, "handle_whole", None)
        if inner is None:
            response = self._inner.handle_request(self._rerouted(request))
            response.read()
            return response
        return inner(self._rerouted(request))

    def _rerouted(self, request: httpx.Request) -> httpx.Request:
        url = request.url
        original_host = url.host
        entry = self._rerouted_urls.get(id(url))
        if entry is None or entry[0] is not url:
            if len(self._rerouted_urls) >= 256:
                self._rerouted_urls.clear()
            entry = self._rerouted_urls[id(url)] = (url, url.copy_with(scheme=self._scheme, host=self._host, port=self._port))
        request.url = entry[1]
        request.headers["Host"] = original_host
        return request

    def close(self) -> None:
        self._inner.close()


def http_client_for(sandbox_base_url: str | None, timeout: float = 10.0) -> httpx.Client:
    """A pooled client (ApiClient: one for every shop, so it keeps no cookies): straight to Shopify, or rerouted to the sandbox when one is set."""
    if sandbox_base_url:
        return ApiClient(transport=SandboxRoutingTransport(sandbox_base_url), timeout=timeout)
    return ApiClient(timeout=timeout, transport=ApiTransport(verify=default_verify_context()))
