"""JSON API for the admin UI; every route needs a session token and sees only its shop."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify
from sqlalchemy import func, select

from ..auth.session_tokens import require_session_token
from ..models import InboxStatus, Shop, WebhookDelivery
from ..webhooks.worker import retry_dead_letter

blueprint = Blueprint("api", __name__, url_prefix="/api")


def _session():
    return current_app.extensions["services"].session_factory


@blueprint.get("/shop")
@require_session_token
def shop_status():
    """The shop's install state and webhook inbox counts."""
    with _session()() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == g.shop_domain))
        counts = dict(
            session.execute(
                select(WebhookDelivery.status, func.count())
                .where(WebhookDelivery.shop_domain == g.shop_domain)
                .group_by(WebhookDelivery.status)
            ).all()
        )
    return jsonify(
        shop=g.shop_domain,
        installed=bool(shop and shop.status == "installed"),
        installed_at=shop.installed_at.isoformat() if shop else None,
        webhooks=counts,
    )


@blueprint.get("/dead-letters")
@require_session_token
def dead_letters():
    """Dead-lettered deliveries of this shop, with their errors (no payloads: they hold PII)."""
    with _session()() as session:
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.shop_domain == g.shop_domain, WebhookDelivery.status == InboxStatus.DEAD.value)
            .order_by(WebhookDelivery.id.desc())
            .limit(200)
        ).all()
    return jsonify(
        dead_letters=[
            {"id": r.id, "topic": r.topic, "webhook_id": r.webhook_id, "attempts": r.attempts, "error": r.last_error, "received_at": r.received_at.isoformat()}
            for r in rows
        ]
    )


@blueprint.post("/dead-letters/<int:delivery_id>/retry")
@require_session_token
def retry_dead(delivery_id: int):
    """Queue a dead letter again; 404 for another shop's row."""
    services = current_app.extensions["services"]
    with services.session_factory.begin() as session:
        ok = retry_dead_letter(session, delivery_id, g.shop_domain)
    if not ok:
        return jsonify(error="not found"), 404
    services.wake_inbox_worker()
    return jsonify(queued=delivery_id)
