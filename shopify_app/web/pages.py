"""The embedded admin's pages: server-rendered, each request verified with the session token Shopify puts in the URL.

A page opened without an `id_token` (a link inside the app) gets Shopify's bounce to the
patch-id-token page, which fetches a fresh token through App Bridge and reloads; actions
and CSV downloads are fetch() calls with a Bearer session token (static/admin.js).
"""
from __future__ import annotations

import functools
import logging
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, Response, abort, current_app, g, render_template, request, url_for

from ..auth.session_tokens import PATCH_ID_TOKEN_PATH, request_input, sdk_response, verified_shop
from ..auth.install import sanitized_shop
from ..auth.tokens import TokenUnavailable
from ..i18n import gettext as _, get_locale, lazy_gettext as _l, text_direction
from ..shop_profile import stored_profile
from . import action_data, page_data
from .admin_strings import js_messages
from .page_format import install_filters
from .api_schemas import bounded_ids

log = logging.getLogger(__name__)
blueprint = Blueprint("pages", __name__)
bounded_ids(blueprint)  # ids beyond 64 bits are a 404, never an overflow in the query
blueprint.record_once(lambda state: install_filters(state.app))  # state labels, numbers, countries, ages

NAV = (
    ("dashboard", _l("Dashboard")), ("orders", _l("Orders")), ("suppliers", _l("Suppliers")), ("mappings", _l("Mappings")), ("inventory", _l("Inventory")),
    ("returns", _l("Returns")), ("cases", _l("Cases")), ("problems", _l("Problems")), ("settings", _l("Settings")),
)
# Kept on links between pages (Shopify's `locale` too: the next page stays in the merchant's language); never the id_token.
CARRIED_PARAMS = ("shop", "host", "embedded", "locale")


def admin_page(view):
    """Verify the page request's session token (bounce when missing), exchange for an offline token if needed."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        services = current_app.extensions["services"]
        result = services.shopify.verify_app_home_req(request_input(), PATCH_ID_TOKEN_PATH)
        if not result.ok:
            return sdk_response(result.response)
        shop = verified_shop(result)
        if shop is None:  # signed, but not a token Shopify issues: no bounce, it would only loop
            return Response("Unauthorized", status=401, mimetype="text/plain")
        g.shop_domain = shop
        if not services.tokens.has_usable_token(shop):
            try:
                services.tokens.exchange(result.id_token)
            except TokenUnavailable:
                return sdk_response(result.invalid_token_response)
            if services.scheduler is not None:
                services.scheduler.add_shop_jobs(shop)
        # The shop's currency and time zone as stored (the scheduler reads them from Shopify), before the view opens its session.
        g.shop_profile = stored_profile(services, shop)
        return view(*args, **kwargs)

    return guarded


def page_url(key: str, **params) -> str:
    """A link to another page that keeps the shop/host parameters (the token is fetched again on arrival)."""
    carried = {k: request.args[k] for k in CARRIED_PARAMS if k in request.args}
    return url_for(f"pages.{key}", **carried, **params)


def isolated(text: str) -> str:
    """Text set apart from the surrounding direction in a right-to-left page ("#1005" stays "#1005" in Hebrew)."""
    return f"\u2068{text}\u2069" if text_direction() == "rtl" else text


def render_page(template: str, page: str, **context) -> str:
    """Render a page in the admin frame: in the merchant's language, with the shop's currency and time zone."""
    settings = current_app.extensions["services"].settings
    profile = g.get("shop_profile") or {}  # read by admin_page (a second session here would wait on the view's)
    g.shop_timezone = profile.get("iana_timezone")  # the `when` filter's time zone (UTC until known)
    title = context.pop("title", dict(NAV).get(page, page))
    context.setdefault("back", None)  # {"href", "label"}: the title bar's breadcrumb
    lang = str(get_locale() or "en")
    return render_template(
        f"admin/{template}", page=page, title=title, nav=NAV, page_url=page_url, shop=g.shop_domain,
        api_key=settings.api_key, sandbox=settings.sandbox or bool(settings.sandbox_shopify_url),
        sandbox_shopify_url=settings.sandbox_shopify_url, lang=lang, dir=text_direction(lang),
        shop_currency=profile.get("currency_code"), js_messages=js_messages(), **context,
    )


def _session():
    return current_app.extensions["services"].session_factory()


@blueprint.get("/")
@admin_page
def dashboard():
    """Pipeline counts, open problems, KPIs against their targets."""
    with _session() as session:
        return render_page("dashboard.html", "dashboard", **page_data.dashboard(session, g.shop_domain, request.args.get("bucket", "day")))


@blueprint.get("/orders")
@admin_page
def orders():
    """Orders, searchable and filtered by state, supplier and problem."""
    filters = {k: request.args.get(k, "").strip() for k in ("q", "state", "supplier", "problem")}
    with _session() as session:
        return render_page("orders.html", "orders", filters=filters, **page_data.orders(session, g.shop_domain, **filters))


@blueprint.get("/orders/<id:order_id>")
@admin_page
def order_detail(order_id: int):
    """One order's timeline and supplier orders."""
    with _session() as session:
        data = page_data.order_detail(session, g.shop_domain, order_id)
        if data is None:
            abort(404)
        return render_page("order.html", "orders", title=_("Order %(name)s", name=isolated(data["order"]["name"])),
                           back={"href": page_url("orders"), "label": _("Orders")}, **data)


@blueprint.get("/suppliers")
@admin_page
def suppliers():
    """Suppliers: settings, credentials (set or not, never shown), mappings, return terms, SLA, scorecard."""
    with _session() as session:
        return render_page("suppliers.html", "suppliers", **page_data.suppliers(session, g.shop_domain))


@blueprint.get("/inventory")
@admin_page
def inventory():
    """Sync status per supplier, drift, last feed."""
    with _session() as session:
        return render_page("inventory.html", "inventory", **page_data.inventory(session, g.shop_domain), **action_data.upload_targets(session, g.shop_domain))


@blueprint.get("/returns")
@admin_page
def returns():
    """The returns queue with approve/decline, and every return."""
    with _session() as session:
        return render_page("returns.html", "returns", **page_data.returns(session, g.shop_domain))


@blueprint.get("/problems")
@admin_page
def problems():
    """Open desyncs, alerts and dead letters, with retry and resolve."""
    with _session() as session:
        return render_page("problems.html", "problems", **page_data.problems(session, g.shop_domain))


@blueprint.get("/settings")
@admin_page
def settings():
    """Return policy, KPI targets, alert channels."""
    with _session() as session:
        data = page_data.settings(session, g.shop_domain, current_app.extensions["services"].box)
        return render_page("settings.html", "settings", **data, **action_data.settings_extras(data["targets"]))


@blueprint.get(PATCH_ID_TOKEN_PATH)
def patch_id_token():
    """Shopify's bounce page; in sandbox mode our own, since App Bridge cannot load without Shopify's CDN."""
    services = current_app.extensions["services"]
    settings = services.settings
    if settings.sandbox or settings.sandbox_shopify_url:
        shop = sanitized_shop(request.args.get("shop")) or ""
        reload_query = parse_qs(urlsplit(request.args.get("shopify-reload", "")).query)
        if reload_query.get("locale"):  # the page being reloaded carries Shopify's locale: the bounce speaks it too
            g.locale = reload_query["locale"][0]
        lang = str(get_locale() or "en")
        return render_template("admin/bounce.html", api_key=settings.api_key, shop=shop, sandbox_shopify_url=settings.sandbox_shopify_url,
                               lang=lang, dir=text_direction(lang), js_messages=js_messages())
    raw_shop = request.args.get("shop", "")
    if sanitized_shop(raw_shop) != raw_shop.lower():
        # The SDK copies ?shop= into a header as it is: a newline there would be a 500.
        abort(400, "invalid shop domain")
    return sdk_response(services.shopify.app_home_patch_id_token(request_input()).response)


from . import mapping_pages  # noqa: E402,F401  (issue 18 part M: registers /mappings on this blueprint)
from . import case_pages  # noqa: E402,F401  (issue 17 part P: registers /cases on this blueprint)
