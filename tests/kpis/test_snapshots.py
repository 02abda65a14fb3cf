"""KPI snapshots: the same figures as computing from records, closed days read from their row, today live (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from shopify_app.kpis import kpis, kpi_summary
from shopify_app.kpis.models import KpiSnapshot, ReturnAnalyticsSnapshot
from shopify_app.kpis.snapshots import RESNAPSHOT_DAYS, TODAY_MAX_AGE, close_shop_days, kpis_from_snapshots, summary_from_snapshots
from shopify_app.orders.models import Order
from test_kpis import MONDAY, NOW, SHOP, _order, at, seed

LATER = NOW + dt.timedelta(days=3, hours=12)  # Thursday: the seeded week is closed, three days since


@pytest.fixture
def services(app_factory, database_url):
    services = app_factory(database_url).extensions["services"]
    with services.session_factory.begin() as session:
        seed(session)
    return services


def test_the_job_snapshots_each_closed_day_once_and_rewrites_only_the_last_few(services) -> None:
    written = close_shop_days(services, SHOP, now=LATER)
    with services.session_factory() as session:
        days = session.scalars(select(KpiSnapshot.day).where(KpiSnapshot.shop_domain == SHOP).order_by(KpiSnapshot.day)).all()
        assert session.scalar(select(func.count()).select_from(ReturnAnalyticsSnapshot)) == 1
    first = at(-20).date()  # the first order's day: nothing to snapshot before it
    assert days[0] == first and days[-1] == LATER.date()  # today too: its figures so far
    assert written == len(days) == (LATER.date() - first).days + 1
    assert close_shop_days(services, SHOP, now=LATER) == RESNAPSHOT_DAYS + 1  # today and the last closed days again
    assert close_shop_days(services, "no-orders.myshopify.com", now=LATER) == 0


@pytest.mark.parametrize("bucket", ["day", "week", "month"])
def test_snapshots_give_the_figures_computed_from_records(services, bucket) -> None:
    close_shop_days(services, SHOP, now=LATER)
    with services.session_factory() as session:
        for start, end in ((MONDAY, NOW), (at(-30), LATER), (at(1, 12), at(5, 7.5))):  # whole days, up to now, and cut mid-day
            assert kpis_from_snapshots(session, SHOP, start, end, bucket, now=LATER) == kpis(session, SHOP, start, end, bucket, now=LATER)
        assert summary_from_snapshots(session, SHOP, LATER - dt.timedelta(days=7), LATER, now=LATER) == kpi_summary(session, SHOP, LATER - dt.timedelta(days=7), LATER, now=LATER)


def test_closed_days_come_from_their_snapshot_and_today_from_the_last_run_while_fresh(services) -> None:
    close_shop_days(services, SHOP, now=LATER)
    with services.session_factory.begin() as session:
        _order(session, SHOP, 50, "MUG", "9.95", 4, at(1, 15))  # lands on a closed, snapshotted day (written behind the job's back)
        _order(session, SHOP, 51, "MUG", "9.95", 3, LATER - dt.timedelta(hours=2))  # today, after the job's run

    def units_by_day(view, now):
        with services.session_factory() as session:
            return {b["key"]: b["return_rate"]["units_sold"] for b in view(session, SHOP, MONDAY, now, "day", now=now)["buckets"]}

    tuesday, today = at(1).strftime("%Y-%m-%d"), LATER.strftime("%Y-%m-%d")
    snap, live = units_by_day(kpis_from_snapshots, LATER + dt.timedelta(minutes=10)), units_by_day(kpis, LATER + dt.timedelta(minutes=10))
    assert (snap[tuesday], live[tuesday]) == (2, 6)  # the snapshot was read, not the orders
    assert (snap[today], live[today]) == (0, 3)  # today as of the job's run ten minutes ago
    later = LATER + TODAY_MAX_AGE + dt.timedelta(minutes=1)
    assert units_by_day(kpis_from_snapshots, later)[today] == 3  # the job's row is stale: today from records
    # The day is rewritten once the job reaches it again (a day in the last RESNAPSHOT_DAYS always is).
    with services.session_factory.begin() as session:
        session.execute(KpiSnapshot.__table__.delete().where(KpiSnapshot.day == at(1).date()))
    close_shop_days(services, SHOP, now=LATER)
    with services.session_factory() as session:
        assert {b["key"]: b["return_rate"]["units_sold"] for b in kpis_from_snapshots(session, SHOP, MONDAY, LATER, "day", now=LATER)["buckets"]}[tuesday] == 6


def test_a_missing_snapshot_is_computed_on_read(services) -> None:
    # No job has run: every day is summarised from records, and the figures are the same.
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(KpiSnapshot)) == 0
        assert kpis_from_snapshots(session, SHOP, MONDAY, NOW, "week", now=NOW) == kpis(session, SHOP, MONDAY, NOW, "week", now=NOW)
        assert session.scalar(select(func.count()).select_from(Order).where(Order.shop_domain == SHOP)) == 11


def test_bad_periods_are_refused(services) -> None:
    with services.session_factory() as session:
        with pytest.raises(ValueError):
            kpis_from_snapshots(session, SHOP, NOW, MONDAY, "day")
        with pytest.raises(ValueError):
            kpis_from_snapshots(session, SHOP, MONDAY, NOW, "year")
