"""KPIs on a small, hand-computed week of records, on SQLite and PostgreSQL; targets; the daily check's alerts.

The week is Monday 2026-03-02 to Monday 2026-03-09 (UTC), "now" is its end. Every expected number
below is worked out by hand from the rows seeded in `seed`; the comments there show the sums.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from shopify_app.kpis import check_installed_shops, check_kpis, get_targets, kpis, set_targets
from shopify_app.kpis.targets import DEFAULT_TARGETS
from shopify_app.models import Shop, ShopStatus
from shopify_app.orders.models import CustomerNotice, Order, OrderEvent, OrderLine
from shopify_app.reconcile.models import Desync
from shopify_app.returns.models import ReturnCase, ReturnLine
from shopify_app.suppliers.models import Alert, Supplier, SupplierOrder, SupplierOrderLine, SupplierShipment

SHOP = "kpi-demo.myshopify.com"
OTHER = "other.myshopify.com"
MONDAY = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
NOW = MONDAY + dt.timedelta(days=7)
MUG, TEE = "9.95", "19.90"


def at(day: int, hour: float = 0) -> dt.datetime:
    """MONDAY + day days + hour hours."""
    return MONDAY + dt.timedelta(days=day, hours=hour)


@pytest.fixture
def services(app_factory, database_url):
    return app_factory(database_url).extensions["services"]


def _order(session, shop, number, sku, price, quantity, created, *, cancelled=None, created_fallback=None):
    order = Order(shop_domain=shop, shopify_id=str(1000 + number), name=f"#{1000 + number}", shopify_created_at=created, cancelled_at=cancelled,
                  financial_status="paid", currency="EUR")
    if created_fallback is not None:
        order.created_at = created_fallback  # Shopify's created_at missing: ours is used
    order.lines.append(OrderLine(shopify_line_id=f"{number}01", sku=sku, quantity=quantity, price=price))
    session.add(order)
    session.flush()
    return order


def _deliver(session, order, supplier, *, placed=None, cost=None, state="shipped", lines=True):
    delivery = SupplierOrder(shop_domain=order.shop_domain, order_id=order.id, supplier_id=supplier.id, idempotency_key=f"k-{order.shop_domain}-{order.id}-{supplier.id}",
                             state=state, cost=cost, placed_at=placed)
    session.add(delivery)
    session.flush()
    line = order.lines[0]
    if lines:
        session.add(SupplierOrderLine(supplier_order_id=delivery.id, order_line_id=line.id, supplier_sku=line.sku, quantity=line.quantity))
    return delivery


def _parcel(session, delivery, name, shipped, eta, delivered):
    row = SupplierShipment(supplier_order_id=delivery.id, shipment_id=name, shipped_at=shipped, estimated_delivery=eta, delivered_at=delivered,
                           created_at=MONDAY - dt.timedelta(days=20))
    session.add(row)
    session.flush()
    return row


def _return(session, order, supplier, gid, reason, status, requested, decided=None, refunded=None):
    decision = "pending" if decided is None else "decline" if status == "declined" else "approve"
    case = ReturnCase(shop_domain=order.shop_domain, return_gid=gid, order_id=order.id, status=status, requested_at=requested, decided_at=decided, refunded_at=refunded,
                      decision=decision)
    line = order.lines[0]
    case.lines.append(ReturnLine(return_line_item_gid=gid + "-1", order_line_id=line.id, sku=line.sku, supplier_id=supplier.id, quantity=1, reason=reason))
    session.add(case)
    session.flush()
    return case


def seed(session) -> dict:
    """The hand-computed week. Sums are in the comments; `expected` numbers in the tests come from them."""
    session.add_all([Shop(domain=SHOP, status=ShopStatus.INSTALLED.value), Shop(domain="gone.myshopify.com", status=ShopStatus.UNINSTALLED.value)])
    alpha = Supplier(shop_domain=SHOP, name="Alpha", kind="rest")
    beta = Supplier(shop_domain=SHOP, name="Beta", kind="rest")
    session.add_all([alpha, beta])
    session.flush()

    # Orders: 12 units sold in the week (MUG 7 x 9.95 = 69.65, TEE 5 x 19.90 = 99.50; revenue 169.15).
    o0 = _order(session, SHOP, 0, "MUG", MUG, 1, at(-20, 9))  # before the week: only its late parcel counts
    o1 = _order(session, SHOP, 1, "MUG", MUG, 2, at(0, 9))
    o2 = _order(session, SHOP, 2, "TEE", TEE, 1, at(0, 9))
    o3 = _order(session, SHOP, 3, "MUG", MUG, 1, at(1, 9))
    o4 = _order(session, SHOP, 4, "TEE", TEE, 1, at(1, 9))
    o5 = _order(session, SHOP, 5, "MUG", MUG, 1, None, created_fallback=at(2, 9))
    o6 = _order(session, SHOP, 6, "TEE", TEE, 2, at(3, 9))
    o7 = _order(session, SHOP, 7, "MUG", MUG, 1, at(4, 9))
    o8 = _order(session, SHOP, 8, "TEE", TEE, 1, at(5, 9))
    o9 = _order(session, SHOP, 9, "MUG", MUG, 2, at(6, 9))
    o10 = _order(session, SHOP, 10, "TEE", TEE, 1, at(6, 9), cancelled=at(6, 10))  # cancelled: no sale, no cost

    # Supplier orders. Forward hours: 1,2,3,5,1,2,8,1,2 (median 2, p90 8, 7 of 9 within 4 h).
    # Costs: 8.00 + 7.50 + 4.00 + 7.50 + 4.00 + 15.00 + 4.00 + 8.00 = 58.00; o8's cost unknown.
    d0 = _deliver(session, o0, alpha, placed=at(-20, 10), cost="4.00")
    d1 = _deliver(session, o1, alpha, placed=at(0, 10), cost="8.00")
    d2 = _deliver(session, o2, beta, placed=at(0, 11), cost="7.50")
    d3 = _deliver(session, o3, alpha, placed=at(1, 12), cost="4.00")
    d4 = _deliver(session, o4, beta, placed=at(1, 14), cost="7.50")
    d5 = _deliver(session, o5, alpha, placed=at(2, 10), cost="4.00")
    d6 = _deliver(session, o6, beta, placed=at(3, 11), cost="15.00")
    d7 = _deliver(session, o7, alpha, placed=at(4, 17), cost="4.00")
    d8 = _deliver(session, o8, beta, placed=at(5, 10), cost=None, state="placed")
    _deliver(session, o9, alpha, placed=at(6, 11), cost="8.00", state="placed")
    _deliver(session, o10, beta, placed=None, cost=None, state="cancelled")
    _deliver(session, o8, alpha, placed=None, cost="3.00", state="cancelled", lines=False)  # Alpha's quote, cancelled: not a cost

    # Parcels, judged on their ETA's day: p0 was due before the week (out); p1 on time (Fri), p2 late (Thu), p3 on time
    # (Sat: a bare ETA is the end of that day), p4 on time (Sun); p5 without ETA; p6 due by Sunday 00:00 and never
    # delivered: late; p7 not due yet. On time 3 of 5.
    # Ship hours (placed -> shipped): Alpha 4, 6, 12, 12; Beta 9, 1, 12.
    # Transit days: p0 10, p1 1, p2 6, p3 3, p4 2, p5 2 -> 0-2: 3, 3-5: 1, 6-9: 1, 10+: 1.
    _parcel(session, d0, "p0", "2026-02-20T10:00:00Z", "2026-02-25", "2026-03-02T12:00:00Z")
    _parcel(session, d1, "p1", "2026-03-02T14:00:00Z", "2026-03-05", "2026-03-04T10:00:00Z")
    _parcel(session, d2, "p2", "2026-03-02T20:00:00Z", "2026-03-05T12:00:00Z", "2026-03-08T21:00:00Z")
    _parcel(session, d3, "p3", "2026-03-03T18:00:00Z", "2026-03-06", "2026-03-06T18:00:00Z")
    _parcel(session, d4, "p4", "2026-03-03T15:00:00Z", "2026-03-08T00:00:00Z", "2026-03-05T15:00:00Z")
    _parcel(session, d5, "p5", "2026-03-04T22:00:00Z", None, "2026-03-07T09:00:00Z")
    p6 = _parcel(session, d6, "p6", "2026-03-05T23:00:00Z", "2026-03-07", None)
    _parcel(session, d7, "p7", "2026-03-07T05:00:00Z", "2026-03-12", None)

    # Acknowledgements: Alpha 0.5 h (o1), 1 h (o3; its second one is ignored); Beta 2 h (o2).
    session.add_all([
        OrderEvent(order_id=o1.id, kind="acknowledged", actor="supplier", detail={"supplier": "Alpha"}, created_at=at(0, 10.5)),
        OrderEvent(order_id=o2.id, kind="acknowledged", actor="supplier", detail={"supplier": "Beta"}, created_at=at(0, 13)),
        OrderEvent(order_id=o3.id, kind="acknowledged", actor="supplier", detail={"supplier": "Alpha"}, created_at=at(1, 13)),
        OrderEvent(order_id=o3.id, kind="acknowledged", actor="supplier", detail={"supplier": "Alpha"}, created_at=at(1, 15)),
    ])

    # Returns: 3 units counted (r1, r2, r4; r3 was declined) -> 3 / 12 = 0.25.
    # Damaged: r1 decided in 10 h (within 24 h), r4 in 36 h (missed). Refunded: r1, one mug = 9.95.
    _return(session, o1, alpha, "r1", "DEFECTIVE", "closed", at(3, 10), decided=at(3, 20), refunded=at(4, 12))
    _return(session, o6, beta, "r2", "SIZE_TOO_SMALL", "open", at(5, 8), decided=at(5, 9))
    _return(session, o4, beta, "r3", "UNWANTED", "declined", at(4, 8), decided=at(4, 9))
    _return(session, o3, alpha, "r4", "DEFECTIVE", "open", at(4, 9), decided=at(5, 21))
    _return(session, o9, alpha, "r5", "DEFECTIVE", "canceled", at(6, 12))  # withdrawn before any decision: no return, no complaint

    # Out of stock: o8 rerouted to a backup at once (0 h, within 12 h), o9's unroutable line resolved after 16 h (missed),
    # o7's failure 4 h old at NOW (pending).
    session.add_all([
        Alert(shop_domain=SHOP, kind="supplier_out_of_stock", dedupe_key=f"supplier_oos:{d8.id}", severity="critical", message="m", first_seen=at(4, 10), last_seen=at(4, 10)),
        # The forwarding worker records the reroute a moment before raising the alert, in one transaction.
        OrderEvent(order_id=o8.id, kind="rerouted", actor="app", detail={}, created_at=at(4, 10) - dt.timedelta(seconds=2)),
        Alert(shop_domain=SHOP, kind="unroutable_line", dedupe_key=f"unroutable:{SHOP}:{o9.shopify_id}:{o9.lines[0].shopify_line_id}", severity="critical",
              message="m", first_seen=at(5, 9), last_seen=at(5, 9), resolved_at=at(6, 1)),
        Alert(shop_domain=SHOP, kind="supplier_failed", dedupe_key=f"supplier_failed:{d7.id}", severity="critical", message="m", first_seen=at(6, 20), last_seen=at(6, 20)),
    ])
    # Delivery problems: stuck at the supplier, closed after 21 h; a late parcel, the customer told after 1 h.
    session.add_all([
        Desync(shop_domain=SHOP, kind="stuck_at_supplier", ref=f"delivery:{d6.id}", first_seen=at(2, 12), last_seen=at(3, 9), status="resolved", closed_at=at(3, 9)),
        Alert(shop_domain=SHOP, kind="delivery_problem", dedupe_key=f"delay:{p6.id}", severity="warning", message="m", first_seen=at(6, 0.5), last_seen=at(6, 0.5)),
        CustomerNotice(order_id=o6.id, kind="delay", dedupe_key=f"delay:{p6.id}", status="sent", sent_at=at(6, 1.5)),
    ])

    # Another shop's records must change nothing above.
    other_supplier = Supplier(shop_domain=OTHER, name="Alpha", kind="rest")
    session.add(other_supplier)
    session.flush()
    other = _order(session, OTHER, 1, "MUG", MUG, 5, at(1, 9))
    other_delivery = _deliver(session, other, other_supplier, placed=at(3, 9), cost="1.00")
    _parcel(session, other_delivery, "x1", "2026-03-03T10:00:00Z", "2026-03-04", "2026-03-06T10:00:00Z")
    _return(session, other, other_supplier, "x-r1", "DEFECTIVE", "open", at(2, 9))
    return {"alpha": alpha.id, "beta": beta.id}


def _week(services, bucket="day") -> tuple[dict, dict]:
    with services.session_factory.begin() as session:
        ids = seed(session)
    with services.session_factory() as session:
        return kpis(session, SHOP, MONDAY, NOW, bucket, now=NOW), ids


def test_the_hand_computed_week(services) -> None:
    report, ids = _week(services)
    overall = report["overall"]
    assert overall["return_rate"] == {"units_sold": 12, "units_returned": 3, "rate": 0.25}
    assert overall["on_time"] == {"measured": 5, "on_time": 3, "late": 2, "rate": 0.6, "no_eta": 1}
    assert overall["forward_hours"] == {"count": 9, "median": 2.0, "p90": 8.0, "target_hours": 4.0, "within_target": 7, "share_within": 0.7778}
    assert overall["shipping_days"] == {"count": 6, "bins": {"0-2": 3, "3-5": 1, "6-9": 1, "10+": 1}}
    assert overall["margin"] == {
        "revenue": Decimal("169.15"), "shipping_charged": Decimal("0"), "supplier_cost": Decimal("58.00"), "shipping": Decimal("0"), "shipping_recorded": False,
        "refunds": Decimal("9.95"), "gross_margin": Decimal("101.20"), "margin_rate": 0.5983,
        "supplier_orders_without_cost": 1, "refunded_units_without_price": 0,
    }
    assert isinstance(overall["margin"]["gross_margin"], Decimal)
    complaints = overall["complaints"]
    assert complaints["damaged"] == {"target_hours": 24.0, "count": 2, "within": 1, "missed": 1, "pending": 0, "share_within": 0.5, "median_hours": 23.0}
    assert complaints["out_of_stock"] == {"target_hours": 12.0, "count": 3, "within": 1, "missed": 1, "pending": 1, "share_within": 0.5, "median_hours": 8.0}
    assert complaints["delivery_problem"] == {"target_hours": 24.0, "count": 2, "within": 2, "missed": 0, "pending": 0, "share_within": 1.0, "median_hours": 11.0}


def test_per_supplier_times_and_deliveries(services) -> None:
    report, ids = _week(services)
    alpha, beta = report["overall"]["suppliers"]
    assert (alpha["supplier_id"], alpha["name"], beta["supplier_id"], beta["name"]) == (ids["alpha"], "Alpha", ids["beta"], "Beta")
    assert alpha["forward_hours"] == {"count": 5, "median": 2.0, "p90": 8.0, "target_hours": 4.0, "within_target": 4, "share_within": 0.8}
    assert beta["forward_hours"] == {"count": 4, "median": 2.0, "p90": 5.0, "target_hours": 4.0, "within_target": 3, "share_within": 0.75}
    assert alpha["ack_hours"] == {"count": 2, "median": 0.75, "p90": 1.0}
    assert beta["ack_hours"] == {"count": 1, "median": 2.0, "p90": 2.0}
    assert alpha["ship_hours"] == {"count": 4, "median": 9.0, "p90": 12.0}
    assert beta["ship_hours"] == {"count": 3, "median": 9.0, "p90": 12.0}
    assert alpha["on_time"] == {"measured": 2, "on_time": 2, "late": 0, "rate": 1.0, "no_eta": 1}  # p0 was due before the week
    assert beta["on_time"] == {"measured": 3, "on_time": 1, "late": 2, "rate": 0.3333, "no_eta": 0}  # p6 never arrived: late


def test_returns_per_product_and_supplier_come_from_return_analytics(services) -> None:
    report, ids = _week(services)
    returns = report["returns_all_time"]
    # All time: the mug sold before the week counts (8 mugs).
    assert returns["store"] == {"units_sold": 13, "units_returned": 3, "return_rate": 0.2308,
                                "kinds": {"withdrawal": 1, "complaint": 2, "exchange": 0}, "defect_rate": 0.1538}  # the damaged mugs are complaints
    assert [(r["sku"], r["units_sold"], r["units_returned"], r["return_rate"]) for r in returns["by_product"]] == [("MUG", 8, 2, 0.25), ("TEE", 5, 1, 0.2)]
    assert returns["reasons_by_product"] == {"MUG": {"DEFECTIVE": 2}, "TEE": {"SIZE_TOO_SMALL": 1}}
    assert [(r["name"], r["units_sold"], r["units_returned"]) for r in returns["by_supplier"]] == [("Alpha", 8, 2), ("Beta", 5, 1)]


def test_buckets_by_day_week_and_month(services) -> None:
    report, _ = _week(services)
    days = report["buckets"]
    assert [b["key"] for b in days] == [f"2026-03-0{d}" for d in range(2, 9)]
    monday, tuesday, sunday = days[0], days[1], days[6]
    assert monday["start"] == "2026-03-02T00:00:00+00:00" and monday["end"] == "2026-03-03T00:00:00+00:00"
    assert monday["return_rate"] == {"units_sold": 3, "units_returned": 0, "rate": 0.0}
    assert monday["on_time"]["measured"] == 0  # p0 arrived on Monday, but was due (and judged late) the week before
    assert days[3]["on_time"]["late"] == 1 and days[3]["on_time"]["rate"] == 0.0  # p2, due on Thursday, arrived on Sunday
    assert monday["margin"]["revenue"] == Decimal("39.80")
    assert tuesday["margin"]["supplier_cost"] == Decimal("11.50")
    assert days[4]["margin"]["refunds"] == Decimal("9.95")  # refunded on Friday
    assert days[2]["return_rate"]["units_sold"] == 1  # o5, by our created_at: Shopify's is missing
    assert sunday["on_time"] == {"measured": 2, "on_time": 1, "late": 1, "rate": 0.5, "no_eta": 0}  # p4 on time; p6 was due by Sunday 00:00
    assert sum(b["margin"]["gross_margin"] for b in days) == Decimal("101.20")
    assert sum(b["return_rate"]["units_sold"] for b in days) == 12

    with services.session_factory() as session:
        weekly = kpis(session, SHOP, MONDAY, NOW, "week", now=NOW)
        monthly = kpis(session, SHOP, MONDAY, NOW, "month", now=NOW)
    assert [b["key"] for b in weekly["buckets"]] == ["2026-W10"]
    assert weekly["buckets"][0]["margin"]["gross_margin"] == Decimal("101.20")
    assert [(b["key"], b["start"], b["end"]) for b in monthly["buckets"]] == [("2026-03", "2026-03-02T00:00:00+00:00", "2026-03-09T00:00:00+00:00")]
    assert monthly["buckets"][0]["on_time"]["rate"] == 0.6


def test_median_and_p90_by_nearest_rank() -> None:
    from shopify_app.kpis.compute import _hours_stats

    assert _hours_stats([float(h) for h in range(20, 0, -1)], 4) == {
        "count": 20, "median": 10.5, "p90": 18.0, "target_hours": 4, "within_target": 4, "share_within": 0.2}
    assert _hours_stats([]) == {"count": 0, "median": None, "p90": None}


def test_the_bad_inputs_are_refused(services) -> None:
    with services.session_factory() as session:
        with pytest.raises(ValueError, match="bucket"):
            kpis(session, SHOP, MONDAY, NOW, "year")
        with pytest.raises(ValueError, match="after start"):
            kpis(session, SHOP, NOW, MONDAY)
        empty = kpis(session, SHOP, dt.date(2026, 3, 2), dt.date(2026, 3, 3), now=NOW)
    assert empty["overall"]["on_time"]["rate"] is None and empty["overall"]["return_rate"]["rate"] is None
    assert empty["overall"]["margin"]["margin_rate"] is None and empty["overall"]["forward_hours"]["median"] is None


def test_targets_default_merge_and_validate(services) -> None:
    with services.session_factory.begin() as session:
        assert get_targets(session, SHOP) == DEFAULT_TARGETS
        assert DEFAULT_TARGETS["return_rate_max"] == 0.10 and DEFAULT_TARGETS["on_time_min"] == 0.95 and DEFAULT_TARGETS["out_of_stock_hours"] == 12
        for bad, message in (({"on_time_min": 1.5}, "between 0 and 1"), ({"on_time_min": "high"}, "must be a number"), ({"damaged_hours": 0}, "above 0"),
                             ({"damaged_hours": True}, "must be a number"), ({"speed": 1}, "unknown KPI target"), ({}, "give the targets")):
            with pytest.raises(ValueError, match=message):
                set_targets(session, SHOP, bad)
        assert set_targets(session, SHOP, {"on_time_min": 0.9})["on_time_min"] == 0.9
        set_targets(session, SHOP, {"forward_hours": 6})
    with services.session_factory() as session:
        targets = get_targets(session, SHOP)
        assert (targets["on_time_min"], targets["forward_hours"], targets["return_rate_max"]) == (0.9, 6.0, 0.10)
        assert get_targets(session, OTHER) == DEFAULT_TARGETS


def _kpi_alerts(services) -> dict[str, Alert]:
    with services.session_factory() as session:
        return {a.dedupe_key.rsplit(":", 1)[1]: a for a in session.scalars(select(Alert).where(Alert.kind == "kpi_missed"))}


def test_a_missed_target_alerts_once_and_resolves_when_back_on_target(services) -> None:
    with services.session_factory.begin() as session:
        seed(session)
    for _ in range(2):
        with services.session_factory.begin() as session:
            found = check_kpis(session, SHOP, NOW)
    assert {name: v["status"] for name, v in found.items()} == {
        "return_rate": "missed", "on_time": "missed", "forward_hours": "missed",  # 7 of 9 orders within 4 h: the p90 is 8 h
        "damaged_reaction": "missed", "out_of_stock_reaction": "missed", "delivery_problem_reaction": "met", "reply_time": "no_data",
    }
    assert found["return_rate"]["value"] == 0.25 and found["on_time"]["value"] == 0.6 and found["forward_hours"]["value"] == 8.0
    alerts = _kpi_alerts(services)
    assert sorted(alerts) == ["damaged_reaction", "forward_hours", "on_time", "out_of_stock_reaction", "return_rate"]
    assert alerts["forward_hours"].message == ("77.8 % of orders reached the supplier within 4 h over the last 7 days; 90 % took up to 8.0 h "
                                               "(target: 90.0 % within 4 h).")
    assert all(a.count == 2 and a.resolved_at is None and a.severity == "warning" for a in alerts.values())  # one alert each, seen twice
    assert alerts["on_time"].dedupe_key == f"kpi:{SHOP}:on_time"
    assert alerts["on_time"].message == "On-time delivery 60.0 % over the last 7 days (target: above 95.0 %)."

    with services.session_factory.begin() as session:
        set_targets(session, SHOP, {"on_time_min": 0.55, "return_rate_max": 0.3})
        found = check_kpis(session, SHOP, NOW)
    assert found["on_time"]["status"] == found["return_rate"]["status"] == "met"
    alerts = _kpi_alerts(services)
    assert alerts["on_time"].resolved_at is not None and alerts["return_rate"].resolved_at is not None
    assert alerts["damaged_reaction"].resolved_at is None and alerts["damaged_reaction"].count == 3


def _parcels_first_delivered_rest_silent(session, supplier_name: str, count: int) -> list:
    """`count` orders of one new supplier, each shipped on Monday with an ETA of Thursday: the first delivered on
    Wednesday, the others never reported delivered. Returns (delivery, parcel) pairs."""
    supplier = Supplier(shop_domain=SHOP, name=supplier_name, kind="rest")
    session.add(supplier)
    session.flush()
    made = []
    for n in range(count):
        delivery = _deliver(session, _order(session, SHOP, n, "MUG", MUG, 1, at(0, 9)), supplier, placed=at(0, 10))
        made.append((delivery, _parcel(session, delivery, f"{supplier_name[0].lower()}{n}", "2026-03-02T12:00:00Z", "2026-03-05",
                                       "2026-03-04T10:00:00Z" if n == 0 else None)))
    return made


def test_parcels_never_reported_delivered_count_as_late(services) -> None:
    # Cheap carriers often never scan "delivered": 1 parcel on time, 19 past their ETA with no delivery at all.
    with services.session_factory.begin() as session:
        _parcels_first_delivered_rest_silent(session, "Silent", 20)
    with services.session_factory.begin() as session:
        found = check_kpis(session, SHOP, NOW)
    assert found["on_time"]["status"] == "missed" and found["on_time"]["value"] == 0.05
    with services.session_factory() as session:
        on_time = kpis(session, SHOP, MONDAY, NOW, now=NOW)["overall"]["on_time"]
    assert (on_time["measured"], on_time["on_time"], on_time["late"]) == (20, 1, 19)


def test_a_parcel_whose_fulfillment_was_cancelled_in_shopify_is_not_judged(services) -> None:
    from shopify_app.deliveries.models import FulfillmentDelivery

    with services.session_factory.begin() as session:
        for n, (delivery, parcel) in enumerate(_parcels_first_delivered_rest_silent(session, "Cancelled", 2)):
            parcel.shopify_fulfillment_id = f"gid://shopify/Fulfillment/{900 + n}"
            session.add(FulfillmentDelivery(shop_domain=SHOP, fulfillment_gid=parcel.shopify_fulfillment_id, order_id=delivery.order_id,
                                            fulfillment_status="success" if n == 0 else "cancelled"))
    with services.session_factory() as session:
        on_time = kpis(session, SHOP, MONDAY, NOW, now=NOW)["overall"]["on_time"]
    assert (on_time["measured"], on_time["on_time"], on_time["late"]) == (1, 1, 0)  # the cancelled one never goes anywhere: not late


@pytest.mark.parametrize(("fast", "slow", "status"), [(51, 49, "missed"), (89, 11, "missed"), (90, 10, "met"), (100, 0, "met")])
def test_order_to_supplier_is_judged_on_nine_orders_in_ten_not_the_median(fast, slow, status) -> None:
    from shopify_app.kpis.compute import _hours_stats
    from shopify_app.kpis.evaluate import JUDGES

    stats = _hours_stats([1.0] * fast + [72.0] * slow, DEFAULT_TARGETS["forward_hours"])  # the median is 1 h in every case
    assert JUDGES["forward_hours"]({"forward_hours": stats}, DEFAULT_TARGETS)["status"] == status


@pytest.mark.parametrize(("judge", "rate", "target", "status"), [
    ("return_rate", 0.0999, 0.10, "met"), ("return_rate", 0.10, 0.10, "missed"),  # "below 10 %": exactly 10 % misses
    ("return_rate", 0.0, 0.0, "met"), ("return_rate", 0.01, 0.0, "missed"),
    ("on_time", 0.9501, 0.95, "met"), ("on_time", 0.95, 0.95, "missed"),  # "above 95 %": exactly 95 % misses
    ("on_time", 1.0, 1.0, "met"), ("on_time", 0.99, 1.0, "missed"),
])
def test_rate_targets_are_strict_at_the_boundary(judge, rate, target, status) -> None:
    from shopify_app.kpis.evaluate import JUDGES

    key = {"return_rate": "return_rate_max", "on_time": "on_time_min"}[judge]
    assert JUDGES[judge]({judge: {"rate": rate}}, {**DEFAULT_TARGETS, key: target})["status"] == status


def test_reaction_targets_are_inclusive_at_the_boundary() -> None:
    from shopify_app.kpis.compute import _complaints, ComplaintFact
    from shopify_app.kpis.evaluate import JUDGES

    reacted_in_24h = _complaints([ComplaintFact(at(0), "damaged", at(1))], 24.0, NOW)  # "within 24 h": 24 h exactly is in time
    overall = {"complaints": {"damaged": reacted_in_24h}}
    assert JUDGES["damaged_reaction"](overall, DEFAULT_TARGETS)["status"] == "met"


def test_no_data_is_neither_missed_nor_met(services) -> None:
    with services.session_factory.begin() as session:
        seed(session)
        check_kpis(session, SHOP, NOW)
    later = NOW + dt.timedelta(days=30)  # a quiet week: nothing sold, delivered or complained about
    with services.session_factory.begin() as session:
        found = check_kpis(session, SHOP, later)
    assert {v["status"] for v in found.values()} == {"no_data"}
    alerts = _kpi_alerts(services)
    assert alerts["on_time"].resolved_at is None and alerts["on_time"].count == 1  # left as it was


def test_the_daily_job_checks_every_installed_shop(services) -> None:
    with services.session_factory.begin() as session:
        seed(session)
    found = check_installed_shops(services, NOW)
    assert list(found) == [SHOP]  # the uninstalled shop is skipped
    assert found[SHOP]["on_time"]["status"] == "missed"
    assert len(_kpi_alerts(services)) == 5  # return rate, on time, order to supplier, damaged and out-of-stock reactions


def test_the_scheduler_runs_the_check_daily() -> None:
    from scheduler.embedded import SHOP_JOBS
    from shopify_app.kpis.evaluate import check_shop_kpis

    jobs = {job.name: (job.interval, job.run, job.with_work) for job in SHOP_JOBS}
    assert jobs["kpi-check"] == (dt.timedelta(days=1), check_shop_kpis, None)  # per installed shop, each its own unit


def test_the_shipping_time_chart_keeps_its_bins_in_order(services) -> None:
    from shopify_app.web.kpi_view import kpi_periods

    with services.session_factory() as session:
        chart = kpi_periods(session, SHOP, "week")["charts"][3]
    positions = [chart.index(f">{label}<") for label in ("0-2", "3-5", "6-9", "10+")]
    assert positions == sorted(positions)
