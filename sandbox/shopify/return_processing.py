"""returnProcess (2026-10) as Shopify executes it: confirm returned and exchanged units, refund or credit (a Store mixin).

What Shopify refuses is refused here with a ReturnUserError: an unknown return or line, a
return that is not OPEN, more units than are still processable (so processing twice is
refused), a refund parent that is not a successful SALE or CAPTURE of the order, more than
a payment or the order has left to refund, store credit for an order without a customer,
a currency other than the order's presentment currency, more delivery cost (refundShipping)
than the order's shipping has left to refund, or delivery cost the refund's money does not
cover. What it does is recorded so it can
be asked about later: each line's processed quantity, a Refund on the order and on the
return with its OrderTransactions (REFUND from the payment, or through the store credit
gateway), the customer's store credit balance, and for exchanges a new order line on a new
fulfillment order. An exchange moves the order's balance as Shopify's does: the new items'
price less the returned items' value, less what this call refunded, is added to the order's
totalOutstandingSet (positive: the customer owes it, the order is PARTIALLY_PAID until the
invoice is paid; negative: the merchant owes it). It sends refunds/create, returns/process
and orders/updated. orderInvoiceSend emails the order's invoice (recorded on the order);
pay_outstanding is the customer paying it (a SALE, orders/paid).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from . import records
from .ids import gid_number, is_gid, make_gid
from .records import Ref
from .user_errors import ShopifyUserError

STORE_CREDIT_GATEWAY = "shopify_store_credit"


def _amount(money: Mapping[str, Any]) -> Decimal:
    return Decimal(str(money["amount"]))


class ReturnProcessingMixin:
    """returnProcess over the ReturnsMixin's returns; uses the Store's lock, index, publish and order helpers."""

    # -- payments ---------------------------------------------------------------------------

    def order_transactions(self, state, order: dict[str, Any]) -> list[dict[str, Any]]:
        """The order's transactions; a paid order gets its SALE on first sight (the checkout's payment)."""
        if "_transactions" not in order:
            order["_transactions"] = []
            received = (order.get("totalReceivedSet") or {}).get("presentmentMoney")
            if received and _amount(received) > 0:
                order["_transactions"].append(Ref(self._transaction(state, order, "SALE", _amount(received), received["currencyCode"], gateway="bogus")["id"]))
        return state.deref(order["_transactions"])

    def _transaction(self, state, order: dict[str, Any], kind: str, amount: Decimal, currency: str, *, gateway: str, parent: dict | None = None) -> dict[str, Any]:
        return state.index({
            "__typename": "OrderTransaction", "id": make_gid("OrderTransaction", self.next_number()), "kind": kind, "status": "SUCCESS",
            "gateway": gateway, "formattedGateway": gateway, "test": True, "manualPaymentGateway": False, "manuallyCapturable": False,
            "multiCapturable": False, "amountSet": records.money_bag(amount, currency), "parentTransaction": Ref(parent["id"]) if parent else None,
            "order": Ref(order["id"]), "createdAt": self.now_iso(), "processedAt": self.now_iso(), "errorCode": None, "fees": [],
        })

    def refundable_from(self, state, order: dict[str, Any], parent: dict[str, Any]) -> Decimal:
        """What is left to refund of one payment."""
        refunded = sum((_amount(t["amountSet"]["presentmentMoney"]) for t in self.order_transactions(state, order)
                        if t["kind"] == "REFUND" and t.get("parentTransaction") and t["parentTransaction"].gid == parent["id"]), Decimal("0"))
        return _amount(parent["amountSet"]["presentmentMoney"]) - refunded

    def order_refundable(self, state, order: dict[str, Any]) -> Decimal:
        """What the order has left to refund (payments less every refund, store credit included)."""
        paid = sum((_amount(t["amountSet"]["presentmentMoney"]) for t in self.order_transactions(state, order) if t["kind"] in ("SALE", "CAPTURE")), Decimal("0"))
        refunded = sum((_amount(t["amountSet"]["presentmentMoney"]) for t in self.order_transactions(state, order) if t["kind"] == "REFUND"), Decimal("0"))
        return paid - refunded

    # -- returnProcess ------------------------------------------------------------------------

    def process_return(self, shop, spec: Mapping[str, Any]) -> dict[str, Any]:
        """returnProcess: checked whole, then applied; the processed return."""
        with self.lock:
            state = self.require_shop(shop)
            ret = self._return(state, spec["returnId"])
            if ret["status"] != "OPEN":
                raise ShopifyUserError(["input", "returnId"], f"Return must be open to be processed (it is {ret['status']}).", "INVALID_STATE")
            order = state.deref(ret["order"])
            returned = self._processable(ret["returnLineItems"], spec.get("returnLineItems") or [], "returnLineItems", "Return line item")
            exchanged = self._processable(ret["exchangeLineItems"], spec.get("exchangeLineItems") or [], "exchangeLineItems", "Exchange line item")
            if not returned and not exchanged:
                raise ShopifyUserError(["input"], "At least one return line item or exchange line item must be processed.", "BLANK")
            transfer = self._check_refund(state, order, (spec.get("financialTransfer") or {}).get("issueRefund"))
            shipping = self._check_refund_shipping(order, spec.get("refundShipping"), transfer)
            for line, quantity in returned:
                line["processedQuantity"] += quantity
            added = Decimal("0")
            for line, quantity in exchanged:
                line["processedQuantity"] += quantity
                added += self._add_exchange_line(state, order, line, quantity)
            if transfer is not None:
                self._issue_refund(state, order, ret, returned, transfer, spec.get("note"), shipping)
            if exchanged:
                credit = sum((self._processed_value(rli, quantity) for rli, quantity in returned), Decimal("0"))
                self._move_balance(order, added - credit + (transfer["total"] if transfer is not None else Decimal("0")))
            self.touch(order)
            self.publish(state, "returns/process", {"admin_graphql_api_id": ret["id"], "id": gid_number(ret["id"]), "status": ret["status"].lower(),
                                                    "order_id": gid_number(order["id"])})
            if exchanged or transfer is not None:
                self.publish_order(state, order, "orders/updated")
            return ret

    def _processable(self, lines: list, wanted: list[Mapping[str, Any]], field: str, label: str) -> list[tuple[dict, int]]:
        known = {line["id"]: line for line in lines}
        plan, pending = [], {}
        for index, item in enumerate(wanted):
            line = known.get(item.get("id"))
            if line is None:
                raise ShopifyUserError(["input", field, str(index), "id"], f"{label} does not exist on this return.", "NOT_FOUND")
            quantity = int(item["quantity"])
            left = line["quantity"] - line["processedQuantity"] - pending.get(line["id"], 0)
            if quantity < 1 or quantity > left:
                raise ShopifyUserError(["input", field, str(index), "quantity"], f"Quantity must be less than or equal to the processable quantity ({left}).", "LESS_THAN_OR_EQUAL_TO")
            pending[line["id"]] = pending.get(line["id"], 0) + quantity
            plan.append((line, quantity))
        return plan

    def _check_refund(self, state, order: dict[str, Any], refund: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if refund is None:
            return None
        currency = order["presentmentCurrencyCode"]
        transactions, credits, total = [], [], Decimal("0")
        by_parent: dict[str, Decimal] = {}
        for index, item in enumerate(refund.get("orderTransactions") or []):
            field = ["input", "financialTransfer", "issueRefund", "orderTransactions", str(index)]
            parent = state.get(item["parentId"]) if is_gid(item.get("parentId")) else None
            if parent is None or parent["__typename"] != "OrderTransaction" or parent["order"].gid != order["id"]:
                raise ShopifyUserError(field + ["parentId"], "Parent transaction does not exist on this order.", "NOT_FOUND")
            if parent["kind"] not in ("SALE", "CAPTURE") or parent["status"] != "SUCCESS":
                raise ShopifyUserError(field + ["parentId"], "Parent transaction must be a successful sale or capture.", "INVALID")
            amount = self._money_in(item["transactionAmount"], currency, field + ["transactionAmount"])
            by_parent[parent["id"]] = by_parent.get(parent["id"], Decimal("0")) + amount
            if by_parent[parent["id"]] > self.refundable_from(state, order, parent):
                raise ShopifyUserError(field + ["transactionAmount"], f"Amount exceeds the refundable amount of the transaction ({self.refundable_from(state, order, parent)}).", "INVALID")
            transactions.append((parent, amount))
            total += amount
        for index, method in enumerate(refund.get("refundMethods") or []):
            field = ["input", "financialTransfer", "issueRefund", "refundMethods", str(index), "storeCreditRefund"]
            credit = method.get("storeCreditRefund")
            if credit is None:
                continue
            if order.get("customer") is None:
                raise ShopifyUserError(field, "Store credit can only be issued for an order with a customer.", "INVALID")
            amount = self._money_in(credit["amount"], currency, field + ["amount"])
            credits.append((amount, credit.get("expiresAt")))
            total += amount
        if total <= 0:
            raise ShopifyUserError(["input", "financialTransfer", "issueRefund"], "Refund amount must be greater than zero.", "GREATER_THAN")
        if not refund.get("allowOverRefunding") and total > self.order_refundable(state, order):
            raise ShopifyUserError(["input", "financialTransfer", "issueRefund"], f"Refund amount exceeds the refundable amount ({self.order_refundable(state, order)}).", "INVALID")
        return {"transactions": transactions, "credits": credits, "currency": currency, "total": total}

    def shipping_refundable(self, order: dict[str, Any]) -> Decimal:
        """The order's delivery cost not refunded yet."""
        return _amount(order["totalShippingPriceSet"]["presentmentMoney"]) - _amount(order["totalRefundedShippingSet"]["presentmentMoney"])

    def _check_refund_shipping(self, order: dict[str, Any], spec: Mapping[str, Any] | None, transfer: dict[str, Any] | None) -> Decimal:
        """refundShipping (RefundShippingInput): shippingRefundAmount overrides fullRefund; at most what is left; backed by the refund's money."""
        if not spec:
            return Decimal("0")
        field = ["input", "refundShipping"]
        left = self.shipping_refundable(order)
        if spec.get("shippingRefundAmount") is not None:
            money = spec["shippingRefundAmount"]
            if money["currencyCode"] != order["presentmentCurrencyCode"]:
                raise ShopifyUserError(field + ["shippingRefundAmount", "currencyCode"], f"Currency must be the order's presentment currency ({order['presentmentCurrencyCode']}).", "INVALID")
            amount = Decimal(str(money["amount"]))
            if amount < 0:
                raise ShopifyUserError(field + ["shippingRefundAmount", "amount"], "Amount must be greater than or equal to zero.", "GREATER_THAN_OR_EQUAL_TO")
        else:
            amount = left if spec.get("fullRefund") else Decimal("0")
        if amount > left:
            raise ShopifyUserError(field + ["shippingRefundAmount"], f"Shipping refund amount exceeds the refundable shipping amount ({left}).", "INVALID")
        if amount > 0 and (transfer is None or transfer["total"] < amount):
            raise ShopifyUserError(field, "The refund's transactions must cover the shipping refund.", "INVALID")
        return amount

    @staticmethod
    def _money_in(money: Mapping[str, Any], currency: str, field: list[str]) -> Decimal:
        amount = Decimal(str(money["amount"]))
        if money["currencyCode"] != currency:
            raise ShopifyUserError(field + ["currencyCode"], f"Currency must be the order's presentment currency ({currency}).", "INVALID")
        if amount <= 0:
            raise ShopifyUserError(field + ["amount"], "Amount must be greater than zero.", "GREATER_THAN")
        return amount

    def _issue_refund(self, state, order: dict[str, Any], ret: dict[str, Any], returned: list[tuple[dict, int]], transfer: dict[str, Any], note: str | None,
                      shipping: Decimal = Decimal("0")) -> dict[str, Any]:
        currency = transfer["currency"]
        created = []
        for parent, amount in transfer["transactions"]:
            created.append(self._transaction(state, order, "REFUND", amount, currency, gateway=parent["gateway"], parent=parent))
        for amount, expires_at in transfer["credits"]:
            created.append(self._transaction(state, order, "REFUND", amount, currency, gateway=STORE_CREDIT_GATEWAY))
            customer = state.deref(order["customer"])
            customer.setdefault("_storeCredit", []).append({"amount": str(amount), "currency": currency, "expiresAt": expires_at})
        self.order_transactions(state, order)
        order["_transactions"].extend(Ref(t["id"]) for t in created)
        items, payload_lines = [], []
        for rli, quantity in returned:
            rli["refundedQuantity"] += quantity
            rli["refundableQuantity"] = max(0, rli["refundableQuantity"] - quantity)
            line = state.deref(state.deref(rli["fulfillmentLineItem"])["lineItem"])
            line["currentQuantity"] = max(0, line["currentQuantity"] - quantity)
            line["refundableQuantity"] = max(0, line["refundableQuantity"] - quantity)
            items.append({"__typename": "RefundLineItem", "id": make_gid("RefundLineItem", self.next_number()), "lineItem": Ref(line["id"]),
                          "quantity": quantity, "restockType": "NO_RESTOCK", "restocked": False, "location": None})
            payload_lines.append({"id": gid_number(items[-1]["id"]), "line_item_id": gid_number(line["id"]), "quantity": quantity, "restock_type": "no_restock",
                                  "location_id": None, "line_item": {"id": gid_number(line["id"]), "admin_graphql_api_id": line["id"], "sku": line.get("sku"),
                                                                     "quantity": line["quantity"], "current_quantity": line["currentQuantity"]}})
        now = self.now_iso()
        shipping_lines = []
        if shipping > 0:
            line = order.get("shippingLine") or {}
            shipping_lines.append({"__typename": "RefundShippingLine", "id": make_gid("RefundShippingLine", self.next_number()), "shippingLine": line,
                                   "subtotalAmountSet": records.money_bag(shipping, currency), "taxAmountSet": records.money_bag(Decimal("0"), currency)})
            refunded_shipping = _amount(order["totalRefundedShippingSet"]["presentmentMoney"]) + shipping
            order["totalRefundedShippingSet"] = records.money_bag(refunded_shipping, currency)
            order["currentShippingPriceSet"] = records.money_bag(_amount(order["totalShippingPriceSet"]["presentmentMoney"]) - refunded_shipping, currency)
        refund = state.index({"__typename": "Refund", "id": make_gid("Refund", self.next_number()), "order": Ref(order["id"]), "return": Ref(ret["id"]), "note": note,
                              "refundLineItems": items, "transactions": [Ref(t["id"]) for t in created], "totalRefundedSet": records.money_bag(transfer["total"], currency),
                              "createdAt": now, "updatedAt": now, "processedAt": now, "legacyResourceId": str(self.next_number()), "duties": [],
                              "orderAdjustments": [], "refundShippingLines": shipping_lines})
        order.setdefault("refunds", []).append(Ref(refund["id"]))
        ret["refunds"].append(Ref(refund["id"]))
        refunded = _amount(order["totalRefundedSet"]["presentmentMoney"]) + transfer["total"]
        order["totalRefundedSet"] = records.money_bag(refunded, currency)
        order["displayFinancialStatus"] = "REFUNDED" if self.order_refundable(state, order) <= 0 else "PARTIALLY_REFUNDED"
        self.publish(state, "refunds/create", {
            "admin_graphql_api_id": refund["id"], "id": gid_number(refund["id"]), "order_id": gid_number(order["id"]), "return": {"admin_graphql_api_id": ret["id"], "id": gid_number(ret["id"])},
            "note": note, "created_at": now, "processed_at": now, "refund_line_items": payload_lines, "order_adjustments": [], "duties": [],
            "transactions": [{"id": gid_number(t["id"]), "admin_graphql_api_id": t["id"], "kind": "refund", "status": "success", "gateway": t["gateway"],
                              "amount": str(_amount(t["amountSet"]["presentmentMoney"])), "currency": currency,
                              "parent_id": gid_number(t["parentTransaction"].gid) if t.get("parentTransaction") else None} for t in created],
        })
        return refund

    @staticmethod
    def _processed_value(rli: dict[str, Any], quantity: int) -> Decimal:
        """What the customer paid for `quantity` units of a return line (its discounted total, prorated)."""
        total = _amount(rli["withCodeDiscountedTotalPriceSet"]["presentmentMoney"]) if rli.get("withCodeDiscountedTotalPriceSet") else Decimal("0")
        return (total * quantity / max(rli["quantity"], 1)).quantize(Decimal("0.01"))

    def _move_balance(self, order: dict[str, Any], delta: Decimal) -> None:
        """An exchange's balance joins the order's outstanding amount; an order owed money is partially paid."""
        currency = order["presentmentCurrencyCode"]
        outstanding = _amount(order["totalOutstandingSet"]["presentmentMoney"]) + delta
        order["totalOutstandingSet"] = records.money_bag(outstanding, currency)
        if outstanding > 0:
            order["displayFinancialStatus"] = "PARTIALLY_PAID"

    def send_order_invoice(self, shop, order_gid: str, email: Mapping[str, Any] | None) -> dict[str, Any]:
        """orderInvoiceSend: the invoice emailed (recorded on the order); refused for an unknown order or no recipient."""
        with self.lock:
            state = self.require_shop(shop)
            order = state.get(order_gid) if is_gid(order_gid) else None
            if order is None or order["__typename"] != "Order":
                raise ShopifyUserError(["id"], "Order does not exist.", "ORDER_INVOICE_SEND_UNSUCCESSFUL")
            to = (email or {}).get("to") or order.get("email")
            if not to:
                raise ShopifyUserError(["email", "to"], "The order has no email address to send the invoice to.", "ORDER_INVOICE_SEND_UNSUCCESSFUL")
            order.setdefault("_invoices", []).append({"to": to, "subject": (email or {}).get("subject"), "outstanding": order["totalOutstandingSet"]["presentmentMoney"]["amount"],
                                                      "sentAt": self.now_iso()})
            return order

    def pay_outstanding(self, shop, order_gid: str) -> dict[str, Any]:
        """The customer pays the order's outstanding balance (the invoice's checkout): a SALE, PAID, orders/paid and orders/updated."""
        with self.lock:
            state = self.require_shop(shop)
            order = state.get(order_gid)
            currency = order["presentmentCurrencyCode"]
            due = _amount(order["totalOutstandingSet"]["presentmentMoney"])
            if due <= 0:
                raise ValueError("the order owes nothing")
            self.order_transactions(state, order)
            sale = self._transaction(state, order, "SALE", due, currency, gateway="shopify_payments")
            order["_transactions"].append(Ref(sale["id"]))
            order["totalReceivedSet"] = records.money_bag(_amount(order["totalReceivedSet"]["presentmentMoney"]) + due, currency)
            order["totalOutstandingSet"] = records.money_bag(Decimal("0"), currency)
            order["displayFinancialStatus"] = "PAID"
            self.touch(order)
            self.publish_order(state, order, "orders/paid", "orders/updated")
            return order

    def _add_exchange_line(self, state, order: dict[str, Any], exchange_line: dict[str, Any], quantity: int) -> Decimal:
        """The replacement joins the order as a new line on a new fulfillment order at the location that stocks it; its price."""
        line = self._add_line_item(state, order, {"variant_id": exchange_line["variantId"], "quantity": quantity})
        exchange_line.setdefault("lineItems", []).append(Ref(line["id"]))
        location = self.route_line(state, line)
        if location is not None:
            self.add_fulfillment_order(state, order, location, [line])
        order["displayFulfillmentStatus"] = "PARTIALLY_FULFILLED"
        return _amount(line["originalUnitPriceSet"]["presentmentMoney"]) * quantity

    # -- exchange lines on returns -------------------------------------------------------------

    def exchange_line_record(self, state, spec: Mapping[str, Any]) -> dict[str, Any]:
        """An ExchangeLineItem for {variant_id or sku, quantity} (returnCreate's ExchangeLineItemInput)."""
        variant = state.get(spec["variant_id"]) if spec.get("variant_id") else self.variant_by_sku(state, spec["sku"]) if spec.get("sku") else None
        if variant is None or variant["__typename"] != "ProductVariant":
            raise ShopifyUserError(["returnInput", "exchangeLineItems", "variantId"], "Variant does not exist.", "NOT_FOUND")
        quantity = int(spec.get("quantity", 1))
        if quantity < 1:
            raise ShopifyUserError(["returnInput", "exchangeLineItems", "quantity"], "Quantity must be greater than 0.", "GREATER_THAN")
        product = state.deref(variant["product"])
        return state.index({"__typename": "ExchangeLineItem", "id": make_gid("ExchangeLineItem", self.next_number()), "quantity": quantity, "processedQuantity": 0,
                            "variantId": variant["id"], "variantSku": variant.get("sku"), "variantTitle": variant.get("title"), "productId": product["id"],
                            "title": product["title"], "lineItems": [], "lineItem": None})
