"""Per-request log context: a request id (echoed as X-Request-Id), and the shop and topic of webhook deliveries."""
from __future__ import annotations

import re
import uuid

from flask import Flask, g, request

from .logs import bind, unbind

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
SHOP = re.compile(r"[a-z0-9][a-z0-9-]{0,60}\.myshopify\.com")
TOPIC = re.compile(r"[a-z_]{1,40}/[a-z_]{1,40}")


def well_formed(value: str | None, pattern: re.Pattern) -> str | None:
    """The value when the pattern matches it whole, else None."""
    # Only well-formed values reach the log context: a header is whatever the caller typed.
    return value if value and pattern.fullmatch(value) else None


def _header(name: str, pattern: re.Pattern) -> str | None:
    return well_formed(request.headers.get(name), pattern)


def install_request_context(app: Flask) -> None:
    """Bind request_id (the proxy's X-Request-Id when well-formed, else a new one), shop and topic for every request."""

    @app.before_request
    def _bind_request_context():
        g.request_id = _header("X-Request-Id", REQUEST_ID) or uuid.uuid4().hex
        g.log_context_token = bind(
            request_id=g.request_id,
            shop=_header("X-Shopify-Shop-Domain", SHOP) or (request.args.get("shop") if SHOP.fullmatch(request.args.get("shop", "")) else None),
            topic=_header("X-Shopify-Topic", TOPIC),
        )

    @app.after_request
    def _echo_request_id(response):
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response

    @app.teardown_request
    def _unbind_request_context(exc=None):
        token = g.pop("log_context_token", None)
        if token is not None:
            try:
                unbind(token)
            except ValueError:  # reset from another context (streamed responses): nothing left to undo here
                pass
