"""Returns, reverse fulfillment orders and refunds: queries and mutations over the ReturnsMixin."""
from __future__ import annotations

from typing import Any

from ..registry import resolver
from ..user_errors import ShopifyUserError
from .common import mutation_payload, object_of_type

READ_RETURNS = ("read_returns",)
WRITE_RETURNS = ("write_returns",)
WRITE_ORDERS = ("write_orders",)


def _payload(typename: str, call, key: str = "return", error_type: str = "ReturnUserError") -> dict:
    try:
        return mutation_payload(typename, error_type=error_type, **{key: call()})
    except ShopifyUserError as error:
        return mutation_payload(typename, error, error_type=error_type, **{key: None})


@resolver("Query", "return", scopes=READ_RETURNS)
def return_(root: Any, info, id: str) -> dict | None:
    """One return by GID."""
    return object_of_type(info, id, "Return")


@resolver("Query", "reverseFulfillmentOrder", scopes=READ_RETURNS)
def reverse_fulfillment_order(root: Any, info, id: str) -> dict | None:
    """One reverse fulfillment order by GID."""
    return object_of_type(info, id, "ReverseFulfillmentOrder")


@resolver("Order", "returns")
def order_returns(order: dict, info, **_: Any) -> list:
    """The order's returns, oldest first."""
    return order.get("_returns", [])


@resolver("Order", "returnStatus")
def order_return_status(order: dict, info) -> str:
    """NO_RETURN, RETURN_REQUESTED, IN_PROGRESS or RETURNED, from the order's returns."""
    statuses = [info.context.shop.get(ref.gid)["status"] for ref in order.get("_returns", [])]
    if "OPEN" in statuses:
        return "IN_PROGRESS"
    if "REQUESTED" in statuses:
        return "RETURN_REQUESTED"
    if "CLOSED" in statuses:
        return "RETURNED"
    return "NO_RETURN"


@resolver("Mutation", "returnRequest", scopes=WRITE_RETURNS)
def return_request(root: Any, info, input: dict) -> dict:
    """Request a return on the customer's behalf (REQUESTED)."""
    lines = [{"fulfillment_line_item_id": li["fulfillmentLineItemId"], "quantity": li["quantity"], "reason": li["returnReason"], "customer_note": li.get("customerNote")} for li in input["returnLineItems"]]
    return _payload("ReturnRequestPayload", lambda: info.context.store.request_return(info.context.shop, input["orderId"], lines))


@resolver("Mutation", "returnCreate", scopes=WRITE_RETURNS)
def return_create(root: Any, info, returnInput: dict) -> dict:
    """A merchant-created return: OPEN at once."""
    lines = [{"fulfillment_line_item_id": li["fulfillmentLineItemId"], "quantity": li["quantity"], "reason": li["returnReason"], "reason_note": li.get("returnReasonNote")} for li in returnInput["returnLineItems"]]
    exchanges = [{"variant_id": li.get("variantId"), "quantity": li["quantity"]} for li in returnInput.get("exchangeLineItems") or []]
    return _payload("ReturnCreatePayload", lambda: info.context.store.create_return(info.context.shop, returnInput["orderId"], lines, exchanges))


@resolver("Mutation", "returnApproveRequest", scopes=WRITE_RETURNS)
def return_approve_request(root: Any, info, input: dict) -> dict:
    """Approve a requested return."""
    return _payload("ReturnApproveRequestPayload", lambda: info.context.store.approve_return(info.context.shop, input["id"]))


@resolver("Mutation", "returnDeclineRequest", scopes=WRITE_RETURNS)
def return_decline_request(root: Any, info, input: dict) -> dict:
    """Decline a requested return with a reason and a note."""
    return _payload("ReturnDeclineRequestPayload", lambda: info.context.store.decline_return(info.context.shop, input["id"], input["declineReason"], input.get("declineNote")))


@resolver("Mutation", "returnCancel", scopes=WRITE_RETURNS)
def return_cancel(root: Any, info, id: str, **_: Any) -> dict:
    """Cancel a return."""
    return _payload("ReturnCancelPayload", lambda: info.context.store.set_return_status(info.context.shop, id, "cancel"))


@resolver("Mutation", "returnClose", scopes=WRITE_RETURNS)
def return_close(root: Any, info, id: str) -> dict:
    """Close an open return."""
    return _payload("ReturnClosePayload", lambda: info.context.store.set_return_status(info.context.shop, id, "close"))


@resolver("Mutation", "returnReopen", scopes=WRITE_RETURNS)
def return_reopen(root: Any, info, id: str) -> dict:
    """Reopen a closed return."""
    return _payload("ReturnReopenPayload", lambda: info.context.store.set_return_status(info.context.shop, id, "reopen"))


@resolver("Mutation", "reverseFulfillmentOrderDispose", scopes=WRITE_RETURNS)
def reverse_fulfillment_order_dispose(root: Any, info, dispositionInputs: list[dict]) -> dict:
    """Dispose returned units: RESTOCKED, NOT_RESTOCKED, PROCESSING_REQUIRED, MISSING."""
    return _payload("ReverseFulfillmentOrderDisposePayload", lambda: info.context.store.dispose(info.context.shop, dispositionInputs), key="reverseFulfillmentOrderLineItems")


@resolver("Mutation", "refundCreate", scopes=WRITE_ORDERS)
def refund_create(root: Any, info, input: dict) -> dict:
    """Refund line items, restocking those with restockType RETURN or CANCEL."""
    ctx = info.context
    try:
        refund = ctx.store.create_refund(ctx.shop, input["orderId"], input.get("refundLineItems") or [], note=input.get("note"))
    except ShopifyUserError as error:
        return mutation_payload("RefundCreatePayload", error, refund=None, order=None)
    return mutation_payload("RefundCreatePayload", refund=refund, order=ctx.shop.get(input["orderId"]))


@resolver("Mutation", "returnProcess", scopes=WRITE_RETURNS)
def return_process(root: Any, info, input: dict) -> dict:
    """Confirm returned and exchanged quantities; refund to the payment or to store credit."""
    return _payload("ReturnProcessPayload", lambda: info.context.store.process_return(info.context.shop, input))


def _unprocessed(line: dict, info, **_: Any) -> int:
    return line["quantity"] - line.get("processedQuantity", 0)


for _type in ("ReturnLineItem", "ExchangeLineItem"):
    resolver(_type, "processableQuantity")(_unprocessed)
    resolver(_type, "unprocessedQuantity")(_unprocessed)


@resolver("Order", "transactions")
def order_transactions(order: dict, info, **_: Any) -> list:
    """The order's payments and refunds (a paid order's SALE appears on first sight)."""
    return info.context.store.order_transactions(info.context.shop, order)


@resolver("Refund", "transactions")
def refund_transactions(refund: dict, info, **_: Any) -> list:
    """A refund's transactions (refunds made with refundCreate here carry none)."""
    return refund.get("transactions") or []
