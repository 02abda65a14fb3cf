"""App Home: the embedded page, verified with the session token Shopify puts in the URL."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, g, render_template

from ..auth.session_tokens import PATCH_ID_TOKEN_PATH, request_input, sdk_response
from ..auth.tokens import TokenUnavailable, shop_domain_of

log = logging.getLogger(__name__)
blueprint = Blueprint("home", __name__)


@blueprint.get("/")
def app_home():
    """Verify the ID token, make sure we hold an offline token (token exchange), render."""
    services = current_app.extensions["services"]
    result = services.shopify.verify_app_home_req(request_input(), PATCH_ID_TOKEN_PATH)
    if not result.ok:
        return sdk_response(result.response)
    shop = shop_domain_of(result.shop)
    g.shop_domain = shop
    if not services.tokens.has_usable_token(shop):
        try:
            services.tokens.exchange(result.id_token)
        except TokenUnavailable:
            return sdk_response(result.invalid_token_response)
        if services.scheduler is not None:
            services.scheduler.add_shop_jobs(shop)
    settings = services.settings
    return render_template(
        "home.html",
        shop=shop,
        api_key=settings.api_key,
        sandbox=settings.sandbox,
        sandbox_shopify_url=settings.sandbox_shopify_url,
    )


@blueprint.get(PATCH_ID_TOKEN_PATH)
def patch_id_token():
    """Shopify's bounce page that fetches a fresh ID token and reloads the requested page."""
    services = current_app.extensions["services"]
    return sdk_response(services.shopify.app_home_patch_id_token(request_input()).response)
