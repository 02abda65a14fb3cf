"""An exchange whose replacement costs a different price: the difference refunded, or owed and paid first.

As in Shopify's own exchanges: a cheaper replacement refunds the difference in the same
returnProcess call (to the original payment); a dearer one leaves the order owing the
difference (its totalOutstandingSet), Shopify emails the customer the order's invoice
(orderInvoiceSend; orderCreateManualPayment would only record money received elsewhere),
and the replacement is not routed to the supplier until the order owes nothing, unless the
merchant sends it before payment. Payment is seen by reading the order's outstanding amount
(the pump re-reads it every PAYMENT_CHECK_EVERY while it waits).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import update

from integrations.shopify.errors import ShopifyError, ShopifyUserError

from ..db import read_only
from ..i18n import gettext as _
from ..models import utcnow
from .fees import money
from .intake import timeline
from .models import ReturnCase
from .outcome_models import BalanceState, OutcomeState, ReturnOutcome

PAYMENT_CHECK_EVERY = dt.timedelta(minutes=10)
MAY_ROUTE = (None, BalanceState.PAID, BalanceState.FORWARD_UNPAID)


def variant_prices(gateway, snapshot: dict) -> dict[str, Decimal]:
    """The price of each variant the return's unprocessed exchange lines ask for (read with no transaction open)."""
    ids = sorted({node["variantId"] for node in ((snapshot or {}).get("exchangeLineItems") or {}).get("nodes") or []
                  if node.get("variantId") and node["processableQuantity"] > 0})
    if not ids:
        return {}
    nodes = gateway.query("ExchangeVariantPrices", {"ids": ids}).get("nodes") or []
    return {node["id"]: Decimal(str(node["price"])) for node in nodes if node and node.get("price") is not None}


def price_difference(exchanged: list[dict], snapshot: dict, prices: dict[str, Decimal], returned_value: Decimal) -> Decimal | None:
    """The replacement's price less the returned units' value (positive: the customer owes it); None when a price is unknown."""
    variant_of = {node["id"]: node.get("variantId") for node in ((snapshot or {}).get("exchangeLineItems") or {}).get("nodes") or []}
    total = Decimal("0")
    for item in exchanged:
        price = prices.get(variant_of.get(item["id"]))
        if price is None:
            return None
        total += price * item["quantity"]
    return money(total - returned_value)


def may_route(services, outcome_id: int, gateway) -> bool:
    """Whether the exchange's replacement may go to the supplier now: no balance, paid, or the merchant's word.

    While a balance is owed: the invoice is sent once, and the order's outstanding amount read
    (no transaction open); the pump asks again after PAYMENT_CHECK_EVERY (next_attempt_at).
    """
    factory = services.session_factory
    with read_only(factory)() as session:
        row = session.get(ReturnOutcome, outcome_id)
        case = session.get(ReturnCase, row.return_case_id)
        balance_state, invoiced, order_gid, due = row.balance_state, row.invoice_sent_at is not None, case.order_gid, row.balance_due
    if balance_state in MAY_ROUTE:
        return True
    if not invoiced:
        _send_invoice(factory, outcome_id, gateway, order_gid, due)
    order = gateway.query("ExchangeBalanceState", {"id": order_gid}).get("order") if order_gid else None
    outstanding = Decimal(str((((order or {}).get("totalOutstandingSet") or {}).get("presentmentMoney") or {}).get("amount") or "0"))
    with factory.begin() as session:
        if order is not None and outstanding <= 0:
            if _set_balance(session, outcome_id, BalanceState.AWAITING_PAYMENT, balance_state=BalanceState.PAID):
                case = session.get(ReturnCase, session.get(ReturnOutcome, outcome_id).return_case_id)
                timeline(session, case, "return_exchange_paid", "customer", amount=due)
            return session.get(ReturnOutcome, outcome_id).balance_state in MAY_ROUTE
        session.execute(update(ReturnOutcome).where(ReturnOutcome.id == outcome_id).values(next_attempt_at=utcnow() + PAYMENT_CHECK_EVERY))
    return False


def forward_unpaid(session, row: ReturnOutcome, by: str) -> bool:
    """The merchant sends the replacement before the balance is paid (once; False when nothing waits for payment)."""
    if not _set_balance(session, row.id, BalanceState.AWAITING_PAYMENT, balance_state=BalanceState.FORWARD_UNPAID, next_attempt_at=utcnow()):
        return False
    timeline(session, session.get(ReturnCase, row.return_case_id), "return_exchange_forwarded_unpaid", by, amount=row.balance_due)
    return True


def _set_balance(session, outcome_id: int, from_state: str, **values) -> bool:
    result = session.execute(update(ReturnOutcome).where(ReturnOutcome.id == outcome_id, ReturnOutcome.state == OutcomeState.DONE,
                                                         ReturnOutcome.balance_state == from_state).values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def _send_invoice(factory, outcome_id: int, gateway, order_gid: str | None, due: str | None) -> None:
    """Shopify emails the order's invoice for the balance; a lost answer at worst repeats the email once."""
    try:
        gateway.mutate("ExchangeBalanceInvoiceSend", {"id": order_gid}, "orderInvoiceSend", idempotent=False)
    except ShopifyUserError as exc:
        from ..alerts import raise_alert

        with factory.begin() as session:
            row = session.get(ReturnOutcome, outcome_id)
            case = session.get(ReturnCase, row.return_case_id)
            raise_alert(session, row.shop_domain, "return_outcome_failed", f"return_outcome:{case.id}",
                        _("Return %(label)s: Shopify did not send the invoice for the exchange's balance (%(why)s). Send it from the order in Shopify.",
                          label=case.name or case.return_gid, why="; ".join(e.get("message", "") for e in exc.user_errors)[:200]), subject=case.name)
            row.invoice_sent_at = utcnow()  # the merchant sends it; payment is still watched
        return
    except ShopifyError:
        return  # tried again on the next pass
    with factory.begin() as session:
        row = session.get(ReturnOutcome, outcome_id)
        row.invoice_sent_at = utcnow()
        timeline(session, session.get(ReturnCase, row.return_case_id), "return_exchange_invoice_sent", "app", amount=due, currency=row.currency)
