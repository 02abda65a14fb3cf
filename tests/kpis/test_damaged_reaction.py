"""The damaged-item 24 h reaction: an automatic review verdict is no answer, and a damaged return waiting in review has a clock
(one of the return clocks: listed with them in the queue, alerted and resolved by the return-deadlines job)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from shopify_app.alerts import raise_deadline_alert
from shopify_app.cases.clock import watch_case_clocks
from shopify_app.kpis import check_kpis
from shopify_app.kpis.compute import kpi_summary
from shopify_app.kpis.targets import set_targets
from shopify_app.models import Shop, ShopStatus
from shopify_app.returns.deadlines import check_deadlines, clocks
from shopify_app.returns.intake import mark_decided
from shopify_app.returns.models import Decision, ReturnCase, ReturnLine
from shopify_app.suppliers.models import Alert

SHOP = "damaged.myshopify.com"
NOW = dt.datetime(2026, 3, 9, 12, tzinfo=dt.timezone.utc)


@pytest.fixture
def services(app_factory, database_url):
    services = app_factory(database_url).extensions["services"]
    with services.session_factory.begin() as session:
        session.add(Shop(domain=SHOP, status=ShopStatus.INSTALLED.value))
    return services


def _damaged_return(session, number: int, requested: dt.datetime, reason: str = "DEFECTIVE") -> ReturnCase:
    case = ReturnCase(shop_domain=SHOP, return_gid=f"gid://shopify/Return/{number}", name=f"#100{number}-R1", status="requested", requested_at=requested)
    case.lines.append(ReturnLine(return_line_item_gid=f"gid://shopify/ReturnLineItem/{number}", quantity=1, reason=reason))
    session.add(case)
    session.flush()
    # What the returns webhook does when the policy cannot decide (auto-decide off, mixed lines): the merchant's queue.
    mark_decided(session, case, Decision.REVIEW, "policy", "The store reviews every return request.")
    return case


def _damaged(services) -> dict:
    with services.session_factory() as session:
        return kpi_summary(session, SHOP, NOW - dt.timedelta(days=7), NOW, now=NOW)["complaints"]["damaged"]


def test_a_damaged_return_left_in_review_is_a_miss_and_the_merchants_answer_is_the_reaction(services) -> None:
    with services.session_factory.begin() as session:
        waiting = _damaged_return(session, 1, NOW - dt.timedelta(hours=72))  # nobody answered for 3 days
        answered = _damaged_return(session, 2, NOW - dt.timedelta(hours=50))
        mark_decided(session, answered, Decision.APPROVE, "merchant", "Approved.")
        answered.decided_at = NOW - dt.timedelta(hours=45)  # the merchant approved 5 h after the request
        waiting_id = waiting.id
    assert (_damaged(services)["within"], _damaged(services)["missed"], _damaged(services)["median_hours"]) == (1, 1, 5.0)
    with services.session_factory.begin() as session:
        assert check_kpis(session, SHOP, NOW)["damaged_reaction"]["status"] == "missed"
    with services.session_factory.begin() as session:
        case = session.get(ReturnCase, waiting_id)
        case.status = "canceled"  # the customer withdrew the request before any answer
    assert (_damaged(services)["count"], _damaged(services)["missed"]) == (1, 0)  # no complaint, as before


def watch_return_clocks(services, now: dt.datetime) -> int:
    """The return-deadlines job, which keeps the damaged-return clock with the other return clocks: how many alerts were new."""
    return check_deadlines(services, now).reaction_alerts_raised


def _clock_alerts(services) -> list[Alert]:
    with services.session_factory() as session:
        return session.scalars(select(Alert).where(Alert.kind == "return_due")).all()


def test_a_damaged_return_waiting_in_review_alerts_before_its_24_hours_pass_and_resolves_when_answered(services) -> None:
    requested = NOW - dt.timedelta(hours=20)
    with services.session_factory.begin() as session:
        case_id = _damaged_return(session, 1, requested).id
        _damaged_return(session, 2, requested, reason="SIZE_TOO_SMALL")  # not damaged: no 24 h clock
    assert watch_return_clocks(services, NOW) == 0  # 4 h left: not yet
    assert watch_return_clocks(services, requested + dt.timedelta(hours=23)) == 1  # 1 h left: warned
    [alert] = _clock_alerts(services)
    assert (alert.severity, alert.dedupe_key, alert.shop_domain) == ("warning", f"return_due:{case_id}", SHOP)
    assert watch_return_clocks(services, requested + dt.timedelta(hours=25)) == 0  # the same alert, now critical
    [alert] = _clock_alerts(services)
    assert alert.severity == "critical" and "missed" in alert.message
    with services.session_factory.begin() as session:
        mark_decided(session, session.get(ReturnCase, case_id), Decision.APPROVE, "merchant", "Approved.")
    assert [a.resolved_at is not None for a in _clock_alerts(services)] == [True]


def test_a_cancelled_damaged_return_loses_its_clock_alert_on_the_next_run(services) -> None:
    requested = NOW - dt.timedelta(hours=30)
    with services.session_factory.begin() as session:
        case_id = _damaged_return(session, 1, requested).id
    assert watch_return_clocks(services, NOW) == 1
    with services.session_factory.begin() as session:
        session.get(ReturnCase, case_id).status = "canceled"  # returns/cancel: the customer withdrew the request
    watch_return_clocks(services, NOW)
    assert [a.resolved_at is not None for a in _clock_alerts(services)] == [True]


def _queue_clock(services, case_id: int, now: dt.datetime) -> list[dict]:
    with services.session_factory() as session:
        return [c for c in clocks(session.get(ReturnCase, case_id), now) if c["kind"] == "damaged_answer"]


def test_the_queue_lists_the_damaged_clock_on_the_shops_target_and_the_deadline_job_alerts_on_it(services) -> None:
    with services.session_factory.begin() as session:
        set_targets(session, SHOP, {"damaged_hours": 12})  # the shop answers damaged items within 12 h, not the default 24
        case_id = _damaged_return(session, 1, NOW).id
    due = NOW + dt.timedelta(hours=12)
    [clock] = _queue_clock(services, case_id, NOW + dt.timedelta(hours=9))
    assert (clock["due_at"], clock["state"], clock["hours_left"]) == (due.isoformat(), "running", 3.0)
    assert _queue_clock(services, case_id, NOW + dt.timedelta(hours=11))[0]["state"] == "due_soon"  # 2 h before, as the alert
    assert _queue_clock(services, case_id, NOW + dt.timedelta(hours=13))[0]["state"] == "overdue"
    assert watch_return_clocks(services, NOW + dt.timedelta(hours=9)) == 0
    report = check_deadlines(services, NOW + dt.timedelta(hours=11))
    assert (report.reaction_alerts_raised, report.alerts_raised) == (1, 0)  # no statutory deadline runs
    [alert] = _clock_alerts(services)
    assert alert.severity == "warning" and "must be answered by 2026-03-10 00:00 UTC" in alert.message
    with services.session_factory.begin() as session:
        mark_decided(session, session.get(ReturnCase, case_id), Decision.DECLINE, "merchant", "Declined.")
    assert _queue_clock(services, case_id, NOW + dt.timedelta(hours=11)) == []  # answered: no clock left


def test_an_alert_left_by_the_case_clock_job_resolves_in_the_deadline_job_and_that_job_alone_raises_them(services) -> None:
    with services.session_factory.begin() as session:
        withdrawn = _damaged_return(session, 1, NOW - dt.timedelta(hours=30)).id
        waiting = _damaged_return(session, 2, NOW - dt.timedelta(hours=30)).id
        # What the case-clocks job raised before this deploy: the same kind and key.
        raise_deadline_alert(session, SHOP, "return_due", f"return_due:{withdrawn}", passed=True, subject="#1001-R1",
                             passed_message="Damaged-item return #1001-R1 missed its answer time.", due_message="")
        session.get(ReturnCase, withdrawn).status = "canceled"
    assert watch_case_clocks(services, NOW) == 0 and len(_clock_alerts(services)) == 1  # the case clock leaves returns alone
    report = check_deadlines(services, NOW)
    assert (report.reaction_alerts_raised, report.alerts_resolved) == (1, 1)
    assert sorted((a.dedupe_key, a.resolved_at is not None) for a in _clock_alerts(services)) == [(f"return_due:{withdrawn}", True), (f"return_due:{waiting}", False)]


def test_the_returns_page_shows_a_damaged_return_s_answer_clock_in_the_queue(sandboxed_app, sandbox_shopify) -> None:
    from conftest import API_KEY, install_shop

    shop = "demo.myshopify.com"
    install_shop(sandboxed_app, shop)
    services = sandboxed_app.extensions["services"]
    requested = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=23)  # the default 24 h target: due within the hour
    with services.session_factory.begin() as session:
        damaged = _damaged_return(session, 1, requested)
        damaged.shop_domain = shop
        wrong_size = _damaged_return(session, 2, requested, reason="SIZE_TOO_SMALL")
        wrong_size.shop_domain = shop
        names = damaged.name, wrong_size.name
    token = sandbox_shopify.mint_session_token(shop, API_KEY)
    page = sandboxed_app.test_client().get(f"/returns?shop={shop}&id_token={token}").get_data(as_text=True)
    queue = page.split('id="queue"')[1].split("</table>")[0]
    damaged_row = queue.split(f'data-return="{names[0]}"')[1].split("</tr>")[0]
    other_row = queue.split(f'data-return="{names[1]}"')[1].split("</tr>")[0]
    assert 'data-clock="damaged_answer" data-state="due_soon"' in damaged_row  # the merchant sees the 24 h answer time
    assert "data-clock" not in other_row  # no reaction target for a return that is not about damage
