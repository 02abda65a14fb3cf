"""The httpx client for API calls: httpx's own requests and answers, with less of its per-call machinery.

Every outbound API call (Shopify GraphQL, Printful and the other HTTP suppliers) goes
through an httpx.Client; at 50 orders/s its per-call layers cost real CPU (issue 19 session
32 part H). For the plain calls an API client makes (no client auth, no redirects followed,
no event hooks, answer read whole) `ApiClient` builds the request with fewer URL parses and
sends it without the auth and redirect generators; anything else takes httpx's own path.
What is sent, the transport (EgressTransport with its checks, deadline and caps), the
exceptions and the Response are httpx's.

Cookies are not kept: these are API clients, and one client serves many shops and
suppliers, so a Set-Cookie from one must never be sent on another's calls.
"""
from __future__ import annotations

import datetime
import logging
import time
from http.cookiejar import Cookie, CookieJar
from typing import Any, Callable

import httpcore
import httpx
from httpx._client import USE_CLIENT_DEFAULT, ClientState, UseClientDefault
from httpx._exceptions import request_context
from httpx._transports.default import map_httpcore_exceptions

URL_CACHE_SIZE = 256  # parsed URLs kept per client (see ApiClient._parsed)
JSON_UTF8 = frozenset({"application/json", "application/json; charset=utf-8"})  # JSON answers whose text encoding needs no header parsing

httpx_log = logging.getLogger("httpx")  # httpx's own line per request (the app keeps it at WARNING)


class IgnoredCookies(httpx.Cookies):
    """A cookie store that keeps nothing: answers' Set-Cookie headers are dropped unread."""

    def __init__(self) -> None:
        super().__init__(_NoJar())

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _NoJar(CookieJar):
    def set_cookie(self, cookie: Cookie) -> None:  # nothing set by hand is kept either
        return None


class ApiClient(httpx.Client):
    """httpx.Client for API calls: no cookies kept, plain calls built and sent on a short path (same request, same answer)."""

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("cookies") is not None:
            raise ValueError("an ApiClient keeps no cookies")
        super().__init__(**kwargs)
        self._cookies = IgnoredCookies()
        self._prefix_of: tuple[httpx.URL, str | None] | None = None
        # The parsed URL of each text URL a plain call used, per base_url: an API client calls a few
        # URLs again and again (a shop's GraphQL endpoint, a supplier's /orders), and httpx.URL is
        # immutable, so one parse serves every call (a parse is most of building a request).
        self._urls_of: tuple[httpx.URL, dict[str, httpx.URL]] | None = None

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty: see IgnoredCookies."""
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise ValueError("an ApiClient keeps no cookies")

    def request(self, method: str, url: httpx.URL | str, *, content: Any = None, data: Any = None, files: Any = None, json: Any = None,
                params: Any = None, headers: Any = None, cookies: Any = None, auth: Any = USE_CLIENT_DEFAULT,
                follow_redirects: Any = USE_CLIENT_DEFAULT, timeout: Any = USE_CLIENT_DEFAULT, extensions: Any = None) -> httpx.Response:
        """httpx.Client.request; a request with a str URL, no form data, files or cookies is built with one URL parse instead of three."""
        if data is not None or files is not None or cookies is not None or not isinstance(url, str) or self.params:
            return super().request(method, url, content=content, data=data, files=files, json=json, params=params, headers=headers,
                                   cookies=cookies, auth=auth, follow_redirects=follow_redirects, timeout=timeout, extensions=extensions)
        extensions = {} if extensions is None else extensions
        if "timeout" not in extensions:  # as httpx's build_request
            extensions = dict(**extensions, timeout=(self.timeout if isinstance(timeout, UseClientDefault) else httpx.Timeout(timeout)).as_dict())
        request = httpx.Request(method, self._parsed(url), content=content, json=json, params=params, headers=self._merge_headers(headers),
                                extensions=extensions)
        return self.send(request, auth=auth, follow_redirects=follow_redirects)

    def send(self, request: httpx.Request, *, stream: bool = False, auth: Any = USE_CLIENT_DEFAULT,
             follow_redirects: Any = USE_CLIENT_DEFAULT) -> httpx.Response:
        """httpx.Client.send; without auth, redirects or hooks, one transport call with no generators around it."""
        follow = self.follow_redirects if isinstance(follow_redirects, UseClientDefault) else follow_redirects
        if (stream or follow or self._state == ClientState.CLOSED or self._auth is not None or not isinstance(auth, UseClientDefault)
                or self._event_hooks["request"] or self._event_hooks["response"]):
            return super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        self._state = ClientState.OPENED
        self._set_timeout(request)
        transport = self._transport_for_url(request.url)
        if getattr(transport, "handle_whole", None) is not None:  # ApiTransport, or one that wraps it
            response = self._send_whole(transport, request)
        else:
            response = self._send_single_request(request)  # httpx's: the transport, the request context on errors, elapsed, its log line
        try:
            if response.has_redirect_location:  # not followed; offered as httpx offers it
                response.next_request = self._build_redirect_request(request, response)
            response.read()
            return response
        except BaseException:
            response.close()
            raise

    def _send_whole(self, transport: Any, request: httpx.Request) -> httpx.Response:
        """What httpx's _send_single_request does, with the answer read whole by the transport (no stream wrappers)."""
        started = time.perf_counter()
        with request_context(request=request):
            response = transport.handle_whole(request)
        response.request = request
        response.default_encoding = self._default_encoding
        if self._default_encoding == "utf-8" and response.headers.get("content-type", "").lower() in JSON_UTF8:
            # What Response.encoding would find (the charset, else the default), without its
            # Content-Type parse through email.message: the SDK reads every GraphQL answer's .text.
            response.encoding = "utf-8"
        response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
        if httpx_log.isEnabledFor(logging.INFO):
            httpx_log.info('HTTP Request: %s %s "%s %d %s"', request.method, request.url, response.http_version, response.status_code,
                           response.reason_phrase)
        return response

    def _parsed(self, url: str) -> httpx.URL:
        """The httpx.URL of `url` joined to base_url (what _merged gives, parsed), from the cache when this client used it before."""
        base = self._base_url
        cached = self._urls_of
        if cached is None or cached[0] is not base:
            cached = self._urls_of = (base, {})
        urls = cached[1]
        parsed = urls.get(url)
        if parsed is None:
            merged = self._merged(url)
            parsed = merged if isinstance(merged, httpx.URL) else httpx.URL(merged)
            if len(urls) >= URL_CACHE_SIZE:
                urls.clear()  # ids in paths (an order's confirmation) make new URLs: start over rather than grow
            urls[url] = parsed
        return parsed

    def _merged(self, url: str) -> httpx.URL | str:
        """The URL httpx's _merge_url gives: a path joined to base_url as text (parsed once, by Request), anything else as it is."""
        if not url.startswith("/") or url.startswith("//"):
            return self._merge_url(url)
        prefix = self._prefix()
        return self._merge_url(url) if prefix is None else prefix + url[1:]

    def _prefix(self) -> str | None:
        """base_url as the text a path is appended to ("https://host/api/"); None when it has none or a query."""
        base = self._base_url
        if self._prefix_of is None or self._prefix_of[0] is not base:
            prefix = None
            if base.host and not base.query and not base.fragment:
                joined = str(self._merge_url("/x"))
                prefix = joined[:-1] if joined.endswith("/x") else None
            self._prefix_of = (base, prefix)
        return self._prefix_of[1]


class ApiTransport(httpx.HTTPTransport):
    """httpx's transport, plus `handle_whole` for ApiClient's plain calls: the answer read whole on httpcore's pool, no stream wrappers."""

    def handle_whole(self, request: httpx.Request) -> httpx.Response:
        """handle_request for a request whose answer is read at once: the raw body in memory (decoded by Response.read)."""
        return exchange_whole(self._pool, request)


def exchange_whole(pool: httpcore.ConnectionPool, request: httpx.Request, chunk_check: Callable[[int], None] | None = None) -> httpx.Response:
    """One request on `pool`, as httpx's HTTPTransport sends it, with the whole raw body read; httpcore errors mapped as httpx maps them.

    `chunk_check(bytes so far)` runs after every chunk (a byte cap raises from it).
    """
    url = request.url
    core_request = httpcore.Request(
        method=request.method,
        url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
        headers=request.headers.raw,
        content=request.stream,
        extensions=request.extensions,
    )
    with map_httpcore_exceptions():
        core_response = pool.handle_request(core_request)
        try:
            chunks, received = [], 0
            for chunk in core_response.stream:
                received += len(chunk)
                if chunk_check is not None:
                    chunk_check(received)
                chunks.append(chunk)
        finally:
            core_response.close()
    return httpx.Response(status_code=core_response.status, headers=core_response.headers, stream=httpx.ByteStream(b"".join(chunks)),
                          extensions=core_response.extensions)
