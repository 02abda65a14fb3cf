"""What the customer's page shows of one order, in plain words: built from what the admin's order page computes (page_data.order_detail)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.suppliers.links import http_link

from ..cases.models import Case, CaseMessage, CasePhoto
from ..i18n import as_datetime, gettext as _
from ..orders.models import Order
from ..returns.models import ReturnCase
from ..deliveries.views import order_fulfillments
from ..web.page_data import supplier_deliveries

# The carrier's word (Shopify's shipment_status) -> how far the parcel got.
CARRIER_PROGRESS = {"confirmed": 1, "label_printed": 1, "label_purchased": 1, "in_transit": 2, "attempted_delivery": 3, "ready_for_pickup": 3,
                    "out_for_delivery": 3, "delivered": 4, "picked_up": 4}
PROBLEM_STATUSES = {"failure", "attempted_delivery"}


def parcel_steps() -> list[tuple[str, str]]:
    """The steps a parcel goes through, in the customer's language."""
    return [("shipped", _("Shipped")), ("in_transit", _("In transit")), ("out_for_delivery", _("Out for delivery")), ("delivered", _("Delivered"))]


def return_status_label(case: ReturnCase) -> str:
    """A return's state as the customer understands it."""
    if case.refunded_at:
        return _("Refunded")
    return {"requested": _("Return requested, waiting for our answer"), "open": _("Return approved"), "declined": _("Return declined"),
            "canceled": _("Return cancelled"), "closed": _("Return completed")}.get(case.status, case.status)


def case_kind_label(kind: str) -> str:
    """A case kind in the customer's words."""
    return dict(case_kinds()).get(kind, kind)


def case_kinds() -> list[tuple[str, str]]:
    """The reports a customer can make, in the customer's language (out of stock is opened by the app, not chosen)."""
    return [("damaged", _("The item arrived damaged")), ("wrong_item", _("I received the wrong item")), ("not_arrived", _("My order has not arrived")),
            ("late", _("My order is late")), ("question", _("I have a question")), ("out_of_stock", _("An item is out of stock"))]


def order_view(session: Session, order: Order) -> dict:
    """The order for its customer: summary, steps, parcels with tracking and arrival, returns, cases with their messages."""
    # What the admin's order page computes, without its merchant-only parts (fulfillment orders, events, per-parcel lookups).
    detail = {"deliveries": supplier_deliveries(session, order), "shopify_fulfillments": order_fulfillments(session, order, with_ours=False)}
    placed = [as_datetime(d["placed_at"]) for d in detail["deliveries"] if d["placed_at"]]
    steps = [{"key": "received", "label": _("Order received"), "at": order.shopify_created_at or order.created_at, "done": True},
             {"key": "sent_to_supplier", "label": _("Being prepared for shipping"), "at": min(placed) if placed else None, "done": bool(placed)}]
    if order.cancelled_at:
        steps.append({"key": "cancelled", "label": _("Cancelled"), "at": order.cancelled_at, "done": True})
    return {
        "name": order.name or order.shopify_id,
        "total": order.total_price_presentment or order.total_price,
        "currency": order.presentment_currency or order.currency,
        "lines": [{"title": l.title or l.sku, "quantity": l.quantity} for l in order.lines if not l.is_tip],
        "steps": steps,
        "parcels": _parcels(detail),
        "returns": [{"name": r.name, "status": return_status_label(r), "requested_at": r.requested_at}
                    for r in session.scalars(select(ReturnCase).where(ReturnCase.order_id == order.id).order_by(ReturnCase.id))],
        "cases": _cases(session, order),
    }


def _parcels(detail: dict) -> list[dict]:
    """Every parcel: ours with the supplier's tracking, the carrier's progress from Shopify; the store's own fulfillments too."""
    by_gid = {f["fulfillment_gid"]: f for f in detail["shopify_fulfillments"]}
    parcels, seen = [], set()
    for delivery in detail["deliveries"]:
        for p in delivery["parcels"]:
            carrier = by_gid.get(p["fulfillment_gid"]) or {}
            seen.add(p["fulfillment_gid"])
            parcels.append(_parcel(p["carrier"], p["tracking_number"], p["tracking_url"], p["eta"] or carrier.get("estimated_delivery_at"),
                                   p["shipped_at"], p["delivered_at"] or carrier.get("delivered_at"), carrier))
    for f in detail["shopify_fulfillments"]:
        if f["fulfillment_gid"] not in seen and not f["cancelled"]:
            parcels.append(_parcel(None, None, None, f["estimated_delivery_at"], f["status_at"], f["delivered_at"], f))
    for number, parcel in enumerate(parcels, 1):
        parcel["number"] = number
    return parcels


def _parcel(carrier, tracking_number, tracking_url, eta, shipped_at, delivered_at, shopify: dict) -> dict:
    status = (shopify.get("status") or "").lower()
    progress = 4 if delivered_at else max(CARRIER_PROGRESS.get(status, 1), 2 if shopify.get("in_transit_at") else 1)
    times = {"shipped": shipped_at, "in_transit": shopify.get("in_transit_at"), "out_for_delivery": None, "delivered": delivered_at}
    steps = [{"key": key, "label": label, "done": n <= progress, "current": n == progress, "at": times[key]} for n, (key, label) in enumerate(parcel_steps(), 1)]
    problem = None
    if status == "failure":
        problem = _("The carrier reported a delivery problem: we are on it.")
    elif status == "attempted_delivery":
        problem = _("The carrier tried to deliver the parcel and will try again.")
    return {"carrier": carrier, "tracking_number": tracking_number, "tracking_url": http_link(tracking_url), "eta": None if delivered_at else eta,
            "delivered_at": delivered_at, "steps": steps, "problem": problem}


def _cases(session: Session, order: Order) -> list[dict]:
    """The order's cases with their messages and photo ids (two queries for every case's messages and photos)."""
    cases = session.scalars(select(Case).where(Case.order_id == order.id, Case.shop_domain == order.shop_domain).order_by(Case.id)).all()
    if not cases:
        return []
    messages = session.scalars(select(CaseMessage).where(CaseMessage.case_id.in_([c.id for c in cases])).order_by(CaseMessage.id)).all()
    photos: dict[int, list[int]] = {}
    for photo_id, message_id in session.execute(select(CasePhoto.id, CasePhoto.message_id).where(CasePhoto.message_id.in_([m.id for m in messages]))):
        photos.setdefault(message_id, []).append(photo_id)
    return [{"id": c.id, "kind": case_kind_label(c.kind), "status": c.status, "opened_at": c.opened_at, "due_at": c.due_at,
             "messages": [{"author": m.author, "body": m.body, "at": m.created_at, "photos": photos.get(m.id, [])} for m in messages if m.case_id == c.id]}
            for c in cases]
