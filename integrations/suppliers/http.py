"""Sorting HTTP outcomes into the adapter error classes, shared by every HTTP supplier client.

  - connection refused / connect timeout / pool timeout: the request never left, so
    TransientSupplierError;
  - read timeout, dropped connection, or a 2xx body that is not JSON: for requests that
    change something (`changes_state=True`) the change may have happened, so
    OutcomeUnknown; for reads TransientSupplierError;
  - 429 and 5xx: TransientSupplierError with Retry-After (seconds) when given;
  - 404: SupplierOrderNotFound; other 4xx: the client's own PermanentSupplierError;
  - a target the egress policy refuses: PermanentSupplierError (a configuration error no
    retry will fix).
Messages say what happened (status, "could not connect", "timed out"), never the remote
body: they are shown to merchants, and the target may be a service that is not the supplier's.
"""
from __future__ import annotations

import email.utils
import logging
import time
from typing import Any, Callable

import httpx

from ..egress import EgressRefused, ResponseTooLarge
from .base import CredentialsRejected, OutcomeUnknown, PermanentSupplierError, SupplierOrderNotFound, TransientSupplierError

log = logging.getLogger(__name__)


RATE_LIMIT_RESET_HEADERS = ("RateLimit-Reset", "X-RateLimit-Reset")  # IETF draft; the common X- form (Printful's too)
EPOCH_SECONDS = 10**9  # a reset value this large is a Unix time, not a delta


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds, from a delta or an HTTP date; on a 429 without it, the rate limit's reset."""
    value = response.headers.get("Retry-After")
    if not value:
        return rate_limit_reset_seconds(response) if response.status_code == 429 else None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


def rate_limit_reset_seconds(response: httpx.Response) -> float | None:
    """Seconds until the rate limit resets, from RateLimit-Reset / X-RateLimit-Reset (a delta or a Unix time)."""
    for name in RATE_LIMIT_RESET_HEADERS:
        value = response.headers.get(name)
        if not value:
            continue
        try:
            seconds = float(value.split(",")[0].strip())
        except ValueError:
            continue
        if seconds >= EPOCH_SECONDS:
            seconds -= time.time()
        return max(0.0, seconds)
    return None


def unreadable(who: str, what: str, changes_state: bool) -> TransientSupplierError:
    """The error for a 2xx whose body is not what the API sends."""
    if changes_state:
        return OutcomeUnknown(f"{who}'s answer to {what} was unreadable; it may have been applied")
    return TransientSupplierError(f"{who}'s answer to {what} was unreadable")


def send(http: httpx.Client, who: str, what: str, changes_state: bool, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; transport failures raised as Transient or OutcomeUnknown (never logged with bodies)."""
    started = time.monotonic()
    try:
        response = http.request(method, url, **kwargs)
    except EgressRefused as exc:
        raise PermanentSupplierError(f"{who}'s address is refused by egress policy ({exc.reason}); fix the supplier's base_url") from None
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise TransientSupplierError(f"{who} unreachable for {what}: could not connect") from None
    except ResponseTooLarge:
        if changes_state:
            raise OutcomeUnknown(f"{who}'s answer to {what} was too large; it may have been applied") from None
        raise TransientSupplierError(f"{who}'s answer to {what} was too large") from None
    except httpx.TransportError as exc:  # read/write timeout, dropped connection, protocol error
        log.warning("%s %s: no answer (%s)", who, what, type(exc).__name__)
        if changes_state:
            raise OutcomeUnknown(f"no answer from {who} to {what} ({type(exc).__name__}); it may have been applied") from None
        raise TransientSupplierError(f"no answer from {who} to {what} ({type(exc).__name__})") from None
    # A success at DEBUG: two lines an order at INFO (formatted and written by the busy process,
    # about 0.5 ms of CPU an order with the gateway's, issue 19 session 30 part C); the
    # supplier-call metrics count and time every call. Any other answer stays at INFO.
    log.log(logging.DEBUG if response.is_success else logging.INFO, "%s %s -> %s in %.0f ms", who, what, response.status_code,
            (time.monotonic() - started) * 1000)
    return response


def decode(
    response: httpx.Response,
    who: str,
    what: str,
    changes_state: bool,
    rejected: Callable[[str, int, str], PermanentSupplierError],
    detail: Callable[[httpx.Response], str],
    retry_after: Callable[[httpx.Response], float | None] = retry_after_seconds,
) -> Any:
    """The JSON body of a 2xx (None if empty), or the sorted error."""
    status = response.status_code
    if 200 <= status < 300:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise unreadable(who, what, changes_state) from None
    if status == 429 or status >= 500:
        raise TransientSupplierError(f"{who} answered {status} to {what}", retry_after=retry_after(response))
    if status == 401:
        # Refreshable: the app refreshes an expiring token once and repeats the call (shopify_app/suppliers/credentials.py).
        raise CredentialsRejected(f"{who} refused our credentials for {what} (HTTP 401)", detail=detail(response))
    if status == 404:
        raise SupplierOrderNotFound(f"{who}: not found ({what})")
    if 300 <= status < 400:
        # A redirect we did not follow means the base URL is wrong: no retry will fix that.
        raise rejected(f"{who} redirected {what} ({status}); check base_url", status, "")
    # The supplier's own words stay on the exception (`detail`, for duplicate detection), out of its message.
    raise rejected(f"{who} refused {what} (HTTP {status})", status, detail(response))
