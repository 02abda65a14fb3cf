"""A customer's case follows its return and replacement: linked when the return is recorded and when the replacement is sent, or by the merchant."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from conftest import API_KEY, install_shop
from proxy_kit import SHOP, add_order
from shopify_app.cases.links import link_replacement
from shopify_app.cases.models import Case
from shopify_app.cases.service import open_case
from shopify_app.orders.models import Order
from shopify_app.returns.intake import record_return
from shopify_app.returns.models import ReturnCase


@pytest.fixture
def app(app_factory, sqlite_url, sandbox_shopify):
    app = app_factory(sqlite_url)
    install_shop(app, SHOP)
    return app


def _report(app, order_id: int, kind: str = "damaged") -> int:
    with app.extensions["services"].session_factory.begin() as session:
        return open_case(session, session.get(Order, order_id), kind, "The mug arrived cracked.").id


def _return_for(app, order_id: int, number: int) -> int:
    with app.extensions["services"].session_factory.begin() as session:
        order = session.get(Order, order_id)
        snapshot = {"id": f"gid://shopify/Return/{number}", "name": f"#R{number}", "status": "REQUESTED",
                    "order": {"id": f"gid://shopify/Order/{order.shopify_id}", "fulfillments": []},
                    "returnLineItems": {"nodes": []}, "reverseFulfillmentOrders": {"nodes": []}}
        return record_return(session, SHOP, snapshot).id


def test_a_damaged_report_is_linked_to_the_return_of_its_order_and_then_to_the_replacement(app) -> None:
    order_id, other_order = add_order(app), add_order(app, name="#1002")
    damaged, question = _report(app, order_id), _report(app, order_id, "question")
    elsewhere = _report(app, other_order)
    return_id = _return_for(app, order_id, 1)
    factory = app.extensions["services"].session_factory
    with factory() as session:
        links = {c.id: c.return_case_id for c in session.scalars(select(Case))}
    assert links == {damaged: return_id, question: None, elsewhere: None}  # only the item report of that order

    with factory.begin() as session:
        assert link_replacement(session, SHOP, return_id, "#1050") == 1
    with factory() as session:
        assert session.get(Case, damaged).replacement_order == "#1050"


def test_the_merchant_links_a_case_to_a_return_of_the_same_order_only(app, sandbox_shopify) -> None:
    order_id, other_order = add_order(app), add_order(app, name="#1002")
    question = _report(app, order_id, "question")
    own_return, other_return = _return_for(app, order_id, 1), _return_for(app, other_order, 2)
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY)}"}
    refused = client.post(f"/api/cases/{question}/link", json={"return_case_id": other_return}, headers=bearer)
    assert refused.status_code == 400 and refused.get_json()["fields"][0]["field"] == "return_case_id"
    assert client.post(f"/api/cases/{question}/link", json={"replacement_order": "<b>"}, headers=bearer).status_code == 400
    linked = client.post(f"/api/cases/{question}/link", json={"return_case_id": own_return, "replacement_order": "#1051"}, headers=bearer)
    assert linked.status_code == 200 and (linked.get_json()["case"]["return_case_id"], linked.get_json()["case"]["replacement_order"]) == (own_return, "#1051")
    page = client.get(f"/cases/{question}", headers=bearer)
    assert page.status_code == 200 and "Replacement order #1051" in page.get_data(as_text=True)
    with app.extensions["services"].session_factory() as session:
        assert session.get(ReturnCase, own_return).order_id == order_id
