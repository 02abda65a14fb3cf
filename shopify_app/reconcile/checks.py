"""The reconciliation checks: each finds one kind of desync for a shop and says how to repair it, if it is safe to.

A check reads; a finding's `repair` writes, idempotently (running it twice does no harm),
in its own transaction. Webhooks can be lost, late or reordered, so every check assumes
nothing arrived and compares states, with a grace period for what is merely in flight.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import and_, func, or_, select, update

from ..bounds import bounded_number
from ..fulfillment.models import FulfillmentOrderRecord, ManagedBy
from ..fulfillment.sync import FINISHED, WORKABLE, foreign_holds
from ..inventory.models import InventoryLevel
from ..models import InboxStatus, ShopSetting, WebhookDelivery, utcnow
from ..orders.models import Order, OrderLine, OrderState
from ..orders.sync import FORWARDABLE_FINANCIAL_STATUSES
from ..returns.models import ReturnCase, ReturnLine, RmaState
from ..suppliers.models import DeliveryState, Supplier, SupplierOrder, SupplierOrderLine, SupplierShipment

IN_FLIGHT = dt.timedelta(minutes=10)  # what is younger may still be on its way through webhooks and pumps
DEFAULT_SLA_HOURS = 72
SLA_HOURS_BOUNDS = (1, 24 * 60)  # as the suppliers API validates them
RETURN_STALE_AFTER = dt.timedelta(days=30)
CATCHUP_OVERLAP = dt.timedelta(hours=1)
CATCHUP_ATTEMPTS = 30
OPEN_DELIVERY_STATES = (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.PLACED.value)


@dataclass
class Finding:
    """One desync: what kind, about what, how bad, the evidence, and a repair when one is safe."""

    kind: str
    ref: str
    subject: str | None
    evidence: dict
    severity: str = "warning"
    repair: Callable[[], str] | None = None  # returns what it did


@dataclass
class CheckResult:
    """What a check looked at and found; `finish` runs once after the repairs (batched work)."""

    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    finish: Callable[[], None] | None = None


def never_forwarded(services, shop: str, now: dt.datetime) -> CheckResult:
    """Paid orders with shippable lines and no supplier order, older than the in-flight window: route them."""
    result = CheckResult()
    with services.session_factory() as session:
        orders = session.scalars(select(Order).where(
            Order.shop_domain == shop, Order.cancelled_at.is_(None), Order.state == OrderState.RECEIVED.value,
            Order.financial_status.in_(tuple(FORWARDABLE_FINANCIAL_STATUSES)), Order.created_at < now - IN_FLIGHT,
        )).all()
        result.checked = len(orders)
        stored: dict[int, list[FulfillmentOrderRecord]] = {}
        for record in session.scalars(select(FulfillmentOrderRecord).where(FulfillmentOrderRecord.shop_domain == shop,
                                                                          FulfillmentOrderRecord.order_id.in_([o.id for o in orders]))):
            stored.setdefault(record.order_id, []).append(record)
        for order in orders:
            if not any(line.shippable for line in order.lines):
                continue
            if order.id in stored and not any(_due(record) for record in stored[order.id]):
                continue  # routing decided from its fulfillment orders: not ours, or waiting for Shopify
            result.findings.append(Finding("never_forwarded", f"order:{order.id}", order.name, {"created_at": order.created_at.isoformat(), "financial_status": order.financial_status},
                                           severity="critical", repair=_route(services, order.id)))
    return result


def _due(record: FulfillmentOrderRecord) -> bool:
    """Ours and, by our copy, ready to go: a RECEIVED order with one is stuck (a lost re-read), so it is read again."""
    if record.status in FINISHED or record.managed_by == ManagedBy.NOT_OURS:
        return False
    if foreign_holds(record) or record.status not in WORKABLE:
        return False  # Shopify's hold or schedule: its release or readiness webhook brings it
    # A service's request the merchant never sent (or we declined) is not due; a submitted one is
    # (we answer it, or answered it and our copy was not refreshed).
    return record.managed_by != ManagedBy.SERVICE or record.request_status not in ("UNSUBMITTED", "REJECTED", None)


def _route(services, order_id: int) -> Callable[[], str]:
    def repair() -> str:
        from ..fulfillment.refresh import refresh_order

        with services.session_factory() as session:
            order = session.get(Order, order_id)
            if order.state != OrderState.RECEIVED.value:
                return "already routed"
            shop, order_gid = order.shop_domain, f"gid://shopify/Order/{order.shopify_id}"
        # Routing follows Shopify's fulfillment orders: read them (no transaction open), then route.
        if not refresh_order(services, shop, order_gid):
            raise RuntimeError("Shopify does not know this order")
        with services.session_factory() as session:
            order = session.get(Order, order_id)
            routed = len(session.scalars(select(SupplierOrder.id).where(SupplierOrder.order_id == order_id)).all())
            state = order.state
        if state == OrderState.HELD.value:
            raise RuntimeError("some line cannot be sent (order held in Shopify, alert raised)")
        if state == OrderState.NOT_OURS.value:
            return "not ours: Shopify assigned it to a location the app does not manage"
        return f"routed to {routed} supplier order(s)"
    return repair


def stuck_at_supplier(services, shop: str, now: dt.datetime) -> CheckResult:
    """Placed with a supplier and, past the supplier's SLA, no parcel yet or units still unshipped: the merchant must chase it.

    A split order moves to PARTIALLY_SHIPPED with its first parcel; the rest is compared line
    by line (shipped against ordered), one finding per supplier order, gone once it all ships.
    """
    result = CheckResult()
    with services.session_factory() as session:
        rows = session.execute(
            select(SupplierOrder, Supplier, Order).join(Supplier, Supplier.id == SupplierOrder.supplier_id).join(Order, Order.id == SupplierOrder.order_id)
            .where(SupplierOrder.shop_domain == shop, SupplierOrder.state.in_(AWAITING_PARCELS))
        ).all()
        result.checked = len(rows)
        for delivery, supplier, order in rows:
            sla = dt.timedelta(hours=bounded_number((supplier.settings or {}).get("sla_hours"), *SLA_HOURS_BOUNDS, DEFAULT_SLA_HOURS))
            placed = delivery.placed_at or delivery.created_at
            if now - placed <= sla:
                continue
            evidence = {"supplier": supplier.name, "placed_at": placed.isoformat(), "sla_hours": sla.total_seconds() / 3600}
            if delivery.state == DeliveryState.PLACED.value:
                if session.scalar(select(func.count()).select_from(SupplierShipment).where(SupplierShipment.supplier_order_id == delivery.id)):
                    continue  # a parcel is on its way into Shopify (shipped_not_fulfilled watches it)
            else:
                unshipped = _unshipped_lines(session, delivery.id)
                if not unshipped:
                    continue
                evidence["unshipped"] = unshipped
            result.findings.append(Finding("stuck_at_supplier", f"delivery:{delivery.id}", order.name, evidence))
    return result


AWAITING_PARCELS = (DeliveryState.PLACED.value, DeliveryState.PARTIALLY_SHIPPED.value)


def _unshipped_lines(session, delivery_id: int) -> list[dict]:
    """The supplier order's lines with units still to ship: sku, ordered, shipped."""
    rows = session.execute(select(SupplierOrderLine.supplier_sku, SupplierOrderLine.quantity, SupplierOrderLine.shipped_quantity).where(
        SupplierOrderLine.supplier_order_id == delivery_id, SupplierOrderLine.quantity > SupplierOrderLine.shipped_quantity)).all()
    return [{"sku": sku, "ordered": quantity, "shipped": shipped} for sku, quantity, shipped in rows]


def shipped_not_fulfilled(services, shop: str, now: dt.datetime) -> CheckResult:
    """Parcels the supplier shipped that are not a Shopify fulfillment yet: create it."""
    from ..suppliers.tracking import push_shipment

    result = CheckResult()
    with services.session_factory() as session:
        rows = session.execute(
            select(SupplierShipment.id, SupplierShipment.tracking_number, Order.name).join(SupplierOrder, SupplierOrder.id == SupplierShipment.supplier_order_id)
            .join(Order, Order.id == SupplierOrder.order_id)
            .where(SupplierOrder.shop_domain == shop, SupplierShipment.state != "fulfilled", SupplierShipment.created_at < now - IN_FLIGHT)
        ).all()
        result.checked = session.scalar(select(func.count()).select_from(SupplierShipment).join(SupplierOrder).where(SupplierOrder.shop_domain == shop)) or 0
    for shipment_id, tracking, name in rows:
        def repair(shipment_id=shipment_id) -> str:
            with services.session_factory() as session:
                if session.get(SupplierShipment, shipment_id).state == "fulfilled":
                    return "already fulfilled"
            # Calls Shopify with no transaction open; the ETA is eta_not_told's (its failure must not fail this repair).
            push_shipment(services.session_factory, services.gateway(shop), shipment_id, with_eta=False)
            with services.session_factory() as session:
                row = session.get(SupplierShipment, shipment_id)
                if row.state != "fulfilled":
                    raise RuntimeError(row.last_error or "Shopify did not accept the fulfillment")
            return "fulfillment created in Shopify"
        result.findings.append(Finding("shipped_not_fulfilled", f"shipment:{shipment_id}", name, {"tracking_number": tracking}, severity="critical", repair=repair))
    return result


def eta_not_told(services, shop: str, now: dt.datetime) -> CheckResult:
    """Fulfilled, undelivered parcels whose supplier ETA Shopify has not been told (refused, or the push's retry never came): tell it."""
    from ..suppliers.eta_events import eta_pending, eta_pending_where, tell_eta

    result = CheckResult()
    ssh = SupplierShipment
    with services.session_factory() as session:
        rows = session.execute(
            select(ssh.id, ssh.tracking_number, ssh.estimated_delivery, Order.name).join(SupplierOrder, SupplierOrder.id == ssh.supplier_order_id)
            .join(Order, Order.id == SupplierOrder.order_id)
            .where(SupplierOrder.shop_domain == shop, eta_pending_where(ssh), ssh.updated_at < now - IN_FLIGHT)
        ).all()
        result.checked = session.scalar(select(func.count()).select_from(ssh).join(SupplierOrder).where(
            SupplierOrder.shop_domain == shop, ssh.state == "fulfilled", ssh.estimated_delivery.is_not(None))) or 0
    for shipment_id, tracking, eta, name in rows:
        def repair(shipment_id=shipment_id) -> str:
            tell_eta(services.session_factory, services.gateway(shop), shipment_id)  # calls Shopify with no transaction open
            with services.session_factory() as session:
                row = session.get(SupplierShipment, shipment_id)
                if eta_pending(row.state, row.estimated_delivery, row.eta_told, row.delivered_at):
                    raise RuntimeError(row.last_error or "Shopify did not take the estimated arrival")
            return "estimated arrival told to Shopify"
        result.findings.append(Finding("eta_not_told", f"shipment:{shipment_id}", name, {"tracking_number": tracking, "eta": eta}, repair=repair))
    return result


def cancelled_but_open(services, shop: str, now: dt.datetime) -> CheckResult:
    """Cancelled in Shopify while a supplier order is still live: ask the supplier to cancel."""
    result = CheckResult()
    with services.session_factory() as session:
        rows = session.execute(
            select(SupplierOrder.id, Order.id, Order.name).join(Order, Order.id == SupplierOrder.order_id)
            .where(SupplierOrder.shop_domain == shop, Order.cancelled_at.is_not(None), SupplierOrder.state.in_(OPEN_DELIVERY_STATES))
        ).all()
        result.checked = session.scalar(select(func.count()).select_from(Order).where(Order.shop_domain == shop, Order.cancelled_at.is_not(None))) or 0
    for delivery_id, order_id, name in rows:
        def repair(delivery_id=delivery_id) -> str:
            with services.session_factory.begin() as session:
                delivery = session.get(SupplierOrder, delivery_id)
                if delivery.state in OPEN_DELIVERY_STATES:
                    delivery.state, delivery.next_attempt_at = DeliveryState.CANCEL_REQUESTED.value, utcnow()
            services.wake_forwarding()
            return "cancellation requested from the supplier"
        result.findings.append(Finding("cancelled_but_open", f"delivery:{delivery_id}", name, {"order_id": order_id}, severity="critical", repair=repair))
    return result


FULFILLED_IN_SHOPIFY = ("fulfilled", "partial", "partially_fulfilled")  # REST's spellings and GraphQL's displayFulfillmentStatus
NEVER_PLACED = (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.FAILED.value)


def fulfilled_unknown_to_supplier(services, shop: str, now: dt.datetime) -> CheckResult:
    """Shopify says fulfilled (wholly or in part), but the supplier never got the order: someone shipped it another way, or nobody did.

    A partly fulfilled order is judged per line from our copy of its fulfillment orders: only a
    supplier order with a line Shopify counts fulfilled is a finding (another location's part of
    a split order shipping is no desync); with no copy, the order's status decides.
    """
    result = CheckResult()
    with services.session_factory() as session:
        rows = session.execute(
            select(SupplierOrder.id, SupplierOrder.state, Order.id, Order.name, Order.fulfillment_status).join(Order, Order.id == SupplierOrder.order_id)
            .where(SupplierOrder.shop_domain == shop, Order.fulfillment_status.in_(FULFILLED_IN_SHOPIFY), SupplierOrder.state.in_(NEVER_PLACED))
        ).all()
        result.checked = session.scalar(select(func.count()).select_from(Order).where(Order.shop_domain == shop, Order.fulfillment_status.in_(FULFILLED_IN_SHOPIFY))) or 0
        for delivery_id, state, order_id, name, status in rows:
            evidence = {"delivery_state": state, "fulfillment_status": status}
            if status != "fulfilled":
                fulfilled = _fulfilled_lines(session, order_id, delivery_id)
                if fulfilled is not None:
                    if not fulfilled:
                        continue
                    evidence["fulfilled_lines"] = fulfilled
            result.findings.append(Finding("fulfilled_unknown_to_supplier", f"delivery:{delivery_id}", name, evidence, severity="critical"))
    return result


def _fulfilled_lines(session, order_id: int, delivery_id: int) -> list[dict] | None:
    """The supplier order's lines with units fulfilled in Shopify (sku, units), by our copy of the fulfillment orders; None without a copy."""
    records = session.scalars(select(FulfillmentOrderRecord.lines).where(FulfillmentOrderRecord.order_id == order_id, FulfillmentOrderRecord.status != "CANCELLED")).all()
    if not records:
        return None
    done: dict[str, int] = {}
    for lines in records:
        for item in lines or []:
            done[str(item["line"])] = done.get(str(item["line"]), 0) + max(0, item["total"] - item["remaining"])
    ours = session.execute(select(SupplierOrderLine.supplier_sku, OrderLine.shopify_line_id).join(OrderLine, OrderLine.id == SupplierOrderLine.order_line_id)
                           .where(SupplierOrderLine.supplier_order_id == delivery_id)).all()
    return [{"sku": sku, "units": done[line]} for sku, line in ours if done.get(line)]


def inventory_drift(services, shop: str, now: dt.datetime) -> CheckResult:
    """Shopify's available differs from what our sync set, long after a push: push the supplier's figure again."""
    from ..inventory.push import InventoryPusher

    result = CheckResult()
    with services.session_factory() as session:
        result.checked = session.scalar(select(func.count()).select_from(InventoryLevel).where(InventoryLevel.shop_domain == shop, InventoryLevel.desired.is_not(None))) or 0
        rows = session.execute(select(InventoryLevel.id, InventoryLevel.sku, InventoryLevel.available, InventoryLevel.desired).where(
            InventoryLevel.shop_domain == shop, InventoryLevel.desired.is_not(None), InventoryLevel.stocked.is_(True),
            InventoryLevel.available.is_not(None), InventoryLevel.available != InventoryLevel.desired, InventoryLevel.pushed_at < now - IN_FLIGHT,
        )).all()
    for level_id, sku, available, desired in rows:
        def repair(level_id=level_id) -> str:
            # Past the in-flight window every order webhook has been applied: the supplier's figure wins.
            with services.session_factory.begin() as session:
                session.execute(update(InventoryLevel).where(InventoryLevel.id == level_id).values(pushed=None, pushed_supply=None, failed_quantity=None))
            return "queued for a forced push"
        result.findings.append(Finding("inventory_drift", f"level:{level_id}", sku, {"shopify_available": available, "should_be": desired}, repair=repair))
    if rows:
        def push() -> None:
            with services.session_factory.begin() as session:
                from ..inventory.models import InventorySyncRun

                run = InventorySyncRun(shop_domain=shop, status="done")
                session.add(run)
                session.flush()
                run_id = run.id
            InventoryPusher(services.session_factory, services.read_session_factory or services.session_factory, services.gateway(shop), shop, run_id).push()
        result.finish = push
    return result


def returns_stalled(services, shop: str, now: dt.datetime) -> CheckResult:
    """Returns received but not disposed (open or already closed in Shopify), or approved long ago and never received."""
    result = CheckResult()
    with services.session_factory() as session:
        # A closed return whose units came back but were never restocked nor written off is stalled too
        # (closed ones pile up over the years: only those with such a line are read).
        undisposed_line = select(ReturnLine.id).where(ReturnLine.return_case_id == ReturnCase.id,
                                                      ReturnLine.received_quantity > ReturnLine.restocked_quantity + ReturnLine.not_restocked_quantity).exists()
        cases = session.scalars(select(ReturnCase).where(ReturnCase.shop_domain == shop, or_(
            ReturnCase.status == "open", and_(ReturnCase.status == "closed", undisposed_line)))).all()
        result.checked = len(cases)
        for case in cases:
            undisposed = [line for line in case.lines if line.received_quantity > line.restocked_quantity + line.not_restocked_quantity]
            if undisposed:
                result.findings.append(Finding("return_not_restocked", f"return:{case.id}", case.name, {"lines": [line.id for line in undisposed]}))
            elif case.status == "open" and case.received_at is None and case.decided_at and now - case.decided_at > RETURN_STALE_AFTER and case.rma_state != RmaState.NONE:
                result.findings.append(Finding("return_never_received", f"return:{case.id}", case.name, {"approved_at": case.decided_at.isoformat()}))
    return result


def webhook_health(services, shop: str, now: dt.datetime) -> CheckResult:
    """Dead letters of the last day: Shopify's events we could not handle (retry them from the Problems page)."""
    result = CheckResult()
    with services.session_factory() as session:
        since = now - dt.timedelta(days=1)
        result.checked = session.scalar(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.shop_domain == shop, WebhookDelivery.received_at > since)) or 0
        dead = session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.shop_domain == shop, WebhookDelivery.status == InboxStatus.DEAD.value, WebhookDelivery.received_at > since)) or 0
    if dead:
        result.findings.append(Finding("dead_letters", "inbox", f"{dead} dead letter(s)", {"dead_last_24h": dead}, severity="critical" if dead >= 10 else "warning"))
    return result


def webhook_subscriptions(services, shop: str, now: dt.datetime) -> CheckResult:
    """The shop-level subscriptions the app needs exist at our address; our obsolete ones go (a diff, never delete-all)."""
    from ..webhooks.subscriptions import create_subscription, delete_subscription, plan_subscriptions, shop_subscriptions

    gateway = services.gateway(shop)
    existing = shop_subscriptions(gateway)
    plan = plan_subscriptions(existing, app_url=services.settings.app_url, mode=services.settings.webhook_subscriptions)
    result = CheckResult(checked=len(existing))
    for topic in plan.create:
        result.findings.append(Finding("webhook_subscription_missing", f"topic:{topic}", topic, {"callback_url": plan.callback_url}, severity="critical",
                                       repair=lambda topic=topic: create_subscription(gateway, topic, plan.callback_url)))
    for subscription_id, topic in plan.delete:
        result.findings.append(Finding("webhook_subscription_obsolete", f"subscription:{subscription_id}", topic, {"id": subscription_id},
                                       repair=lambda subscription_id=subscription_id: delete_subscription(gateway, subscription_id)))
    return result


REFUNDED_STATUSES = ("refunded", "partially_refunded")


def refunds_without_return(services, shop: str, now: dt.datetime) -> CheckResult:
    """Orders refunded in Shopify with no return: the goods stay out, the supplier's cost is not recovered.

    Read from the order's financial status (kept current by webhooks and the catch-up), so a
    lost refunds/create webhook cannot hide one. A full refund while the supplier still has
    the order open is critical: it is about to ship goods already paid back. The merchant
    decides (cancel at the supplier, or ask for a return), so this is an alert, not a repair.
    """
    result = CheckResult()
    with services.session_factory() as session:
        orders = session.scalars(select(Order).where(
            Order.shop_domain == shop, Order.cancelled_at.is_(None), Order.financial_status.in_(REFUNDED_STATUSES),
            func.coalesce(Order.shopify_updated_at, Order.created_at) < now - IN_FLIGHT,
            ~select(ReturnCase.id).where(ReturnCase.order_id == Order.id, ReturnCase.status.in_(("requested", "open", "closed"))).exists(),
        )).all()
        result.checked = len(orders)
        states_of: dict[int, list[str]] = {}
        for order_id, state in session.execute(select(SupplierOrder.order_id, SupplierOrder.state).where(SupplierOrder.order_id.in_([o.id for o in orders]))):
            states_of.setdefault(order_id, []).append(state)
        for order in orders:
            states = states_of.get(order.id)
            if not states:
                continue  # nothing went to a supplier: nothing to recover
            live = [s for s in states if s in OPEN_DELIVERY_STATES]
            critical = order.financial_status == "refunded" and bool(live)
            result.findings.append(Finding("refund_without_return", f"order:{order.id}", order.name,
                                           {"financial_status": order.financial_status, "supplier_orders": states,
                                            "hint": "cancel at the supplier" if critical else "goods not returned: claim from the supplier or accept the loss"},
                                           severity="critical" if critical else "warning"))
    return result


WATERMARK_KEY = "reconcile"


def order_catchup(services, shop: str, now: dt.datetime) -> CheckResult:
    """Orders changed in Shopify since the last watermark (less an overlap) that we miss or hold older: re-read and sync them.

    A slim listing (id, updatedAt: about a point per order) finds them; only those are read
    in full, so the catch-up stays cheap while the app's own traffic shares the bucket.
    """
    from integrations.shopify.gateway import updated_at_window

    from ..orders.backfill import shopify_search_since
    from ..orders.graph import order_payload_from_graphql, read_order
    from ..orders.payloads import parse_order
    from ..fulfillment.sync import read_fulfillment_orders
    from ..webhooks.handlers.orders import sync_snapshot

    with services.session_factory() as session:
        row = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop, ShopSetting.key == WATERMARK_KEY))
        mark = (row.value or {}).get("orders_watermark") if row else None
    since = (dt.datetime.fromisoformat(mark) if mark else now - dt.timedelta(days=7)) - CATCHUP_OVERLAP
    gateway = services.gateway(shop, max_attempts=CATCHUP_ATTEMPTS)
    result, applied = CheckResult(), 0
    # Sorted by updatedAt: past Shopify's 25,000-object cap the listing goes on from the last one seen.
    for node in gateway.paginate("OrdersChangedSince", {"first": 100, "query": shopify_search_since(since)}, ("orders",), next_window=updated_at_window):
        result.checked += 1
        number = node["id"].rsplit("/", 1)[-1]
        with services.session_factory() as session:
            held = session.scalar(select(Order.shopify_updated_at).where(Order.shop_domain == shop, Order.shopify_id == number))
        changed = dt.datetime.fromisoformat(node["updatedAt"].replace("Z", "+00:00"))
        if held is not None and held >= changed:
            continue
        data = read_order(gateway, node["id"])  # every line, not only the first page
        if data.get("order") is None:
            continue
        fulfillment_orders = read_fulfillment_orders(gateway, node["id"])
        with services.session_factory.begin() as session:
            applied += sync_snapshot(session, services, shop, parse_order(order_payload_from_graphql(data["order"])), fulfillment_orders=fulfillment_orders) is not None
    from ..fulfillment.holds import reevaluate_held_orders

    reevaluate_held_orders(services, shop)  # mappings may have changed: release what can go now, hold what cannot
    with services.session_factory.begin() as session:
        row = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop, ShopSetting.key == WATERMARK_KEY))
        if row is None:
            row = ShopSetting(shop_domain=shop, key=WATERMARK_KEY, value={})
            session.add(row)
        row.value = {**(row.value or {}), "orders_watermark": now.isoformat()}
    if applied:
        # Applied through the same handlers as webhooks: already repaired, reported for the record.
        result.findings.append(Finding("orders_caught_up", f"catchup:{now.isoformat()}", f"{applied} order(s)", {"applied": applied, "since": since.isoformat()},
                                       severity="info", repair=lambda: "applied through the order handlers"))
    return result


def _delivery_status(services, shop: str, now: dt.datetime) -> CheckResult:
    """Undelivered fulfillments re-read from Shopify (deliveries/reconcile.py; imported late: it builds on this module)."""
    from ..deliveries.reconcile import delivery_status

    return delivery_status(services, shop, now)


CHECKS: dict[str, Callable[[object, str, dt.datetime], CheckResult]] = {
    "order_catchup": order_catchup,
    "never_forwarded": never_forwarded,
    "stuck_at_supplier": stuck_at_supplier,
    "shipped_not_fulfilled": shipped_not_fulfilled,
    "eta_not_told": eta_not_told,
    "fulfilled_unknown_to_supplier": fulfilled_unknown_to_supplier,
    "cancelled_but_open": cancelled_but_open,
    "inventory_drift": inventory_drift,
    "returns_stalled": returns_stalled,
    "webhook_health": webhook_health,
    "webhook_subscriptions": webhook_subscriptions,
    "refunds_without_return": refunds_without_return,
    "delivery_status": _delivery_status,
}

# ReturnLine is imported for the relationship loader used by ReturnCase.lines.
__all__ = ["CHECKS", "CheckResult", "Finding", "ReturnLine"]
