"""KPI snapshots: the same figures as computing from records, closed days read from their row, today live (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from shopify_app.cases.models import Case
from shopify_app.kpis import kpis, kpi_summary
from shopify_app.kpis.models import KpiSnapshot, KpiStaleDay, ReturnAnalyticsSnapshot
from shopify_app.kpis import snapshots
from shopify_app.kpis.snapshots import RESNAPSHOT_DAYS, TODAY_MAX_AGE, close_shop_days, kpis_from_snapshots, summary_from_snapshots
from shopify_app.kpis.stale_days import stale_days
from shopify_app.notify.customer_models import SatisfactionAnswer
from shopify_app.notify.satisfaction import record_answer, record_review_click
from shopify_app.orders.models import CustomerNotice, Order
from test_kpis import MONDAY, NOW, SHOP, _order, at
from test_kpis import seed as seed_week

LATER = NOW + dt.timedelta(days=3, hours=12)  # Thursday: the seeded week is closed, three days since


@pytest.fixture
def services(app_factory, database_url):
    services = app_factory(database_url).extensions["services"]
    with services.session_factory.begin() as session:
        ids = seed_week(session)
        seed_customer_side(session, ids)
    return services


def seed_customer_side(session, ids: dict) -> None:
    """Parts P and N's facts over the same days: cases (reply time), follow-up answers and review requests (satisfaction)."""
    order = {o.shopify_id: o for o in session.scalars(select(Order).where(Order.shop_domain == SHOP))}
    o1, o2, o3, o6, o9 = (order[str(1000 + n)] for n in (1, 2, 3, 6, 9))
    session.add_all([
        # Satisfaction: o1 good (Alpha), o2 bad (Beta), o6 good (Beta) and o9 answered today.
        SatisfactionAnswer(shop_domain=SHOP, order_id=o1.id, supplier_id=ids["alpha"], answer="good", answered_at=at(2, 9), review_clicked_at=at(2, 10)),
        SatisfactionAnswer(shop_domain=SHOP, order_id=o2.id, supplier_id=ids["beta"], answer="bad", answered_at=at(1, 10)),
        SatisfactionAnswer(shop_domain=SHOP, order_id=o6.id, supplier_id=ids["beta"], answer="good", answered_at=at(4, 12)),
        SatisfactionAnswer(shop_domain=SHOP, order_id=o9.id, supplier_id=ids["alpha"], answer="good", answered_at=LATER - dt.timedelta(hours=1)),
        # Review requests: o1's opened, o6's not (yet).
        CustomerNotice(order_id=o1.id, kind="review_request", dedupe_key=f"review_request:{o1.id}", status="sent", sent_at=at(2, 9.5)),
        CustomerNotice(order_id=o6.id, kind="review_request", dedupe_key=f"review_request:{o6.id}", status="sent", sent_at=at(4, 13)),
        # Cases: a question answered in 4 h, another still open today; a damaged-item report closed after 30 h.
        Case(shop_domain=SHOP, order_id=o3.id, kind="question", opened_at=at(1, 10), due_at=at(2, 10), first_reply_at=at(1, 14)),
        Case(shop_domain=SHOP, order_id=o9.id, kind="question", opened_at=LATER - dt.timedelta(hours=2), due_at=LATER + dt.timedelta(hours=22)),
        Case(shop_domain=SHOP, order_id=o2.id, kind="damaged", opened_at=at(3, 8), due_at=at(4, 8), closed_at=at(4, 14), status="closed"),
    ])


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
        # Parts P and N's KPIs are in what was compared: satisfaction, review conversion and reply time.
        report = kpis_from_snapshots(session, SHOP, at(-30), LATER, bucket, now=LATER)
        assert {k: report["satisfaction"][k] for k in ("answered", "good", "review_requests", "review_clicks")} == {"answered": 4, "good": 3, "review_requests": 2, "review_clicks": 1}
        assert report["overall"]["satisfaction"]["rate"] == 0.75 and report["overall"]["satisfaction"]["review_conversion"] == 0.5
        assert (report["overall"]["complaints"]["reply"]["count"], report["overall"]["complaints"]["reply"]["pending"]) == (2, 1)
        assert report["overall"]["complaints"]["damaged"]["count"] == 3  # two returns and the case


def test_answers_and_clicks_that_come_after_a_day_closed_are_shown(services) -> None:
    # A customer opens the review link, or changes an answer, days after the request (through the app's own writers):
    # the days they change are marked in the same transaction, read live until the job re-digests them.
    close_shop_days(services, SHOP, now=LATER)
    with services.session_factory.begin() as session:
        order = {o.shopify_id: o for o in session.scalars(select(Order).where(Order.shop_domain == SHOP))}
        record_review_click(session, order["1006"], now=LATER - dt.timedelta(minutes=5))  # o6: its review request was sent on a closed day
        record_answer(session, order["1002"], "good", now=LATER - dt.timedelta(minutes=4))  # o2 was "bad" on a closed day: it moves to today
    with services.session_factory() as session:
        assert sorted(stale_days(session, SHOP, at(-30).date(), LATER.date() + dt.timedelta(days=1))) == [at(1).date(), at(4).date()]

    def compare(until: dt.datetime) -> dict:
        with services.session_factory() as session:
            for start, end in ((MONDAY, NOW), (at(-30), until)):
                snap, live = kpis_from_snapshots(session, SHOP, start, end, "day", now=LATER), kpis(session, SHOP, start, end, "day", now=LATER)
                assert snap == live
            return kpis_from_snapshots(session, SHOP, MONDAY, NOW, "day", now=LATER)["satisfaction"]

    today = LATER.replace(hour=0, minute=0)  # today's row is as of the job's run (as for every family), the changes came after it
    week = compare(today)  # the marked days read live
    assert (week["review_clicks"], week["answered"], week["good"]) == (2, 2, 2)  # o2 now counts on the day it was changed
    close_shop_days(services, SHOP, now=LATER)  # re-digests the marked days and takes their marks
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(KpiStaleDay)) == 0
    assert compare(LATER + dt.timedelta(seconds=1)) == week  # the same from the re-digested snapshots, today included


def test_a_parcel_judged_late_on_its_eta_day_stays_late_when_it_arrives_after_the_day_closed(services) -> None:
    # p6 was due by Sunday 00:00 and never delivered: late on Sunday. It arrives three days later,
    # after the job digested Sunday: the closed day's row and the records still agree (no version, no mark needed).
    from shopify_app.suppliers.models import SupplierShipment

    close_shop_days(services, SHOP, now=LATER)
    with services.session_factory.begin() as session:
        session.scalars(select(SupplierShipment).where(SupplierShipment.shipment_id == "p6")).one().delivered_at = (LATER - dt.timedelta(hours=1)).isoformat()
    with services.session_factory() as session:
        for start, end in ((MONDAY, NOW), (at(-30), LATER.replace(hour=0, minute=0))):
            assert kpis_from_snapshots(session, SHOP, start, end, "day", now=LATER) == kpis(session, SHOP, start, end, "day", now=LATER)
        week = kpis_from_snapshots(session, SHOP, MONDAY, NOW, "day", now=LATER)["overall"]["on_time"]
    assert (week["on_time"], week["late"], week["rate"]) == (3, 2, 0.6)


def test_a_change_committed_while_the_job_re_digests_keeps_its_mark(services, monkeypatch) -> None:
    # The job takes the marks before reading facts and deletes only those: a customer changing an
    # answer while it works leaves a mark behind, so views read that day live until the next run.
    from shopify_app.kpis import snapshots

    close_shop_days(services, SHOP, now=LATER)
    with services.session_factory.begin() as session:
        order = {o.shopify_id: o for o in session.scalars(select(Order).where(Order.shop_domain == SHOP))}
        record_review_click(session, order["1006"], now=LATER - dt.timedelta(minutes=5))  # marks o6's request day (day 4)
    o1 = order["1001"].id
    real = snapshots.satisfaction_day

    def meanwhile(session, shop, day):
        if day.date() == at(4).date():
            with services.session_factory.begin() as other:  # another request, committed while the job re-digests day 4
                record_answer(other, other.get(Order, o1), "bad", now=LATER - dt.timedelta(minutes=2))  # o1 leaves day 2
        return real(session, shop, day)

    monkeypatch.setattr(snapshots, "satisfaction_day", meanwhile)
    close_shop_days(services, SHOP, now=LATER)
    monkeypatch.setattr(snapshots, "satisfaction_day", real)
    with services.session_factory() as session:
        assert sorted(stale_days(session, SHOP, at(-30).date(), LATER.date())) == [at(2).date()]  # day 4's mark taken, day 2's kept
        week = kpis_from_snapshots(session, SHOP, MONDAY, NOW, "day", now=LATER)
        assert week == kpis(session, SHOP, MONDAY, NOW, "day", now=LATER)
        assert (week["satisfaction"]["answered"], week["satisfaction"]["review_clicks"]) == (2, 2)  # o2 and o6 (o1 moved to today)


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


def test_a_long_history_is_written_over_several_runs_newest_first_and_views_stay_right_meanwhile(services, monkeypatch) -> None:
    # A first run (or a VERSION change) must not digest a shop's whole history at once: MAX_DAYS_PER_RUN
    # days a run, newest first, so the default views are fast first; the days not written yet are read live.
    monkeypatch.setattr(snapshots, "MAX_DAYS_PER_RUN", 5)
    def written_days():
        with services.session_factory() as session:
            return set(session.scalars(select(KpiSnapshot.day).where(KpiSnapshot.shop_domain == SHOP)))
    assert close_shop_days(services, SHOP, now=LATER) == 5
    assert written_days() == {LATER.date() - dt.timedelta(days=n) for n in range(5)}  # today and the four days before
    with services.session_factory() as session:  # half written, half live: the same figures
        for start, end in ((MONDAY, NOW), (at(-30), LATER)):
            assert kpis_from_snapshots(session, SHOP, start, end, "day", now=LATER) == kpis(session, SHOP, start, end, "day", now=LATER)
    assert close_shop_days(services, SHOP, now=LATER) == 5  # the recent days again, then the next older ones
    assert written_days() == {LATER.date() - dt.timedelta(days=n) for n in range(5 + 5 - (RESNAPSHOT_DAYS + 1))}
    first = at(-20).date()
    for _run in range(20):  # two new days a run (the recent three are rewritten each time)
        close_shop_days(services, SHOP, now=LATER)
    assert written_days() == {first + dt.timedelta(days=n) for n in range((LATER.date() - first).days + 1)}  # all, in the end


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

