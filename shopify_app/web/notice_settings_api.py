"""The merchant's customer-notice settings: steps on/off, follow-up delay, review link, the shop's own sender."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from ..auth.session_tokens import require_session_token
from ..i18n import gettext as _
from ..notify.alert_channels import EMAIL_RE
from ..notify.customer_models import NoticeSettings
from ..notify.customer_notices import send_sender_verifications
from ..notify.notice_settings import notice_settings, review_link_problem, settings_row
from .api_schemas import invalid, validated_body

blueprint = Blueprint("notice_settings_api", __name__, url_prefix="/api")


def _services():
    return current_app.extensions["services"]


def _problems(body: dict) -> list[tuple[str, str]]:
    problems = []
    if "review_url" in body and (reason := review_link_problem(body["review_url"])):
        problems.append(("review_url", reason))
    address = body.get("sender_address")
    if address and not EMAIL_RE.match(address.strip()):
        problems.append(("sender_address", _("is not an email address")))
    name = body.get("sender_name")
    if name and any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        problems.append(("sender_name", _("must be one line with no control characters")))
    return problems


@blueprint.get("/notice-settings")
@require_session_token
def get_notice_settings():
    """The shop's customer-notice settings (defaults until saved), with whether its sender address is verified."""
    with _services().session_factory() as session:
        return jsonify(notice_settings(session, g.shop_domain))


@blueprint.put("/notice-settings")
@require_session_token
@validated_body("NoticeSettings")
def put_notice_settings():
    """Save the given fields; a new sender address is unverified until its confirmation link is opened (emailed now)."""
    body = g.body
    if problems := _problems(body):
        return invalid(problems)
    services = _services()
    with services.session_factory.begin() as session:
        row = settings_row(session, g.shop_domain)
        if row is None:
            row = NoticeSettings(shop_domain=g.shop_domain, steps={}, follow_up_days=7, verification_pending=False)
            session.add(row)
        if "steps" in body:
            row.steps = {**(row.steps or {}), **body["steps"]}
        if "follow_up_days" in body:
            row.follow_up_days = body["follow_up_days"]
        if "review_url" in body:
            row.review_url = (body["review_url"] or "").strip() or None
        if "sender_name" in body:
            row.sender_name = (body["sender_name"] or "").strip() or None
        if "sender_address" in body:
            address = (body["sender_address"] or "").strip() or None
            if address != row.sender_address:
                row.sender_address, row.sender_verified_at, row.verification_pending = address, None, address is not None
        session.flush()
        pending = row.verification_pending
    if pending:  # after the commit, with no transaction open; the notices job retries if SMTP is down now
        send_sender_verifications(services.session_factory, services.settings.smtp, services.settings, shop_domain=g.shop_domain)
    with services.session_factory() as session:
        return jsonify(notice_settings(session, g.shop_domain))
