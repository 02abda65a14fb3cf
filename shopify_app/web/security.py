"""Content-Security-Policy frame-ancestors on every HTML response, as Shopify requires."""
from __future__ import annotations

from flask import Response, g, request

from ..auth.install import sanitized_shop


def frame_ancestors(shop_domain: str | None) -> str:
    """The CSP value that lets only the shop's admin and admin.shopify.com frame us."""
    sources = ([f"https://{shop_domain}"] if shop_domain else []) + ["https://admin.shopify.com"]
    return "frame-ancestors " + " ".join(sources) + ";"


def add_frame_ancestors(response: Response) -> Response:
    """after_request hook: set CSP on HTML (shop from the verified token, else the sanitised ?shop=)."""
    if response.mimetype == "text/html":
        shop = getattr(g, "shop_domain", None) or sanitized_shop(request.args.get("shop"))
        response.headers["Content-Security-Policy"] = frame_ancestors(shop)
    return response
