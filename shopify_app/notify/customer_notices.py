"""Sending the customer-notice outbox: per shop (its real name, its verified sender) and in the customer's language.

Every pending CustomerNotice is rendered on a read-only session inside the customer's language
(the order's customer locale, else the shop's primary locale, else English) with money in the
order's currency and dates in the shop's time zone, then sent with no transaction open (SMTP
has its own timeout), then its outcome recorded. A notice is sent at most once: its row leaves
`pending` when sent, failed or skipped (a step the merchant turned off, an unsubscribed customer).

The From line: a shop whose sender address is verified (the merchant opened the confirmation
link sent to it) sends as that address; until then the app's own address sends in the shop's
name with Reply-To the shop's contact email from Shopify, so that nobody can make the app send
as an address they do not own, and the customer's answer still reaches the merchant.
"""
from __future__ import annotations

import contextlib
import logging
import smtplib
from dataclasses import dataclass
from email.utils import formataddr

from flask import Flask, g
from flask_babel import Babel, force_locale
import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import read_only
from ..i18n import DEFAULT_LANGUAGE, TRANSLATIONS_DIR, supported_language, text_direction
from ..models import utcnow
from ..orders.models import CustomerNotice, Order
from ..orders.timeline import record_event
from ..shop_profile import shop_profile
from .customer_models import NoticeSettings
from .email import SmtpSettings, render, send_email
from .notice_contexts import context_for
from .notice_links import unsubscribe_url, verify_sender_url
from .notice_settings import MARKETING_STEPS, is_unsubscribed, notice_settings, settings_row, step_on

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 5
SKIPPED = "skipped"
SENDING = "sending"  # claimed by one run; `sent_at` holds the claim time until it is sent
SENDING_LEASE = dt.timedelta(minutes=15)  # a run that died mid-send gives its rows back after this


@dataclass
class NoticeReport:
    """What one sending pass did."""

    sent: int = 0
    failed: int = 0
    waiting: int = 0
    skipped: int = 0


_babel_app: Flask | None = None


def _rendering_app() -> Flask:
    # Notices are sent by jobs with no request: a small Flask app gives Flask-Babel its context
    # (catalogs, the language forced per notice, the shop's time zone from g.shop_timezone).
    global _babel_app
    if _babel_app is None:
        app = Flask("customer_notices")
        Babel(app, locale_selector=lambda: DEFAULT_LANGUAGE, timezone_selector=lambda: g.get("shop_timezone") or "UTC",
              default_translation_directories=str(TRANSLATIONS_DIR))
        _babel_app = app
    return _babel_app


@contextlib.contextmanager
def notice_language(lang: str, timezone: str | None):
    """Render inside: `_()` translates to `lang`, money and dates are formatted for it, in `timezone`."""
    with _rendering_app().app_context():
        g.shop_timezone = timezone or "UTC"
        with force_locale(lang):
            yield


def customer_language(customer_locale: str | None, profile: dict) -> str:
    """The order's customer locale, else the shop's primary locale, else English (as a supported language)."""
    for tag in (customer_locale, profile.get("primary_locale")):
        if lang := supported_language(tag):
            return lang  # the first language we support, in that order
    return DEFAULT_LANGUAGE


def shop_display_name(profile: dict, shop_domain: str) -> str:
    """The shop's name from Shopify; before the profile is read, its myshopify name ('demo-store' -> 'Demo Store')."""
    return profile.get("name") or shop_domain.removesuffix(".myshopify.com").replace("-", " ").title()


def send_pending_notices(session_factory, smtp: SmtpSettings | None, app_settings=None) -> NoticeReport:
    """Send every pending customer notice; SMTP failures are retried on the next pass, then given up.

    Runs may overlap (a long run outlasts its slot; the distributed scheduler starts the next
    one elsewhere), so each row is claimed (pending -> sending, a conditional UPDATE) before it
    is sent: a row another run claimed is skipped, and no notice goes out twice.
    """
    report = NoticeReport()
    if smtp is not None:
        release_stale_claims(session_factory)
    with session_factory() as session:
        ids = session.scalars(select(CustomerNotice.id).where(CustomerNotice.status == "pending").order_by(CustomerNotice.id)).all()
    if smtp is None:
        report.waiting = len(ids)
        return report
    for notice_id in ids:
        if not _claim(session_factory, notice_id):
            continue  # another run has it (or sent it already)
        try:
            _send_notice(session_factory, smtp, app_settings, notice_id, report)
        except Exception as exc:  # noqa: BLE001 - one broken notice must not stop the others
            _unclaim(session_factory, notice_id)
            log.warning("notice %s could not be sent: %s", notice_id, type(exc).__name__, exc_info=True)
    return report


def release_stale_claims(session_factory, now: dt.datetime | None = None) -> int:
    """Give back the rows a run claimed and never finished (it died): pending again after SENDING_LEASE."""
    cutoff = (now or utcnow()) - SENDING_LEASE
    with session_factory.begin() as session:
        result = session.execute(update(CustomerNotice).where(CustomerNotice.status == SENDING, CustomerNotice.sent_at < cutoff)
                                 .values(status="pending", sent_at=None).execution_options(synchronize_session=False))
        return result.rowcount


def _claim(session_factory, notice_id: int) -> bool:
    """pending -> sending for this run only (True), or False when another run claimed it first."""
    with session_factory.begin() as session:
        result = session.execute(update(CustomerNotice).where(CustomerNotice.id == notice_id, CustomerNotice.status == "pending")
                                 .values(status=SENDING, sent_at=utcnow()).execution_options(synchronize_session=False))
        return result.rowcount == 1


def _unclaim(session_factory, notice_id: int) -> None:
    with session_factory.begin() as session:
        session.execute(update(CustomerNotice).where(CustomerNotice.id == notice_id, CustomerNotice.status == SENDING)
                        .values(status="pending", sent_at=None).execution_options(synchronize_session=False))


@dataclass
class _Rendered:
    to: str | None
    order_id: int
    subject: str = ""
    body: str = ""
    sender: str | None = None
    reply_to: str | None = None
    headers: dict | None = None
    skip: str | None = None  # why the notice is not sent at all
    wait: bool = False


def _render_notice(session: Session, smtp: SmtpSettings, app_settings, notice: CustomerNotice) -> _Rendered:
    order = session.get(Order, notice.order_id)
    shop = order.shop_domain
    to = order.email or order.customer_email
    rendered = _Rendered(to, order.id)
    settings = notice_settings(session, shop)
    if not step_on(settings, notice.kind):
        rendered.skip = "turned off by the shop"
        return rendered
    marketing = notice.kind in MARKETING_STEPS
    if marketing and is_unsubscribed(session, shop, to):
        rendered.skip = "unsubscribed"
        return rendered
    if not to:
        return rendered
    if marketing and app_settings is None:
        rendered.wait = True  # its links need the app's URL and secret
        return rendered
    if notice.kind == "review_request" and not settings["review_url"]:
        rendered.skip = "no review link"
        return rendered
    profile = shop_profile(session, shop)
    shop_name = shop_display_name(profile, shop)
    lang = customer_language(order.customer_locale, profile)
    with notice_language(lang, profile.get("iana_timezone")):
        g.app_settings = app_settings  # for providers that sign links (follow-up answers, review link)
        context = {
            "order_name": order.name or order.shopify_id, "customer_name": (order.shipping_address or {}).get("first_name"),
            "shop_name": shop_name, "shop_url": f"https://{profile['primary_domain']}" if profile.get("primary_domain") else None,
            "order_total": order.total_price_presentment or order.total_price,
            "currency": order.presentment_currency or order.currency,
            "carrier": None, "tracking_number": None, "tracking_url": None, "expected": None,
            "unsubscribe_url": unsubscribe_url(app_settings, shop, to, lang) if marketing else None,
            "lang": lang, "direction": text_direction(lang),
        }
        context.update(context_for(session, notice))
        rendered.subject, rendered.body = render(f"{notice.kind}_notice.txt", **context)
    if settings["sender_verified"]:
        rendered.sender = formataddr((settings["sender_name"] or shop_name, settings["sender_address"]))
    else:
        rendered.sender = formataddr((shop_name, smtp.sender))
        rendered.reply_to = profile.get("contact_email")
    rendered.headers = {"Content-Language": lang}
    if marketing:
        # RFC 2369 / RFC 8058: mail clients offer their own unsubscribe button, which POSTs to the link.
        rendered.headers.update({"List-Unsubscribe": f"<{context['unsubscribe_url']}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    return rendered


def _send_notice(session_factory, smtp: SmtpSettings, app_settings, notice_id: int, report: NoticeReport) -> None:
    """Render on a read-only session, send with no transaction open, then record the outcome."""
    with read_only(session_factory)() as session:
        notice = session.get(CustomerNotice, notice_id)
        rendered = _render_notice(session, smtp, app_settings, notice)
    if rendered.wait:
        _unclaim(session_factory, notice_id)
        report.waiting += 1
        return
    error = rendered.skip or "no customer email"
    if rendered.to and not rendered.skip:
        try:
            send_email(smtp, rendered.to, rendered.subject, rendered.body, sender=rendered.sender, reply_to=rendered.reply_to, headers=rendered.headers)
            error = None
        except (smtplib.SMTPException, OSError) as exc:
            error = type(exc).__name__
    with session_factory.begin() as session:
        notice = session.get(CustomerNotice, notice_id)
        if rendered.skip:
            notice.status, notice.last_error = SKIPPED, rendered.skip
            report.skipped += 1
            return
        if not rendered.to:
            notice.status, notice.last_error = "failed", error
            report.failed += 1
            return
        notice.attempts += 1
        if error is not None:
            notice.last_error = error
            notice.status, notice.sent_at = "pending", None  # tried again on the next pass
            if notice.attempts >= MAX_SEND_ATTEMPTS:
                notice.status = "failed"
                report.failed += 1
            return
        notice.status, notice.sent_at = "sent", utcnow()
        record_event(session, session.get(Order, rendered.order_id), "customer_notified", "app", notice=notice.kind)
        report.sent += 1


def send_sender_verifications(session_factory, smtp: SmtpSettings | None, app_settings, shop_domain: str | None = None) -> int:
    """Email the confirmation link to every sender address a merchant saved and was not yet sent one (or only `shop_domain`'s); returns how many."""
    if smtp is None:
        return 0
    with session_factory() as session:
        query = select(NoticeSettings.shop_domain).where(NoticeSettings.verification_pending.is_(True))
        shops = session.scalars(query if shop_domain is None else query.where(NoticeSettings.shop_domain == shop_domain)).all()
    sent = 0
    for shop in shops:
        with read_only(session_factory)() as session:
            row = settings_row(session, shop)
            address, name = row.sender_address, shop_display_name(shop_profile(session, shop), shop)
        if not address or not _claim_verification(session_factory, shop, address):
            continue  # nothing to confirm, or another run took it
        with notice_language(DEFAULT_LANGUAGE, None):
            subject, body = render("sender_verification.txt", shop_name=name, address=address,
                                   link=verify_sender_url(app_settings, shop, address))
        try:
            send_email(smtp, address, subject, body)
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("sender verification for %s not sent: %s", shop, type(exc).__name__)
            with session_factory.begin() as session:
                row = settings_row(session, shop)
                if row is not None and row.sender_address == address:  # unchanged: the next pass tries again
                    row.verification_pending, row.verification_sent_at = True, None
            continue
        sent += 1
    return sent


def _claim_verification(session_factory, shop_domain: str, address: str) -> bool:
    """Take the shop's pending confirmation email for this run (a conditional UPDATE): overlapping runs send it once."""
    with session_factory.begin() as session:
        result = session.execute(update(NoticeSettings).where(NoticeSettings.shop_domain == shop_domain, NoticeSettings.verification_pending.is_(True),
                                                              NoticeSettings.sender_address == address)
                                 .values(verification_pending=False, verification_sent_at=utcnow()).execution_options(synchronize_session=False))
        return result.rowcount == 1
