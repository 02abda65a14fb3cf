"""The damaged-item reaction clock is one of the return clocks: listed with them in the queue, alerted and resolved by the same job."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from shopify_app.alerts import raise_deadline_alert
from shopify_app.cases.clock import watch_case_clocks
from shopify_app.kpis.targets import set_targets
from shopify_app.models import Shop, ShopStatus
from shopify_app.returns.deadlines import check_deadlines, clocks
from shopify_app.returns.intake import mark_decided
from shopify_app.returns.models import Decision, ReturnCase, ReturnLine
from shopify_app.suppliers.models import Alert

SHOP = "clock.myshopify.com"
NOW = dt.datetime(2026, 3, 9, 12, tzinfo=dt.timezone.utc)


@pytest.fixture
def services(app_factory, database_url):
    services = app_factory(database_url).extensions["services"]
    with services.session_factory.begin() as session:
        session.add(Shop(domain=SHOP, status=ShopStatus.INSTALLED.value))
        set_targets(session, SHOP, {"damaged_hours": 12})  # the shop answers damaged items within 12 h, not the default 24
    return services


def _damaged_in_review(session, number: int, requested: dt.datetime) -> int:
    case = ReturnCase(shop_domain=SHOP, return_gid=f"gid://shopify/Return/{number}", name=f"#200{number}-R1", status="requested", requested_at=requested)
    case.lines.append(ReturnLine(return_line_item_gid=f"gid://shopify/ReturnLineItem/{number}", quantity=1, reason="DEFECTIVE"))
    session.add(case)
    session.flush()
    mark_decided(session, case, Decision.REVIEW, "policy", "The store reviews every return request.")
    return case.id


def _queue_clock(services, case_id: int, now: dt.datetime) -> list[dict]:
    with services.session_factory() as session:
        return [c for c in clocks(session.get(ReturnCase, case_id), now) if c["kind"] == "damaged_answer"]


def _return_alerts(services) -> list[Alert]:
    with services.session_factory() as session:
        return session.scalars(select(Alert).where(Alert.kind == "return_due").order_by(Alert.id)).all()


def test_the_queue_lists_the_damaged_clock_on_the_shops_target_and_the_deadline_job_alerts_on_it(services) -> None:
    with services.session_factory.begin() as session:
        case_id = _damaged_in_review(session, 1, NOW)
    due = NOW + dt.timedelta(hours=12)
    [clock] = _queue_clock(services, case_id, NOW + dt.timedelta(hours=9))
    assert (clock["due_at"], clock["state"], clock["hours_left"]) == (due.isoformat(), "running", 3.0)
    assert _queue_clock(services, case_id, NOW + dt.timedelta(hours=11))[0]["state"] == "due_soon"  # 2 h before, as the alert
    assert _queue_clock(services, case_id, NOW + dt.timedelta(hours=13))[0]["state"] == "overdue"
    assert check_deadlines(services, NOW + dt.timedelta(hours=9)).reaction_alerts_raised == 0
    report = check_deadlines(services, NOW + dt.timedelta(hours=11))
    assert (report.reaction_alerts_raised, report.alerts_raised) == (1, 0)  # no statutory deadline runs
    [alert] = _return_alerts(services)
    assert alert.severity == "warning" and "must be answered by 2026-03-10 00:00 UTC" in alert.message
    with services.session_factory.begin() as session:
        mark_decided(session, session.get(ReturnCase, case_id), Decision.DECLINE, "merchant", "Declined.")
    assert _queue_clock(services, case_id, NOW + dt.timedelta(hours=11)) == []  # answered: no clock left


def test_an_alert_left_by_the_case_clock_job_resolves_in_the_deadline_job_and_that_job_alone_raises_them(services) -> None:
    with services.session_factory.begin() as session:
        withdrawn = _damaged_in_review(session, 1, NOW - dt.timedelta(hours=30))
        waiting = _damaged_in_review(session, 2, NOW - dt.timedelta(hours=30))
        # What the case-clocks job raised before this deploy: the same kind and key.
        raise_deadline_alert(session, SHOP, "return_due", f"return_due:{withdrawn}", passed=True, subject="#2001-R1",
                             passed_message="Damaged-item return #2001-R1 missed its answer time.", due_message="")
        session.get(ReturnCase, withdrawn).status = "canceled"
    assert watch_case_clocks(services, NOW) == 0 and len(_return_alerts(services)) == 1  # the case clock leaves returns alone
    report = check_deadlines(services, NOW)
    assert (report.reaction_alerts_raised, report.alerts_resolved) == (1, 1)
    assert [(a.dedupe_key, a.resolved_at is not None) for a in _return_alerts(services)] == [(f"return_due:{withdrawn}", True), (f"return_due:{waiting}", False)]
