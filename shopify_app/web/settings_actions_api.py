"""JSON API behind the Settings page's own actions: KPI targets in human units, and a test alert on every channel."""
from __future__ import annotations

import math
import threading
import time

from flask import Blueprint, current_app, g, jsonify

from ..auth.session_tokens import require_session_token
from ..i18n import gettext as _
from ..kpis.targets import get_targets, set_targets
from ..kpis.units import from_human, human_targets
from ..notify.alert_channels import Claimed, SendFailed, load_channels, post_to_slack, send_alert_email, webhook_host
from ..notify.models import Channel
from .api_schemas import validated_body

blueprint = Blueprint("settings_actions_api", __name__, url_prefix="/api")
TEST_ALERT_COOLDOWN = 30.0  # seconds between a shop's test alerts: each click emails every address and posts to Slack


class ShopCooldown:
    """At most one action per shop every `seconds` (in this process): the seconds left to wait, or 0 and the turn is taken."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def take(self, shop: str) -> float:
        """0.0 and the shop's turn is recorded, or the seconds until its next turn."""
        now = time.monotonic()
        with self._lock:
            left = self._last.get(shop, -math.inf) + self.seconds - now
            if left > 0:
                return left
            self._last[shop] = now
            return 0.0


def _services():
    return current_app.extensions["services"]


@blueprint.put("/settings/kpi-targets/human")
@require_session_token
@validated_body("KpiTargetsHuman")
def put_human_targets():
    """Change KPI targets given in percent (rates) and hours: {on_time_min: 95, forward_hours: 4}; the targets in both units."""
    try:
        stored = {key: from_human(key, float(value)) for key, value in g.body.items()}
    except ValueError as exc:
        return jsonify(error=str(exc), fields=[{"field": next(iter(g.body)), "message": str(exc)}]), 400
    with _services().session_factory.begin() as session:
        set_targets(session, g.shop_domain, stored)
        targets = get_targets(session, g.shop_domain)
    return jsonify(targets=targets, human=human_targets(targets))


@blueprint.post("/settings/alert-channels/test")
@require_session_token
@validated_body("Empty", optional=True)
def send_test_alert():
    """Send one test message to every configured alert channel now; the outcome per channel (nothing is stored)."""
    services = _services()
    with services.read_session_factory() as session:
        channels = load_channels(session, g.shop_domain, services.box)
    if not channels.configured():
        return jsonify(error=_("no alert channel is set up yet: add an email address or a Slack webhook first")), 409
    wait = current_app.extensions.setdefault("test_alert_cooldown", ShopCooldown(TEST_ALERT_COOLDOWN)).take(g.shop_domain)
    if wait:
        seconds = math.ceil(wait)
        response = jsonify(error=_("a test alert was just sent; try again in %(n)s seconds", n=seconds))
        return response, 429, {"Retry-After": str(seconds)}
    link = services.app_home_in_admin_url(g.shop_domain)
    subject = _("[Dropship Ops] test alert")
    text = _("This is a test alert from Dropship Ops for %(shop)s. Real alerts arrive here like this one.", shop=g.shop_domain)
    claimed = Claimed(notification_id=0, attempt=1, channel="", shop_domain=g.shop_domain, alert_id=0, subject=subject,
                      email_body=f"{text}\n\n{link}\n", slack_text=f"*{subject}*\n{text}\n<{link}>", emails=channels.emails,
                      slack_webhook_url=channels.slack_webhook_url)
    results = []
    for channel in channels.configured():  # no transaction is open while mail servers and Slack answer
        try:
            if channel == Channel.EMAIL.value:
                if services.settings.smtp is None:
                    raise SendFailed(_("no mail server is configured for this app (SMTP_HOST)"))
                send_alert_email(services.settings.smtp, claimed)
                detail = _("sent to %(n)s address(es)", n=len(channels.emails))
            else:
                post_to_slack(channels.slack_webhook_url, claimed.slack_text)
                detail = _("posted to %(host)s", host=webhook_host(channels.slack_webhook_url or ""))
            results.append({"channel": channel, "ok": True, "detail": detail})
        except SendFailed as exc:
            results.append({"channel": channel, "ok": False, "detail": exc.reason})
    return jsonify(results=results)
