"""The errors a mutation reports in its payload's `userErrors`, raised by the store's operations.

Store methods raise `ShopifyUserError` when Shopify would refuse the request; resolvers
catch it and answer the payload with the error (and null objects), so a test calling
the store directly gets an exception while a GraphQL client gets Shopify's shape.
"""
from __future__ import annotations

from typing import Any


class ShopifyUserError(Exception):
    """A refusal as Shopify words it: the input field at fault, a message, maybe a code."""

    def __init__(self, field: list[str] | None, message: str, code: str | None = None):
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code

    def as_user_error(self, typename: str = "UserError") -> dict[str, Any]:
        """The error as a UserError-like object (typed ones carry `code`)."""
        error: dict[str, Any] = {"__typename": typename, "field": self.field, "message": self.message}
        if typename != "UserError":
            error["code"] = self.code
        return error
