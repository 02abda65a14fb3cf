"""HTTP to a configured REST supplier, with every failure sorted into the adapter error classes.

The same sorting as the Printful client, because the reasoning is the same:
  - connection refused / connect timeout / pool timeout: the request never left, so
    TransientSupplierError;
  - read timeout, dropped connection, or a 2xx body that is not JSON: for requests that
    change something (`changes_state=True`) the change may have happened, so
    OutcomeUnknown; for reads TransientSupplierError;
  - 429 and 5xx: TransientSupplierError with Retry-After (seconds or HTTP date) when given;
  - 401: CredentialsRejected (the app refreshes an expiring token once);
  - 404: SupplierOrderNotFound; any other 4xx: RestRejected (a PermanentSupplierError that
    keeps the status and the supplier's message, so the adapter can read 409s by context);
  - a 2xx whose envelope (settings.envelope) says it failed: sorted by the supplier's code
    into the same classes (an HTTP 200 with `result: false` is never "outcome unknown": the
    supplier answered, and said no). The supplier's message is kept, shortened, in the error.
Every call waits its turn under settings.rate_limit (pacing.py).
Logs carry the endpoint name, status and duration only: never credentials, bodies or addresses.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Mapping
from urllib.parse import quote

import httpx

from ... import egress
from .. import http, runtime
from ..base import CredentialsRejected, PermanentSupplierError, SupplierOrderNotFound, TransientSupplierError
from .config import Endpoint, EnvelopeSettings, RestSettings, TokenSettings, check_credentials
from .pacing import pacer_for
from .paths import get_path

log = logging.getLogger(__name__)

MAX_MESSAGE = 200
READ_RETRIES = 2  # a read refused for the moment is asked again this many times
MAX_READ_WAIT = 5.0  # seconds, whatever Retry-After says (longer waits belong to the caller's backoff)
COMMON_MESSAGE_PATHS = ("error.message", "message", "error", "detail", "title", "errors.0.message")


class RestRejected(PermanentSupplierError):
    """The supplier answered 4xx (not 404, not 429): the request as sent will never succeed."""

    def __init__(self, message: str, status: int, detail: str, kind: str | None = None):
        super().__init__(message)
        self.status = status
        self.detail = detail
        self.kind = kind  # the envelope's kind (duplicate, too_late, permanent) when the refusal came inside a 2xx


class RefusedForNow(TransientSupplierError):
    """The envelope says "not now" (a rate limit, a busy supplier): the request was not applied."""


def check_envelope(payload: Any, envelope: EnvelopeSettings, what: str, status: int = 200) -> None:
    """Raise the adapter error a 2xx body's envelope reports; nothing when it says the call worked."""
    if not isinstance(payload, Mapping):
        raise TransientSupplierError(f"the supplier's answer to {what} has no envelope")
    code = get_path(payload, envelope.code) if envelope.code else None
    flag_ok = get_path(payload, envelope.success) is True if envelope.success else True
    code_ok = str(code) in envelope.ok_codes if envelope.code and envelope.ok_codes else True
    if flag_ok and code_ok:
        return
    message = get_path(payload, envelope.message) if envelope.message else None
    detail = " ".join(message.split())[:MAX_MESSAGE] if isinstance(message, str) else ""
    said = f" (code {code}: {detail})" if code is not None else (f" ({detail})" if detail else "")
    kind = envelope.codes.get(str(code), envelope.otherwise) if code is not None else envelope.otherwise
    if kind == "not_found":
        raise SupplierOrderNotFound(f"the supplier: not found ({what}){said}")
    if kind == "credentials":
        raise CredentialsRejected(f"the supplier refused our credentials for {what}{said}", detail=detail)
    if kind == "transient":
        raise RefusedForNow(f"the supplier could not do {what} now{said}")
    raise RestRejected(f"the supplier refused {what}{said}", status, detail, kind)


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
    if isinstance(body, dict):  # validation style, {"field": ["message", ...]} (ShipBob, ASP.NET)
        for value in body.values():
            first = value[0] if isinstance(value, list) and value else value
            if isinstance(first, str) and first:
                return first[:MAX_MESSAGE]
    return ""


def render_path(endpoint: Endpoint, values: Mapping[str, str]) -> str:
    """The endpoint's path with each placeholder URL-encoded as one segment ("/" included)."""
    return endpoint.path.format_map({name: quote(str(value), safe="") for name, value in values.items()})


def render_query(endpoint: Endpoint, values: Mapping[str, str]) -> dict[str, str]:
    """The endpoint's query parameters (httpx encodes them)."""
    return {name: template.format_map(values) for name, template in endpoint.query.items()}


class RestClient:
    """A thin httpx client: base URL, auth header from credentials, JSON in and out, envelope checked, paced."""

    def __init__(self, settings: RestSettings, credentials: Mapping[str, Any], *, transport: httpx.BaseTransport | None = None, policy: egress.EgressPolicy | None = None):
        """Every request goes through the egress policy (the process-wide one unless `policy`); `transport` is for tests."""
        check_credentials(settings, credentials)
        self._settings = settings
        headers = {"Accept": "application/json", "User-Agent": "dropship-app/rest-adapter", **settings.headers}
        # Sent per request, so token calls go without it; absent until a token endpoint fills it.
        self._auth: dict[str, str] = {}
        if settings.auth is not None:
            values = {k: str(v) for k, v in credentials.items() if v is not None}
            if settings.auth.credential_names() <= set(values):
                self._auth[settings.auth.header] = settings.auth.template.format_map(values)
        # The tenant's timeout, never above the operator's cap; it also bounds the whole request.
        total = runtime.current().clamp_timeout(settings.timeout_seconds)
        timeout = httpx.Timeout(total, connect=min(settings.connect_timeout_seconds, total))
        self._message_path = settings.response_path("error_message")
        self._pacer = pacer_for(settings.base_url, credentials, settings.requests_per_second) if settings.requests_per_second else None
        policy = policy or egress.current()
        self._http = policy.client(base_url=settings.base_url, headers=headers, timeout=timeout, transport=transport, total_seconds=total)

    def close(self) -> None:
        """Release connections."""
        self._http.close()

    def call(self, endpoint: Endpoint, values: Mapping[str, str] | None = None, *, json: Any = None, changes_state: bool = False) -> Any:
        """Send one request to `endpoint`; the decoded JSON body (None when empty), or an adapter error."""
        values = values or {}
        return self._send(endpoint, render_path(endpoint, values), render_query(endpoint, values) or None, changes_state, headers=self._auth, json=json)

    def request_token(self, token: TokenSettings, credentials: Mapping[str, Any], *, refresh: bool) -> Any:
        """Call the token (or refresh) endpoint with credentials filled into its body; the decoded answer."""
        endpoint = token.refresh_endpoint if refresh and token.refresh_endpoint is not None else token.endpoint
        templates = token.refresh_body if endpoint is token.refresh_endpoint else token.body
        filled = {name: template.format_map({k: str(v) for k, v in credentials.items() if v is not None}) for name, template in templates.items()}
        body = {"data": filled} if token.form else {"json": filled}
        return self._send(endpoint, endpoint.path, None, False, headers={}, **body)

    def _send(self, endpoint: Endpoint, path: str, params: Any, changes_state: bool, **kwargs: Any) -> Any:
        what = endpoint.name
        for attempt in range(1 + (0 if changes_state else READ_RETRIES)):
            if self._pacer is not None:
                self._pacer.wait()
            response = http.send(self._http, "the supplier", what, changes_state, endpoint.method, path, params=params, **kwargs)
            try:
                payload = http.decode(response, "the supplier", what, changes_state, RestRejected, lambda r: error_detail(r, self._message_path))
                if self._settings.envelope is not None and payload is not None:
                    check_envelope(payload, self._settings.envelope, what, response.status_code)
                return payload
            except TransientSupplierError as exc:
                # A read refused for the moment (429, or the envelope's "try later") is asked again after a short
                # wait, so one refusal does not fail a whole stock pull; a change is left to the caller's backoff.
                refused_for_now = response.status_code == 429 or isinstance(exc, RefusedForNow)
                if changes_state or attempt == READ_RETRIES or not refused_for_now:
                    raise
                time.sleep(min(exc.retry_after or self._retry_wait(), MAX_READ_WAIT))
        raise AssertionError("unreachable")

    def _retry_wait(self) -> float:
        return self._pacer.interval * 2 if self._pacer is not None else 1.0
