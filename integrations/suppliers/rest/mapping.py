"""Translation between our values and a configured supplier's JSON, driven by the dotted paths in settings."""
from __future__ import annotations

import copy
import logging
from decimal import Decimal
from typing import Any, Mapping

from ..base import Address, Amendment, PlaceOrder, ReturnAuthorization, Shipment, ShipmentLine, StockLevel, SupplierOrder, SupplierOrderStatus
from .config import ADDRESS_FIELDS, RestSettings
from .paths import get_path, set_path
from .transforms import address_values, apply_rule, line_values, order_values

log = logging.getLogger(__name__)


class MalformedResponse(ValueError):
    """A 2xx body that lacks what the settings say it holds."""


def create_order_body(order: PlaceOrder, settings: RestSettings) -> dict[str, Any]:
    """The create-order JSON: static_body, then every mapped field that has a value (None is left out)."""
    request = settings.request
    body: dict[str, Any] = copy.deepcopy(dict(settings.static_body))
    for name in ("external_id", "shipping_method", "currency", "note"):
        _put(body, request.get(name), getattr(order, name))
    for name in ADDRESS_FIELDS:
        _put(body, request.get(f"address.{name}"), getattr(order.shipping_address, name))
    ours = order_values(order)
    _compose(body, settings.compose, ours)
    lines = []
    for line in order.lines:
        item: dict[str, Any] = {}
        for name in ("line_ref", "supplier_sku", "quantity", "name", "retail_price"):
            _put(item, request.get(f"line.{name}"), getattr(line, name))
        _compose(item, settings.compose_line, line_values(line, ours))
        lines.append(item)
    set_path(body, request["lines"], lines)
    return body


def _compose(target: dict[str, Any], rules: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any]) -> None:
    # Built fields come after the plain ones, so a rule can replace a mapped field.
    for path, rule in rules.items():
        _put(target, path, apply_rule(rule, values))


def _rules_over(rules: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The rules whose every source is among `values` (an update carries only the address and lines)."""
    from .transforms import rule_sources

    return {path: rule for path, rule in rules.items() if set(rule_sources(rule)) <= set(values)}


def update_order_body(amendment: Amendment, settings: RestSettings) -> dict[str, Any]:
    """The update-order JSON: the lines as they should be now (removed ones left out) and the new address, when each changed and is accepted."""
    request = settings.request
    body: dict[str, Any] = {}
    address = address_values(amendment.shipping_address)
    if amendment.shipping_address is not None:
        for name in ADDRESS_FIELDS:
            _put(body, request.get(f"address.{name}"), getattr(amendment.shipping_address, name))
        _compose(body, _rules_over(settings.compose, address), address)
    if "lines" in settings.update_accepts:
        lines = []
        for line in amendment.lines:
            if line.quantity > 0:
                item: dict[str, Any] = {}
                for name in ("line_ref", "supplier_sku", "quantity", "name", "retail_price"):
                    _put(item, request.get(f"line.{name}"), getattr(line, name))
                values = line_values(line, address)
                _compose(item, _rules_over(settings.compose_line, values), values)
                lines.append(item)
        set_path(body, request["lines"], lines)
    return body


def _put(target: dict[str, Any], path: str | None, value: Any) -> None:
    # Unmapped fields are not sent; unknown values are left out rather than sent as null.
    if path is not None and value is not None:
        set_path(target, path, value)


def order_status(value: Any, settings: RestSettings) -> SupplierOrderStatus:
    """Our status for theirs (exact, then case-insensitive); an unknown one counts as pending and is logged."""
    text = str(value)
    status = settings.status_map.get(text)
    if status is None:
        lowered = {key.lower(): ours for key, ours in settings.status_map.items()}
        status = lowered.get(text.lower())
    if status is None:
        log.warning("rest supplier: unknown order status %r, treated as pending", text[:40])
        return SupplierOrderStatus.PENDING
    return status


def order_object(body: Any, settings: RestSettings) -> Mapping[str, Any]:
    """The order inside an order response (settings.response.order, default the body itself)."""
    order = get_path(body, settings.response.get("order", ""))
    if not isinstance(order, Mapping):
        raise MalformedResponse("no order object where settings.response.order points")
    return order


def order_list(body: Any, settings: RestSettings) -> list[Any]:
    """The orders in a find-by-query response (settings.response.order_list, default the body)."""
    orders = get_path(body, settings.response.get("order_list", ""))
    if not isinstance(orders, list):
        raise MalformedResponse("no list where settings.response.order_list points")
    return orders


def supplier_order(order: Mapping[str, Any], settings: RestSettings) -> SupplierOrder:
    """A supplier's order object as our SupplierOrder."""
    response = settings.response
    order_id = get_path(order, response["order.id"])
    status = get_path(order, response["order.status"])
    if order_id is None or isinstance(order_id, (dict, list, bool)) or str(order_id) == "" or status is None:
        raise MalformedResponse("order without an id or a status")
    external_id = get_path(order, response["order.external_id"]) if "order.external_id" in response else None
    cost = get_path(order, response["order.cost"]) if "order.cost" in response else None
    return SupplierOrder(
        supplier_order_id=str(order_id),
        external_id=str(external_id) if external_id is not None else None,
        status=order_status(status, settings),
        cost=_decimal_text(cost),
        raw=order,
    )


def _decimal_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return str(Decimal(str(value)))
    except ArithmeticError:
        return None


def shipment_list(body: Any, settings: RestSettings) -> list[Any]:
    """The shipments in a shipments (or order) response."""
    shipments = get_path(body, settings.response.get("shipments", ""))
    if shipments is None:
        return []
    if isinstance(shipments, Mapping):
        # One parcel as an object (CJ keeps trackNumber on the order): none until it has an id or a tracking number.
        has = [get_path(shipments, settings.response[name]) for name in ("shipment.id", "shipment.tracking_number") if name in settings.response]
        return [shipments] if any(value not in (None, "") for value in has) else []
    if not isinstance(shipments, list):
        raise MalformedResponse("no list where settings.response.shipments points")
    return shipments


# What the app's supplier_shipments columns hold (shopify_app/suppliers/models.py): a supplier's longer
# text must not fail the whole parcel's record on PostgreSQL (SQLite would store it).
SHIPMENT_ID_CHARS, CARRIER_CHARS, TRACKING_NUMBER_CHARS, SHIPMENT_MOMENT_CHARS = 128, 128, 255, 40


def shipment(data: Any, settings: RestSettings) -> Shipment:
    """One supplier shipment as ours; lines carry our line_ref when the supplier echoes it."""
    if not isinstance(data, Mapping):
        raise MalformedResponse("a shipment that is not an object")
    response = settings.response

    def text(name: str) -> str | None:
        value = get_path(data, response[name]) if name in response else None
        return str(value) if value not in (None, "") and not isinstance(value, (dict, list)) else None

    def moment(name: str) -> str | None:
        # A date or time longer than the column holds is no ISO date: dropped (unknown), so the
        # parcel's tracking is still recorded (on PostgreSQL the whole shipment failed to store).
        value = text(name)
        if value is not None and len(value) > SHIPMENT_MOMENT_CHARS:
            log.warning("rest supplier: %s of %d characters ignored", name, len(value))
            return None
        return value

    shipment_id = text("shipment.id") or text("shipment.tracking_number")
    if shipment_id is None:
        raise MalformedResponse("a shipment without an id or tracking number")
    tracking_number = text("shipment.tracking_number")
    if len(shipment_id) > SHIPMENT_ID_CHARS or (tracking_number is not None and len(tracking_number) > TRACKING_NUMBER_CHARS):
        raise MalformedResponse("a shipment id or tracking number longer than any carrier's")
    lines = []
    for item in (get_path(data, response["shipment.lines"]) or []) if "shipment.lines" in response else []:
        quantity = get_path(item, response["shipment.line.quantity"])
        if isinstance(quantity, bool) or not isinstance(quantity, (int, str)) or not str(quantity).isdigit():
            raise MalformedResponse("a shipment line without a whole quantity")
        line_ref = get_path(item, response["shipment.line.line_ref"]) if "shipment.line.line_ref" in response else None
        sku = get_path(item, response["shipment.line.supplier_sku"]) if "shipment.line.supplier_sku" in response else None
        lines.append(ShipmentLine(quantity=int(quantity), line_ref=str(line_ref) if line_ref is not None else None, supplier_sku=str(sku) if sku is not None else None))
    return Shipment(
        shipment_id=shipment_id,
        carrier=(text("shipment.carrier") or "")[:CARRIER_CHARS] or None,
        tracking_number=tracking_number,
        tracking_url=text("shipment.tracking_url"),
        lines=tuple(lines),
        shipped_at=moment("shipment.shipped_at"),
        estimated_delivery=moment("shipment.estimated_delivery"),
        delivered_at=moment("shipment.delivered_at"),
    )


def stock_entries(body: Any, settings: RestSettings) -> list[Any]:
    """Stock entries in a stock response: a list, or one object (per-SKU endpoints)."""
    found = get_path(body, settings.response.get("stock", ""))
    if isinstance(found, Mapping):
        return [found]
    if not isinstance(found, list):
        raise MalformedResponse("no stock entries where settings.response.stock points")
    return found


def stock_level(entry: Any, settings: RestSettings) -> StockLevel:
    """One stock entry as ours: `in_stock` from its flag, else from available > 0."""
    if not isinstance(entry, Mapping):
        raise MalformedResponse("a stock entry that is not an object")
    response = settings.response
    sku = get_path(entry, response["stock.sku"])
    if sku is None or isinstance(sku, (dict, list)):
        raise MalformedResponse("a stock entry without a SKU")
    available = get_path(entry, response["stock.available"]) if "stock.available" in response else None
    if available is not None and (isinstance(available, bool) or not isinstance(available, (int, float))):
        raise MalformedResponse("stock available is not a number")
    flag = get_path(entry, response["stock.in_stock"]) if "stock.in_stock" in response else None
    if flag is not None and not isinstance(flag, bool):
        raise MalformedResponse("stock in_stock is not true/false")
    if flag is None and available is None:
        raise MalformedResponse("a stock entry with neither available nor in_stock")
    in_stock = flag if flag is not None else available > 0
    return StockLevel(supplier_sku=str(sku), in_stock=in_stock, available=max(0, int(available)) if available is not None else None)


def warehouse_counts(entry: Any, settings: RestSettings) -> bool:
    """Whether a stock row's warehouse ships to the countries this supplier serves (settings.stock_warehouses)."""
    rule = settings.stock_warehouses
    if rule is None or not rule.countries:
        return True
    country = get_path(entry, settings.response["stock.warehouse_country"]) if "stock.warehouse_country" in settings.response else None
    if not isinstance(country, str) or not country:
        return False  # a row that does not say where it is cannot be promised anywhere
    reach = rule.ships_to.get(country.upper(), frozenset({country.upper()}))  # unlisted: ships within its own country
    return "*" in reach or bool(reach & rule.countries)


def summed_stock(levels: list[StockLevel]) -> StockLevel:
    """One SKU's stock over several warehouse rows: counts added, in stock when any row is."""
    counts = [level.available for level in levels if level.available is not None]
    available = sum(counts) if counts else None
    in_stock = available > 0 if available is not None else any(level.in_stock for level in levels)
    return StockLevel(supplier_sku=levels[0].supplier_sku, in_stock=in_stock, available=available)


RETURN_STATUSES = ("approved", "pending", "refused")


def return_authorization(body: Any, settings: RestSettings) -> ReturnAuthorization:
    """The supplier's answer to a return request, read through settings.response `return.*`."""
    response = settings.response
    data = get_path(body, response["return"]) if response.get("return") else body
    if not isinstance(data, Mapping):
        raise MalformedResponse("the return answer is not an object")
    status = str(get_path(data, response.get("return.status", "status"), "pending") or "pending").lower()
    address = get_path(data, response.get("return.address", "return_address"))
    return ReturnAuthorization(
        rma_number=str(get_path(data, response.get("return.rma_number", "rma_number"), "") or ""),
        status=status if status in RETURN_STATUSES else "pending",
        label_url=get_path(data, response.get("return.label_url", "label_url")),
        return_address=Address(**{k: v for k, v in address.items() if k in Address.__dataclass_fields__}) if isinstance(address, Mapping) else None,
        note=get_path(data, response.get("return.note", "note")),
    )
