"""HTTP to Printful's API v2; failures are sorted into the adapter errors by ../http.py.

Every request first takes a drop from the token's process-wide leaky bucket (pacing.py), so
calls wait rather than meet a 429. A 429 that still arrives (another process shares the
token) is waited out and retried inside the call for reads, a bounded number of times; for
requests that change something it is a TransientSupplierError with retry_after, and the
forwarding schedules the retry (a 429 is never processed, so that is always safe).
With OAuth credentials (oauth.py) an expiring access token is refreshed before the call,
and once after a 401.

Logs carry method, path, status and duration only: never the token, bodies or addresses.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import httpx

from ... import egress
from .. import http, runtime
from ..base import PermanentSupplierError
from .oauth import OAuthTokens
from .pacing import LeakyBucket, bucket_for

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.printful.com"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_MESSAGE = 200
READ_429_RETRIES = 4  # a read meeting 429 is waited out and retried at most this often
MAX_429_WAIT_SECONDS = 75.0  # longer than Printful's documented 60 s lockout; a longer Retry-After is the caller's


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
        bucket: LeakyBucket | None = None,
        oauth: OAuthTokens | None = None,
    ):
        """Requests go through the egress policy (the process-wide one unless `policy`); `transport` is for tests.

        `bucket` defaults to the process-wide one of this token; `oauth` refreshes the token when it expires.
        """
        headers = {"Accept": "application/json", "User-Agent": "dropship-app/printful-adapter"}
        if store_id is not None:
            headers["X-PF-Store-Id"] = str(store_id)
        timeout = _capped(timeout)
        policy = policy or egress.current()
        self._token = token
        self._oauth = self.oauth = oauth
        self.bucket = bucket or bucket_for(oauth.identity if oauth else token, base_url.rstrip("/"))
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
        refreshed = False
        for attempt in range(READ_429_RETRIES + 1):
            self.bucket.acquire()
            try:
                response = http.send(self._http, "Printful", what, changes_state, method, path, json=json, params=params,
                                     headers={"Authorization": f"Bearer {self._access_token()}"})
            except BaseException:
                self.bucket.release()
                raise
            self.bucket.observe(response.headers, response.status_code)
            if response.status_code == 401 and self._oauth is not None and not refreshed:
                self._oauth.refresh()  # revoked or expired early: one fresh token, then the answer stands
                refreshed = True
                continue
            if response.status_code != 429 or changes_state or attempt == READ_429_RETRIES:
                break
            wait = retry_after_seconds(response)
            if wait is not None and wait > MAX_429_WAIT_SECONDS:
                break  # a lockout longer than we hold a caller: the caller's scheduler retries
            log.info("Printful %s: 429, waiting for the bucket (retry %d)", what, attempt + 1)
        return http.decode(response, "Printful", what, changes_state, PrintfulRejected, error_detail, retry_after_seconds)

    def _access_token(self) -> str:
        return self._oauth.access_token() if self._oauth is not None else self._token
