"""The REST sandbox supplier's state: catalog with stock counts, orders, shipments, and the rules between them.

Order statuses: received -> processing -> partially_shipped -> shipped, with on_hold,
failed and cancelled on the side. Cancelling works until the order is processing or has
shipped anything (409 after that). Every change is reported to listeners as
(event type, order, extra), which the server turns into signed webhooks.
"""
from __future__ import annotations

import datetime as dt
import itertools
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Mapping

CANCELLABLE = {"received", "on_hold", "failed", "cancelled"}
MODIFIABLE = {"received", "on_hold", "failed"}  # PATCH: like cancelling, until processing starts
SHIPPABLE = {"received", "processing", "on_hold", "partially_shipped"}
FLAT_SHIPPING = Decimal("4.50")
MAX_REFERENCE = 100
RESTOCK_QUANTITY = 25  # what set_stock(sku, True) puts on the shelf when it was empty


class RestRefusal(Exception):
    """A request the sandbox answers with a 4xx and {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def utc_now() -> str:
    """Now, UTC, ISO 8601 with a Z."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Product:
    """A SKU the sandbox sells: its title, what it charges us, and how many are on the shelf."""

    sku: str
    title: str
    price: str
    available: int

    def json(self) -> dict[str, Any]:
        """As the stock endpoint shows it."""
        return {"sku": self.sku, "available": self.available, "in_stock": self.available > 0}


def demo_products() -> dict[str, Product]:
    """Seeded catalog: WIDGET-/GADGET- SKUs for tests plus the sandbox Shopify demo shop's SKUs."""
    products = [
        Product("WIDGET-RED", "Widget, red", "4.20", 25),
        Product("WIDGET-BLUE", "Widget, blue", "4.20", 10),
        Product("GADGET-XL", "Gadget XL", "12.50", 0),
        Product("MUG-WHT", "Mug, white", "5.10", 40),
        Product("MUG-BLK", "Mug, black", "6.80", 40),
        Product("TEE-S", "Tee S", "7.90", 30),
        Product("TEE-M", "Tee M", "7.90", 30),
        Product("TEE-L", "Tee L", "7.90", 0),
        Product("BTL-500", "Bottle 500 ml", "14.00", 12),
        Product("TOTE-NAT", "Tote, natural", "9.60", 0),
    ]
    return {product.sku: product for product in products}


@dataclass
class Item:
    """One order line as the sandbox keeps it."""

    sku: str
    qty: int
    unit_price: str
    line_ref: str | None = None
    title: str | None = None
    retail_price: str | None = None


@dataclass
class Parcel:
    """One shipment: carrier, tracking and (item, quantity) pairs."""

    id: str
    carrier: str
    service: str
    tracking_number: str
    tracking_url: str
    shipped_at: str
    items: list[tuple[Item, int]]

    def json(self) -> dict[str, Any]:
        """As GET .../shipments and webhooks show it."""
        return {
            "id": self.id, "carrier": self.carrier, "service": self.service,
            "tracking": {"number": self.tracking_number, "url": self.tracking_url}, "shipped_at": self.shipped_at,
            "items": [{"line_ref": item.line_ref, "sku": item.sku, "qty": qty} for item, qty in self.items],
        }


@dataclass
class Order:
    """An order at the sandbox supplier (the ship-to address is kept, never shown back)."""

    id: int
    reference: str
    status: str
    ship_to: dict[str, Any]
    items: list[Item]
    currency: str
    shipping_method: str | None
    note: str | None
    created_at: str
    updated_at: str
    parcels: list[Parcel] = field(default_factory=list)
    failure_reason: str | None = None

    def shipped(self, item: Item) -> int:
        """How many of this item have left."""
        return sum(qty for parcel in self.parcels for shipped, qty in parcel.items if shipped is item)

    def total(self) -> Decimal:
        """What the order costs us: items at catalog price plus flat shipping."""
        return sum((Decimal(item.unit_price) * item.qty for item in self.items), FLAT_SHIPPING)

    def json(self) -> dict[str, Any]:
        """As the API shows an order."""
        return {
            "id": self.id, "reference": self.reference, "status": self.status, "total": str(self.total()),
            "currency": self.currency, "shipping_method": self.shipping_method, "created_at": self.created_at,
            "updated_at": self.updated_at, "failure_reason": self.failure_reason,
            "items": [
                {"line_ref": item.line_ref, "sku": item.sku, "qty": item.qty, "title": item.title, "unit_price": item.unit_price, "shipped_qty": self.shipped(item)}
                for item in self.items
            ],
        }


Listener = Callable[[str, Order, Mapping[str, Any]], None]


class RestOrderBook:
    """Catalog and orders, thread-safe; `reference` is unique."""

    def __init__(self, products: dict[str, Product]):
        self.products = products
        self.listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._orders: dict[int, Order] = {}
        self._ids = itertools.count(1001)
        self._created: dict[str, int] = {}  # reference -> how many orders were created with it

    def clear(self, products: dict[str, Product]) -> None:
        """No orders; the catalog replaced."""
        with self._lock:
            self._orders.clear()
            self._created.clear()
            self.products.clear()
            self.products.update(products)

    # -- reading ---------------------------------------------------------------------------

    def get(self, order_id: int) -> Order:
        """An order by id (404 refusal when unknown)."""
        with self._lock:
            order = self._orders.get(order_id)
        if order is None:
            raise RestRefusal(404, "not_found", "order not found")
        return order

    def by_reference(self, reference: str) -> list[Order]:
        """Orders with this reference (at most one, as references are unique)."""
        with self._lock:
            return [order for order in self._orders.values() if order.reference == reference]

    def all(self) -> list[Order]:
        """Every order, oldest first."""
        with self._lock:
            return list(self._orders.values())

    def created_count(self, reference: str) -> int:
        """How many orders were ever created with this reference."""
        with self._lock:
            return self._created.get(reference, 0)

    # -- the API's changes -----------------------------------------------------------------

    def create(self, body: Any) -> Order:
        """A new order from a POST body; 422 for invalid input, 409 for a taken reference."""
        reference, ship_to, items = self._validated(body)
        with self._lock:
            taken = self.by_reference(reference)
            if taken:
                raise RestRefusal(409, "duplicate_reference", f"an order with reference {reference} already exists", order_id=taken[0].id)
            now = utc_now()
            order = Order(
                id=next(self._ids), reference=reference, status="received", ship_to=ship_to, items=items,
                currency=str(body.get("currency") or "USD"), shipping_method=body.get("shipping_method"),
                note=body.get("note"), created_at=now, updated_at=now,
            )
            self._orders[order.id] = order
            self._created[reference] = self._created.get(reference, 0) + 1
        return order

    def cancel(self, order: Order) -> Order:
        """Cancel unless processing or shipped (409); cancelling a cancelled order is a no-op."""
        with self._lock:
            if order.status not in CANCELLABLE:
                raise RestRefusal(409, "not_cancellable", f"order is {order.status} and can no longer be cancelled")
            if order.status == "cancelled":
                return order
            self._set_status(order, "cancelled")
        self._announce("order.cancelled", order, {"reason": "Cancelled at the customer's request"})
        return order

    def update(self, order: Order, body: Any) -> Order:
        """PATCH: a new ship_to and/or the whole item list, until processing starts (409); reports order.updated."""
        if not isinstance(body, dict) or not ({"ship_to", "items"} & set(body)):
            raise RestRefusal(422, "invalid", "send ship_to and/or items")
        _, ship_to, items = self._validated({"reference": order.reference, "ship_to": body.get("ship_to", order.ship_to),
                                             "items": body["items"] if "items" in body else [{"sku": i.sku, "qty": i.qty, "line_ref": i.line_ref} for i in order.items]})
        with self._lock:
            if order.status not in MODIFIABLE:
                raise RestRefusal(409, "not_modifiable", f"order is {order.status} and can no longer be changed")
            order.ship_to = ship_to
            if "items" in body:
                order.items = items
            self._set_status(order, order.status)
        self._announce("order.updated", order, {})
        return order

    def _validated(self, body: Any) -> tuple[str, dict[str, Any], list[Item]]:
        if not isinstance(body, dict):
            raise RestRefusal(400, "bad_request", "body must be a JSON object")
        reference = body.get("reference")
        if not isinstance(reference, str) or not reference.strip() or len(reference) > MAX_REFERENCE:
            raise RestRefusal(422, "invalid", f"reference must be a non-empty string of at most {MAX_REFERENCE} characters")
        ship_to = body.get("ship_to")
        if not isinstance(ship_to, dict):
            raise RestRefusal(422, "invalid", "ship_to is required")
        for name in ("name", "street1", "city", "country"):
            if not isinstance(ship_to.get(name), str) or not ship_to[name].strip():
                raise RestRefusal(422, "invalid", f"ship_to.{name} is required")
        if len(ship_to["country"]) != 2:
            raise RestRefusal(422, "invalid", "ship_to.country must be a two-letter code")
        raw_items = body.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            raise RestRefusal(422, "invalid", "items must be a non-empty list")
        items, refs = [], set()
        for index, raw in enumerate(raw_items):
            if not isinstance(raw, dict):
                raise RestRefusal(422, "invalid", f"items[{index}] must be an object")
            sku, qty, line_ref = raw.get("sku"), raw.get("qty"), raw.get("line_ref")
            product = self.products.get(sku) if isinstance(sku, str) else None
            if product is None:
                raise RestRefusal(422, "unknown_sku", f"items[{index}].sku {sku!r} is not in our catalog")
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
                raise RestRefusal(422, "invalid", f"items[{index}].qty must be a whole number of at least 1")
            if line_ref is not None:
                if not isinstance(line_ref, str) or line_ref in refs:
                    raise RestRefusal(422, "invalid", f"items[{index}].line_ref must be a unique string")
                refs.add(line_ref)
            items.append(Item(sku=sku, qty=qty, unit_price=product.price, line_ref=line_ref, title=raw.get("title"), retail_price=raw.get("retail_price")))
        return reference, ship_to, items

    # -- what happens at the supplier ------------------------------------------------------

    def ship(self, order: Order, lines: Mapping[str, int] | None, *, carrier: str, tracking_number: str | None, tracking_url: str | None) -> Parcel:
        """Ship {line_ref or sku: qty} (None: everything left); reports order.shipped."""
        with self._lock:
            if order.status not in SHIPPABLE:
                raise ValueError(f"order {order.id} is {order.status}: nothing to ship")
            wanted = self._parcel_items(order, lines)
            number = tracking_number or f"SBX{uuid.uuid4().int % 10**12:012d}"
            parcel = Parcel(
                id=f"shp_{order.id}_{len(order.parcels) + 1}", carrier=carrier, service=f"{carrier} Ground",
                tracking_number=number, tracking_url=tracking_url or f"https://track.sandbox.test/{carrier.lower()}/{number}",
                shipped_at=utc_now(), items=wanted,
            )
            order.parcels.append(parcel)
            done = all(order.shipped(item) >= item.qty for item in order.items)
            self._set_status(order, "shipped" if done else "partially_shipped")
        self._announce("order.shipped", order, {"shipment": parcel.json()})
        return parcel

    def _parcel_items(self, order: Order, lines: Mapping[str, int] | None) -> list[tuple[Item, int]]:
        if lines is None:
            wanted = [(item, item.qty - order.shipped(item)) for item in order.items]
            wanted = [(item, qty) for item, qty in wanted if qty > 0]
        else:
            wanted = []
            for key, qty in lines.items():
                item = next((i for i in order.items if key in (i.line_ref, i.sku)), None)
                if item is None:
                    raise ValueError(f"order {order.id} has no line {key}")
                if not 0 < qty <= item.qty - order.shipped(item):
                    raise ValueError(f"cannot ship {qty} of line {key}")
                wanted.append((item, qty))
        if not wanted:
            raise ValueError(f"order {order.id} has nothing left to ship")
        return wanted

    def set_status(self, order: Order, status: str, event_type: str = "order.updated", reason: str | None = None) -> Order:
        """Any status change made by the supplier's staff; reports `event_type`."""
        with self._lock:
            self._set_status(order, status)
            if status == "failed":
                order.failure_reason = reason
        self._announce(event_type, order, {"reason": reason} if reason else {})
        return order

    def _set_status(self, order: Order, status: str) -> None:
        order.status = status
        order.updated_at = utc_now()

    def _announce(self, event_type: str, order: Order, extra: Mapping[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(event_type, order, extra)
