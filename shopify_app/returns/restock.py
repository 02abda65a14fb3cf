"""Returned items coming back: dispose them in Shopify, restock what can be sold again, once.

Shopify's reverse fulfillment order is the record of what came back: we dispose units
there (RESTOCKED at the right location, NOT_RESTOCKED when damaged) and then read its
absolute totals back, whoever disposed (us, the merchant in the admin, a webhook replay).
Only the increase over what we had recorded restocks anything, so a unit is restocked once
however many times it is reported. Units Shopify already restocked in a refund
(restock_type=return) are disposed NOT_RESTOCKED; a refund that restocks units we already
restocked is undone with an inventory adjustment.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..db import read_only
from ..models import utcnow
from ..suppliers.models import ProductMapping, Supplier
from .intake import notify_customer, timeline
from .models import ReturnCase, ReturnLine
from .policy import DAMAGE_REASONS, supplier_terms_from

log = logging.getLogger(__name__)

REFERENCE_PREFIX = "gid://dropship-ops/ReturnCase/"


@dataclass(frozen=True)
class Receipt:
    """Units of one return line that arrived, and how many of them are damaged."""

    line_id: int
    received: int
    damaged: int = 0


def restock_location(session: Session, line: ReturnLine) -> tuple[str | None, bool]:
    """(Shopify location to restock at, whether the stock is held by the supplier) for a line.

    A line returned past the supplier's window stays with the store: it restocks at the
    merchant's location from the supplier's terms, or (none set) is left for the merchant to
    restock by hand; never at the supplier's location nor into its stock count (phantom stock oversells).
    """
    supplier = session.get(Supplier, line.supplier_id) if line.supplier_id else None
    terms = supplier_terms_from(supplier.return_terms if supplier else None)
    if terms.destination == "merchant" or line.supplier_window_passed:
        return terms.merchant_location_gid, False
    return (supplier.location_gid if supplier else None), supplier is not None


def dispositions_for(session: Session, case: ReturnCase, receipts: list[Receipt]) -> tuple[list[dict], dict[int, int]]:
    """reverseFulfillmentOrderDispose inputs for these receipts (damaged or unsellable units not restocked),
    and the units to credit to suppliers whose stock Shopify does not hold ({line id: units})."""
    inputs: list[dict] = []
    supplier_credits: dict[int, int] = {}
    lines = {line.id: line for line in case.lines}
    for receipt in receipts:
        line = lines.get(receipt.line_id)
        if line is None:
            raise ValueError(f"line {receipt.line_id} is not part of this return")
        outstanding = line.quantity - line.received_quantity
        if receipt.received < 0 or receipt.damaged < 0 or receipt.damaged > receipt.received:
            raise ValueError("received and damaged must be whole numbers with damaged <= received")
        if receipt.received > outstanding:
            raise ValueError(f"line {line.id}: {receipt.received} received but only {outstanding} still expected")
        if not line.rfo_line_item_gid:
            raise ValueError(f"line {line.id} has no reverse fulfillment order in Shopify yet (is the return approved?)")
        supplier = session.get(Supplier, line.supplier_id) if line.supplier_id else None
        resellable = supplier_terms_from(supplier.return_terms if supplier else None).resellable
        sellable = 0 if (not resellable) else receipt.received - receipt.damaged
        # Units Shopify put back in a refund already must not be restocked a second time.
        already = max(0, line.refund_restocked_quantity - line.restocked_quantity)
        restock = max(0, sellable - already)
        location, supplier_held = restock_location(session, line)
        if restock and location:
            inputs.append({"reverseFulfillmentOrderLineItemId": line.rfo_line_item_gid, "quantity": restock, "dispositionType": "RESTOCKED", "locationId": location})
        rest = receipt.received - (restock if location else 0)
        if rest:
            inputs.append({"reverseFulfillmentOrderLineItemId": line.rfo_line_item_gid, "quantity": rest, "dispositionType": "NOT_RESTOCKED"})
        if restock and not location and supplier_held:
            supplier_credits[line.id] = restock
    return inputs, supplier_credits


def receive(session_factory, gateway, case_id: int, receipts: list[Receipt], actor: str) -> ReturnCase:
    """Record units that came back: dispose them in Shopify, credit supplier-held stock, then apply Shopify's totals.

    Planned on a read-only session, disposed with no transaction open, recorded in one
    short transaction; the dispose answer carries each line's absolute dispositions, so no
    second read is needed. A crash between the dispose and the record loses nothing twice:
    Shopify refuses a second dispose of the same units, and its dispose webhook carries
    the totals. Raises ValueError for receipts that do not fit the return; returns the case.
    """
    with read_only(session_factory)() as session:
        inputs, supplier_credits = dispositions_for(session, session.get(ReturnCase, case_id), receipts)
    disposed = None
    if inputs:
        data = gateway.mutate("ReverseFulfillmentOrderDispose", {"dispositionInputs": inputs}, "reverseFulfillmentOrderDispose", idempotent=False)
        disposed = (data.get("reverseFulfillmentOrderDispose") or {}).get("reverseFulfillmentOrderLineItems") or []
    with session_factory.begin() as session:
        case = session.get(ReturnCase, case_id)
        for line in case.lines:
            if supplier_credits.get(line.id):  # Shopify holds no stock for this supplier: our copy of its stock is the record
                _credit_supplier_stock(session, line, supplier_credits[line.id])
                line.restocked_quantity += supplier_credits[line.id]
        if disposed is not None:
            apply_line_totals(session, case.shop_domain, disposed, actor=actor, credited=sum(supplier_credits.values()))
        session.flush()
        return case


def apply_disposition_totals(session: Session, shop_domain: str, rfo: dict | None, *, actor: str) -> int:
    """Apply a reverse fulfillment order's absolute disposition totals (its lines); units restocked now."""
    if not rfo:
        return 0
    return apply_line_totals(session, shop_domain, (rfo.get("lineItems") or {}).get("nodes") or [], actor=actor)


def apply_line_totals(session: Session, shop_domain: str, nodes: list[dict], *, actor: str, credited: int = 0) -> int:
    """Set each line's counts from Shopify's absolute disposition totals; only an increase restocks. Units restocked now.

    `credited`: units just restocked outside Shopify (supplier-held stock), for the timeline.
    """
    restocked_now = 0
    touched: set[int] = set()
    for node in nodes:
        line = session.scalar(select(ReturnLine).join(ReturnCase).where(ReturnCase.shop_domain == shop_domain, ReturnLine.rfo_line_item_gid == node["id"]))
        if line is None:
            continue
        dispositions = node.get("dispositions") or []
        received = sum(d["quantity"] for d in dispositions)
        location, supplier_held = restock_location(session, line)
        if location:
            # Restocks of this line happen in Shopify: its RESTOCKED total is the truth.
            restocked = sum(d["quantity"] for d in dispositions if d.get("type") == "RESTOCKED")
            increase = max(0, restocked - line.restocked_quantity)
            if increase and supplier_held:
                _credit_supplier_stock(session, line, increase)
            line.restocked_quantity += increase
            restocked_now += increase
        line.received_quantity = max(line.received_quantity, received)
        line.not_restocked_quantity = max(0, line.received_quantity - line.restocked_quantity)
        touched.add(line.return_case_id)
    for case_id in touched:
        _after_receipt(session, session.get(ReturnCase, case_id), actor, restocked_now + credited)
    return restocked_now


def _after_receipt(session: Session, case: ReturnCase, actor: str, restocked_now: int) -> None:
    received = sum(line.received_quantity for line in case.lines)
    if received and case.received_at is None:
        case.received_at = utcnow()
        timeline(session, case, "return_received", actor, items=received)
        notify_customer(session, case, "return_received")
    if restocked_now:
        case.restocked_at = utcnow()
        timeline(session, case, "return_restocked", actor, items=restocked_now)
    from .outcomes import request_when_received

    request_when_received(session, case)  # everything is back: the refund, credit or exchange is due


def _credit_supplier_stock(session: Session, line: ReturnLine, quantity: int) -> None:
    """The supplier holds the returned units again: count them in its stock until its next feed says otherwise."""
    if not line.supplier_id or not line.sku:
        return
    session.execute(
        update(ProductMapping)
        .where(ProductMapping.supplier_id == line.supplier_id, ProductMapping.sku == line.sku, ProductMapping.stock.is_not(None))
        .values(stock=ProductMapping.stock + quantity, in_stock=True)
    )


def damaged_by_reason(line: ReturnLine, received: int) -> int:
    """Default for a receipt without an inspection: a DEFECTIVE return is damaged."""
    return received if line.reason in DAMAGE_REASONS else 0


def refund_return_gid(refund: dict) -> str | None:
    """The return a refunds/create names (Shopify's `return`, null for a refund made outside a return)."""
    named = refund.get("return")
    if not isinstance(named, dict):
        return None
    return named.get("admin_graphql_api_id") or (f"gid://shopify/Return/{named['id']}" if named.get("id") is not None else None)


def _refund_line(session: Session, shop_domain: str, item: dict, return_gid: str | None) -> tuple[str, ReturnLine | None]:
    line_item_gid = (item.get("line_item") or {}).get("admin_graphql_api_id") or f"gid://shopify/LineItem/{item.get('line_item_id')}"
    query = select(ReturnLine).join(ReturnCase).where(
        ReturnCase.shop_domain == shop_domain, ReturnLine.line_item_gid == line_item_gid, ReturnCase.status.in_(("open", "closed")))
    if return_gid is not None:
        # The refund of one return: never another return of the same line item (two returns of a
        # 2-unit line, the first's refunds/create arriving after the second was opened).
        query = query.where(ReturnCase.return_gid == return_gid)
    line = session.scalar(query.order_by(ReturnLine.id.desc()))
    return line_item_gid, line


def refund_inventory_items(session: Session, shop_domain: str, refund: dict, gateway=None) -> dict[str, str]:
    """{line item GID: inventory item GID} for refund lines whose restock may have to be undone (reads only)."""
    found: dict[str, str] = {}
    for item in refund.get("refund_line_items") or []:
        quantity = int(item.get("quantity") or 0)
        if item.get("restock_type") != "return" or not quantity:
            continue
        line_item_gid, line = _refund_line(session, shop_domain, item, refund_return_gid(refund))
        if line is not None and line.restocked_quantity >= quantity:
            item_gid = _inventory_item_of(session, shop_domain, line, gateway)
            if item_gid:
                found[line_item_gid] = item_gid
    return found


def reconcile_refund(session: Session, shop_domain: str, refund: dict, inventory_items: dict[str, str] | None = None) -> tuple[list[str], dict | None]:
    """Match a refunds/create payload against returns: nothing restocked twice.

    Returns (what was done, for the timeline; the InventoryAdjustQuantities input that
    undoes a second restock, or None). The caller sends the adjustment after committing.
    `inventory_items` comes from refund_inventory_items (read before the transaction).
    """
    refund_gid = refund.get("admin_graphql_api_id") or f"gid://shopify/Refund/{refund.get('id')}"
    return_gid = refund_return_gid(refund)
    inventory_items = inventory_items or {}
    done: list[str] = []
    undo: list[dict] = []
    cases: dict[int, ReturnCase] = {}
    for item in refund.get("refund_line_items") or []:
        line_item_gid, line = _refund_line(session, shop_domain, item, return_gid)
        if line is None:
            continue
        case = line.case
        cases[case.id] = case
        if refund_gid in (case.refund_gids or []):
            continue  # this refund was reconciled already
        quantity = int(item.get("quantity") or 0)
        if item.get("restock_type") == "return" and quantity:
            if line.restocked_quantity >= quantity:
                location = item.get("location_id")
                item_gid = inventory_items.get(line_item_gid) or _inventory_item_of(session, shop_domain, line)
                if location and item_gid:
                    # changeFromQuantity null: a delta that undoes Shopify's own restock, whatever the level is now.
                    undo.append({"inventoryItemId": item_gid, "locationId": f"gid://shopify/Location/{location}", "delta": -quantity, "changeFromQuantity": None})
                    done.append(f"undid a second restock of {quantity} x {line.sku}")
            else:
                line.refund_restocked_quantity += quantity
                done.append(f"Shopify restocked {quantity} x {line.sku} in the refund")
    from .outcome_models import ReturnOutcome

    for case in cases.values():
        if refund_gid not in (case.refund_gids or []):
            case.refund_gids = [*(case.refund_gids or []), refund_gid]
            case.refunded_at = case.refunded_at or utcnow()
            if session.scalar(select(ReturnOutcome.id).where(ReturnOutcome.return_case_id == case.id)) is not None:
                continue  # our own outcome (returnProcess): it records its timeline step and notice itself
            case.outcome = case.outcome or refund_outcome(refund)
            timeline(session, case, "return_refunded", "store")
            notify_customer(session, case, "return_refunded")
    adjustment = None
    if undo:
        adjustment = {"input": {"name": "available", "reason": "correction", "referenceDocumentUri": f"{REFERENCE_PREFIX}{next(iter(cases))}", "changes": undo}}
    return done, adjustment


def undo_second_restock(services, shop_domain: str, adjustment: dict) -> None:
    """Send the adjustment reconcile_refund planned (no transaction open); a refusal alerts the merchant."""
    from integrations.shopify.errors import ShopifyError

    from ..alerts import raise_alert

    try:
        # @idempotent: the gateway's retries of this one call carry one key, so Shopify applies it once.
        services.gateway(shop_domain).mutate("InventoryAdjustQuantities", adjustment, "inventoryAdjustQuantities")
    except ShopifyError as exc:
        # Not sent again later: the refund is already marked reconciled, and a new call (new key) could undo twice.
        with services.session_factory.begin() as session:
            raise_alert(session, shop_domain, "refund_restock_undo_failed", f"refund_restock_undo:{adjustment['input']['referenceDocumentUri']}",
                        f"A refund restocked returned units a second time and undoing it failed ({type(exc).__name__}); adjust the inventory by hand.")


STORE_CREDIT_GATEWAYS = frozenset({"shopify_store_credit", "store_credit", "store-credit"})


def refund_outcome(refund: dict) -> str:
    """"store_credit" when the refund went to store credit, else "refund"."""
    gateways = {str(t.get("gateway") or "").lower() for t in refund.get("transactions") or [] if isinstance(t, dict)}
    return "store_credit" if gateways and gateways <= STORE_CREDIT_GATEWAYS else "refund"


def _inventory_item_of(session: Session, shop_domain: str, line: ReturnLine, gateway=None) -> str | None:
    """The line's inventory item: from our catalog mirror, else asked of Shopify."""
    from ..inventory.models import CatalogVariant

    if line.sku:
        found = session.scalar(select(CatalogVariant.inventory_item_gid).where(CatalogVariant.shop_domain == shop_domain, CatalogVariant.sku == line.sku).limit(1))
        if found:
            return found
    if gateway is None or not line.line_item_gid:
        return None
    node = gateway.query("LineItemInventoryItem", {"id": line.line_item_gid}).get("node") or {}
    return ((node.get("variant") or {}).get("inventoryItem") or {}).get("id")


def supplier_received(session: Session, supplier, event, services, after_commit) -> None:
    """The supplier confirms returned units arrived (a RETURN_UPDATED event): receive them like a merchant would.

    Counts are the supplier's totals for the RMA, so a repeated event receives nothing twice;
    DEFECTIVE returns are taken as damaged (not restocked) unless the merchant says otherwise.
    """
    if not event.rma_number:
        return
    case = session.scalar(select(ReturnCase).where(ReturnCase.supplier_id == supplier.id, ReturnCase.rma_number == event.rma_number))
    if case is None:
        log.warning("supplier %s reported a return we do not know", supplier.id)
        return
    ours = dict(session.execute(select(ProductMapping.supplier_sku, ProductMapping.sku).where(ProductMapping.supplier_id == supplier.id)).all())
    remaining: dict[str, int] = {}
    for supplier_sku, quantity in event.returned:  # the supplier counts in its SKUs, our lines in the shop's
        sku = ours.get(supplier_sku, supplier_sku)
        remaining[sku] = remaining.get(sku, 0) + quantity
    receipts = []
    for line in case.lines:
        total = remaining.get(line.sku or "", 0)
        take = min(total, line.quantity)
        remaining[line.sku or ""] = total - take
        new = max(0, take - line.received_quantity)
        if new:
            receipts.append(Receipt(line.id, new, damaged_by_reason(line, new)))
    if receipts:
        case_id, shop_domain = case.id, case.shop_domain
        after_commit(lambda: receive(services.session_factory, services.gateway(shop_domain), case_id, receipts, actor="supplier"))


__all__ = ["Receipt", "receive", "apply_disposition_totals", "reconcile_refund", "damaged_by_reason"]
