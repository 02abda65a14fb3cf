"""What each admin page shows, read from our records for one shop (the CSV exports read the same rows)."""
from __future__ import annotations

import statistics
from collections import Counter

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from integrations.suppliers.links import http_link

from ..bounds import MAX_ID
from ..deliveries.views import order_fulfillments
from ..models import InboxStatus, WebhookDelivery
from ..orders.models import Order, OrderState
from ..reconcile.models import Desync, ReconcileRun
from ..returns.models import Decision, ReturnCase
from ..suppliers.models import DeliveryState, ProductMapping, Supplier, SupplierOrder, SupplierShipment

PAGE_SIZE = 100
PROBLEM_DELIVERY_STATES = (DeliveryState.FAILED.value, DeliveryState.UNKNOWN.value)


def _iso(value) -> str | None:
    return value.isoformat(timespec="minutes") if value is not None else None


def pipeline(session: Session, shop: str) -> dict:
    """Orders by state and supplier orders by state."""
    from ..kpis.state_counts import pipeline_counts

    counts = pipeline_counts(session, shop)  # kept by triggers: a few rows, not a count over every order (issue 19)
    orders, deliveries = counts["order"], counts["delivery"]
    return {"orders": [(state.value, orders.get(state.value, 0)) for state in OrderState],
            "deliveries": [(state.value, deliveries.get(state.value, 0)) for state in DeliveryState]}


SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def open_alerts(session: Session, shop: str, limit: int = 200) -> list[dict]:
    """Unresolved alerts, critical first, newest first."""
    from ..alerts import open_alerts as newest_first

    rows = sorted(newest_first(session, shop), key=lambda a: SEVERITY_RANK.get(a.severity, 3))[:limit]
    return [{"id": a.id, "kind": a.kind, "severity": a.severity, "subject": a.subject, "message": a.message, "count": a.count,
             "first_seen": _iso(a.first_seen), "last_seen": _iso(a.last_seen)} for a in rows]


def open_desyncs(session: Session, shop: str) -> list[dict]:
    """Desyncs still open, with their evidence."""
    rows = session.scalars(select(Desync).where(Desync.shop_domain == shop, Desync.status == "open").order_by(Desync.severity, Desync.last_seen.desc())).all()
    return [{"id": d.id, "kind": d.kind, "ref": d.ref, "subject": d.subject, "severity": d.severity, "evidence": d.evidence, "times_seen": d.times_seen,
             "note": d.repair_note, "first_seen": _iso(d.first_seen), "last_seen": _iso(d.last_seen)} for d in rows]


def dead_letters(session: Session, shop: str, limit: int = 200) -> list[dict]:
    """Webhooks we could not handle, newest first (no payloads: they hold personal data); the page and the API show these."""
    rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.shop_domain == shop, WebhookDelivery.status == InboxStatus.DEAD.value)
                           .order_by(WebhookDelivery.id.desc()).limit(limit)).all()
    return [{"id": r.id, "topic": r.topic, "webhook_id": r.webhook_id, "attempts": r.attempts, "error": r.last_error, "received_at": r.received_at.isoformat()}
            for r in rows]


def dashboard(session: Session, shop: str, bucket: str = "day") -> dict:
    """Pipeline, problems and KPIs for the dashboard."""
    from .kpi_view import kpi_cards, kpi_periods

    last_run = session.scalar(select(ReconcileRun).where(ReconcileRun.shop_domain == shop).order_by(ReconcileRun.id.desc()).limit(1))
    desyncs = Counter(d["kind"] for d in open_desyncs(session, shop))
    return {
        "pipeline": pipeline(session, shop), "alerts": open_alerts(session, shop, limit=10), "desyncs": sorted(desyncs.items()),
        "dead_letter_count": session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.shop_domain == shop, WebhookDelivery.status == InboxStatus.DEAD.value)) or 0,
        "last_reconcile": {"at": _iso(last_run.started_at), "report": last_run.report} if last_run else None,
        "kpis": kpi_cards(session, shop), "periods": kpi_periods(session, shop, bucket),
    }


def orders(session: Session, shop: str, *, q: str = "", state: str = "", supplier: str = "", problem: str = "") -> dict:
    """Orders matching the filters, newest first, with their supplier orders and open problems."""
    query = select(Order).where(Order.shop_domain == shop)
    if q:
        query = query.where(or_(Order.name.ilike(f"%{q}%"), Order.shopify_id == q.lstrip("#")))
    if state:
        query = query.where(Order.state == state)
    if supplier:
        query = query.where(select(SupplierOrder.id).where(SupplierOrder.order_id == Order.id, SupplierOrder.supplier_id == _int(supplier)).exists())
    if problem == "delivery":
        query = query.where(select(SupplierOrder.id).where(SupplierOrder.order_id == Order.id, SupplierOrder.state.in_(PROBLEM_DELIVERY_STATES)).exists())
    elif problem == "held":
        query = query.where(Order.state == OrderState.HELD.value)
    elif problem == "desync":
        # Every order-level desync names its order in `subject` (its ref may be the delivery or the parcel).
        query = query.where(Order.name.in_(select(Desync.subject).where(Desync.shop_domain == shop, Desync.status == "open")))
    rows = session.scalars(query.order_by(Order.id.desc()).limit(PAGE_SIZE)).all()
    deliveries: dict[int, list] = {}
    for d, supplier_name in session.execute(select(SupplierOrder, Supplier.name).join(Supplier, Supplier.id == SupplierOrder.supplier_id)
                                            .where(SupplierOrder.order_id.in_([o.id for o in rows]))):
        deliveries.setdefault(d.order_id, []).append({"supplier": supplier_name, "state": d.state, "supplier_order_id": d.supplier_order_id, "error": d.last_error})
    suppliers = session.execute(select(Supplier.id, Supplier.name).where(Supplier.shop_domain == shop, Supplier.deleted_at.is_(None)).order_by(Supplier.name)).all()
    with_desync = set(session.scalars(select(Desync.subject).where(Desync.shop_domain == shop, Desync.status == "open",
                                                                  Desync.subject.in_([o.name for o in rows if o.name]))))
    return {
        "orders": [{"id": o.id, "name": o.name, "state": o.state, "financial_status": o.financial_status, "fulfillment_status": o.fulfillment_status,
                    "total": o.total_price, "currency": o.currency, "created_at": _iso(o.shopify_created_at or o.created_at),
                    "customer": customer_name(o), "country": (o.shipping_address or {}).get("country_code"),
                    "deliveries": deliveries.get(o.id, []), "problems": order_problems(o, deliveries.get(o.id, []), o.name in with_desync)} for o in rows],
        "states": [s.value for s in OrderState], "supplier_choices": [(str(i), n) for i, n in suppliers],
    }


def customer_name(order: Order) -> str | None:
    """Who the order ships to, by name (the shipping address's name, else first and last name)."""
    address = order.shipping_address or {}
    name = address.get("name") or " ".join(filter(None, (address.get("first_name"), address.get("last_name"))))
    return name or None


def order_problems(order: Order, deliveries: list[dict], has_desync: bool) -> list[str]:
    """The order's open problems as the orders list's filter names them: delivery, held, desync."""
    problems = ["delivery"] if any(d["state"] in PROBLEM_DELIVERY_STATES for d in deliveries) else []
    if order.state == OrderState.HELD.value:
        problems.append("held")
    return problems + (["desync"] if has_desync else [])


def _int(value: str) -> int:
    """A filter's id, or -1 (matches nothing) when it is not one a 64-bit column can hold."""
    try:
        number = int(value)
    except ValueError:
        return -1
    return number if 0 < number <= MAX_ID else -1


def _order_amounts(order: Order) -> dict:
    """The order's money as Shopify sent it: shop currency, and the customer's when it differs."""
    codes = [a.get("code") or a.get("title") for a in order.discount_applications or [] if a.get("code") or a.get("title")]
    return {
        "currency": order.currency, "subtotal": order.subtotal_price, "discounts": order.total_discounts, "discount_codes": codes,
        "shipping": order.total_shipping, "tax": order.total_tax, "taxes_included": order.taxes_included, "tip": order.total_tip,
        "presentment": {"currency": order.presentment_currency, "total": order.total_price_presentment}
        if order.presentment_currency and order.presentment_currency != order.currency else None,
    }


def supplier_deliveries(session: Session, order: Order) -> list[dict]:
    """The order's supplier orders with their parcels, in one query (the admin's order page and the customer's page)."""
    rows = session.execute(
        select(SupplierOrder, Supplier.name, SupplierShipment)
        .join(Supplier, Supplier.id == SupplierOrder.supplier_id)
        .outerjoin(SupplierShipment, SupplierShipment.supplier_order_id == SupplierOrder.id)
        .where(SupplierOrder.order_id == order.id).order_by(SupplierOrder.id, SupplierShipment.id)
    )
    deliveries: dict[int, dict] = {}
    for d, supplier_name, p in rows:
        delivery = deliveries.setdefault(d.id, {"supplier": supplier_name, "state": d.state, "supplier_order_id": d.supplier_order_id, "attempts": d.attempts,
                                                "error": d.last_error, "placed_at": _iso(d.placed_at), "cost": d.cost, "parcels": []})
        if p is not None:
            delivery["parcels"].append({"carrier": p.carrier, "tracking_number": p.tracking_number, "tracking_url": http_link(p.tracking_url), "shipped_at": p.shipped_at,
                                        "eta": p.estimated_delivery, "delivered_at": p.delivered_at, "state": p.state, "fulfillment_gid": p.shopify_fulfillment_id})
    return list(deliveries.values())


def order_detail(session: Session, shop: str, order_id: int) -> dict | None:
    """One order: lines, supplier orders with their parcels, the timeline."""
    order = session.get(Order, order_id)
    if order is None or order.shop_domain != shop:
        return None
    deliveries = supplier_deliveries(session, order)
    return {
        "order": {"id": order.id, "name": order.name, "state": order.state, "financial_status": order.financial_status, "fulfillment_status": order.fulfillment_status,
                  "total": order.total_price, "created_at": _iso(order.shopify_created_at or order.created_at), "cancelled_at": _iso(order.cancelled_at),
                  "amounts": _order_amounts(order)},
        "lines": [{"sku": l.sku, "quantity": l.quantity, "price": l.price, "shippable": l.shippable, "discount": l.discount, "tax": l.tax,
                   "tip": l.is_tip, "title": l.title} for l in order.lines],
        "deliveries": deliveries,
        "fulfillment_orders": _fulfillment_orders(session, order),
        "shopify_fulfillments": order_fulfillments(session, order),
        "timeline": [{"kind": e.kind, "actor": e.actor, "detail": e.detail, "at": _iso(e.created_at)} for e in order.events],
    }


def _fulfillment_orders(session: Session, order: Order) -> list[dict]:
    """Shopify's fulfillment orders of the order as we hold them: where, who works them ("not ours" included), holds."""
    from ..fulfillment.models import FulfillmentOrderRecord

    suppliers_by_id = {s.id: s.name for s in session.scalars(select(Supplier).where(Supplier.shop_domain == order.shop_domain))}
    rows = session.scalars(select(FulfillmentOrderRecord).where(FulfillmentOrderRecord.order_id == order.id).order_by(FulfillmentOrderRecord.id))
    return [{"id": r.shopify_id, "status": r.status, "request_status": r.request_status, "managed_by": r.managed_by, "location": r.location_gid,
             "supplier": suppliers_by_id.get(r.supplier_id), "holds": [_hold_label(h) for h in r.holds or []],
             "app_hold_note": r.app_hold_note} for r in rows]


def _hold_label(hold: dict) -> str:
    """A hold on a fulfillment order as the page shows it: its reason in words, and whether the app placed it."""
    from ..i18n import gettext as _
    from .admin_strings import label

    reason = label(hold.get("reason"))
    return _("%(reason)s (ours)", reason=reason) if hold.get("ours") else reason


def suppliers(session: Session, shop: str) -> dict:
    """Every supplier: settings, whether credentials are set, mappings, return terms, SLA and a scorecard."""
    from ..returns.analytics import return_analytics
    from ..suppliers.reliability import reliability

    returns_by_supplier = {row["supplier_id"]: row for row in return_analytics(session, shop)["by_supplier"]}
    out = []
    for s in session.scalars(select(Supplier).where(Supplier.shop_domain == shop, Supplier.deleted_at.is_(None)).order_by(Supplier.priority, Supplier.name)):
        mappings = session.scalars(select(ProductMapping).where(ProductMapping.supplier_id == s.id).order_by(ProductMapping.sku).limit(PAGE_SIZE)).all()
        out.append({
            "id": s.id, "name": s.name, "kind": s.kind, "active": s.active, "priority": s.priority, "vendor": s.vendor,
            "fulfillment_model": s.fulfillment_model, "location_gid": s.location_gid, "has_credentials": s.credentials_enc is not None,
            "base_url": (s.settings or {}).get("base_url"), "sla_hours": (s.settings or {}).get("sla_hours", 72),
            "return_terms": s.return_terms or {}, "inventory_terms": s.inventory_terms or {},
            "mappings": [{"sku": m.sku, "supplier_sku": m.supplier_sku, "cost": m.cost} for m in mappings],
            "scorecard": scorecard(session, s.id, returns_by_supplier.get(s.id)),
            "reliability": reliability(session, shop, s.id),
        })
    return {"suppliers": out}


def scorecard(session: Session, supplier_id: int, returns: dict | None) -> dict:
    """Orders placed, shipped, failed; hours from placing to the first parcel; return rate."""
    states = dict(session.execute(select(SupplierOrder.state, func.count()).where(SupplierOrder.supplier_id == supplier_id).group_by(SupplierOrder.state)).all())
    first_parcel = (select(SupplierShipment.supplier_order_id, func.min(SupplierShipment.created_at).label("at"))
                    .group_by(SupplierShipment.supplier_order_id).subquery())
    hours = [(at - placed).total_seconds() / 3600 for placed, at in session.execute(
        select(SupplierOrder.placed_at, first_parcel.c.at).join(first_parcel, first_parcel.c.supplier_order_id == SupplierOrder.id)
        .where(SupplierOrder.supplier_id == supplier_id, SupplierOrder.placed_at.is_not(None))) if at is not None and placed is not None]
    placed = sum(n for state, n in states.items() if state not in (DeliveryState.PENDING.value, DeliveryState.FAILED.value, DeliveryState.UNKNOWN.value))
    return {
        "placed": placed, "shipped": states.get(DeliveryState.SHIPPED.value, 0) + states.get(DeliveryState.PARTIALLY_SHIPPED.value, 0),
        "failed": states.get(DeliveryState.FAILED.value, 0), "waiting": states.get(DeliveryState.PENDING.value, 0) + states.get(DeliveryState.UNKNOWN.value, 0),
        "median_ship_hours": round(statistics.median(hours), 1) if hours else None,
        "return_rate": returns["return_rate"] if returns else None,
    }


def inventory(session: Session, shop: str) -> dict:
    """The inventory API's overview (feeds, last sync, drift, failures)."""
    from .inventory_api import inventory_overview

    return inventory_overview(session, shop)


def returns(session: Session, shop: str) -> dict:
    """The queue waiting for the merchant, open complaints and running deadlines (soonest first), the latest returns, and what comes back by kind."""
    from ..returns.analytics import return_analytics
    from ..returns.models import CaseKind, ComplaintState
    from .returns_api import case_json

    waiting = select(ReturnCase).where(ReturnCase.shop_domain == shop, ReturnCase.decision == Decision.REVIEW, ReturnCase.status == "requested")
    queue = session.scalars(waiting.where(ReturnCase.kind != CaseKind.COMPLAINT).order_by(ReturnCase.id)).all()
    complaints = session.scalars(waiting.where(ReturnCase.complaint_state == ComplaintState.OPEN)
                                 .order_by(ReturnCase.complaint_due_at.is_(None), ReturnCase.complaint_due_at, ReturnCase.id)).all()
    refunds = session.scalars(select(ReturnCase).where(ReturnCase.shop_domain == shop, ReturnCase.refund_due_at.is_not(None), ReturnCase.refunded_at.is_(None),
                                                       ReturnCase.status.not_in(("declined", "canceled"))).order_by(ReturnCase.refund_due_at).limit(PAGE_SIZE)).all()
    latest = session.scalars(select(ReturnCase).where(ReturnCase.shop_domain == shop).order_by(ReturnCase.id.desc()).limit(PAGE_SIZE)).all()
    analytics = return_analytics(session, shop)
    return {"queue": [case_json(c) for c in queue], "complaints": [case_json(c) for c in complaints], "refunds": [case_json(c) for c in refunds],
            "returns": [case_json(c) for c in latest], "outcomes": _outcomes(session, [c.id for c in latest]), "kinds": {"store": analytics["store"], "by_product": analytics["by_product"], "by_supplier": analytics["by_supplier"]}}


def _outcomes(session: Session, case_ids: list[int]) -> dict[int, dict]:
    """{case id: its outcome as the admin shows it} (issue 16 part O)."""
    from ..returns.outcome_models import ReturnOutcome
    from .returns_api import outcome_json

    if not case_ids:
        return {}
    return {row.return_case_id: outcome_json(row) for row in session.scalars(select(ReturnOutcome).where(ReturnOutcome.return_case_id.in_(case_ids)))}


def problems(session: Session, shop: str) -> dict:
    """Open desyncs, open alerts and dead letters."""
    return {"desyncs": open_desyncs(session, shop), "alerts": open_alerts(session, shop), "dead_letters": dead_letters(session, shop)}


def settings(session: Session, shop: str, box) -> dict:
    """The return policy, KPI targets and alert channels as stored (defaults filled in)."""
    from ..kpis.targets import get_targets
    from ..notify.alert_channels import load_channels
    from ..returns.intake import store_policy

    # The channels' public view: the Slack URL is a secret and never goes back to a browser.
    from ..notify.notice_settings import notice_settings

    return {"policy": store_policy(session, shop).as_dict(), "targets": get_targets(session, shop), "channels": load_channels(session, shop, box).public(),
            "notices": notice_settings(session, shop)}  # issue 17 part N: customer emails
