"""JSON API for alerts: the list with notification status per channel, resolving, and the alert channel settings."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from ..alerts import resolve_alert
from ..auth.session_tokens import require_session_token
from ..models import utcnow
from ..notify.alert_channels import InvalidChannels, check_webhook_target, load_channels, notifications_by_alert, parse_channels, save_channels
from ..suppliers.models import Alert
from .api_schemas import bounded_ids, validated_body

blueprint = Blueprint("alerts_api", __name__, url_prefix="/api")
bounded_ids(blueprint)

RECENTLY_RESOLVED = dt.timedelta(days=7)
MAX_OPEN, MAX_RESOLVED = 200, 50


def _services():
    return current_app.extensions["services"]


def alert_json(alert: Alert, notifications: dict[str, dict]) -> dict:
    """An alert as the admin shows it, with its current occurrence's notification per channel."""
    iso = lambda t: t.isoformat() if t else None  # noqa: E731
    return {
        "id": alert.id, "kind": alert.kind, "severity": alert.severity, "subject": alert.subject, "message": alert.message,
        "count": alert.count, "first_seen": iso(alert.first_seen), "last_seen": iso(alert.last_seen), "resolved_at": iso(alert.resolved_at),
        "status": "resolved" if alert.resolved_at else "open", "notifications": notifications,
    }


@blueprint.get("/alerts")
@require_session_token
def list_alerts():
    """Open alerts (newest first), then those resolved in the last week, each with its email/Slack notification status."""
    since = utcnow() - RECENTLY_RESOLVED
    with _services().session_factory() as session:
        mine = select(Alert).where(Alert.shop_domain == g.shop_domain)
        alerts = list(session.scalars(mine.where(Alert.resolved_at.is_(None)).order_by(Alert.id.desc()).limit(MAX_OPEN)))
        alerts += session.scalars(mine.where(Alert.resolved_at >= since).order_by(Alert.resolved_at.desc(), Alert.id.desc()).limit(MAX_RESOLVED))
        notes = notifications_by_alert(session, [a.id for a in alerts])
        return jsonify(alerts=[alert_json(a, notes.get(a.id, {})) for a in alerts])


@blueprint.post("/alerts/<id:alert_id>/resolve")
@require_session_token
@validated_body("Empty", optional=True)
def resolve(alert_id: int):
    """The merchant dealt with it: resolve the alert (idempotent; 404 for another shop's alert). Unsent notifications are dropped."""
    with _services().session_factory.begin() as session:
        alert = session.get(Alert, alert_id)
        if alert is None or alert.shop_domain != g.shop_domain:
            return jsonify(error="not found"), 404
        resolve_alert(session, alert.dedupe_key)
        session.refresh(alert)
        notes = notifications_by_alert(session, [alert.id])
        return jsonify(alert=alert_json(alert, notes.get(alert.id, {})))


@blueprint.get("/settings/alert-channels")
@require_session_token
def get_alert_channels():
    """The shop's alert channels; the Slack webhook URL is write-only (shown as configured + host)."""
    with _services().session_factory() as session:
        return jsonify(load_channels(session, g.shop_domain, _services().box).public())


@blueprint.put("/settings/alert-channels")
@require_session_token
@validated_body("AlertChannels")
def put_alert_channels():
    """Change the alert channels: fields sent are replaced, left out are kept; slack_webhook_url null removes it. 400 lists the problems."""
    data = request.get_json(silent=True)
    # The webhook's host is resolved and checked by the egress policy before the write transaction opens.
    target_problems = check_webhook_target(data)
    if target_problems:
        return jsonify(error="invalid alert channel settings", problems=target_problems), 400
    with _services().session_factory.begin() as session:
        try:
            channels = parse_channels(data, load_channels(session, g.shop_domain, _services().box))
        except InvalidChannels as exc:
            return jsonify(error="invalid alert channel settings", problems=exc.problems), 400
        save_channels(session, g.shop_domain, channels, _services().box)
    return jsonify(channels.public())
