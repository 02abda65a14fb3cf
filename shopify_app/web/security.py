"""Content-Security-Policy on every HTML response: frame-ancestors as Shopify requires, and scripts only from where the pages load them."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, current_app, g, request

from ..auth.install import sanitized_shop

APP_BRIDGE_ORIGIN = "https://cdn.shopify.com"  # App Bridge: https://cdn.shopify.com/shopifycloud/app-bridge.js


def frame_ancestors(shop_domain: str | None) -> str:
    """The CSP directive that lets only the shop's admin and admin.shopify.com frame us."""
    sources = ([f"https://{shop_domain}"] if shop_domain else []) + ["https://admin.shopify.com"]
    return "frame-ancestors " + " ".join(sources)


def _origin(url: str | None) -> str | None:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def content_security_policy(settings, shop_domain: str | None) -> str:
    """The whole policy: our own static files, plus App Bridge in real mode or the sandbox's token endpoint."""
    sandbox_origin = _origin(settings.sandbox_shopify_url)
    if settings.sandbox or sandbox_origin:
        # The pages load static/sandbox-bridge.js, which fetches session tokens from the sandbox.
        scripts, connect, styles, images = "'self'", " ".join(filter(None, ("'self'", sandbox_origin))), "'self'", "'self' data:"
    else:
        # App Bridge (from Shopify's CDN) may add its own styles, images and fonts; its
        # inline styles cannot run code, so 'unsafe-inline' stays out of script-src only.
        scripts = f"'self' {APP_BRIDGE_ORIGIN}"
        connect = "'self' https://*.shopify.com"
        styles = f"'self' 'unsafe-inline' {APP_BRIDGE_ORIGIN}"
        images = f"'self' data: {APP_BRIDGE_ORIGIN}"
    directives = (
        "default-src 'self'",
        f"script-src {scripts}",
        f"connect-src {connect}",
        f"style-src {styles}",
        f"img-src {images}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        frame_ancestors(shop_domain),
    )
    return "; ".join(directives) + ";"


def add_content_security_policy(response: Response) -> Response:
    """after_request hook: set the CSP on HTML (shop from the verified token, else the sanitised ?shop=)."""
    if response.mimetype == "text/html":
        shop = getattr(g, "shop_domain", None) or sanitized_shop(request.args.get("shop"))
        settings = current_app.extensions["services"].settings
        response.headers["Content-Security-Policy"] = content_security_policy(settings, shop)
    return response
