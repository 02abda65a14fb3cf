"""GET /healthz: database and scheduler status as JSON."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import func, select, text

from ..models import InboxStatus, WebhookDelivery

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    """200 when the database answers; 503 otherwise."""
    services = current_app.extensions["services"]
    database = {"ok": False, "dialect": services.engine.dialect.name}
    inbox = {}
    try:
        with services.session_factory() as session:
            session.execute(text("SELECT 1"))
            inbox = dict(
                session.execute(
                    select(WebhookDelivery.status, func.count())
                    .where(WebhookDelivery.status.in_([InboxStatus.PENDING.value, InboxStatus.DEAD.value]))
                    .group_by(WebhookDelivery.status)
                ).all()
            )
        database["ok"] = True
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        database["error"] = type(exc).__name__
    scheduler = services.scheduler.status() if services.scheduler is not None else {"running": False, "enabled": False}
    body = {
        "status": "ok" if database["ok"] else "degraded",
        "database": database,
        "scheduler": scheduler,
        "inbox": {"pending": inbox.get("pending", 0), "dead": inbox.get("dead", 0)},
        "sandbox": services.settings.sandbox,
    }
    return jsonify(body), 200 if database["ok"] else 503
