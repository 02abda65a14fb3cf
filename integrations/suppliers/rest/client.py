"""HTTP to a configured REST supplier, with every failure sorted into the adapter error classes.

The same sorting as the Printful client, because the reasoning is the same:
  - connection refused / connect timeout / pool timeout: the request never left, so
    TransientSupplierError;
  - read timeout, dropped connection, or a 2xx body that is not JSON: for requests that
    change something (`changes_state=True`) the change may have happened, so
    OutcomeUnknown; for reads TransientSupplierError;
  - 429 and 5xx: TransientSupplierError with Retry-After (seconds or HTTP date) when given;
  - 404: SupplierOrderNotFound; any other 4xx: RestRejected (a PermanentSupplierError that
    keeps the status and the supplier's message, so the adapter can read 409s by context).
Logs carry the endpoint name, status and duration only: never credentials, bodies or addresses.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping
from urllib.parse import quote

import httpx

from ... import egress
from .. import http, runtime
from ..base import PermanentSupplierError
from .config import Endpoint, RestSettings, check_credentials
from .paths import get_path

log = logging.getLogger(__name__)

MAX_MESSAGE = 200
COMMON_MESSAGE_PATHS = ("error.message", "message", "error", "detail", "title", "errors.0.message")


class RestRejected(PermanentSupplierError):
    """The supplier answered 4xx (not 404, not 429): the request as sent will never succeed."""

    def __init__(self, message: str, status: int, detail: str):
        super().__init__(message)
        self.status = status
        self.detail = detail


def error_detail(response: httpx.Response, message_path: str | None) -> str:
    """The supplier's human message from an error body, shortened ('' when there is none)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    for path in ((message_path,) if message_path else ()) + COMMON_MESSAGE_PATHS:
        value = get_path(body, path)
        if isinstance(value, str) and value:
            return value[:MAX_MESSAGE]
    return ""


def render_path(endpoint: Endpoint, values: Mapping[str, str]) -> str:
    """The endpoint's path with each placeholder URL-encoded as one segment ("/" included)."""
    return endpoint.path.format_map({name: quote(str(value), safe="") for name, value in values.items()})


def render_query(endpoint: Endpoint, values: Mapping[str, str]) -> dict[str, str]:
    """The endpoint's query parameters (httpx encodes them)."""
    return {name: template.format_map(values) for name, template in endpoint.query.items()}


class RestClient:
    """A thin httpx client: base URL, auth header from credentials, JSON in and out."""

    def __init__(self, settings: RestSettings, credentials: Mapping[str, Any], *, transport: httpx.BaseTransport | None = None, policy: egress.EgressPolicy | None = None):
        """Every request goes through the egress policy (the process-wide one unless `policy`); `transport` is for tests."""
        check_credentials(settings, credentials)
        headers = {"Accept": "application/json", "User-Agent": "dropship-app/rest-adapter", **settings.headers}
        if settings.auth is not None:
            headers[settings.auth.header] = settings.auth.template.format_map({k: str(v) for k, v in credentials.items()})
        # The tenant's timeout, never above the operator's cap; it also bounds the whole request.
        total = runtime.current().clamp_timeout(settings.timeout_seconds)
        timeout = httpx.Timeout(total, connect=min(settings.connect_timeout_seconds, total))
        self._message_path = settings.response_path("error_message")
        policy = policy or egress.current()
        self._http = policy.client(base_url=settings.base_url, headers=headers, timeout=timeout, transport=transport, total_seconds=total)

    def close(self) -> None:
        """Release connections."""
        self._http.close()

    def call(self, endpoint: Endpoint, values: Mapping[str, str] | None = None, *, json: Any = None, changes_state: bool = False) -> Any:
        """Send one request to `endpoint`; the decoded JSON body (None when empty), or an adapter error."""
        values = values or {}
        what = endpoint.name
        response = http.send(self._http, "the supplier", what, changes_state, endpoint.method, render_path(endpoint, values), params=render_query(endpoint, values) or None, json=json)
        return http.decode(response, "the supplier", what, changes_state, RestRejected, lambda r: error_detail(r, self._message_path))
