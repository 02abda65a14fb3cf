"""HTTP to Printful's API v2, with every failure sorted into the adapter error classes.

  - connection refused / connect timeout / pool timeout: the request never left, so
    TransientSupplierError;
  - read timeout, dropped connection, or a 2xx body that is not JSON: for requests that
    change something (`changes_state=True`) the change may have happened, so
    OutcomeUnknown; for reads TransientSupplierError;
  - 429 and 5xx: TransientSupplierError with Retry-After (seconds) when given;
  - 404: SupplierOrderNotFound; any other 4xx: PrintfulRejected (a PermanentSupplierError
    carrying the status, so the adapter can treat 409s by context).
Logs carry method, path, status and duration only: never the token, bodies or addresses.
"""
from __future__ import annotations

import email.utils
import logging
import time
from typing import Any, Mapping

import httpx

from ..base import OutcomeUnknown, PermanentSupplierError, SupplierOrderNotFound, TransientSupplierError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.printful.com"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_MESSAGE = 200


class PrintfulRejected(PermanentSupplierError):
    """Printful answered 4xx (not 404, not 429): the request as sent will never succeed."""

    def __init__(self, message: str, status: int, detail: str):
        super().__init__(message)
        self.status = status
        self.detail = detail


def error_detail(response: httpx.Response) -> str:
    """The human message from any of Printful's error shapes, shortened."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    candidates = [
        error.get("message") if isinstance(error, dict) else None,
        body.get("result") if isinstance(body.get("result"), str) else None,
        body.get("detail"), body.get("details"), body.get("title"),
    ]
    message = next((c for c in candidates if isinstance(c, str) and c), "")
    return message[:MAX_MESSAGE]


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds (delta or HTTP date); for 429s Printful's X-Ratelimit-Reset as a fallback."""
    value = response.headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    if response.status_code == 429:
        try:
            return max(0.0, float(response.headers["X-Ratelimit-Reset"]))
        except (KeyError, ValueError):
            return None
    return None


class PrintfulClient:
    """A thin httpx client: Bearer token, optional X-PF-Store-Id, JSON in and out."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        store_id: str | int | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ):
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "dropship-app/printful-adapter"}
        if store_id is not None:
            headers["X-PF-Store-Id"] = str(store_id)
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        """Release connections."""
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        changes_state: bool = False,
    ) -> Any:
        """Send one request; the decoded JSON body (None when empty), or an adapter error."""
        what = f"{method} {path}"
        started = time.monotonic()
        try:
            response = self._http.request(method, path, json=json, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientSupplierError(f"Printful unreachable for {what}: {type(exc).__name__}") from None
        except httpx.TransportError as exc:  # read/write timeout, dropped connection, protocol error
            log.warning("printful %s: no answer (%s)", what, type(exc).__name__)
            if changes_state:
                raise OutcomeUnknown(f"no answer from Printful to {what} ({type(exc).__name__}); it may have been applied") from None
            raise TransientSupplierError(f"no answer from Printful to {what} ({type(exc).__name__})") from None
        elapsed_ms = (time.monotonic() - started) * 1000
        log.info("printful %s -> %s in %.0f ms", what, response.status_code, elapsed_ms)
        return self._decode(what, response, changes_state)

    @staticmethod
    def _decode(what: str, response: httpx.Response, changes_state: bool) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            if not response.content.strip():
                return None
            try:
                return response.json()
            except ValueError:
                raise unreadable(what, changes_state) from None
        if status == 429 or status >= 500:
            raise TransientSupplierError(f"Printful answered {status} to {what}", retry_after=retry_after_seconds(response))
        detail = error_detail(response)
        if status == 404:
            raise SupplierOrderNotFound(f"Printful: not found ({what})")
        raise PrintfulRejected(f"Printful refused {what} ({status}): {detail or 'no reason given'}", status, detail)


def unreadable(what: str, changes_state: bool) -> TransientSupplierError:
    """The error for a 2xx whose body is not what the API sends."""
    if changes_state:
        return OutcomeUnknown(f"Printful's answer to {what} was unreadable; it may have been applied")
    return TransientSupplierError(f"Printful's answer to {what} was unreadable")
