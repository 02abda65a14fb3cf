"""HTTP to Printful's API v2; failures are sorted into the adapter errors by ../http.py.

Logs carry method, path, status and duration only: never the token, bodies or addresses.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import httpx

from ... import egress
from .. import http, runtime
from ..base import PermanentSupplierError

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
    """Retry-After (seconds or HTTP date); for 429s Printful's X-Ratelimit-Reset as a fallback."""
    seconds = http.retry_after_seconds(response)
    if seconds is None and response.status_code == 429:
        try:
            return max(0.0, float(response.headers["X-Ratelimit-Reset"]))
        except (KeyError, ValueError):
            return None
    return seconds


def _capped(timeout: float | httpx.Timeout) -> httpx.Timeout:
    """Every part of the timeout at most the operator's cap on supplier calls."""
    timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(float(timeout), connect=min(5.0, float(timeout)))
    clamp = runtime.current().clamp_timeout
    parts = {name: clamp(value) if value is not None else runtime.current().timeout_max_seconds for name, value in timeout.as_dict().items()}
    return httpx.Timeout(**parts)


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
        policy: egress.EgressPolicy | None = None,
    ):
        """Requests go through the egress policy (the process-wide one unless `policy`); `transport` is for tests."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "dropship-app/printful-adapter"}
        if store_id is not None:
            headers["X-PF-Store-Id"] = str(store_id)
        timeout = _capped(timeout)
        policy = policy or egress.current()
        self._http = policy.client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport, total_seconds=timeout.read)

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
        response = http.send(self._http, "Printful", what, changes_state, method, path, json=json, params=params)
        return http.decode(response, "Printful", what, changes_state, PrintfulRejected, error_detail, retry_after_seconds)
