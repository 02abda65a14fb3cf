"""Return outcomes carried out end to end over real HTTP: sandbox Shopify (returnProcess) -> app -> REST sandbox supplier.

Refunds keep only the fees the customer's law allows, store credit survives a crash between
Shopify's answer and our commit without being issued twice, and an exchange's replacement
reaches the supplier once.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from conftest import API_KEY
from shopify_app.orders.models import CustomerNotice, Order, OrderEvent
from shopify_app.returns.outcome_models import ReturnOutcome
from shopify_app.returns.outcomes import carry_out, carry_out_due
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import ProductMapping, Supplier, SupplierOrder

from returns.returns_world import SHOP, World, serve_world


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    for served in serve_world(sandboxed_app, sandbox_shopify):
        with served.services.session_factory.begin() as session:  # the exchanges swap TEE-M for TEE-S: both with the supplier
            session.add(ProductMapping(shop_domain=SHOP, sku="TEE-M", supplier_id=served.supplier_id, supplier_sku="TEE-M", cost="4.00"))
        yield served


def supplier_terms(world: World, **terms) -> None:
    with world.services.session_factory.begin() as session:
        supplier = session.get(Supplier, world.supplier_id)
        supplier.return_terms = {**supplier.return_terms, **terms}


def ship_to(world: World, order: dict, country: str) -> None:
    """The customer's shipping country, which picks the legal profile."""
    with world.services.session_factory.begin() as session:
        ours = session.scalar(select(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]))
        ours.shipping_address = {**(ours.shipping_address or {}), "country_code": country}


def returned_and_received(world: World, order: dict, sku: str, reason: str = "UNWANTED", **request) -> int:
    """A return approved by the policy whose units all came back; the case id."""
    if request:
        ret = world.store.request_return(SHOP, order["id"], [{"sku": sku, "quantity": 1, "reason": reason}], **request)
        world.shopify.deliver_pending()
        world.drain()
        world.drain()
        case = world.case(ret["id"])
    else:
        case = world.request_return(order, sku, reason=reason)
    assert case.decision == "approve", case.decision_note
    answer = world.api("post", f"/api/returns/{case.id}/receive", json={"lines": [{"line_id": case.lines[0].id, "received": 1}]})
    assert answer.status_code == 200, answer.get_json()
    world.drain()
    return case.id


def case_gid(world: World, case_id: int) -> str:
    from shopify_app.returns.models import ReturnCase

    with world.services.session_factory() as session:
        return session.get(ReturnCase, case_id).return_gid


def outcome_asked_for(world: World, case_id: int, kind: str, customer_agreed: bool = False) -> int:
    """The merchant asks for this outcome (its row, pending); its id."""
    from shopify_app.returns.models import ReturnCase
    from shopify_app.returns.outcomes import request_outcome

    with world.services.session_factory.begin() as session:
        return request_outcome(session, session.get(ReturnCase, case_id), kind, by="merchant", customer_agreed=customer_agreed).id


def outcome_of(world: World, case_id: int) -> ReturnOutcome:
    with world.services.session_factory() as session:
        return session.scalar(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case_id))


def shopify_refunds(world: World, order: dict) -> list[dict]:
    shop = world.store.require_shop(SHOP)
    return [shop.get(ref.gid) for ref in shop.get(order["id"]).get("refunds") or []]


def refunded_total(world: World, order: dict) -> Decimal:
    shop = world.store.require_shop(SHOP)
    return sum((Decimal(str(t["amountSet"]["presentmentMoney"]["amount"])) for r in shopify_refunds(world, order) for t in shop.deref(r.get("transactions") or [])),
               Decimal("0"))


def test_a_polish_withdrawal_is_refunded_once_in_full_despite_the_suppliers_restocking_fee(world) -> None:
    supplier_terms(world, restocking_fee_percent=10, return_shipping_paid_by="merchant")
    order = world.delivered_order("MUG-WHT", 2, delivered_days_ago=13)
    ship_to(world, order, "PL")
    case_id = returned_and_received(world, order, "MUG-WHT")
    outcome = outcome_of(world, case_id)
    assert (outcome.kind, outcome.state) == ("refund", "pending")  # due once everything is back
    assert carry_out_due(world.services) == 1
    world.shopify.deliver_pending()
    world.drain()  # Shopify's refunds/create for our own refund: nothing more
    outcome = outcome_of(world, case_id)
    assert (outcome.state, outcome.legal_profile, outcome.amount, outcome.restocking_fee) == ("done", "PL", "12.00", "0.00")
    assert any("forbids" in note for note in outcome.fee_notes)
    [refund] = shopify_refunds(world, order)
    assert outcome.refund_gid == refund["id"] and refunded_total(world, order) == Decimal("12.00")
    # The pump again, and the merchant's button: nothing is refunded twice.
    assert carry_out_due(world.services) == 0
    answer = world.api("post", f"/api/returns/{case_id}/outcome", json={})
    assert answer.status_code == 200 and answer.get_json()["outcome"]["state"] == "done"
    assert len(shopify_refunds(world, order)) == 1
    case = world.case(refund["return"].gid)
    assert case.refunded_at is not None and case.refund_gids == [refund["id"]]
    with world.services.session_factory() as session:
        kinds = [e.kind for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == case.order_id))]
        notices = [n.kind for n in session.scalars(select(CustomerNotice).where(CustomerNotice.order_id == case.order_id))]
    assert kinds.count("return_refunded") == 1 and notices.count("return_refunded") == 1


def test_a_us_return_is_charged_the_suppliers_ten_percent_restocking_fee(world) -> None:
    supplier_terms(world, restocking_fee_percent=10, return_shipping_paid_by="merchant")
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=3)
    ship_to(world, order, "US")
    case_id = returned_and_received(world, order, "TEE-S")
    assert carry_out_due(world.services) == 1
    outcome = outcome_of(world, case_id)
    assert (outcome.state, outcome.legal_profile, outcome.goods_amount, outcome.restocking_fee, outcome.amount) == ("done", "NONE", "18.00", "1.80", "16.20")
    assert refunded_total(world, order) == Decimal("16.20")
    token = world.shopify.mint_session_token(SHOP, API_KEY)
    page = world.app.test_client().get(f"/returns?shop={SHOP}&host=abc&embedded=1&id_token={token}").get_data(as_text=True)
    assert "$16.20" in page and "Fee kept: $1.80" in page  # the returns page shows what was refunded and kept


def test_an_israeli_cancellation_keeps_at_most_the_lawful_fee_and_none_for_a_defect(world) -> None:
    supplier_terms(world, restocking_fee_percent=10, return_shipping_paid_by="customer")
    order = world.delivered_order("MUG-WHT", 2, delivered_days_ago=2)
    ship_to(world, order, "IL")
    withdrawal = returned_and_received(world, order, "MUG-WHT", return_shipping_fee="4.00")
    assert carry_out_due(world.services) == 1
    outcome = outcome_of(world, withdrawal)
    # 10 % wanted, 5 % lawful (the 100 NIS cap is in ILS; this order is in USD); no return shipping in Israel.
    assert (outcome.legal_profile, outcome.restocking_fee, outcome.return_shipping_fee, outcome.amount) == ("IL", "0.60", "0.00", "11.40")
    defect = returned_and_received(world, order, "MUG-WHT", reason="DEFECTIVE")
    assert carry_out_due(world.services) == 1
    outcome = outcome_of(world, defect)
    assert (outcome.restocking_fee, outcome.return_shipping_fee, outcome.amount) == ("0.00", "0.00", "12.00")
    assert refunded_total(world, order) == Decimal("23.40")


def test_two_returns_of_one_line_each_keep_their_own_refund_when_the_first_refunds_webhook_comes_late(world) -> None:
    # Two returns of one unit each of a 2-unit line, both open when the first one's refunds/create
    # arrives: the refund names its return, so the second return is still paid (it was once taken
    # for "refunded by hand" because the refund was matched to the newest return of the line item).
    order = world.delivered_order("MUG-WHT", 2, delivered_days_ago=2)
    ship_to(world, order, "PL")
    first = returned_and_received(world, order, "MUG-WHT")
    second = returned_and_received(world, order, "MUG-WHT")
    assert carry_out(world.services, outcome_of(world, first).id) == "done"
    world.shopify.deliver_pending()
    world.drain()  # the first refund's refunds/create, while the second return is open
    [refund] = shopify_refunds(world, order)
    assert world.case(case_gid(world, first)).refund_gids == [refund["id"]]
    assert not world.case(case_gid(world, second)).refund_gids
    assert carry_out_due(world.services) == 1
    outcome = outcome_of(world, second)
    assert (outcome.state, outcome.amount) == ("done", "12.00")
    assert refunded_total(world, order) == Decimal("24.00")


class AfterProcess:
    """The real gateway; `then()` runs right after Shopify answered returnProcess, before our commit."""

    def __init__(self, gateway, then):
        self.gateway, self.then = gateway, then

    def query(self, *args, **kwargs):
        return self.gateway.query(*args, **kwargs)

    def mutate(self, name, *args, **kwargs):
        data = self.gateway.mutate(name, *args, **kwargs)
        if name == "ReturnProcess":
            self.then()
        return data


def crash() -> None:
    raise RuntimeError("killed between Shopify's answer and our commit")


def test_store_credit_is_issued_once_across_a_crash_between_the_call_and_the_commit(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4)
    ship_to(world, order, "PL")
    case = world.request_return(order, "MUG-WHT")
    outcome_id = outcome_asked_for(world, case.id, "store_credit", customer_agreed=True)  # a Polish withdrawal: the customer agreed
    with pytest.raises(RuntimeError):
        carry_out(world.services, outcome_id, gateway=AfterProcess(world.services.gateway(SHOP), crash))
    assert outcome_of(world, case.id).state == "sent"  # Shopify credited; we never recorded it
    assert carry_out_due(world.services) == 0  # still leased: the worker may be alive
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=3)
    assert carry_out_due(world.services, now=later) == 1  # asked Shopify: it landed
    outcome = outcome_of(world, case.id)
    assert (outcome.state, outcome.amount) == ("done", "12.00") and outcome.refund_gid
    customer = world.store.require_shop(SHOP).deref(world.store.require_shop(SHOP).get(order["id"])["customer"])
    assert customer["_storeCredit"] == [{"amount": "12.00", "currency": "USD", "expiresAt": None}]
    [refund] = shopify_refunds(world, order)
    assert [t["gateway"] for t in world.store.require_shop(SHOP).deref(refund["transactions"])] == ["shopify_store_credit"]
    assert carry_out_due(world.services, now=later) == 0
    with world.services.session_factory() as session:
        events = [e for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == case.order_id)) if e.kind == "return_store_credited"]
    assert len(events) == 1 and events[0].detail["confirmed_by_reading_shopify"] is True


def test_an_exchange_reaches_the_supplier_once_even_when_the_process_step_runs_again(world) -> None:
    # An even exchange (a tee for a tee of another size, both 18.00): no money moves, it ships at once.
    order = world.delivered_order("TEE-M", 1, delivered_days_ago=4)
    case_id = returned_and_received(world, order, "TEE-M", reason="SIZE_TOO_SMALL", exchange_lines=[{"sku": "TEE-S", "quantity": 1}])
    outcome = outcome_of(world, case_id)
    assert outcome.kind == "exchange"
    assert carry_out_due(world.services) == 1
    outcome = outcome_of(world, case_id)
    assert outcome.state == "done" and len(outcome.exchange_line_gids) == 1 and outcome.routed_at is not None
    assert shopify_refunds(world, order) == []  # an even exchange moves no money
    world.shopify.deliver_pending()
    world.drain()  # orders/updated for the new line: routed once, not onto the shipped delivery
    ForwardingWorker(world.services.session_factory, world.services.box).drain()
    return_gid = case_gid(world, case_id)
    with world.services.session_factory() as session:
        deliveries = session.scalars(select(SupplierOrder).join(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]).order_by(SupplierOrder.id)).all()
        assert [(d.exchange_key == "", d.state) for d in deliveries] == [(True, "shipped"), (False, "placed")]
        replacement = deliveries[1]
        assert replacement.exchange_key == return_gid
        assert [(line.supplier_sku, line.quantity) for line in replacement.lines] == [("TEE-S", 1)]
        key = replacement.idempotency_key
    # The step again (pump, the merchant's button, forwarding): no second Shopify line, no second supplier order.
    assert carry_out_due(world.services) == 0
    answer = world.api("post", f"/api/returns/{case_id}/outcome", json={"kind": "exchange"})
    assert answer.status_code == 200, answer.get_json()
    ForwardingWorker(world.services.session_factory, world.services.box).drain()
    assert world.supplier_server.orders_created(key) == 1
    shop = world.store.require_shop(SHOP)
    assert [li["sku"] for li in shop.deref(shop.get(order["id"])["lineItems"])] == ["TEE-M", "TEE-S"]


def test_the_sandbox_refuses_what_shopify_refuses_in_return_process(world) -> None:
    from integrations.shopify.errors import ShopifyUserError

    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4)
    case = world.request_return(order, "MUG-WHT")
    gateway = world.services.gateway(SHOP)
    state = gateway.query("ReturnOutcomeState", {"id": case.return_gid})["return"]
    [line] = state["returnLineItems"]["nodes"]
    [sale] = [t for t in state["order"]["transactions"] if t["kind"] == "SALE"]

    def process(**overrides):
        spec = {"returnId": case.return_gid, "returnLineItems": [{"id": line["id"], "quantity": 1}], **overrides}
        return gateway.mutate("ReturnProcess", {"input": spec}, "returnProcess", idempotent=False)

    def refund(amount: str, parent: str | None = None):
        return {"issueRefund": {"orderTransactions": [{"parentId": parent or sale["id"], "transactionAmount": {"amount": amount, "currencyCode": "USD"}}]}}

    with pytest.raises(ShopifyUserError) as refused:
        gateway.mutate("ReturnProcess", {"input": {"returnId": "gid://shopify/Return/999999", "returnLineItems": []}}, "returnProcess", idempotent=False)
    assert refused.value.codes == ["NOT_FOUND"]
    with pytest.raises(ShopifyUserError) as refused:
        process(financialTransfer=refund("12.01"))  # more than the payment holds
    assert refused.value.codes == ["INVALID"]
    with pytest.raises(ShopifyUserError) as refused:
        process(returnLineItems=[{"id": line["id"], "quantity": 2}])
    assert refused.value.codes == ["LESS_THAN_OR_EQUAL_TO"]
    process(financialTransfer=refund("12.00"))
    with pytest.raises(ShopifyUserError) as refused:
        process()  # processing the same units twice
    assert refused.value.codes == ["LESS_THAN_OR_EQUAL_TO"]
    after = gateway.query("ReturnOutcomeState", {"id": case.return_gid})["return"]
    assert after["returnLineItems"]["nodes"][0]["processedQuantity"] == 1
    assert [r["totalRefundedSet"]["presentmentMoney"]["amount"] for r in after["refunds"]["nodes"]] == ["12.00"]
    world.shopify.deliver_pending()
    world.drain()  # Shopify's refunds/create reached the app and was matched to the return
    assert world.case(case.return_gid).refund_gids == [after["refunds"]["nodes"][0]["id"]]


class LoseTheProcessAnswer:
    """The real gateway; Shopify carries out the next returnProcess, then its answer is lost (a 502 from a proxy)."""

    def __init__(self, gateway, faults):
        self.gateway, self.faults = gateway, faults

    def query(self, *args, **kwargs):
        return self.gateway.query(*args, **kwargs)

    def mutate(self, name, *args, **kwargs):
        if name == "ReturnProcess":
            self.faults.lose_answer_next(1, 502)
        return self.gateway.mutate(name, *args, **kwargs)


def test_a_lost_answer_is_unknown_and_settled_by_asking_shopify_never_by_refunding_again(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4)
    ship_to(world, order, "PL")
    case = world.request_return(order, "MUG-WHT")
    outcome_id = outcome_asked_for(world, case.id, "refund")
    assert carry_out(world.services, outcome_id, gateway=LoseTheProcessAnswer(world.services.gateway(SHOP), world.shopify.faults)) == "unknown"
    assert len(shopify_refunds(world, order)) == 1  # Shopify did refund; we could not know
    assert carry_out_due(world.services) == 1  # asks first: it landed
    outcome = outcome_of(world, case.id)
    assert outcome.state == "done" and outcome.refund_gid == shopify_refunds(world, order)[0]["id"] and outcome.attempts == 1
    assert refunded_total(world, order) == Decimal("12.00")


def test_an_exchange_whose_webhook_races_our_commit_still_ships_as_its_own_delivery(world) -> None:
    order = world.delivered_order("TEE-M", 1, delivered_days_ago=4)
    case_id = returned_and_received(world, order, "TEE-M", reason="SIZE_TOO_LARGE", exchange_lines=[{"sku": "TEE-S", "quantity": 1}])
    with world.services.session_factory() as session:
        outcome_id = session.scalar(select(ReturnOutcome.id).where(ReturnOutcome.return_case_id == case_id))

    def webhooks_first() -> None:  # orders/updated with the new line handled while our row still says "sent"
        world.shopify.deliver_pending()
        world.drain()

    assert carry_out(world.services, outcome_id, gateway=AfterProcess(world.services.gateway(SHOP), webhooks_first)) == "done"
    ForwardingWorker(world.services.session_factory, world.services.box).drain()
    with world.services.session_factory() as session:
        deliveries = session.scalars(select(SupplierOrder).join(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]).order_by(SupplierOrder.id)).all()
        assert [(d.exchange_key == "", d.state, [l.supplier_sku for l in d.lines]) for d in deliveries] == [(True, "shipped", ["TEE-M"]), (False, "placed", ["TEE-S"])]
        key = deliveries[1].idempotency_key
    assert world.supplier_server.orders_created(key) == 1


def test_a_return_refunded_by_hand_in_shopify_is_never_paid_again(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4)
    case = world.request_return(order, "MUG-WHT")
    world.store.create_refund(SHOP, order["id"], [{"lineItemId": case.lines[0].line_item_gid, "quantity": 1, "restockType": "NO_RESTOCK"}])
    world.shopify.deliver_pending()
    world.drain()  # refunds/create: the merchant refunded it in the admin
    answer = world.api("post", f"/api/returns/{case.id}/receive", json={"lines": [{"line_id": case.lines[0].id, "received": 1}]})
    assert answer.status_code == 200
    assert outcome_of(world, case.id) is None  # nothing due: it is paid
    answer = world.api("post", f"/api/returns/{case.id}/outcome", json={"kind": "refund"})  # the merchant clicks anyway
    assert answer.status_code == 200, answer.get_json()
    assert (answer.get_json()["outcome"]["state"], answer.get_json()["outcome"]["amount"]) == ("done", "0.00")
    assert len(shopify_refunds(world, order)) == 1


# -- review finding 2: an exchange the merchant processed in Shopify's admin --------------------


def _merchant_processes_in_admin(world: World, return_gid: str) -> None:
    """The merchant processes every line of the return in Shopify's admin (through the gateway, as the admin would)."""
    gateway = world.services.gateway(SHOP)
    snap = gateway.query("ReturnOutcomeState", {"id": return_gid})["return"]
    gateway.mutate("ReturnProcess", {"input": {"returnId": return_gid, "notifyCustomer": False,
                   "returnLineItems": [{"id": n["id"], "quantity": n["processableQuantity"]} for n in snap["returnLineItems"]["nodes"]],
                   "exchangeLineItems": [{"id": n["id"], "quantity": n["processableQuantity"]} for n in snap["exchangeLineItems"]["nodes"]]}},
                   "returnProcess", idempotent=False)


def _deliveries(world: World, order: dict) -> list[tuple[bool, str, list[str]]]:
    with world.services.session_factory() as session:
        deliveries = session.scalars(select(SupplierOrder).join(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]).order_by(SupplierOrder.id)).all()
        return [(d.exchange_key == "", d.state, sorted(line.supplier_sku for line in d.lines)) for d in deliveries]


def test_an_exchange_processed_in_shopify_by_hand_ships_its_replacement_once_on_its_own(world: World) -> None:
    order = world.delivered_order("TEE-M", 1, delivered_days_ago=4)
    ret = world.store.request_return(SHOP, order["id"], [{"sku": "TEE-M", "quantity": 1, "reason": "SIZE_TOO_LARGE"}], exchange_lines=[{"sku": "TEE-S", "quantity": 1}])
    world.shopify.deliver_pending(); world.drain(); world.drain()
    case = world.case(ret["id"])
    assert case.decision == "approve" and case.outcome == "exchange"
    _merchant_processes_in_admin(world, ret["id"])
    world.shopify.deliver_pending(); world.drain(); world.drain()  # orders/updated: the replacement line waits for the exchange
    assert _deliveries(world, order) == [(True, "shipped", ["TEE-M"])]
    answer = world.api("post", f"/api/returns/{case.id}/receive", json={"lines": [{"line_id": case.lines[0].id, "received": 1}]})
    assert answer.status_code == 200, answer.get_json()
    world.drain()
    carry_out_due(world.services); carry_out_due(world.services)
    ForwardingWorker(world.services.session_factory, world.services.box).drain()
    world.shopify.deliver_pending(); world.drain(); world.drain()
    carry_out_due(world.services)  # a replay routes nothing twice
    ForwardingWorker(world.services.session_factory, world.services.box).drain()
    assert _deliveries(world, order) == [(True, "shipped", ["TEE-M"]), (False, "placed", ["TEE-S"])]
    outcome = outcome_of(world, case.id)
    assert outcome.state == "done" and len(outcome.exchange_line_gids) == 1


# -- review finding 7: a failed or mistaken outcome never locks the case --------------------------


def test_an_exchange_asked_for_a_return_without_exchange_items_is_refused_before_any_row(world: World) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4)
    case_id = world.request_return(order, "MUG-WHT").id  # approved, nothing asked for yet
    answer = world.api("post", f"/api/returns/{case_id}/outcome", json={"kind": "exchange"})
    assert answer.status_code == 409, answer.get_json()
    assert [f["field"] for f in answer.get_json()["fields"]] == ["kind"]
    assert outcome_of(world, case_id) is None  # nothing recorded, nothing alerted: the merchant picks again
    answer = world.api("post", f"/api/returns/{case_id}/outcome", json={"kind": "refund"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["outcome"]["state"] == "done"
    assert refunded_total(world, order) == Decimal("12.00")


def test_a_failed_outcome_can_be_retried_as_another_kind_by_the_merchant_and_pays_once(world: World) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4)
    case_id = world.request_return(order, "MUG-WHT").id  # approved, nothing asked for yet
    outcome_id = outcome_asked_for(world, case_id, "exchange")  # the kind Shopify cannot do for this return
    assert carry_out(world.services, outcome_id) == "failed"
    answer = world.api("post", f"/api/returns/{case_id}/outcome", json={})
    assert answer.status_code == 422  # the same failed kind, asked again: Shopify still cannot
    answer = world.api("post", f"/api/returns/{case_id}/outcome", json={"kind": "refund"})
    assert answer.status_code == 200, answer.get_json()
    row = outcome_of(world, case_id)
    assert (row.id, row.kind, row.state) == (outcome_id, "refund", "done")
    answer = world.api("post", f"/api/returns/{case_id}/outcome", json={"kind": "refund"})  # a second click
    assert answer.status_code == 200 and refunded_total(world, order) == Decimal("12.00")
    assert len(shopify_refunds(world, order)) == 1


# -- review finding 13: the exchange's routing takes the order's turn --------------------------------


def test_an_exchange_routes_its_order_in_the_orders_webhook_turn_and_a_concurrent_router_is_no_failure(world: World, monkeypatch) -> None:
    import threading

    from shopify_app.suppliers.models import Alert
    from shopify_app.orders import routing
    from shopify_app.webhooks.handlers.orders import order_key
    from shopify_app.webhooks.worker import one_order_at_a_time
    from sqlalchemy.exc import IntegrityError

    order = world.delivered_order("TEE-M", 1, delivered_days_ago=4)
    case_id = returned_and_received(world, order, "TEE-M", reason="SIZE_TOO_LARGE", exchange_lines=[{"sku": "TEE-S", "quantity": 1}])
    # Another process routed the order at the same moment: our insert loses on the unique keys.
    real_route_order, raced = routing.route_order, []

    def loses_the_race(session, order):
        if not raced:
            raced.append(True)
            raise IntegrityError("INSERT INTO supplier_order_lines", {}, Exception("UNIQUE constraint failed"))
        return real_route_order(session, order)

    monkeypatch.setattr(routing, "route_order", loses_the_race)
    assert carry_out_due(world.services) == 1
    assert raced and outcome_of(world, case_id).state == "done"
    assert outcome_of(world, case_id).routed_at is None  # not marked routed: the next pass routes
    with world.services.session_factory() as session:
        assert session.scalars(select(Alert.kind).where(Alert.kind == "job_failed")).all() == []
    # An orders/* webhook of this order is being handled (its turn held): the exchange waits for it.
    turn = one_order_at_a_time(SHOP, order_key({"admin_graphql_api_id": order["id"]}))
    turn.__enter__()
    runner = threading.Thread(target=carry_out_due, args=(world.services,))
    runner.start()
    runner.join(timeout=1)
    waited = runner.is_alive() and outcome_of(world, case_id).routed_at is None
    turn.__exit__(None, None, None)
    runner.join()
    assert waited
    ForwardingWorker(world.services.session_factory, world.services.box).drain()
    assert _deliveries(world, order) == [(True, "shipped", ["TEE-M"]), (False, "placed", ["TEE-S"])]
