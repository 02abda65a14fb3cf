"""The links in customer notices, opened by customers with no login: answers, the review redirect, unsubscribe, sender confirmation.

Each link's token is signed (notify/notice_links.py); a forged, damaged or expired one gets the
same plain 404 page whatever it names, so the links reveal nothing about other orders or shops.
Pages are in the order's customer language, plain HTML with no script.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..i18n import gettext as _
from ..i18n import language_of, text_direction
from ..models import utcnow
from ..notify.customer_models import NoticeUnsubscribe
from ..notify.customer_notices import customer_language, shop_display_name
from ..notify.notice_links import ANSWERS, FEEDBACK, REVIEW, UNSUBSCRIBE, VERIFY_SENDER, InvalidLink, feedback_url, unsign
from ..notify.notice_settings import notice_settings, settings_row
from ..notify.satisfaction import record_answer, record_review_click
from ..orders.models import Order
from ..shop_profile import shop_profile

blueprint = Blueprint("customer_links", __name__, url_prefix="/notices")


def _services():
    return current_app.extensions["services"]


def _page(status: int = 200, *, lang: str = "en", timezone: str | None = None, **values):
    g.locale, g.shop_timezone = lang, timezone
    # Strings are translated here, inside the page's language (g.locale is read by the locale selector).
    values = {key: (value() if callable(value) else value) for key, value in values.items()}
    values.setdefault("paragraphs", [])
    response = current_app.make_response((render_template("customer/notice_page.html", lang=lang, direction=text_direction(lang), **values), status))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token must not leak to the review site
    return response


def _not_found():
    return _page(404, title=lambda: _("This link is not valid"),
                 paragraphs=lambda: [_("The link may be incomplete or too old. Please use the latest email you received.")])


def _order_of(session, token: str, purpose: str) -> Order | None:
    try:
        payload = unsign(_services().settings, purpose, token)
    except InvalidLink:
        return None
    order_id = payload.get("o")
    return session.get(Order, order_id) if isinstance(order_id, int) else None


# Mail link scanners (Safe Links, Mimecast, ...) open every link of an email, so a GET records
# nothing: it shows a one-button form, and only the POST (the customer's click) records, as
# /unsubscribe does. The review link works the same way: a GET that counted would put the
# scanner's visit in the review-click KPI.


def _answer_context(token: str, answer: str):
    """(order id, language, time zone, shop name, order name) of a valid answer link, else None."""
    if answer not in ANSWERS:
        return None
    with _services().session_factory() as session:
        order = _order_of(session, token, FEEDBACK)
        if order is None:
            return None
        profile = shop_profile(session, order.shop_domain)
        return (order.id, customer_language(order.customer_locale, profile), profile.get("iana_timezone"),
                shop_display_name(profile, order.shop_domain), order.name or "")


@blueprint.get("/feedback/<token>/<answer>")
def feedback_page(token: str, answer: str):
    """Ask the customer to confirm their answer with one click (a link scanner's visit records nothing)."""
    found = _answer_context(token, answer)
    if found is None:
        return _not_found()
    order_id, lang, timezone, name, order_name = found
    if answer == "good":
        title, label = (lambda: _("Did order %(order)s go well?", order=order_name)), (lambda: _("Yes, it went well"))
    else:
        title, label = (lambda: _("Did something go wrong with order %(order)s?", order=order_name)), (lambda: _("Yes, something is wrong"))
    other = "bad" if answer == "good" else "good"
    other_label = (lambda: _("No, something is wrong.")) if other == "bad" else (lambda: _("No, it went well."))
    return _page(lang=lang, timezone=timezone, shop_name=name, title=title,
                 form_action=url_for("customer_links.feedback", token=token, answer=answer), form_label=label,
                 choices=lambda: [(other_label(), feedback_url(_services().settings, order_id, other))])


@blueprint.post("/feedback/<token>/<answer>")
def feedback(token: str, answer: str):
    """Record the customer's answer (a later one replaces it) and thank them in their language."""
    if answer not in ANSWERS:
        return _not_found()
    for attempt in (1, 2):
        try:
            with _services().session_factory.begin() as session:
                order = _order_of(session, token, FEEDBACK)
                if order is None:
                    return _not_found()
                record_answer(session, order, answer)
                profile = shop_profile(session, order.shop_domain)
                lang, name, order_name, order_id = (customer_language(order.customer_locale, profile), shop_display_name(profile, order.shop_domain),
                                                    order.name or "", order.id)
            break
        except IntegrityError:  # two first answers at once: the other one inserted the row; replace it now
            if attempt == 2:
                raise
    other = "bad" if answer == "good" else "good"
    settings = _services().settings
    if answer == "good":
        title, paragraphs = (lambda: _("Thank you!")), (lambda: [_("We are glad your order %(order)s went well.", order=order_name)])
    else:
        title = lambda: _("We are sorry")  # noqa: E731
        paragraphs = lambda: [_("Thank you for telling us that order %(order)s did not go well. Reply to our email and tell us what happened: we will make it right.", order=order_name)]  # noqa: E731
    label = (lambda: _("Changed your mind? It went well after all.")) if other == "good" else (lambda: _("Changed your mind? Something is wrong after all."))
    return _page(lang=lang, timezone=profile.get("iana_timezone"), shop_name=name, title=title, paragraphs=paragraphs,
                 choices=lambda: [(label(), feedback_url(settings, order_id, other))])


@blueprint.get("/review/<token>")
def review_page(token: str):
    """A one-button page to the review site; the click counts only when the customer presses it (a POST)."""
    with _services().session_factory() as session:
        order = _order_of(session, token, REVIEW)
        target = notice_settings(session, order.shop_domain)["review_url"] if order is not None else None
        if target is None:
            return _not_found()
        profile = shop_profile(session, order.shop_domain)
        lang, name = customer_language(order.customer_locale, profile), shop_display_name(profile, order.shop_domain)
    return _page(lang=lang, timezone=profile.get("iana_timezone"), shop_name=name, title=lambda: _("Review %(shop)s", shop=name),
                 paragraphs=lambda: [_("Thank you for taking a moment to tell others about your order.")],
                 form_action=url_for("customer_links.review", token=token), form_label=lambda: _("Write a review"))


@blueprint.post("/review/<token>")
def review(token: str):
    """Count the click on the review link (the first one per order), then redirect to the review page the merchant saved (never to a URL from the link)."""
    with _services().session_factory.begin() as session:
        order = _order_of(session, token, REVIEW)
        target = notice_settings(session, order.shop_domain)["review_url"] if order is not None else None
        if target is None:
            return _not_found()
        record_review_click(session, order)  # sets a time only where none is set: a second press changes nothing
    return redirect(target, code=303)


def _unsubscribe_target(token: str) -> tuple[str, str, str] | None:
    """(shop, email digest, language) of a valid unsubscribe token."""
    try:
        payload = unsign(_services().settings, UNSUBSCRIBE, token)
    except InvalidLink:
        return None
    shop, digest, lang = payload.get("s"), payload.get("d"), language_of(payload.get("l") if isinstance(payload.get("l"), str) else None)
    return (shop, digest, lang) if isinstance(shop, str) and isinstance(digest, str) and len(digest) == 64 else None


@blueprint.get("/unsubscribe/<token>")
def unsubscribe_page(token: str):
    """Ask to confirm (a link scanner that opens every link must not unsubscribe anyone)."""
    target = _unsubscribe_target(token)
    if target is None:
        return _not_found()
    with _services().session_factory() as session:
        profile = shop_profile(session, target[0])
    name = shop_display_name(profile, target[0])
    return _page(lang=target[2], shop_name=name,
                 title=lambda: _("Unsubscribe"), paragraphs=lambda: [_("No more follow-ups and review requests from %(shop)s. Emails about your orders' delivery still come.", shop=name)],
                 form_action=url_for("customer_links.unsubscribe", token=token), form_label=lambda: _("Unsubscribe"))


@blueprint.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    """Record the unsubscribe (also the one-click POST of RFC 8058 mail clients); doing it twice changes nothing."""
    target = _unsubscribe_target(token)
    if target is None:
        return _not_found()
    shop, digest, lang = target
    with _services().session_factory.begin() as session:
        if session.scalar(select(NoticeUnsubscribe.id).where(NoticeUnsubscribe.shop_domain == shop, NoticeUnsubscribe.email_digest == digest)) is None:
            session.add(NoticeUnsubscribe(shop_domain=shop, email_digest=digest))
        profile = shop_profile(session, shop)
    name = shop_display_name(profile, shop)
    return _page(lang=lang, shop_name=name, title=lambda: _("You are unsubscribed"),
                 paragraphs=lambda: [_("%(shop)s will send you no more follow-ups or review requests.", shop=name)])


@blueprint.get("/verify-sender/<token>")
def verify_sender(token: str):
    """Confirm the sender address a merchant saved: the link reached that mailbox, so the shop may send as it."""
    try:
        payload = unsign(_services().settings, VERIFY_SENDER, token)
    except InvalidLink:
        return _not_found()
    with _services().session_factory.begin() as session:
        row = settings_row(session, str(payload.get("s")))
        if row is None or not row.sender_address or row.sender_address != payload.get("a"):
            return _not_found()  # the address changed since: only the link for the current one counts
        if row.sender_verified_at is None:
            row.sender_verified_at = utcnow()
        address = row.sender_address
    return _page(title=lambda: _("Sender address confirmed"),
                 paragraphs=lambda: [_("Emails to your customers will now be sent from %(address)s.", address=address)])
