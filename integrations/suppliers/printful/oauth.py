"""OAuth tokens for merchants who connect Printful through an OAuth app, refreshed before they expire.

The spec's `OAuth` security scheme documents the authorization-code flow with token and
refresh URL `https://www.printful.com/oauth/token`; it does not document the token
request or answer. We send the standard refresh-token grant (RFC 6749 section 6: form
fields grant_type=refresh_token, refresh_token, client_id, client_secret) and read the
standard answer (`access_token`, `refresh_token`, `expires_in`), also accepting the
`expires_at` (Unix time) that Printful's OAuth guide shows. The new tokens go to
`on_refresh` so the caller stores them (encrypted) in the supplier's credentials.
"""
from __future__ import annotations

import hashlib
import threading
import time
from typing import Any, Callable, Mapping

import httpx

from ... import egress
from ..base import PermanentSupplierError, TransientSupplierError

TOKEN_URL = "https://www.printful.com/oauth/token"
REFRESH_AHEAD_SECONDS = 300.0  # refresh this long before expiry, so no call carries a dying token


class OAuthTokens:
    """Access + refresh token of one connection; thread-safe; refreshes at most once at a time."""

    def __init__(
        self,
        credentials: Mapping[str, Any],
        *,
        token_url: str = TOKEN_URL,
        on_refresh: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        policy: egress.EgressPolicy | None = None,
    ):
        """`credentials`: access_token, refresh_token, client_id, client_secret, expires_at (Unix seconds)."""
        self._credentials = dict(credentials)
        self._token_url = token_url
        self._on_refresh = on_refresh
        self._clock = clock
        self._transport = transport
        self._policy = policy
        self._lock = threading.Lock()
        # The bucket belongs to the connection, not to one access token (it survives refreshes).
        self.identity = "oauth:" + hashlib.sha256(f"{credentials.get('client_id')}\0{credentials.get('refresh_token')}".encode()).hexdigest()

    @property
    def credentials(self) -> dict[str, Any]:
        """The current credentials (after any refresh)."""
        with self._lock:
            return dict(self._credentials)

    def expires_at(self) -> float | None:
        """When the access token expires (Unix seconds), if known."""
        value = self._credentials.get("expires_at")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def access_token(self) -> str:
        """A token good for the next call: refreshed first when it expires within REFRESH_AHEAD_SECONDS."""
        expires_at = self.expires_at()
        if expires_at is not None and expires_at - self._clock() < REFRESH_AHEAD_SECONDS:
            self.refresh(only_if_expiring=True)
        return str(self._credentials["access_token"])

    def refresh(self, *, only_if_expiring: bool = False) -> dict[str, Any]:
        """Trade the refresh token for new tokens; returns the new credentials (also given to on_refresh)."""
        with self._lock:
            expires_at = self.expires_at()
            if only_if_expiring and expires_at is not None and expires_at - self._clock() >= REFRESH_AHEAD_SECONDS:
                return dict(self._credentials)  # another thread refreshed while we waited for the lock
            answer = self._post({
                "grant_type": "refresh_token", "refresh_token": self._credentials["refresh_token"],
                "client_id": self._credentials["client_id"], "client_secret": self._credentials["client_secret"],
            })
            updated = dict(self._credentials)
            updated["access_token"] = answer["access_token"]
            updated["refresh_token"] = answer.get("refresh_token") or updated["refresh_token"]
            if isinstance(answer.get("expires_at"), (int, float)):
                updated["expires_at"] = float(answer["expires_at"])
            elif isinstance(answer.get("expires_in"), (int, float)):
                updated["expires_at"] = self._clock() + float(answer["expires_in"])
            self._credentials = updated
        if self._on_refresh is not None:
            self._on_refresh(dict(updated))
        return dict(updated)

    def _post(self, form: dict[str, str]) -> dict[str, Any]:
        policy = self._policy or egress.current()
        try:
            with policy.client(timeout=httpx.Timeout(15.0, connect=5.0), transport=self._transport, total_seconds=15.0) as client:
                response = client.post(self._token_url, data=form, headers={"Accept": "application/json"})
        except egress.EgressRefused as exc:
            raise PermanentSupplierError(f"Printful's token URL is refused by egress policy ({exc.reason})") from None
        except httpx.HTTPError as exc:
            raise TransientSupplierError(f"Printful token refresh failed ({type(exc).__name__})") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientSupplierError(f"Printful token refresh answered {response.status_code}")
        if response.status_code != 200:
            raise PermanentSupplierError(
                f"Printful refused to refresh the OAuth token (HTTP {response.status_code}); reconnect Printful in the supplier settings")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            raise TransientSupplierError("Printful's token refresh answer was unreadable")
        return answer
