"""The app proxy's pages (/apps/orders in the store): every request's signature checked as Shopify signs it, the shop from the signed query.

Answers are `application/liquid`: Shopify renders them inside the store's theme, so the page takes
the store's look. Plain HTML forms that POST, no JavaScript. Text anyone typed is HTML-escaped,
and `{{`/`{%` are turned into entities so Shopify never runs it as Liquid.
"""
from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, g, render_template, request

from ..auth.install import sanitized_shop
from ..bounds import id_from_text
from ..auth.session_tokens import request_input
from ..cases.models import Case, CasePhoto
from ..cases.photos import MAX_PHOTO_BYTES, MAX_PHOTOS, PhotoRefused, clean_photos
from ..cases.service import CUSTOMER_KINDS, CaseRefused, add_customer_message, clean_text, open_case
from flask_babel import refresh as refresh_language
from sqlalchemy import select

from ..i18n import DEFAULT_LANGUAGE, LANGUAGES, as_datetime, current_language, gettext as _, supported_language, text_direction
from ..models import Shop
from ..orders.models import Order
from ..shop_profile import shop_profile
from .customer_view import case_kinds, order_view
from .lookup import RateLimited, count_case_post, customer_orders, find_order, normalized_number, order_id_from_token, view_token

blueprint = Blueprint("proxy", __name__, url_prefix="/proxy")
DEFAULT_PREFIX = "/apps/orders"
_PREFIX = re.compile(r"/(apps|a|community|tools)/[A-Za-z0-9_-]{1,64}")
LIQUID = "application/liquid; charset=utf-8"


@blueprint.before_request
def verify_proxy_signature():
    """Only requests Shopify signed for an installed shop go on; the shop and customer come from the signed query."""
    services = current_app.extensions["services"]
    result = services.shopify.verify_app_proxy_req(request_input())
    if not result.ok:
        return Response("Unauthorized", status=401, mimetype="text/plain")
    shop = sanitized_shop(request.args.get("shop"))
    if shop is None or not services.tokens.is_installed(shop):
        return Response("Unknown shop", status=404, mimetype="text/plain")
    g.shop_domain = shop
    g.customer_id = result.logged_in_customer_id or None
    prefix = request.args.get("path_prefix", "")
    g.path_prefix = prefix if _PREFIX.fullmatch(prefix) else DEFAULT_PREFIX
    g.locale = page_language()


def page_language(order_locale: str | None = None) -> str:
    """The page's language: Shopify's `locale` (the storefront's), the order's customer locale, Accept-Language, the shop's, English.

    Each step counts only when it names a language we have (a German storefront falls through to
    the customer's checkout language, then the browser's).
    """
    for tag in (request.args.get("locale"), order_locale):
        if lang := supported_language(tag):
            return lang
    if browser := request.accept_languages.best_match(LANGUAGES):
        return browser
    with _session() as session:
        primary = session.scalar(select(Shop.primary_locale).where(Shop.domain == g.shop_domain))
    return supported_language(primary) or DEFAULT_LANGUAGE


def _speak_the_orders_language(order_id: int) -> None:
    """On an order's page, its customer's checkout language comes before the browser's (set before any text is worded)."""
    with _session() as session:
        order_locale = session.scalar(select(Order.customer_locale).where(Order.id == order_id, Order.shop_domain == g.shop_domain))
    lang = page_language(order_locale)
    if lang != g.locale:
        g.locale = lang
        refresh_language()


def _session():
    """A read session: on SQLite BEGIN DEFERRED, so the store's busiest page never waits for (or takes) the write lock."""
    services = current_app.extensions["services"]
    return (services.read_session_factory or services.session_factory)()


def _secret() -> str:
    return current_app.extensions["services"].settings.api_secret


def page_url(path: str = "", **params) -> str:
    """A link in the store (under the proxy's prefix), keeping the language the page was asked in."""
    if request.args.get("locale"):
        params.setdefault("locale", request.args["locale"][:16])
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{g.path_prefix}{path}" + (f"?{query}" if query else "")


def _client_ip() -> str:
    """The shopper's address: the X-Forwarded-For entry the last trusted proxy added, or the peer when none is trusted."""
    return client_address(request.headers.get("X-Forwarded-For", ""), request.remote_addr,
                          current_app.extensions["services"].settings.trusted_proxy_hops)


def client_address(forwarded: str, peer: str | None, trusted_hops: int) -> str:
    """ProxyFix's rule: each trusted proxy appended one entry, so the client is `trusted_hops` from the end; the rest is what the client sent."""
    entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
    if trusted_hops <= 0 or len(entries) < trusted_hops:
        return (peer or "unknown")[:64]  # fewer entries than trusted proxies: not the chain we expect, so believe none
    return entries[-trusted_hops][:64]


def _render(template: str, status: int = 200, session=None, **context) -> Response:
    """The page fragment in the customer's language and the shop's time zone, made Liquid-inert."""
    if session is None:
        with _session() as session:
            profile = shop_profile(session, g.shop_domain)
    else:
        profile = shop_profile(session, g.shop_domain)
    g.shop_timezone = profile.get("iana_timezone")
    lang = current_language()
    html = render_template(f"proxy/{template}", lang=lang, dir=text_direction(lang), page_url=page_url, day=day, shop_name=profile.get("name"),
                           kinds=[k for k in case_kinds() if k[0] in CUSTOMER_KINDS], max_photos=MAX_PHOTOS,
                           max_photo_mb=MAX_PHOTO_BYTES // (1024 * 1024), **context)
    return Response(liquid_inert(html), status=status, content_type=LIQUID)


def day(value) -> str:
    """A date alone, long form, in the customer's language: a bare date ('2026-12-10') as it is, a moment in the shop's time zone."""
    import datetime as dt

    from flask_babel import format_date

    if isinstance(value, str) and len(value) <= 10:
        try:
            return format_date(dt.date.fromisoformat(value), "long")
        except ValueError:
            return value
    moment = as_datetime(value)
    return format_date(moment, "long") if isinstance(moment, dt.datetime) else (moment or "–")


def liquid_inert(html: str) -> str:
    """No `{{` or `{%` left for Shopify's Liquid to run (a customer's `{{ shop.email }}` shows as typed)."""
    return html.replace("{{", "&#123;&#123;").replace("{%", "&#123;%")


@blueprint.get("")
@blueprint.get("/")
def home():
    """The lookup form; a logged-in customer's own orders straight away."""
    orders = []
    if g.customer_id:
        with _session() as session:
            orders = [{"name": o.name, "created_at": o.shopify_created_at or o.created_at, "total": o.total_price_presentment or o.total_price,
                       "currency": o.presentment_currency or o.currency, "token": view_token(_secret(), g.shop_domain, o.id)}
                      for o in customer_orders(session, g.shop_domain, g.customer_id)]
    return _render("lookup.html", orders=orders)


@blueprint.post("/lookup")
def lookup():
    """Order number + email -> the order page; one answer for an unknown number and a wrong email."""
    number, email = normalized_number(request.form.get("order")), (request.form.get("email") or "").strip()
    if not number or "@" not in email or len(email) > 255:
        return _render("lookup.html", status=422, orders=[], error=_("Enter your order number and the email you ordered with."),
                       fields={"order": request.form.get("order", "")[:40], "email": email[:255]})
    try:
        order = find_order(current_app.extensions["services"].session_factory, g.shop_domain, number, email, _client_ip())
    except RateLimited:
        return _render("lookup.html", status=429, orders=[], error=_("Too many attempts. Please try again in a few minutes."))
    if order is None:
        return _render("lookup.html", status=404, orders=[], error=_("We could not find an order with this number and email."),
                       fields={"order": request.form.get("order", "")[:40], "email": email})
    _speak_the_orders_language(order.id)
    return _order_page(order.id)


@blueprint.get("/order")
def order():
    """The order page, opened with a view token (from the lookup or the customer's own list)."""
    return _order_page(_token_order_id())


def _token_order_id() -> int:
    order_id = order_id_from_token(_secret(), g.shop_domain, request.values.get("t"))
    if order_id is None:
        abort(Response(liquid_inert(render_template("proxy/expired.html", lang=current_language(), dir=text_direction(), page_url=page_url)),
                       status=403, content_type=LIQUID))
    _speak_the_orders_language(order_id)
    return order_id


def _order_page(order_id: int, status: int = 200, **context) -> Response:
    with _session() as session:
        order = session.get(Order, order_id)
        if order is None or order.shop_domain != g.shop_domain:
            abort(404)
        view = order_view(session, order)
        return _render("order.html", status=status, session=session, order=view, token=view_token(_secret(), g.shop_domain, order_id), **context)


def _limit_case_posts(order_id: int) -> Response | None:
    """A 429 page once this order or this address posted too many reports/messages in the window (checked before any photo is read)."""
    try:
        count_case_post(current_app.extensions["services"].session_factory, g.shop_domain, order_id, _client_ip())
    except RateLimited:
        return _order_page(order_id, status=429, error=_("Too many messages. Please try again in a few minutes."))
    return None


def _photos() -> list:
    files = request.files.getlist("photos")
    if len([f for f in files if f.filename]) > MAX_PHOTOS:
        raise PhotoRefused("too_many")
    return clean_photos([(f.filename, f.stream.read(MAX_PHOTO_BYTES + 1)) for f in files])


def _refusal(exc: Exception) -> str:
    if isinstance(exc, PhotoRefused):
        return {"too_many": _("Attach at most %(n)s photos.", n=MAX_PHOTOS),
                "too_large": _("A photo may be at most %(mb)s MB.", mb=MAX_PHOTO_BYTES // (1024 * 1024)),
                }.get(exc.reason, _("Only photos can be attached (JPEG, PNG, WebP or GIF)."))
    if isinstance(exc, CaseRefused) and exc.field == "message":
        return _("Write your message (at most 4000 characters).") if exc.reason != "too_long" else _("Your message is too long (at most 4000 characters).")
    if isinstance(exc, CaseRefused) and exc.field == "kind":
        return _("Choose what your message is about.")
    return _("This conversation is closed. Start a new one below.")


@blueprint.post("/report")
def report():
    """A problem report or a question: a case on the merchant's clock, photos checked and re-encoded."""
    order_id = _token_order_id()
    if (refused := _limit_case_posts(order_id)) is not None:
        return refused
    kind = request.form.get("kind", "")
    try:
        if kind not in CUSTOMER_KINDS:
            raise CaseRefused("kind", "unknown")
        body = clean_text(request.form.get("message"))
        photos = _photos()
        with current_app.extensions["services"].session_factory.begin() as session:
            order = session.get(Order, order_id)
            if order is None or order.shop_domain != g.shop_domain:
                abort(404)
            open_case(session, order, kind, body, photos)
    except (PhotoRefused, CaseRefused) as exc:
        return _order_page(order_id, status=422, error=_refusal(exc), draft=(request.form.get("message") or "")[:4000])
    return _order_page(order_id, notice=_("Thank you. We have your message and will answer by email and on this page."))


@blueprint.post("/message")
def message():
    """The customer writes again on one of the order's cases."""
    order_id = _token_order_id()
    if (refused := _limit_case_posts(order_id)) is not None:
        return refused
    case_id = request.form.get("case", "")
    try:
        body = clean_text(request.form.get("message"))
        photos = _photos()
        with current_app.extensions["services"].session_factory.begin() as session:
            case = session.get(Case, case_number) if (case_number := id_from_text(case_id)) is not None else None
            if case is None or case.order_id != order_id or case.shop_domain != g.shop_domain:
                abort(404)
            add_customer_message(session, case, body, photos)
    except (PhotoRefused, CaseRefused) as exc:
        return _order_page(order_id, status=422, error=_refusal(exc))
    return _order_page(order_id, notice=_("Thank you. We have your message and will answer by email and on this page."))


@blueprint.get("/photo/<int:photo_id>")
def photo(photo_id: int):
    """A photo of one of the token's order's cases (never another order's)."""
    order_id = _token_order_id()
    with _session() as session:
        row = session.get(CasePhoto, photo_id) if photo_id < 2**63 else None
        case = row and session.scalar(_case_of_photo(row))
        if row is None or case is None or case.order_id != order_id or case.shop_domain != g.shop_domain:
            abort(404)
        return photo_response(row)


def _case_of_photo(row: CasePhoto):
    from sqlalchemy import select

    from ..cases.models import CaseMessage

    return select(Case).join(CaseMessage, CaseMessage.case_id == Case.id).where(CaseMessage.id == row.message_id)


def photo_response(row: CasePhoto) -> Response:
    """The stored (re-encoded) photo, never sniffed as anything else."""
    response = Response(row.data, content_type=row.content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


