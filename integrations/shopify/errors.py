"""Typed failures of the Shopify Admin GraphQL gateway.

Messages carry the operation name, codes, field paths and Shopify's own short error
messages. They never carry the access token, the request variables or response data,
because these exceptions end up in logs, dead-letter rows and the admin UI.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

# Shopify's messages are short; anything longer is most likely echoing input back.
_MAX_MESSAGE_CHARS = 200


def _short(text: Any) -> str:
    text = str(text)
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 1] + "…"


class ShopifyError(Exception):
    """Base class of every failure raised by the Shopify gateway."""

    def __init__(self, message: str, *, operation: str | None = None):
        self.operation = operation
        super().__init__(f"{operation}: {message}" if operation else message)


class ShopifyUserError(ShopifyError):
    """A mutation answered with a non-empty `userErrors` list (a business rule said no)."""

    def __init__(self, user_errors: Sequence[Mapping[str, Any]], operation: str | None = None):
        self.user_errors: list[dict[str, Any]] = [dict(e) for e in user_errors]
        self.codes: list[str | None] = [e.get("code") for e in self.user_errors]
        summary = "; ".join(
            f"{e.get('code') or 'ERROR'} at {'.'.join(map(str, e.get('field') or [])) or '-'}: "
            f"{_short(e.get('message', ''))}"
            for e in self.user_errors
        )
        super().__init__(f"userErrors: {summary}", operation=operation)


class ShopifyGraphQLError(ShopifyError):
    """Top-level GraphQL `errors` that retrying cannot fix (validation, access denied, ...)."""

    def __init__(self, errors: Sequence[Mapping[str, Any]], operation: str | None = None):
        # Keep only message, code and path: `extensions.value` and friends can echo
        # variables (customer emails, addresses) back to us.
        self.errors: list[dict[str, Any]] = [
            {
                "message": _short(e.get("message", "")),
                "code": (e.get("extensions") or {}).get("code"),
                "path": list(e.get("path") or []),
            }
            for e in errors
        ]
        self.codes: list[str | None] = [e["code"] for e in self.errors]
        summary = "; ".join(f"{e['code'] or 'ERROR'}: {e['message']}" for e in self.errors)
        super().__init__(f"GraphQL errors: {summary}", operation=operation)


class ShopifyThrottledError(ShopifyError):
    """Still throttled (THROTTLED or HTTP 429) after every allowed attempt."""


class ShopifyUnauthorizedError(ShopifyError):
    """HTTP 401 even with a freshly obtained token: the token is invalid, expired or revoked."""


class ShopifyTransientError(ShopifyError):
    """5xx or network failure that outlasted every retry.

    `outcome_unknown` is True when a mutation may have been applied before the failure
    (the caller must check Shopify before sending it again).
    """

    def __init__(self, message: str, *, operation: str | None = None, status: int | None = None,
                 outcome_unknown: bool = False):
        self.status = status
        self.outcome_unknown = outcome_unknown
        super().__init__(message, operation=operation)


class ShopifyHTTPError(ShopifyError):
    """A non-retryable HTTP status other than 401 (400 bad request, 403, 404, ...)."""

    def __init__(self, status: int, *, operation: str | None = None):
        self.status = status
        super().__init__(f"HTTP {status}", operation=operation)
