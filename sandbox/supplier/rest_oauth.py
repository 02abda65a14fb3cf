"""OAuth 2.0 for the REST sandbox: a token endpoint (RFC 6749) issuing short-lived bearer tokens.

POST /oauth/token, form-encoded:
  grant_type=client_credentials&client_id=..&client_secret=..   (section 4.4)
  grant_type=refresh_token&refresh_token=..&client_id=..&client_secret=..   (section 6)
answers {"access_token", "token_type": "Bearer", "expires_in", "refresh_token"} (section 5.1; a
refresh token only when `issue_refresh_tokens`) or 400/401 {"error": "invalid_client" |
"invalid_grant" | "unsupported_grant_type" | "invalid_request"} (section 5.2). A used refresh
token is spent (rotation). `expire_all()` ends every access token, as time would.
"""
from __future__ import annotations

import secrets
import threading
import time
from typing import Any, Mapping


class OAuthServer:
    """Clients, tokens and the grants that mint them."""

    def __init__(self, client_id: str = "sandbox-client", client_secret: str = "sandbox-client-secret", *, lifetime: int = 3600, issue_refresh_tokens: bool = True):
        self.client_id, self.client_secret, self.lifetime, self.issue_refresh_tokens = client_id, client_secret, lifetime, issue_refresh_tokens
        self._access: dict[str, float] = {}
        self._refresh: set[str] = set()
        self._lock = threading.Lock()
        self.grants: list[str] = []  # grant types served, in order

    def reset(self) -> None:
        """No tokens."""
        with self._lock:
            self._access.clear()
            self._refresh.clear()
            self.grants.clear()

    def accepts(self, authorization: str) -> bool:
        """Whether `Authorization: Bearer <token>` carries a live token."""
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            return scheme.lower() == "bearer" and self._access.get(token.strip(), 0.0) > time.time()

    def expire_all(self) -> None:
        """Every access token expires now."""
        with self._lock:
            self._access = {token: 0.0 for token in self._access}

    def token(self, form: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """The token endpoint's (status, body)."""
        grant = form.get("grant_type")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client"}
        with self._lock:
            if grant == "refresh_token":
                if form.get("refresh_token") not in self._refresh:
                    return 400, {"error": "invalid_grant"}
                self._refresh.discard(form["refresh_token"])
            elif grant != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}
            self.grants.append(grant)
            access = secrets.token_urlsafe(24)
            self._access[access] = time.time() + self.lifetime
            body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": self.lifetime}
            if self.issue_refresh_tokens:
                refresh = secrets.token_urlsafe(24)
                self._refresh.add(refresh)
                body["refresh_token"] = refresh
            return 200, body
