"""The delivery_status reconciliation check: fulfillments/* webhooks can be lost, so undelivered
fulfillments are re-read from Shopify now and then, and what we missed is applied."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select, update

from ..reconcile.checks import IN_FLIGHT, CheckResult, Finding
from ..suppliers.models import ShipmentState, SupplierOrder, SupplierShipment
from .models import FulfillmentDelivery
from .status import apply_fulfillment_state, state_from_graphql

RECHECK_AFTER = dt.timedelta(hours=12)  # each undelivered fulfillment is re-read at most twice a day
WINDOW = dt.timedelta(days=45)  # older parcels are lost or delivered long ago: the merchant has the delay alert
MAX_READS = 100  # per pass and shop (about 22 cost points each)


def delivery_status(services, shop: str, now: dt.datetime) -> CheckResult:
    """Fulfillments not known delivered (ours without any status too): re-read them; apply what the webhooks missed."""
    since, recheck = now - WINDOW, now - RECHECK_AFTER
    fd = FulfillmentDelivery
    with services.session_factory() as session:
        unseen = session.scalars(
            select(SupplierShipment.shopify_fulfillment_id)
            .join(SupplierOrder, SupplierOrder.id == SupplierShipment.supplier_order_id)
            .outerjoin(fd, and_(fd.shop_domain == SupplierOrder.shop_domain, fd.fulfillment_gid == SupplierShipment.shopify_fulfillment_id))
            .where(SupplierOrder.shop_domain == shop, SupplierShipment.state == ShipmentState.FULFILLED.value,
                   SupplierShipment.shopify_fulfillment_id.is_not(None), SupplierShipment.delivered_at.is_(None),
                   SupplierShipment.created_at >= since, SupplierShipment.created_at < now - IN_FLIGHT, fd.id.is_(None))
            .order_by(SupplierShipment.id).limit(MAX_READS)
        ).all()
        held = {row.fulfillment_gid: row for row in session.scalars(
            select(fd).where(fd.shop_domain == shop, fd.delivered_at.is_(None), fd.created_at >= since, fd.created_at < now - IN_FLIGHT,
                             or_(fd.fulfillment_status.is_(None), fd.fulfillment_status != "cancelled"),
                             or_(fd.reconciled_at.is_(None), fd.reconciled_at < recheck))
            .order_by(fd.reconciled_at.is_not(None), fd.reconciled_at, fd.id).limit(max(0, MAX_READS - len(unseen)))
        )}
        session.expunge_all()
    result = CheckResult()
    gateway = services.gateway(shop) if unseen or held else None
    for gid in list(unseen) + list(held):
        node = gateway.query("FulfillmentDeliveryStatus", {"id": gid}).get("fulfillment")
        result.checked += 1
        if node is None:
            continue
        state = state_from_graphql(node)
        ours = held.get(gid)
        latest = state.events[-1].status if state.events else None
        if ours is not None and (ours.shipment_status, ours.delivered_at) == (latest, state.delivered_at):
            continue
        result.findings.append(Finding(
            "delivery_status_missed", f"fulfillment:{gid}", state.name or gid,
            {"ours": ours.shipment_status if ours else None, "shopify": latest, "delivered_at": state.delivered_at.isoformat() if state.delivered_at else None},
            repair=_apply(services, shop, state),
        ))
    checked = list(held)

    def finish() -> None:
        if checked:
            with services.session_factory.begin() as session:
                session.execute(update(fd).where(fd.shop_domain == shop, fd.fulfillment_gid.in_(checked)).values(reconciled_at=now))

    result.finish = finish
    return result


def _apply(services, shop: str, state):
    def repair() -> str:
        with services.session_factory.begin() as session:
            row = apply_fulfillment_state(session, shop, state)
            return f"status {row.shipment_status or 'none'}"
    return repair
