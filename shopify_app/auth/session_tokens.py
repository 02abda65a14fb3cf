"""Session tokens (App Bridge ID tokens) on App Home pages and /api/ routes, verified by Shopify's SDK."""
from __future__ import annotations

import functools
import logging

from flask import Response, current_app, g, jsonify, request

from .claims import InvalidClaims, shop_from_verified_token

log = logging.getLogger(__name__)

PATCH_ID_TOKEN_PATH = "/auth/patch-id-token"


def public_request_url() -> str:
    """This request's URL under APP_URL: the SDK builds its redirects from it, so never from the Host header."""
    settings = current_app.extensions["services"].settings
    query = request.query_string.decode("latin-1")
    return settings.app_url + request.path + (f"?{query}" if query else "")


def request_input() -> dict:
    """The current Flask request in the SDK's RequestInput shape."""
    return {
        "method": request.method,
        "headers": dict(request.headers),
        "url": public_request_url(),
        # Verifying a session token never reads the body, but the SDK's log redaction parses it
        # and crashes (500) on deeply nested JSON or over-long numbers: the API checks bodies itself.
        "body": "",
    }


def verified_shop(result) -> str | None:
    """The shop of a token the SDK accepted, if its claims also hold (exp, nbf, dest/iss); else None."""
    settings = current_app.extensions["services"].settings
    try:
        return shop_from_verified_token(result.id_token.token, settings.api_key)
    except InvalidClaims as exc:
        log.warning("session token refused: %s", exc)
        return None


def _unauthorized(error: str):
    response = jsonify(error=error)
    response.status_code = 401
    return response


def sdk_response(res) -> Response:
    """Turn the SDK's suggested response into a Flask one."""
    return Response(res.body, status=res.status, headers=res.headers)


def require_session_token(view):
    """Guard a JSON API route: a valid Bearer session token, and g.shop_domain set from it."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        services = current_app.extensions["services"]
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return jsonify(error="missing bearer session token"), 401
        result = services.shopify.verify_app_home_req(request_input(), PATCH_ID_TOKEN_PATH)
        if not result.ok:
            response = _unauthorized(result.log.code)
            response.headers.update(result.response.headers or {})
            return response
        shop = verified_shop(result)
        if shop is None:
            return _unauthorized("invalid_claims")
        # A token outlives an uninstall by up to a minute, and one for a shop that never
        # installed names nothing we may act on: only installed shops reach the API.
        if not services.tokens.is_installed(shop):
            return _unauthorized("shop_not_installed")
        g.shop_domain = shop
        g.user_id = result.user_id
        g.id_token = result.id_token
        return view(*args, **kwargs)

    return guarded
