"""OAuth for the Printful sandbox: access tokens that expire, and the refresh-token grant at /oauth/token.

The spec documents only the flow's URLs (authorization code; token and refresh URL
https://www.printful.com/oauth/token); the sandbox answers the refresh grant as RFC 6749
section 6 describes: form fields in, `{access_token, token_type, expires_in, refresh_token}`
out, `invalid_grant` (400) for an unknown or used refresh token. Each refresh rotates the
refresh token. The clock is injectable, so a test can let a token expire.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class OAuthConnection:
    """One merchant's authorization of one OAuth app."""

    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    expires_at: float
    lifetime: float
    refreshes: int = 0


@dataclass
class SandboxOAuth:
    """Issued connections, by access and refresh token."""

    clock: Callable[[], float] = time.time
    _connections: list[OAuthConnection] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def issue(self, client_id: str = "sandbox-app", client_secret: str = "sandbox-app-secret", lifetime: float = 3600.0) -> OAuthConnection:
        """A connection as the authorization-code flow would leave it (tokens for the app)."""
        connection = OAuthConnection(client_id, client_secret, "pfo_" + secrets.token_hex(12), "pfr_" + secrets.token_hex(12),
                                     self.clock() + lifetime, lifetime)
        with self._lock:
            self._connections.append(connection)
        return connection

    def valid(self, access_token: str) -> bool:
        """Whether this access token is live."""
        with self._lock:
            return any(c.access_token == access_token and c.expires_at > self.clock() for c in self._connections)

    def connection_of(self, access_token: str) -> str | None:
        """A stable key for the connection an access token belongs to (its rate-limit bucket survives refreshes)."""
        with self._lock:
            return next((f"oauth:{c.client_id}:{id(c)}" for c in self._connections if c.access_token == access_token), None)

    def refresh(self, grant_type: Any, refresh_token: Any, client_id: Any, client_secret: Any) -> dict[str, Any] | None:
        """New tokens for a valid refresh grant (the old refresh token is spent), else None."""
        with self._lock:
            connection = next((c for c in self._connections if c.refresh_token == refresh_token), None)
            if grant_type != "refresh_token" or connection is None or (client_id, client_secret) != (connection.client_id, connection.client_secret):
                return None
            connection.access_token = "pfo_" + secrets.token_hex(12)
            connection.refresh_token = "pfr_" + secrets.token_hex(12)
            connection.expires_at = self.clock() + connection.lifetime
            connection.refreshes += 1
            return {"access_token": connection.access_token, "token_type": "bearer", "expires_in": int(connection.lifetime),
                    "refresh_token": connection.refresh_token}

    def clear(self) -> None:
        """No connections."""
        with self._lock:
            self._connections.clear()
