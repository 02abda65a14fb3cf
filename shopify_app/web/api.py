"""JSON API for the admin UI; every route needs a session token and sees only its shop."""
from __future__ import annotations

import functools

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException
from sqlalchemy import func, select

from ..auth.session_tokens import require_session_token
from ..models import Shop, WebhookDelivery
from ..webhooks.worker import retry_dead_letter
from .api_schemas import bounded_ids, validated_body

blueprint = Blueprint("api", __name__, url_prefix="/api")
bounded_ids(blueprint)


@blueprint.app_errorhandler(404)
@blueprint.app_errorhandler(405)
def api_routing_error(error: HTTPException):
    """Unknown /api/ paths (and ids out of range) answer JSON like the API; other paths keep Flask's page."""
    if not request.path.startswith("/api/"):
        return error
    return jsonify(error="not found" if error.code == 404 else "method not allowed"), error.code


@blueprint.app_errorhandler(413)
def api_body_too_large(error: HTTPException):
    """A body over the request cap on /api/ answers JSON naming the file field, like the handlers' own size check."""
    if not request.path.startswith("/api/"):
        return error
    from ..i18n import gettext as _
    from ..mappings.files import too_large_message

    message = too_large_message() if request.mimetype != "application/json" else _("the request body is too large")
    return jsonify(error=message, fields=[{"field": "file" if request.mimetype != "application/json" else "body", "message": message}]), 413


@functools.cache
def _document() -> dict:
    from .openapi import build_document

    return build_document()


@blueprint.get("/openapi.json")
def openapi_document():
    """This API as an OpenAPI 3.1 document (public: it holds no shop data)."""
    return jsonify(_document())


def _session():
    return current_app.extensions["services"].session_factory


@blueprint.get("/shop")
@require_session_token
def shop_status():
    """The shop's install state, webhook inbox counts and the install's order backfill."""
    from ..orders.models import InstallBackfill

    with _session()() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == g.shop_domain))
        backfill = session.scalar(select(InstallBackfill).where(InstallBackfill.shop_domain == g.shop_domain))
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
        backfill=None if backfill is None else {
            "status": backfill.status, "window_days": backfill.window_days, "method": backfill.method,
            "seen": backfill.seen, "total": backfill.total, "finished_at": backfill.finished_at.isoformat() if backfill.finished_at else None,
        },
    )


@blueprint.get("/orders")
@require_session_token
def orders():
    """The shop's latest orders with their pipeline state and supplier orders."""
    from ..orders.models import Order
    from ..suppliers.models import SupplierOrder

    with _session()() as session:
        rows = session.scalars(select(Order).where(Order.shop_domain == g.shop_domain).order_by(Order.id.desc()).limit(50)).all()
        deliveries = session.scalars(select(SupplierOrder).where(SupplierOrder.order_id.in_([o.id for o in rows]))).all()
        by_order: dict[int, list] = {}
        for d in deliveries:
            by_order.setdefault(d.order_id, []).append({"supplier": d.supplier.name, "state": d.state, "supplier_order_id": d.supplier_order_id})
        return jsonify(
            orders=[
                {"id": o.id, "name": o.name, "state": o.state, "financial_status": o.financial_status, "supplier_orders": by_order.get(o.id, [])}
                for o in rows
            ]
        )


@blueprint.get("/orders/<id:order_id>")
@require_session_token
def order_timeline(order_id: int):
    """One order's timeline (404 for another shop's order)."""
    from ..orders.models import Order

    with _session()() as session:
        order = session.get(Order, order_id)
        if order is None or order.shop_domain != g.shop_domain:
            return jsonify(error="not found"), 404
        return jsonify(
            id=order.id,
            name=order.name,
            state=order.state,
            timeline=[{"kind": e.kind, "actor": e.actor, "detail": e.detail, "at": e.created_at.isoformat()} for e in order.events],
        )


@blueprint.get("/dead-letters")
@require_session_token
def dead_letters():
    """Dead-lettered deliveries of this shop, with their errors (no payloads: they hold PII)."""
    from .page_data import dead_letters as dead_letter_rows

    with _session()() as session:
        return jsonify(dead_letters=dead_letter_rows(session, g.shop_domain))


@blueprint.post("/dead-letters/<id:delivery_id>/retry")
@require_session_token
@validated_body("Empty", optional=True)
def retry_dead(delivery_id: int):
    """Queue a dead letter again; 404 for another shop's row."""
    services = current_app.extensions["services"]
    with services.session_factory.begin() as session:
        ok = retry_dead_letter(session, delivery_id, g.shop_domain)
    if not ok:
        return jsonify(error="not found"), 404
    services.wake_inbox_worker()
    return jsonify(queued=delivery_id)
