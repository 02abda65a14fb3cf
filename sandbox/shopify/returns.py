"""Returns, reverse fulfillment orders and refunds, as Shopify's store moves them (a Store mixin).

A customer's request is REQUESTED; approving it (or a merchant creating a return) makes it
OPEN with a reverse fulfillment order whose lines say what may come back. Disposing units
records where they went: RESTOCKED puts them back in `available` at a location. A refund
with restock type RETURN or CANCEL restocks on its own. Each step publishes its webhook
with Shopify's REST payload shape.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable, Mapping

from .ids import gid_number, is_gid, make_gid
from .records import Ref, money_bag
from .user_errors import ShopifyUserError

def reason_definition(reason: str) -> dict[str, Any]:
    """The ReturnReasonDefinition (2026-10) standing for a legacy ReturnReason value: handle `size-too-small` etc."""
    handle = reason.lower().replace("_", "-")
    number = RETURN_REASONS.index(reason) + 1 if reason in RETURN_REASONS else 0
    return {"__typename": "ReturnReasonDefinition", "id": f"gid://shopify/ReturnReasonDefinition/{number}", "handle": handle,
            "name": reason.replace("_", " ").capitalize(), "deleted": False}


RETURN_REASONS = ("SIZE_TOO_SMALL", "SIZE_TOO_LARGE", "UNWANTED", "NOT_AS_DESCRIBED", "WRONG_ITEM", "DEFECTIVE", "STYLE", "COLOR", "OTHER", "UNKNOWN")
DISPOSITIONS = ("RESTOCKED", "PROCESSING_REQUIRED", "NOT_RESTOCKED", "MISSING")


def _ref_gid(value: Any) -> str:
    return value.gid if isinstance(value, Ref) else value["id"]


class ReturnsMixin:
    """Returns on orders; uses the Store's lock, index, publish and inventory helpers."""

    # -- queries ----------------------------------------------------------------------------

    def returned_quantity(self, state, fulfillment_line_gid: str) -> int:
        """Units of a fulfillment line already in a return that is not declined or cancelled."""
        total = 0
        for ret in state.all("Return"):
            if ret["status"] in ("DECLINED", "CANCELED"):
                continue
            total += sum(rli["quantity"] for rli in ret["returnLineItems"] if _ref_gid(rli["fulfillmentLineItem"]) == fulfillment_line_gid)
        return total

    def fulfillment_line_for_sku(self, state, order: Mapping[str, Any], sku: str) -> dict[str, Any]:
        """The first fulfillment line of the order shipping this SKU."""
        for fulfillment in state.deref(order.get("fulfillments") or []):
            for fli in state.deref(fulfillment["fulfillmentLineItems"]):
                if state.deref(fli["lineItem"]).get("sku") == sku:
                    return fli
        raise KeyError(f"order {order['name']} has no fulfilled line with SKU {sku}")

    # -- requests and approvals -------------------------------------------------------------

    def request_return(self, shop, order_gid: str, lines: Iterable[Mapping[str, Any]], *, status: str = "REQUESTED",
                       exchange_lines: Iterable[Mapping[str, Any]] = (), return_shipping_fee: str | None = None) -> dict[str, Any]:
        """A customer asks to return units (lines: sku or fulfillment_line_item_id, quantity, reason, customer_note),
        maybe for other items in exchange (exchange_lines: sku or variant_id, quantity) and with a return shipping fee."""
        with self.lock:
            state = self.require_shop(shop)
            order = state.get(order_gid)
            if order is None or order["__typename"] != "Order":
                raise ShopifyUserError(["input", "orderId"], "Order does not exist.", "NOT_FOUND")
            items = []
            for index, spec in enumerate(lines):
                field = ["input", "returnLineItems", str(index)]
                fli = state.get(spec["fulfillment_line_item_id"]) if spec.get("fulfillment_line_item_id") else self.fulfillment_line_for_sku(state, order, spec["sku"])
                if fli is None or fli["__typename"] != "FulfillmentLineItem":
                    raise ShopifyUserError(field + ["fulfillmentLineItemId"], "Fulfillment line item does not exist.", "NOT_FOUND")
                quantity = int(spec.get("quantity", 1))
                returnable = fli["quantity"] - self.returned_quantity(state, fli["id"])
                if quantity < 1 or quantity > returnable:
                    raise ShopifyUserError(field + ["quantity"], f"Quantity must be less than or equal to the returnable quantity ({returnable}).", "LESS_THAN_OR_EQUAL_TO")
                reason = spec.get("reason", "UNKNOWN")
                if reason not in RETURN_REASONS:
                    raise ShopifyUserError(field + ["returnReason"], "Return reason is invalid.", "INCLUSION")
                items.append(state.index({
                    "__typename": "ReturnLineItem", "id": make_gid("ReturnLineItem", self.next_number()), "quantity": quantity,
                    "returnReason": reason, "returnReasonDefinition": reason_definition(reason), "returnReasonNote": spec.get("reason_note") or "", "customerNote": spec.get("customer_note"),
                    "fulfillmentLineItem": Ref(fli["id"]), "refundableQuantity": quantity, "refundedQuantity": 0, "processedQuantity": 0, "restockingFee": None,
                    "totalWeight": None, "withCodeDiscountedTotalPriceSet": self._returned_value(state, fli, quantity),
                }))
            if not items:
                raise ShopifyUserError(["input", "returnLineItems"], "Return must have at least one line item.", "BLANK")
            order["_returnCount"] = order.get("_returnCount", 0) + 1
            ret = state.index({
                "__typename": "Return", "id": make_gid("Return", self.next_number()), "name": f"{order['name']}-R{order['_returnCount']}",
                "status": status, "order": Ref(order["id"]), "returnLineItems": items, "reverseFulfillmentOrders": [],
                "decline": None, "exchangeLineItems": [self.exchange_line_record(state, spec) for spec in exchange_lines],
                "returnShippingFees": [{"__typename": "ReturnShippingFee", "id": make_gid("ReturnShippingFee", self.next_number()),
                                        "amountSet": money_bag(return_shipping_fee, order["presentmentCurrencyCode"])}] if return_shipping_fee else [],
                "refunds": [],
                "totalQuantity": sum(i["quantity"] for i in items), "createdAt": self.now_iso(),
            })
            order.setdefault("_returns", []).append(Ref(ret["id"]))
            if status == "OPEN":
                self._open_reverse_fulfillment(state, ret)
                self.publish(state, "returns/approve", self.return_payload(state, ret))
            else:
                self.publish(state, "returns/request", self.return_payload(state, ret))
            return ret

    def create_return(self, shop, order_gid: str, lines: Iterable[Mapping[str, Any]], exchange_lines: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """A return the merchant creates in the admin: OPEN at once (returns/approve)."""
        return self.request_return(shop, order_gid, lines, status="OPEN", exchange_lines=exchange_lines)

    def _returned_value(self, state, fli: Mapping[str, Any], quantity: int) -> dict[str, Any]:
        """withCodeDiscountedTotalPriceSet: what the customer paid for the units coming back (after every discount)."""
        line = state.deref(fli["lineItem"])
        unit = line.get("discountedUnitPriceAfterAllDiscountsSet") or line["discountedUnitPriceSet"]
        bag = {"__typename": "MoneyBag"}
        for side in ("shopMoney", "presentmentMoney"):
            bag[side] = dict(unit[side], amount=str((Decimal(str(unit[side]["amount"])) * quantity).quantize(Decimal("0.01"))))
        return bag

    def _return(self, state, gid: str) -> dict[str, Any]:
        ret = state.get(gid) if is_gid(gid) else None
        if ret is None or ret["__typename"] != "Return":
            raise ShopifyUserError(["id"], "Return does not exist.", "NOT_FOUND")
        return ret

    def approve_return(self, shop, return_gid: str) -> dict[str, Any]:
        """returnApproveRequest: only a REQUESTED return."""
        with self.lock:
            state = self.require_shop(shop)
            ret = self._return(state, return_gid)
            if ret["status"] != "REQUESTED":
                raise ShopifyUserError(["input", "id"], f"Return is not approvable. Only returns with status REQUESTED can be approved (it is {ret['status']}).", "INVALID_STATE")
            ret["status"] = "OPEN"
            self._open_reverse_fulfillment(state, ret)
            self.publish(state, "returns/approve", self.return_payload(state, ret))
            return ret

    def decline_return(self, shop, return_gid: str, reason: str, note: str | None = None) -> dict[str, Any]:
        """returnDeclineRequest: only a REQUESTED return, with a ReturnDeclineReason."""
        with self.lock:
            state = self.require_shop(shop)
            ret = self._return(state, return_gid)
            if ret["status"] != "REQUESTED":
                raise ShopifyUserError(["input", "id"], f"Return is not declinable. Only returns with status REQUESTED can be declined (it is {ret['status']}).", "INVALID_STATE")
            if reason not in ("RETURN_PERIOD_ENDED", "FINAL_SALE", "OTHER"):
                raise ShopifyUserError(["input", "declineReason"], "Decline reason is invalid.", "INCLUSION")
            ret["status"], ret["decline"] = "DECLINED", {"__typename": "ReturnDecline", "reason": reason, "note": note}
            self.publish(state, "returns/decline", {"admin_graphql_api_id": ret["id"], "id": gid_number(ret["id"]), "status": "declined",
                                                    "decline": {"reason": reason.lower(), "note": note}})
            return ret

    def set_return_status(self, shop, return_gid: str, action: str) -> dict[str, Any]:
        """returnCancel (REQUESTED/OPEN, nothing disposed), returnClose (OPEN), returnReopen (CLOSED)."""
        allowed = {"cancel": (("REQUESTED", "OPEN"), "CANCELED", "returns/cancel"), "close": (("OPEN",), "CLOSED", "returns/close"), "reopen": (("CLOSED",), "OPEN", "returns/reopen")}
        sources, target, topic = allowed[action]
        with self.lock:
            state = self.require_shop(shop)
            ret = self._return(state, return_gid)
            if ret["status"] not in sources:
                raise ShopifyUserError(["id"], f"Return can't be {action}ed from status {ret['status']}.", "INVALID_STATE")
            if action == "cancel" and any(line["dispositions"] for rfo in state.deref(ret["reverseFulfillmentOrders"]) for line in rfo["lineItems"]):
                raise ShopifyUserError(["id"], "Return can't be canceled because items have been disposed.", "INVALID_STATE")
            ret["status"] = target
            for rfo in state.deref(ret["reverseFulfillmentOrders"]):
                rfo["status"] = "CLOSED" if target in ("CLOSED", "CANCELED") else "OPEN"
            payload = {"admin_graphql_api_id": ret["id"], "id": gid_number(ret["id"]), "status": target.lower()}
            if action == "close":
                payload["order_id"] = gid_number(_ref_gid(ret["order"]))
            self.publish(state, topic, payload)
            return ret

    def _open_reverse_fulfillment(self, state, ret: dict[str, Any]) -> None:
        if ret["reverseFulfillmentOrders"]:
            return
        lines = [state.index({
            "__typename": "ReverseFulfillmentOrderLineItem", "id": make_gid("ReverseFulfillmentOrderLineItem", self.next_number()),
            "totalQuantity": rli["quantity"], "fulfillmentLineItem": rli["fulfillmentLineItem"], "dispositions": [],
        }) for rli in ret["returnLineItems"]]
        rfo = state.index({"__typename": "ReverseFulfillmentOrder", "id": make_gid("ReverseFulfillmentOrder", self.next_number()), "status": "OPEN",
                           "order": ret["order"], "lineItems": lines, "reverseDeliveries": [], "thirdPartyConfirmation": None, "_return": Ref(ret["id"])})
        ret["reverseFulfillmentOrders"].append(Ref(rfo["id"]))

    # -- receiving ----------------------------------------------------------------------------

    def dispose(self, shop, inputs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """reverseFulfillmentOrderDispose: checked whole, then RESTOCKED units go back to available."""
        with self.lock:
            state = self.require_shop(shop)
            plan = []
            pending: dict[str, int] = {}
            for index, spec in enumerate(inputs):
                field = ["dispositionInputs", str(index)]
                line = state.get(spec["reverseFulfillmentOrderLineItemId"]) if is_gid(spec.get("reverseFulfillmentOrderLineItemId")) else None
                if line is None or line["__typename"] != "ReverseFulfillmentOrderLineItem":
                    raise ShopifyUserError(field + ["reverseFulfillmentOrderLineItemId"], "Reverse fulfillment order line item does not exist.", "NOT_FOUND")
                if spec.get("dispositionType") not in DISPOSITIONS:
                    raise ShopifyUserError(field + ["dispositionType"], "Disposition type is invalid.", "INCLUSION")
                done = sum(d["quantity"] for d in line["dispositions"]) + pending.get(line["id"], 0)
                quantity = int(spec["quantity"])
                if quantity < 1 or done + quantity > line["totalQuantity"]:
                    raise ShopifyUserError(field + ["quantity"], f"Quantity must be less than or equal to the remaining quantity ({line['totalQuantity'] - done}).", "LESS_THAN_OR_EQUAL_TO")
                location = spec.get("locationId")
                if spec["dispositionType"] == "RESTOCKED":
                    if not location or state.get(location) is None:
                        raise ShopifyUserError(field + ["locationId"], "A location is required to restock.", "BLANK")
                pending[line["id"]] = pending.get(line["id"], 0) + quantity
                plan.append((line, spec["dispositionType"], quantity, location))
            touched: dict[str, dict] = {}
            for line, kind, quantity, location in plan:
                disposition = {"__typename": "ReverseFulfillmentOrderDisposition", "id": make_gid("ReverseFulfillmentOrderDisposition", self.next_number()),
                               "type": kind, "quantity": quantity, "location": Ref(location) if location else None}
                line["dispositions"].append(disposition)
                if kind == "RESTOCKED":
                    item_gid = state.deref(state.deref(state.deref(line["fulfillmentLineItem"])["lineItem"])["variant"])["inventoryItem"].gid
                    self.adjust_quantity(state, item_gid, location, "available", quantity)
                    from .inventory_changes import publish_level_update

                    publish_level_update(self, state, self.inventory_level(state, item_gid, location))
                rfo = next(r for r in state.all("ReverseFulfillmentOrder") if any(li["id"] == line["id"] for li in r["lineItems"]))
                touched.setdefault(rfo["id"], {"rfo": rfo, "dispositions": []})["dispositions"].append((line, disposition))
            for entry in touched.values():
                rfo = entry["rfo"]
                self.publish(state, "reverse_fulfillment_orders/dispose", {
                    "admin_graphql_api_id": rfo["id"], "id": gid_number(rfo["id"]), "total_dispositions": len(entry["dispositions"]),
                    "dispositions": [{
                        "reverse_fulfillment_order_line_item": {"admin_graphql_api_id": line["id"], "id": gid_number(line["id"])},
                        "reverse_delivery_line_item": None, "type": d["type"].lower(), "quantity": d["quantity"],
                        "location": {"admin_graphql_api_id": d["location"].gid, "id": gid_number(d["location"].gid)} if d["location"] else None,
                    } for line, d in entry["dispositions"]],
                })
            return [line for line, *_ in plan]

    # -- refunds ------------------------------------------------------------------------------

    def create_refund(self, shop, order_gid: str, refund_lines: Iterable[Mapping[str, Any]], *, note: str | None = None) -> dict[str, Any]:
        """refundCreate for line items (lineItemId, quantity, restockType NO_RESTOCK|CANCEL|RETURN, locationId)."""
        with self.lock:
            state = self.require_shop(shop)
            order = state.get(order_gid)
            if order is None or order["__typename"] != "Order":
                raise ShopifyUserError(["orderId"], "Order does not exist.", "NOT_FOUND")
            refunded = {}
            for refund in state.deref(order.get("refunds") or []):
                for rli in refund["refundLineItems"]:
                    refunded[_ref_gid(rli["lineItem"])] = refunded.get(_ref_gid(rli["lineItem"]), 0) + rli["quantity"]
            items, payload_lines = [], []
            for index, spec in enumerate(refund_lines):
                line = state.get(spec["lineItemId"]) if is_gid(spec.get("lineItemId")) else None
                if line is None or line["__typename"] != "LineItem":
                    raise ShopifyUserError(["refundLineItems", str(index), "lineItemId"], "Line item does not exist.")
                quantity = int(spec["quantity"])
                if quantity < 1 or refunded.get(line["id"], 0) + quantity > line["quantity"]:
                    raise ShopifyUserError(["refundLineItems", str(index), "quantity"], "Quantity cannot refund more items than were purchased.")
                restock = spec.get("restockType", "NO_RESTOCK")
                location = spec.get("locationId")
                # Refunded units not yet fulfilled leave the fulfillment orders (order_edits.py):
                # a refund-cancel; CANCEL gives their committed stock back to available.
                line["currentQuantity"] = max(0, line["currentQuantity"] - quantity)
                line["refundableQuantity"] = max(0, line["refundableQuantity"] - quantity)
                released = self.remove_unfulfilled_units(state, line, min(quantity, line["unfulfilledQuantity"]), release_stock=restock == "CANCEL")
                if restock in ("RETURN", "CANCEL") and location and quantity > released:
                    variant = state.deref(line.get("variant")) if line.get("variant") else None
                    if variant is not None:
                        item_gid = variant["inventoryItem"].gid
                        self.adjust_quantity(state, item_gid, location, "available", quantity - released)
                price = Decimal(line["originalUnitPriceSet"]["shopMoney"]["amount"])
                items.append({"__typename": "RefundLineItem", "id": make_gid("RefundLineItem", self.next_number()), "lineItem": Ref(line["id"]),
                              "quantity": quantity, "restockType": restock, "restocked": restock != "NO_RESTOCK", "location": Ref(location) if location else None})
                payload_lines.append({
                    "id": gid_number(items[-1]["id"]), "line_item_id": gid_number(line["id"]), "quantity": quantity, "restock_type": restock.lower(),
                    "location_id": gid_number(location) if location else None, "subtotal": float(price * quantity),
                    "line_item": {"id": gid_number(line["id"]), "admin_graphql_api_id": line["id"], "sku": line.get("sku"), "quantity": line["quantity"],
                                  "current_quantity": line["currentQuantity"]},
                })
            refund = state.index({"__typename": "Refund", "id": make_gid("Refund", self.next_number()), "order": Ref(order["id"]), "note": note,
                                  "refundLineItems": items, "createdAt": self.now_iso(), "updatedAt": self.now_iso()})
            order.setdefault("refunds", []).append(Ref(refund["id"]))
            self.touch(order)
            self.publish(state, "refunds/create", {
                "admin_graphql_api_id": refund["id"], "id": gid_number(refund["id"]), "order_id": gid_number(order["id"]), "note": note,
                "return": None,  # a refund made in the admin, outside any return
                "created_at": refund["createdAt"], "processed_at": refund["createdAt"], "refund_line_items": payload_lines,
                "transactions": [], "order_adjustments": [], "duties": [],
            })
            self.publish_order(state, order, "orders/updated")  # Shopify announces the order's new state too
            return refund

    # -- delivery -----------------------------------------------------------------------------

    def mark_delivered(self, shop, fulfillment_gid: str, delivered_at: str) -> dict[str, Any]:
        """The carrier delivered a fulfillment at `delivered_at` (ISO 8601): a DELIVERED fulfillment event, as Shopify records it."""
        with self.lock:
            state = self.require_shop(shop)
            self.create_fulfillment_event(state, fulfillment_gid, "DELIVERED", happened_at=delivered_at)
            return state.get(fulfillment_gid)

    def return_payload(self, state, ret: dict[str, Any]) -> dict[str, Any]:
        """returns/request and returns/approve payload (REST shape)."""
        order_gid = _ref_gid(ret["order"])
        return {
            "admin_graphql_api_id": ret["id"], "id": gid_number(ret["id"]), "name": ret["name"], "status": ret["status"].lower(),
            "order": {"admin_graphql_api_id": order_gid, "id": gid_number(order_gid)},
            "return_line_items": [{
                "admin_graphql_api_id": rli["id"], "id": gid_number(rli["id"]), "quantity": rli["quantity"], "return_reason": rli["returnReason"].lower(),
                "return_reason_note": rli["returnReasonNote"], "customer_note": rli["customerNote"],
                "fulfillment_line_item": {"admin_graphql_api_id": _ref_gid(rli["fulfillmentLineItem"]), "id": gid_number(_ref_gid(rli["fulfillmentLineItem"]))},
            } for rli in ret["returnLineItems"]],
            "exchange_line_items": [{"admin_graphql_api_id": eli["id"], "id": gid_number(eli["id"]), "quantity": eli["quantity"],
                                     "variant_id": gid_number(eli["variantId"])} for eli in ret["exchangeLineItems"]],
            "return_shipping_fees": [], "total_return_line_items": len(ret["returnLineItems"]), "total_exchange_line_items": len(ret["exchangeLineItems"]),
        }
