"""Session tokens (App Bridge ID tokens) on App Home pages and /api/ routes, verified by Shopify's SDK."""
from __future__ import annotations

import functools
import logging

from flask import Response, current_app, g, jsonify, request

from .tokens import shop_domain_of

log = logging.getLogger(__name__)

PATCH_ID_TOKEN_PATH = "/auth/patch-id-token"


def request_input() -> dict:
    """The current Flask request in the SDK's RequestInput shape."""
    return {
        "method": request.method,
        "headers": dict(request.headers),
        "url": request.url,
        "body": request.get_data(as_text=True),
    }


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
            response = jsonify(error=result.log.code)
            response.status_code = 401
            response.headers.update(result.response.headers or {})
            return response
        g.shop_domain = shop_domain_of(result.shop)
        g.user_id = result.user_id
        g.id_token = result.id_token
        return view(*args, **kwargs)

    return guarded
