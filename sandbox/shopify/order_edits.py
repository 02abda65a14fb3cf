"""Changes a merchant makes to an order after checkout, as Shopify records and announces them.

- An order edit (the admin's "Edit order", i.e. orderEditBegin ... orderEditCommit): a
  line's quantity lowered or set to 0 (removed) and variants added. `LineItem.quantity`
  keeps the original count; `currentQuantity` and the unfulfilled counts drop, the
  units come off the open fulfillment orders (committed stock released; a fulfillment
  order left with nothing is CLOSED) and added lines get a fulfillment order at their
  location. Shopify sends `orders/edited` (the edit's additions and removals as deltas,
  nothing else) and `orders/updated`.
- Refunded units that were not fulfilled come off the fulfillment orders the same way
  (see ReturnsMixin.create_refund); `currentQuantity` counts them out.
- A new shipping address (the admin's "Edit shipping address"): the order's address and
  the destination of its open fulfillment orders change; Shopify sends `orders/updated`.

`OrderEditMixin` is mixed into Store.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .fulfillment_state import location_gid_of
from .ids import gid_number, make_gid

if TYPE_CHECKING:
    from .store import ShopState

CHANGEABLE_FO_STATUSES = ("OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED")
ADDRESS_KEYS = ("firstName", "lastName", "name", "company", "address1", "address2", "city", "province", "provinceCode", "country", "countryCodeV2", "zip", "phone")


class OrderEditMixin:
    """Order edits, unfulfilled units leaving fulfillment orders, and address changes (part of Store)."""

    def edit_order(self, shop: str | ShopState, order_gid: str, *, quantities: Mapping[str, int] | None = None,
                   add: Iterable[Mapping[str, Any]] = (), staff_note: str = "", notify_customer: bool = False) -> dict[str, Any]:
        """Commit an order edit: {line GID: new quantity} (lower, never below what was fulfilled) and lines to add.

        Queues orders/edited and orders/updated; returns the order_edit payload.
        """
        with self.lock:
            state = self.require_shop(shop)
            order = state.get(order_gid)
            if order is None or order["__typename"] != "Order":
                raise KeyError(f"no order {order_gid} in {state.domain}")
            if order.get("cancelledAt"):
                raise ValueError("A cancelled order cannot be edited.")
            removals, additions = [], []
            for line_gid, quantity in (quantities or {}).items():
                line = state.get(line_gid)
                if line is None or line["__typename"] != "LineItem" or line_gid not in {ref.gid for ref in order["lineItems"]}:
                    raise KeyError(f"no line item {line_gid} on {order_gid}")
                if quantity < line.get("_fulfilledQuantity", 0):
                    raise ValueError("Quantity cannot be lower than the fulfilled quantity.")
                if quantity > line["currentQuantity"]:
                    raise ValueError("This sandbox edits lower quantities only; add a variant for more units.")
                delta = line["currentQuantity"] - quantity
                if delta:
                    line["currentQuantity"] -= delta
                    line["refundableQuantity"] = max(0, line["refundableQuantity"] - delta)
                    self.remove_unfulfilled_units(state, line, delta, release_stock=True)
                    removals.append({"id": gid_number(line["id"]), "delta": delta})
            added = [(self._add_line_item(state, order, spec), spec) for spec in add]
            if added:
                self._assign_fulfillment_orders(state, order, added, None, True)
                additions = [{"id": gid_number(line["id"]), "delta": line["quantity"]} for line, _ in added]
            lines = state.deref(order["lineItems"])
            order["currentSubtotalLineItemsQuantity"] = sum(line["currentQuantity"] for line in lines)
            self.touch(order)
            edit = {
                "id": self.next_number(), "app_id": None, "user_id": None, "order_id": gid_number(order["id"]),
                "created_at": order["updatedAt"], "committed_at": order["updatedAt"], "notify_customer": notify_customer, "staff_note": staff_note,
                "line_items": {"additions": additions, "removals": removals},
                "discounts": {"line_item": {"additions": [], "removals": []}},
                "shipping_lines": {"additions": [], "removals": []},
            }
            self.publish(state, "orders/edited", {"order_edit": edit})
            self.publish_order(state, order, "orders/updated")
            return edit

    def remove_unfulfilled_units(self, state: ShopState, line: Mapping[str, Any], count: int, *, release_stock: bool) -> int:
        """Take `count` unfulfilled units of a line off its open fulfillment orders; returns the committed units released."""
        line["unfulfilledQuantity"] = max(0, line["unfulfilledQuantity"] - count)
        released, left = 0, count
        for fo in state.all("FulfillmentOrder"):
            if left == 0:
                break
            if fo["status"] not in CHANGEABLE_FO_STATUSES:
                continue
            for fo_line in state.deref(fo["lineItems"]):
                if fo_line["lineItem"].gid != line["id"] or fo_line["remainingQuantity"] == 0 or left == 0:
                    continue
                take = min(left, fo_line["remainingQuantity"])
                fo_line["remainingQuantity"] -= take
                fo_line["totalQuantity"] -= take
                left -= take
                committed = min(take, fo_line.get("_committed", 0))
                if committed and release_stock:
                    fo_line["_committed"] -= committed
                    self.adjust_quantity(state, fo_line["inventoryItemId"], location_gid_of(fo), "committed", -committed)
                    self.adjust_quantity(state, fo_line["inventoryItemId"], location_gid_of(fo), "available", committed)
                    released += committed
            if all(fo_line["remainingQuantity"] == 0 for fo_line in state.deref(fo["lineItems"])) and not fo.get("fulfillments"):
                fo["status"] = "CLOSED"
            self.touch(fo)
        return released

    def change_shipping_address(self, shop: str | ShopState, order_gid: str, **fields: Any) -> dict[str, Any]:
        """The merchant edits the shipping address (MailingAddress field names); queues orders/updated."""
        unknown = set(fields) - set(ADDRESS_KEYS)
        if unknown:
            raise ValueError(f"not address fields: {', '.join(sorted(unknown))}")
        with self.lock:
            state = self.require_shop(shop)
            order = state.get(order_gid)
            if order is None or order["__typename"] != "Order":
                raise KeyError(f"no order {order_gid} in {state.domain}")
            address = dict(order["shippingAddress"], **fields, id=make_gid("MailingAddress", self.next_number()))
            if "name" not in fields and ({"firstName", "lastName"} & set(fields)):
                address["name"] = " ".join(filter(None, [address.get("firstName"), address.get("lastName")]))
            order["shippingAddress"] = address
            for fo in state.deref(order["fulfillmentOrders"]):
                if fo["status"] in CHANGEABLE_FO_STATUSES:
                    fo["destination"].update({key: address[key] for key in ADDRESS_KEYS if key in fo["destination"]})
                    fo["destination"]["countryCode"] = address["countryCodeV2"]
                    self.touch(fo)
            self.touch(order)
            self.publish_order(state, order, "orders/updated")
            return order
