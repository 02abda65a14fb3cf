"""The complaint queue in a real headless Chromium: a Polish defect claim shows its answer clock and is answered from the Returns page."""
from __future__ import annotations

from shopify_app.returns.models import ReturnCase
from ui.test_browser import browser_page, chromium_browser, open_page, shop  # noqa: F401 (fixtures)
from ui.ui_world import SHOP


def test_a_complaint_is_answered_from_the_returns_page(shop, browser_page) -> None:  # noqa: F811
    page, errors = browser_page
    order = shop.delivered_order("TEE-S", 1, delivered_days_ago=20, country="PL")
    case = shop.request_return(order, "TEE-S", reason="DEFECTIVE")
    assert case.kind == "complaint"
    page.goto(shop.admin_url())
    page.wait_for_selector("h1:text-is('Dashboard')", timeout=15_000)
    open_page(page, "Returns")
    row = f"#complaints tr[data-complaint='{case.name}']"
    assert page.get_attribute(f"{row} [data-clock=complaint_answer]", "data-state") == "running"
    assert "hours left" in page.inner_text(row) and case.name not in page.inner_text("#queue")

    page.select_option(f"{row} select[name=answer]", "reject")
    page.click(f"{row} >> text=Send answer")  # no reason: refused, nothing sent to Shopify
    page.wait_for_selector("#toast.show", timeout=15_000)
    assert shop.store.require_shop(SHOP).get(case.return_gid)["status"] == "REQUESTED"

    page.select_option(f"{row} select[name=answer]", "accept")
    page.select_option(f"{row} select[name=remedy]", "replace")
    page.click(f"{row} >> text=Send answer")
    page.wait_for_selector("#toast.show >> text=Answer sent", timeout=15_000)
    page.wait_for_selector("#complaints >> text=No complaints waiting.", timeout=15_000)
    with shop.services.session_factory() as session:
        stored = session.get(ReturnCase, case.id)
        assert (stored.complaint_state, stored.complaint_remedy, stored.decided_by) == ("accepted", "replace", "merchant")
    assert shop.store.require_shop(SHOP).get(case.return_gid)["status"] == "OPEN"
    assert errors == []
