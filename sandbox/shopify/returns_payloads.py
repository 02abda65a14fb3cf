"""returns/* and reverse_fulfillment_orders/dispose payloads in Shopify's REST shape.

Keys follow the 2025-01 samples (returns_request.json ... reverse_fulfillment_orders_dispose.json);
ids are exact ints from the GIDs, never floats, and every object also names its GID.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .ids import gid_number
from .rest_payloads import money_set
from .returns_state import ref_gid

if TYPE_CHECKING:
    from .store import ShopState


def ids(gid: str) -> dict[str, Any]:
    """{"admin_graphql_api_id", "id"} for a GID."""
    return {"admin_graphql_api_id": gid, "id": gid_number(gid)}


def return_payload(shop: ShopState, ret: Mapping[str, Any]) -> dict[str, Any]:
    """returns/request and returns/approve: the return with its lines, exchange lines and fees."""
    lines = []
    for rli in ret["returnLineItems"]:
        fli = shop.get(ref_gid(rli["fulfillmentLineItem"]))
        lines.append(dict(
            ids(rli["id"]),
            fulfillment_line_item=dict(ids(fli["id"]), line_item=ids(ref_gid(fli["lineItem"]))),
            quantity=rli["quantity"],
            return_reason=rli["returnReason"].lower(),
            return_reason_note=rli["returnReasonNote"],
            customer_note=rli["customerNote"],
            restocking_fee=_restocking_fee(rli.get("restockingFee")),
        ))
    exchanges = [dict(ids(e["id"]), line_item=None) for e in ret["exchangeLineItems"]]
    return {
        **ids(ret["id"]),
        "name": ret["name"],
        "status": ret["status"].lower(),
        "order": ids(ref_gid(ret["order"])),
        "return_line_items": lines,
        "exchange_line_items": exchanges,
        "return_shipping_fees": [dict(ids(fee["id"]), price=money_set(fee["amountSet"])) for fee in ret["returnShippingFees"]],
        "total_return_line_items": len(lines),
        "total_exchange_line_items": len(exchanges),
    }


def _restocking_fee(fee: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if fee is None else dict(ids(fee["id"]), percentage=fee["percentage"])


def return_status_payload(ret: Mapping[str, Any]) -> dict[str, Any]:
    """returns/cancel, returns/close and returns/reopen: the return, its order and its new status."""
    return {**ids(ret["id"]), "order_id": gid_number(ref_gid(ret["order"])), "status": ret["status"].lower()}


def return_decline_payload(ret: Mapping[str, Any]) -> dict[str, Any]:
    """returns/decline: the return and why (reason in snake case, as REST spells enums)."""
    decline = ret["decline"]
    return {**ids(ret["id"]), "status": "declined", "decline": {"reason": decline["reason"].lower(), "note": decline["note"]}}


def return_update_payload(ret: Mapping[str, Any], removals: Iterable[tuple[str, int]]) -> dict[str, Any]:
    """returns/update after lines were removed: which return line items lost how many units."""
    return {
        "admin_graphql_api_id": ret["id"],
        "return_line_items": {"removals": [{"admin_graphql_api_id": gid, "delta": delta} for gid, delta in removals]},
        "restocking_fees": {"updates": [], "removals": []},
        "return_shipping_fees": {"updates": [], "removals": []},
    }


def dispose_payload(rfo: Mapping[str, Any], dispositions: list[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> dict[str, Any]:
    """reverse_fulfillment_orders/dispose: the dispositions one call made on one reverse fulfillment order."""
    return {
        **ids(rfo["id"]),
        "total_dispositions": len(dispositions),
        "dispositions": [{
            "reverse_fulfillment_order_line_item": ids(line["id"]),
            "reverse_delivery_line_item": None,
            "type": disposition["type"].lower(),
            "quantity": disposition["quantity"],
            "location": ids(ref_gid(disposition["location"])) if disposition["location"] else None,
        } for line, disposition in dispositions],
    }
