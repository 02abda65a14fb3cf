"""KPIs computed on read from our records, for a period [start, end) and per day, ISO week or month (UTC).

Every measurement has one moment that puts it in a bucket: the order's time for sales, costs
and units sold; the request for returns and for damaged complaints; the delivery for on-time
and shipping days; the placement for order-to-forward; the acknowledgement or first parcel for
supplier times; the raising of a complaint for its reaction time; the refund for refunds.
The order's time is Shopify's created_at, or ours when Shopify's is missing.

Definitions
-----------
Return rate: units returned (return lines of cases requested in the period and not declined
or cancelled, as returns.analytics counts them) over units sold (lines of orders placed in the
period and not cancelled). Per product, per supplier and the reasons per product come from
returns.analytics.return_analytics, which has no period: they are all-time ("returns_all_time").

On-time delivery: a parcel is judged when its promise falls due, in the period of its
estimated_delivery (a bare date means the end of that day, as the delay detector reads it): on
time when delivered_at <= estimated_delivery, else late, whether it arrived later or never did
(cheap carriers often never scan "delivered"). Judged at the promise, a parcel's verdict never
changes afterwards, so a closed day's snapshot stays right (a count of the late ones still
undelivered would not: it changes when one arrives, so there is none).
delivered_at is the carrier's, from Shopify's fulfillment events (deliveries/), when known, else
the supplier's; estimated_delivery is the supplier's ETA, else the carrier's first estimate.
Fulfillments the app did not create count for the store and for no supplier.
Parcels delivered without an ETA are left out and counted as "no_eta" (on their delivery day).

Order to forward: hours from the order's time to the supplier order's placed_at, per supplier
order. Supplier acknowledgement: hours from placed_at to the supplier's first "acknowledged"
timeline event (only suppliers that report it). Ship time: hours from placed_at to the first
parcel's shipped_at (or, when the supplier gave no date, when we recorded the parcel).
Median and p90 (nearest rank).

Complaints, each raised at one moment and reacted to at another:
- damaged: a return case with a line whose reason is DEFECTIVE (returns.policy.DAMAGE_REASONS);
  raised at requested_at, reacted to at the first real answer: approved or declined (decided_at),
  or a complaint answered; an automatic "review" verdict is no answer (the return waits for the
  merchant, returns/deadlines.py alerts before the target passes); target damaged_hours.
  Cases cancelled by the customer before any answer are no complaint.
- out of stock: an alert of kind supplier_out_of_stock, unroutable_line (no supplier can take
  the line), supplier_rejected or supplier_failed (the supplier refused or could not fulfil the
  order); raised at first_seen, reacted to at the first of: the alert resolved, the order
  cancelled, the line rerouted to a backup supplier; target out_of_stock_hours.
- delivery problem: a stuck_at_supplier desync (no parcel past the supplier's SLA), reacted to
  when it closed; and a delivery_problem alert (a parcel past its ETA, orders/delays.py) or a
  delivery_failed alert (the carrier reported a failure through Shopify, deliveries/), reacted
  to at the first of: the delay notice sent to the customer, the alert resolved; target
  delivery_problem_hours.
A complaint is "within" or "missed" once reacted to, and "missed" as well when still open past its
target at `now`; open and younger than its target it is "pending" and counts in neither share.

Gross margin after refunds and returns: revenue + shipping charged - supplier cost - shipping -
refunds, all in the shop's currency (Shopify's shop_money; never the customer's presentment
currency), as exact Decimals.
- Revenue is net sales, as Shopify's reports count them: per line of the orders not cancelled,
  price x the units still ordered (after edits and refund-cancels), less the line's discount
  allocations (line-level and order-level discounts, e.g. a code) for those units, and less
  their tax where the shop's prices include tax (taxes_included; where tax is charged on top it
  was never in the price). Tips are lines in Shopify (a tip line): never revenue.
- Shipping charged: what the customer paid for shipping after shipping discounts, net of its
  tax where prices include tax. It is counted because the supplier's cost includes shipping.
- Supplier cost: SupplierOrder.cost of those orders' supplier orders, except cancelled or failed ones.
- Shipping (as a cost apart from the supplier's) is not recorded: 0 (Printful's cost, for one, is
  its total with shipping).
- Refunds: the net unit price (as revenue counts it) x quantity of the returned lines of return
  cases refunded in the period. Refunds made without a return are not subtracted; a
  refund-cancel lowers the line's current quantity and so the revenue itself.

Shipping days: whole days from shipped_at to delivered_at of parcels delivered in the period,
counted in bins 0-2, 3-5, 6-9 and 10+.

Satisfaction (issue 17): the follow-up's one-click answers and the review requests' conversion,
store-wide, per bucket, per supplier and per product (kpis/satisfaction.py has the definitions).

Customer cases (cases/, issue 17: reports and questions from the store page) count too, opened at
opened_at and reacted to at the merchant's first reply (first_reply_at), else when closed:
- damaged and wrong item: as damaged complaints (target damaged_hours);
- not arrived and late: as delivery problems (target delivery_problem_hours);
- out of stock cases are left out here: the alert that opened them is counted above.
Reply time: a customer's question (case kind "question"), asked at opened_at, answered at the first
reply (else when closed); target reply_hours, counted as the complaints are ("reply").
"""
from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from ..deliveries.models import FulfillmentDelivery
from ..models import utcnow
from ..orders.delays import shipment_time
from ..orders.models import CustomerNotice, Order, OrderEvent, OrderLine
from ..reconcile.models import Desync
from ..returns.analytics import COUNTED_STATUSES, return_analytics
from ..returns.models import Decision, ReturnCase, ReturnLine
from ..returns.policy import DAMAGE_REASONS
from ..suppliers.models import Alert, DeliveryState, Supplier, SupplierOrder, SupplierShipment
from .satisfaction import answer_facts, review_facts, summarise as summarise_satisfaction, supplier_satisfaction
from .targets import get_targets

BUCKETS = ("day", "week", "month")
SHIPPING_DAY_BINS = (("0-2", 0, 2), ("3-5", 3, 5), ("6-9", 6, 9), ("10+", 10, None))
COMPLAINT_KINDS = ("damaged", "out_of_stock", "delivery_problem", "reply")
DELIVERY_PROBLEM_ALERTS = ("delivery_problem", "delivery_failed")  # past its ETA (orders/delays.py); the carrier's failure (deliveries/)
OUT_OF_STOCK_ALERTS = ("supplier_out_of_stock", "unroutable_line", "supplier_rejected", "supplier_failed")
# Not counted: an AS2 partner's certificate (supplier_certificate) or an undelivered PO (supplier_unreachable) says nothing about stock.
NO_COST_STATES = (DeliveryState.CANCELLED.value, DeliveryState.FAILED.value)  # the supplier charges nothing
UNCHARGED_YET = (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value)  # no cost known before placement
# Parcels and acknowledgements of an earlier order can land in the period: look this far back for them.
LOOKBACK = dt.timedelta(days=180)
# The forwarding worker records the reroute a moment before it raises the alert, in one transaction.
SAME_TRANSACTION = dt.timedelta(minutes=1)
ORDER_TIME = func.coalesce(Order.shopify_created_at, Order.created_at)
NOTES = (
    "Buckets are UTC days, ISO weeks (Monday to Sunday) and calendar months; start is included, end is not.",
    "returns_all_time (per product, per supplier, reasons) covers all time: returns.analytics has no period.",
    "Shipping cost is not recorded apart from the supplier's cost: counted as 0; shipping charged to customers is added to the margin.",
    "Revenue is net of discounts and of tax where prices include it; tips are left out.",
    "Refunds made without a return are not recorded: not subtracted from the margin.",
    "Reply time counts customer questions asked on the store page (cases of kind question), to the first reply.",
)


class UnitsFact(NamedTuple):
    at: dt.datetime
    sold: int
    returned: int


class ParcelFact(NamedTuple):
    at: dt.datetime  # delivered_at (delivered, no_eta), or the ETA the parcel is judged at (on_time, late)
    supplier_id: int
    status: str  # on_time | late (judged at the ETA) | delivered | no_eta (at delivery, for the transit days)
    transit_days: int | None


class HoursFact(NamedTuple):
    at: dt.datetime
    supplier_id: int
    hours: float


class ComplaintFact(NamedTuple):
    at: dt.datetime  # raised
    kind: str
    reacted_at: dt.datetime | None


class MoneyFact(NamedTuple):
    at: dt.datetime
    field: str  # revenue | shipping_charged | supplier_cost | refunds | cost_missing | refund_unpriced
    amount: Decimal


def kpis(session: Session, shop_domain: str, start: dt.datetime | dt.date, end: dt.datetime | dt.date, bucket: str = "day", *, now: dt.datetime | None = None) -> dict:
    """Every KPI for [start, end), overall and per bucket ("day", "week" or "month"), with the shop's targets."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, got {bucket!r}")
    start, end, now = _aware(start), _aware(end), _aware(now) if now else utcnow()
    if end <= start:
        raise ValueError("end must be after start")
    targets = get_targets(session, shop_domain)
    facts = _facts(session, shop_domain, start, end, now)
    by_bucket = _by_bucket(facts, bucket)
    names = dict(session.execute(select(Supplier.id, Supplier.name).where(Supplier.shop_domain == shop_domain)).all())
    return {
        "shop": shop_domain,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "bucket": bucket,
        "as_of": now.isoformat(),
        "targets": targets,
        "overall": _summarise(facts, targets, now, names),
        "buckets": [
            {"key": key, "start": b_start.isoformat(), "end": b_end.isoformat(), **_summarise(by_bucket.get(key) or _no_facts(facts), targets, now, names)}
            for key, b_start, b_end in bucket_ranges(start, end, bucket)
        ],
        "returns_all_time": _returns_all_time(session, shop_domain),
        "satisfaction": summarise_satisfaction(facts["answers"], facts["reviews"], session, names),  # with per supplier and per product
        "notes": list(NOTES),
    }


def kpi_summary(session: Session, shop_domain: str, start: dt.datetime, end: dt.datetime, *, now: dt.datetime | None = None) -> dict:
    """The "overall" part of kpis() alone (no buckets, no all-time returns): what the daily check needs."""
    now = _aware(now) if now else utcnow()
    names = dict(session.execute(select(Supplier.id, Supplier.name).where(Supplier.shop_domain == shop_domain)).all())
    return _summarise(_facts(session, shop_domain, _aware(start), _aware(end), now), get_targets(session, shop_domain), now, names)


def bucket_ranges(start: dt.datetime, end: dt.datetime, bucket: str) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """(key, start, end) of each bucket covering [start, end), the first and last clipped to it."""
    ranges = []
    cursor = _bucket_start(start, bucket)
    while cursor < end:
        following = _next_bucket(cursor, bucket)
        ranges.append((_bucket_key(cursor, bucket), max(cursor, start), min(following, end)))
        cursor = following
    return ranges


# --- facts: one row per measurement, with the moment that buckets it ---------------------------


def _facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> dict[str, list]:
    return {
        "units": _units_facts(session, shop, start, end),
        "parcels": _parcel_facts(session, shop, start, end, now),
        "forward": _forward_facts(session, shop, start, end),
        "ack": _ack_facts(session, shop, start, end),
        "ship": _ship_facts(session, shop, start, end),
        "complaints": complaint_facts(session, shop, start, end),
        "money": _sales_facts(session, shop, start, end) + _cost_facts(session, shop, start, end) + _refund_facts(session, shop, start, end),
        "answers": answer_facts(session, shop, start, end),
        "reviews": review_facts(session, shop, start, end),
    }


def complaint_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[ComplaintFact]:
    """Complaints raised in [start, end): damaged, out of stock, delivery problems, and the customers' cases (reports and questions)."""
    return (_damaged_facts(session, shop, start, end) + _out_of_stock_facts(session, shop, start, end) + _delivery_problem_facts(session, shop, start, end)
            + _case_facts(session, shop, start, end))


def _units_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[UnitsFact]:
    """Units sold by order time, units returned by request time (returns.analytics' definition)."""
    sold = session.execute(
        select(ORDER_TIME, OrderLine.quantity).join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.shop_domain == shop, Order.cancelled_at.is_(None), ORDER_TIME >= start, ORDER_TIME < end)
    )
    returned = session.execute(
        select(ReturnCase.requested_at, ReturnLine.quantity).join(ReturnLine, ReturnLine.return_case_id == ReturnCase.id)
        .where(ReturnCase.shop_domain == shop, ReturnCase.status.in_(COUNTED_STATUSES), ReturnCase.requested_at >= start, ReturnCase.requested_at < end)
    )
    return [UnitsFact(at, quantity, 0) for at, quantity in sold] + [UnitsFact(at, 0, quantity) for at, quantity in returned]


def _parcel_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[ParcelFact]:
    """Parcels judged in the period (ETA in it and passed: on time or late) and parcels delivered in it (transit days, no ETA).

    Delivered is the carrier's date from Shopify's fulfillment events when known, else the
    supplier's; the promise is the supplier's ETA, else the carrier's first estimate.
    Fulfillments the app did not create count for the store (supplier None), never for a supplier.
    """
    carrier = FulfillmentDelivery
    rows = session.execute(
        select(SupplierOrder.supplier_id, SupplierShipment.shipped_at, SupplierShipment.estimated_delivery, SupplierShipment.delivered_at,
               carrier.delivered_at, carrier.first_estimated_delivery_at)
        .join(SupplierOrder, SupplierOrder.id == SupplierShipment.supplier_order_id)
        .outerjoin(carrier, and_(carrier.shop_domain == SupplierOrder.shop_domain, carrier.fulfillment_gid == SupplierShipment.shopify_fulfillment_id))
        # A fulfillment cancelled in Shopify never travels: judged at its ETA it would count as late for ever.
        .where(SupplierOrder.shop_domain == shop, SupplierShipment.created_at >= start - LOOKBACK, carrier.fulfillment_status.is_distinct_from("cancelled"))
    ).all()
    ours = select(SupplierShipment.id).join(SupplierOrder, SupplierOrder.id == SupplierShipment.supplier_order_id).where(
        SupplierOrder.shop_domain == carrier.shop_domain, SupplierShipment.shopify_fulfillment_id == carrier.fulfillment_gid)
    not_ours = session.execute(
        select(carrier.in_transit_at, carrier.first_estimated_delivery_at, carrier.delivered_at)
        .where(carrier.shop_domain == shop, carrier.created_at >= start - LOOKBACK, or_(carrier.fulfillment_status.is_(None), carrier.fulfillment_status != "cancelled"), ~exists(ours))
    ).all()
    facts = []
    measured = [(supplier_id, shipment_time(shipped_text), shipment_time(eta_text) or carrier_eta, carrier_delivered or shipment_time(delivered_text))
                for supplier_id, shipped_text, eta_text, delivered_text, carrier_delivered, carrier_eta in rows]
    measured += [(None, in_transit, eta, delivered) for in_transit, eta, delivered in not_ours]
    for supplier_id, shipped, eta, delivered in measured:
        # The supplier columns are ISO strings: filtered here, not in SQL.
        if delivered is not None and start <= delivered < end:
            transit = max(0, math.floor((delivered - shipped).total_seconds() / 86400)) if shipped else None
            facts.append(ParcelFact(delivered, supplier_id, "no_eta" if eta is None else "delivered", transit))
        if eta is not None and start <= eta < end and eta <= now:
            # Judged at the promise: one never reported delivered is late, and one arriving late later
            # does not move into another period's figures.
            facts.append(ParcelFact(eta, supplier_id, "on_time" if delivered is not None and delivered <= eta else "late", None))
    return facts


def _forward_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[HoursFact]:
    """Hours from the order to each of its supplier orders' placement, by placement time."""
    rows = session.execute(
        select(SupplierOrder.supplier_id, SupplierOrder.placed_at, ORDER_TIME).join(Order, Order.id == SupplierOrder.order_id)
        .where(SupplierOrder.shop_domain == shop, SupplierOrder.placed_at >= start, SupplierOrder.placed_at < end)
    )
    return [HoursFact(placed, supplier_id, _hours(ordered, placed)) for supplier_id, placed, ordered in rows]


def _ack_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[HoursFact]:
    """Hours from placement to the supplier's first acknowledgement, by acknowledgement time."""
    events = session.execute(
        select(OrderEvent.order_id, OrderEvent.detail, OrderEvent.created_at).join(Order, Order.id == OrderEvent.order_id)
        .where(Order.shop_domain == shop, OrderEvent.kind == "acknowledged", OrderEvent.actor == "supplier",
               OrderEvent.created_at >= start - LOOKBACK, OrderEvent.created_at < end)
        .order_by(OrderEvent.created_at, OrderEvent.id)
    ).all()
    deliveries: dict[int, list] = defaultdict(list)
    for row in session.execute(
        select(SupplierOrder.order_id, SupplierOrder.id, SupplierOrder.supplier_id, SupplierOrder.placed_at, Supplier.name)
        .join(Supplier, Supplier.id == SupplierOrder.supplier_id).where(SupplierOrder.order_id.in_(sorted({e.order_id for e in events})))
    ):
        deliveries[row.order_id].append(row)
    facts, seen = [], set()
    for order_id, detail, at in events:
        delivery = _acknowledged_delivery(deliveries[order_id], (detail or {}).get("supplier"))
        if delivery is None or delivery.id in seen or delivery.placed_at is None:
            continue
        seen.add(delivery.id)  # only the first acknowledgement counts
        if start <= at < end:
            facts.append(HoursFact(at, delivery.supplier_id, _hours(delivery.placed_at, at)))
    return facts


def _acknowledged_delivery(deliveries: list, supplier_name: str | None):
    """The supplier order an acknowledgement is about: by the supplier's name, or the order's only one."""
    named = [d for d in deliveries if d.name == supplier_name]
    if named:
        return named[0]
    return deliveries[0] if len(deliveries) == 1 else None  # the supplier was renamed since


def _ship_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[HoursFact]:
    """Hours from placement to the first parcel, by the first parcel's time."""
    rows = session.execute(
        select(SupplierOrder.id, SupplierOrder.supplier_id, SupplierOrder.placed_at, SupplierShipment.shipped_at, SupplierShipment.created_at)
        .join(SupplierShipment, SupplierShipment.supplier_order_id == SupplierOrder.id)
        .where(SupplierOrder.shop_domain == shop, SupplierOrder.placed_at >= start - LOOKBACK, SupplierOrder.placed_at < end)
    )
    first: dict[int, tuple] = {}
    for delivery_id, supplier_id, placed, shipped_text, recorded in rows:
        shipped = shipment_time(shipped_text) or recorded
        if delivery_id not in first or shipped < first[delivery_id][2]:
            first[delivery_id] = (supplier_id, placed, shipped)
    return [HoursFact(shipped, supplier_id, _hours(placed, shipped)) for supplier_id, placed, shipped in first.values() if start <= shipped < end]


def _damaged_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[ComplaintFact]:
    """Return cases with a damaged line: requested, then answered (approved, declined, a complaint answered; never a review verdict)."""
    # EXISTS per case (its lines by return_case_id), not IN over every shop's damaged lines: SQLite read all of them.
    damaged = exists().where(ReturnLine.return_case_id == ReturnCase.id, ReturnLine.reason.in_(tuple(DAMAGE_REASONS)))
    cases = session.execute(
        select(ReturnCase.requested_at, ReturnCase.decision, ReturnCase.decided_at, ReturnCase.complaint_answered_at, ReturnCase.status)
        .where(ReturnCase.shop_domain == shop, damaged, ReturnCase.requested_at >= start, ReturnCase.requested_at < end)
    )
    facts = []
    for requested, decision, decided, complaint_answered, status in cases:
        answered = decided if decision in (Decision.APPROVE, Decision.DECLINE) else complaint_answered
        if not (status == "canceled" and answered is None):
            facts.append(ComplaintFact(requested, "damaged", answered))
    return facts


def _out_of_stock_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[ComplaintFact]:
    """Out-of-stock and refusal alerts: raised, then resolved, cancelled or rerouted."""
    alerts = session.scalars(select(Alert).where(Alert.shop_domain == shop, Alert.kind.in_(OUT_OF_STOCK_ALERTS), Alert.first_seen >= start, Alert.first_seen < end)).all()
    facts = []
    for alert in alerts:
        order = _order_of_alert(session, shop, alert)
        candidates = [alert.resolved_at]
        if order is not None:
            candidates.append(order.cancelled_at)
            candidates.extend(session.scalars(select(OrderEvent.created_at).where(OrderEvent.order_id == order.id, OrderEvent.kind == "rerouted")))
        reacted = [max(c, alert.first_seen) for c in candidates if c is not None and c >= alert.first_seen - SAME_TRANSACTION]
        facts.append(ComplaintFact(alert.first_seen, "out_of_stock", min(reacted, default=None)))
    return facts


def _order_of_alert(session: Session, shop: str, alert: Alert) -> Order | None:
    """The order an out-of-stock alert is about, from its dedupe key (see routing, forwarding, suppliers.events)."""
    parts = alert.dedupe_key.split(":")
    if alert.kind == "unroutable_line" and len(parts) == 4:  # unroutable:<shop>:<shopify order id>:<line id>
        return session.scalar(select(Order).where(Order.shop_domain == shop, Order.shopify_id == parts[2]))
    if parts[-1].isdigit():  # <kind>:<supplier order id>
        delivery = session.get(SupplierOrder, int(parts[-1]))
        return session.get(Order, delivery.order_id) if delivery is not None else None
    return None


def _delivery_problem_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[ComplaintFact]:
    """Deliveries stuck at the supplier (desyncs) and parcels past their ETA (delay alerts)."""
    stuck = session.execute(
        select(Desync.first_seen, Desync.closed_at)
        .where(Desync.shop_domain == shop, Desync.kind == "stuck_at_supplier", Desync.first_seen >= start, Desync.first_seen < end)
    )
    facts = [ComplaintFact(seen, "delivery_problem", closed) for seen, closed in stuck]
    late = session.execute(
        select(Alert.first_seen, Alert.resolved_at, CustomerNotice.sent_at)
        .outerjoin(CustomerNotice, CustomerNotice.dedupe_key == Alert.dedupe_key)  # the delay notice shares the alert's key
        .where(Alert.shop_domain == shop, Alert.kind.in_(DELIVERY_PROBLEM_ALERTS), Alert.first_seen >= start, Alert.first_seen < end)
    )
    for seen, resolved, notified in late:
        reacted = [max(t, seen) for t in (resolved, notified) if t is not None]
        facts.append(ComplaintFact(seen, "delivery_problem", min(reacted, default=None)))
    return facts


def _case_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[ComplaintFact]:
    """Customer cases opened in the period, by the KPI their kind counts in, reacted to at the first reply (else closing)."""
    from ..cases.clock import KPI_OF_KIND
    from ..cases.models import Case

    rows = session.execute(select(Case.kind, Case.opened_at, Case.first_reply_at, Case.closed_at)
                           .where(Case.shop_domain == shop, Case.kind != "out_of_stock", Case.opened_at >= start, Case.opened_at < end))
    return [ComplaintFact(opened, KPI_OF_KIND[kind], replied or closed) for kind, opened, replied, closed in rows if kind in KPI_OF_KIND]


def _sales_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[MoneyFact]:
    """Net sales of the lines of orders not cancelled (tips left out), and the shipping they charged, by order time."""
    rows = session.execute(
        select(ORDER_TIME, Order.id, Order.taxes_included, Order.total_shipping, Order.total_tax,
               OrderLine.price, OrderLine.quantity, OrderLine.original_quantity, OrderLine.discount, OrderLine.tax, OrderLine.is_tip)
        .join(OrderLine, OrderLine.order_id == Order.id, isouter=True)
        .where(Order.shop_domain == shop, Order.cancelled_at.is_(None), ORDER_TIME >= start, ORDER_TIME < end)
        .order_by(Order.id)
    )
    facts = []
    orders: dict[int, list] = {}  # id -> [time, shipping charged, order tax, taxes included, lines' tax]
    for at, order_id, taxes_included, shipping, total_tax, price, quantity, original, discount, tax, is_tip in rows:
        order = orders.setdefault(order_id, [at, shipping, total_tax, taxes_included, Decimal(0)])
        order[4] += _money(tax) or Decimal(0)
        if quantity is None or is_tip:
            continue  # no line, or a tip: the staff's, not a sale
        facts.append(MoneyFact(at, "revenue", line_net(price, quantity, original, discount, tax, taxes_included)))
    for at, shipping, total_tax, taxes_included, lines_tax in orders.values():
        if shipping is not None:
            facts.append(MoneyFact(at, "shipping_charged", shipping_net(shipping, total_tax, lines_tax, taxes_included)))
    return facts


def line_net(price, quantity: int, original: int | None, discount, tax, taxes_included: bool | None) -> Decimal:
    """What a line sold for, net: price x units still ordered, less their share of the discounts and, when prices include it, of the tax.

    Discount allocations and tax lines cover the units as ordered; after an edit or a refund-cancel
    only `quantity` of `original` units remain, so only their share counts.
    """
    units = Decimal(quantity or 0)
    ordered = Decimal(original if original else quantity or 0)
    gross = (_money(price) or Decimal(0)) * units
    if not ordered:
        return gross
    share = units / ordered
    net = gross - (_money(discount) or Decimal(0)) * share
    if taxes_included:
        net -= (_money(tax) or Decimal(0)) * share
    return _to_places_of(net, price)


def unit_net(price, original: int | None, discount, tax, taxes_included: bool | None) -> Decimal | None:
    """One unit's net price (for refunds of returned units); None when the price is unknown."""
    amount = _money(price)
    if amount is None:
        return None
    ordered = Decimal(original or 1)
    amount -= (_money(discount) or Decimal(0)) / ordered
    if taxes_included:
        amount -= (_money(tax) or Decimal(0)) / ordered
    return _to_places_of(amount, price)


def shipping_net(charged, total_tax, lines_tax, taxes_included: bool | None) -> Decimal:
    """Shipping the customer paid, net of its tax where prices include tax (its tax: the order's tax less its lines')."""
    amount = _money(charged) or Decimal(0)
    if taxes_included and amount:
        shipping_tax = (_money(total_tax) or Decimal(0)) - (lines_tax or Decimal(0))
        amount -= max(Decimal(0), min(shipping_tax, amount))
    return amount


def _to_places_of(amount: Decimal, like) -> Decimal:
    """`amount` rounded to as many decimal places as the price it came from (a share of a discount can have more)."""
    exponent = min(-2, _money(like).as_tuple().exponent) if _money(like) is not None else -2
    return amount.quantize(Decimal(1).scaleb(exponent))


def _cost_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[MoneyFact]:
    """What suppliers charge for those orders, by order time; placed supplier orders without a cost are counted."""
    rows = session.execute(
        select(ORDER_TIME, SupplierOrder.cost, SupplierOrder.state).join(Order, Order.id == SupplierOrder.order_id)
        .where(Order.shop_domain == shop, Order.cancelled_at.is_(None), ORDER_TIME >= start, ORDER_TIME < end,
               SupplierOrder.state.not_in(NO_COST_STATES))
    )
    facts = []
    for at, cost, state in rows:
        amount = _money(cost)
        if amount is not None:
            facts.append(MoneyFact(at, "supplier_cost", amount))
        elif state not in UNCHARGED_YET:
            facts.append(MoneyFact(at, "cost_missing", Decimal(1)))  # the margin is overstated by an unknown cost
    return facts


def _refund_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[MoneyFact]:
    """Net unit price x quantity of the returned lines of refunded returns, by refund time."""
    rows = session.execute(
        select(ReturnCase.refunded_at, ReturnLine.quantity, OrderLine.price, OrderLine.original_quantity, OrderLine.discount, OrderLine.tax, Order.taxes_included)
        .join(ReturnLine, ReturnLine.return_case_id == ReturnCase.id)
        .outerjoin(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .outerjoin(Order, Order.id == OrderLine.order_id)
        .where(ReturnCase.shop_domain == shop, ReturnCase.refunded_at >= start, ReturnCase.refunded_at < end)
    )
    facts = []
    for at, quantity, price, original, discount, tax, taxes_included in rows:
        amount = unit_net(price, original, discount, tax, taxes_included)
        facts.append(MoneyFact(at, "refunds", amount * quantity) if amount is not None else MoneyFact(at, "refund_unpriced", Decimal(quantity)))
    return facts


# --- summaries: the same for the whole period and for each bucket ------------------------------


def _summarise(facts: dict[str, list], targets: dict, now: dt.datetime, names: dict[int, str]) -> dict:
    return {
        "return_rate": _return_rate(facts["units"]),
        "on_time": _on_time(facts["parcels"]),
        "forward_hours": _hours_stats([f.hours for f in facts["forward"]], targets["forward_hours"]),
        "suppliers": _suppliers(facts, targets, names),
        "complaints": {kind: _complaints([f for f in facts["complaints"] if f.kind == kind], targets[f"{kind}_hours"], now) for kind in COMPLAINT_KINDS},
        "margin": _margin(facts["money"]),
        "shipping_days": _shipping_days(facts["parcels"]),
        "satisfaction": summarise_satisfaction(facts["answers"], facts["reviews"]),
    }


def _by_bucket(facts: dict[str, list], bucket: str) -> dict[str, dict[str, list]]:
    """The facts (all inside the period already) sorted into their buckets, in one pass."""
    grouped: dict[str, dict[str, list]] = {}
    for name, rows in facts.items():
        for fact in rows:
            key = _bucket_key(_bucket_start(fact.at, bucket), bucket)
            grouped.setdefault(key, _no_facts(facts))[name].append(fact)
    return grouped


def _no_facts(facts: dict[str, list]) -> dict[str, list]:
    return {name: [] for name in facts}


def _return_rate(facts: list[UnitsFact]) -> dict:
    sold, returned = sum(f.sold for f in facts), sum(f.returned for f in facts)
    return {"units_sold": sold, "units_returned": returned, "rate": round(returned / sold, 4) if sold else None}


def _on_time(facts: list[ParcelFact]) -> dict:
    return on_time_from_counts(Counter(f.status for f in facts))


def on_time_from_counts(counts: Counter) -> dict:
    """The on-time figures from counts of parcel statuses (compute._parcel_facts' or a digest's)."""
    measured = counts["on_time"] + counts["late"]
    return {"measured": measured, "on_time": counts["on_time"], "late": counts["late"], "rate": round(counts["on_time"] / measured, 4) if measured else None,
            "no_eta": counts["no_eta"]}


def _hours_stats(hours: list[float], target: float | None = None) -> dict:
    """Count, median and p90 (nearest rank) in hours; with a target, how many are within it."""
    ordered = sorted(hours)
    stats = {
        "count": len(ordered),
        "median": round(statistics.median(ordered), 2) if ordered else None,
        "p90": round(ordered[math.ceil(0.9 * len(ordered)) - 1], 2) if ordered else None,
    }
    if target is not None:
        within = sum(1 for h in ordered if h <= target)
        stats.update(target_hours=target, within_target=within, share_within=round(within / len(ordered), 4) if ordered else None)
    return stats


def _suppliers(facts: dict[str, list], targets: dict, names: dict[int, str]) -> list[dict]:
    """Per supplier: order-to-forward, acknowledgement and ship hours, on-time delivery."""
    ids = {f.supplier_id for name in ("forward", "ack", "ship", "parcels", "answers") for f in facts[name]} - {None}  # None: not the app's parcel
    return [
        {
            "supplier_id": sid,
            "name": names.get(sid),
            "forward_hours": _hours_stats([f.hours for f in facts["forward"] if f.supplier_id == sid], targets["forward_hours"]),
            "ack_hours": _hours_stats([f.hours for f in facts["ack"] if f.supplier_id == sid]),
            "ship_hours": _hours_stats([f.hours for f in facts["ship"] if f.supplier_id == sid]),
            "on_time": _on_time([f for f in facts["parcels"] if f.supplier_id == sid]),
            "satisfaction": supplier_satisfaction(facts["answers"], facts["reviews"], sid),
        }
        for sid in sorted(ids, key=lambda i: (names.get(i) or "", i))
    ]


def _complaints(facts: list[ComplaintFact], target_hours: float, now: dt.datetime) -> dict:
    """How many complaints were reacted to within the target, missed it, or are still pending."""
    limit = dt.timedelta(hours=target_hours)
    reaction = [_hours(f.at, f.reacted_at) for f in facts if f.reacted_at is not None]
    within = sum(1 for h in reaction if h <= target_hours)
    overdue = sum(1 for f in facts if f.reacted_at is None and now - f.at > limit)
    missed = len(reaction) - within + overdue
    return {
        "target_hours": target_hours,
        "count": len(facts),
        "within": within,
        "missed": missed,
        "pending": len(facts) - within - missed,
        "share_within": round(within / (within + missed), 4) if within + missed else None,
        "median_hours": round(statistics.median(reaction), 2) if reaction else None,
    }


def _margin(facts: list[MoneyFact]) -> dict:
    total = defaultdict(Decimal)
    for f in facts:
        total[f.field] += f.amount
    revenue, cost, refunds, shipping = total["revenue"], total["supplier_cost"], total["refunds"], Decimal(0)
    charged = total["shipping_charged"]
    margin = revenue + charged - cost - shipping - refunds
    return {
        "revenue": revenue,
        "shipping_charged": charged,
        "supplier_cost": cost,
        "shipping": shipping,
        "shipping_recorded": False,
        "refunds": refunds,
        "gross_margin": margin,
        "margin_rate": round(float(margin / revenue), 4) if revenue else None,
        "supplier_orders_without_cost": int(total["cost_missing"]),
        "refunded_units_without_price": int(total["refund_unpriced"]),
    }


def _shipping_days(facts: list[ParcelFact]) -> dict:
    days = [f.transit_days for f in facts if f.transit_days is not None]
    bins = {label: sum(1 for d in days if d >= low and (high is None or d <= high)) for label, low, high in SHIPPING_DAY_BINS}
    return {"count": len(days), "bins": bins}


def _returns_all_time(session: Session, shop: str) -> dict:
    """Per product (with its reasons) and per supplier, from returns.analytics (all time)."""
    return returns_all_time_from(return_analytics(session, shop))


def returns_all_time_from(analytics: dict) -> dict:
    """The all-time returns part of kpis() from returns.analytics' result (computed now or snapshotted)."""
    return {
        "store": analytics["store"],
        "by_product": analytics["by_product"],
        "by_supplier": analytics["by_supplier"],
        "reasons": analytics["reasons"],
        "reasons_by_product": {row["sku"]: row["reasons"] for row in analytics["by_product"]},
    }


# --- small helpers -------------------------------------------------------------------------------


def _hours(start: dt.datetime, end: dt.datetime) -> float:
    # Clocks of Shopify, suppliers and us disagree by seconds: a negative span is 0.
    return max(0.0, (end - start).total_seconds() / 3600)


def _money(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text not in (None, "") else None
    except InvalidOperation:
        return None


def _aware(value: dt.datetime | dt.date) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    if value.tzinfo is None:
        raise ValueError("naive datetime given; pass an aware one (UTC)")
    return value.astimezone(dt.timezone.utc)


def _bucket_start(at: dt.datetime, bucket: str) -> dt.datetime:
    day = at.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "week":
        return day - dt.timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def _next_bucket(at: dt.datetime, bucket: str) -> dt.datetime:
    if bucket == "week":
        return at + dt.timedelta(days=7)
    if bucket == "month":
        return at.replace(year=at.year + at.month // 12, month=at.month % 12 + 1)
    return at + dt.timedelta(days=1)


def _bucket_key(at: dt.datetime, bucket: str) -> str:
    if bucket == "week":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    return at.strftime("%Y-%m" if bucket == "month" else "%Y-%m-%d")

