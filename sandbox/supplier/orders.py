"""The sandbox supplier's order book: Printful orders, their items and shipments, and the rules between them.

Status lifecycle (Printful's names): draft -> pending (confirmed) -> inprocess -> partial ->
fulfilled, with onhold, failed and canceled on the side. Every change is reported to a
listener as (event type, order, extra data), which the server turns into webhooks.
"""
from __future__ import annotations

import datetime as dt
import itertools
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping

from .catalog import CatalogVariant

# DELETE deletes only these (the spec: "draft, failed or cancelled"); the choices are in printful.py's docstring.
DELETABLE = {"draft", "failed", "canceled"}
# PATCH: Printful's life cycle says a draft "can be freely edited" and an inprocess order "can no
# longer be canceled or modified": like DELETE, changes are taken until production starts.
MODIFIABLE = {"draft", "pending", "onhold", "failed"}
SHIPPABLE = {"pending", "inprocess", "partial", "onhold"}
FLAT_SHIPPING = Decimal("4.75")


class SupplierRefusal(Exception):
    """A request the supplier answers with a 4xx; `status` says which."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(SupplierRefusal):
    status = 400


class NotFound(SupplierRefusal):
    status = 404


class Conflict(SupplierRefusal):
    status = 409


def utc_now() -> dt.datetime:
    """Now, UTC, whole seconds (Printful's timestamps have no fractions)."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@dataclass
class OrderItem:
    """One order line: a catalog variant, how many, and the caller's external_id for it."""

    id: int
    catalog_variant_id: int
    quantity: int
    price: str
    name: str
    external_id: str | None = None
    retail_price: str | None = None
    placements: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ShipmentRecord:
    """One parcel: carrier, tracking and (item, quantity) pairs."""

    id: int
    carrier: str
    service: str
    tracking_number: str
    tracking_url: str
    created_at: dt.datetime
    shipped_at: dt.datetime
    items: list[tuple[OrderItem, int]]
    status: str = "shipped"
    is_reshipment: bool = False
    estimated_delivery: dt.date | None = None  # the latest promise (None: shipped_at + 7 days), moved by reschedule()


@dataclass
class SandboxOrder:
    """A Printful order as the sandbox holds it."""

    id: int
    external_id: str | None
    store_id: int
    shipping: str
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    recipient: dict[str, Any]
    items: list[OrderItem]
    retail_costs: dict[str, Any] = field(default_factory=dict)
    shipments: list[ShipmentRecord] = field(default_factory=list)

    def shipped_quantity(self, item: OrderItem) -> int:
        """How many of this item have left in some shipment."""
        return sum(qty for shipment in self.shipments for shipped, qty in shipment.items if shipped is item)

    def remaining(self, item: OrderItem) -> int:
        """How many of this item are still to ship."""
        return item.quantity - self.shipped_quantity(item)

    def subtotal(self) -> Decimal:
        """What the items cost us."""
        return sum((Decimal(item.price) * item.quantity for item in self.items), Decimal("0"))


Listener = Callable[[str, SandboxOrder, Mapping[str, Any]], None]


class OrderBook:
    """Every order of one store, thread-safe; `external_id` is unique within the store."""

    def __init__(self, catalog: Mapping[int, CatalogVariant], store_id: int, *, now: Callable[[], dt.datetime] = utc_now):
        self.catalog = catalog
        self.store_id = store_id
        self.now = now
        self.listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._orders: dict[int, SandboxOrder] = {}
        self._by_external_id: dict[str, SandboxOrder] = {}
        self._created_per_external_id: dict[str, int] = {}
        self._order_ids = itertools.count(100_000_001)
        self._item_ids = itertools.count(500_000_001)
        self._shipment_ids = itertools.count(700_000_001)

    # -- reading ---------------------------------------------------------------------------

    def get(self, order_ref: str | int) -> SandboxOrder:
        """By numeric id or `@external_id` (Printful's two forms of {order_id})."""
        with self._lock:
            if isinstance(order_ref, str) and order_ref.startswith("@"):
                order = self._by_external_id.get(order_ref[1:])
            else:
                try:
                    order = self._orders.get(int(order_ref))
                except ValueError:
                    raise BadRequest("Order ID must be an integer or an external ID prefixed with '@'") from None
            if order is None:
                raise NotFound("Order not found")
            return order

    def all(self) -> list[SandboxOrder]:
        """Every order, oldest first."""
        with self._lock:
            return list(self._orders.values())

    def created_count(self, external_id: str) -> int:
        """How many orders were ever created with this external_id (exactly-once checks)."""
        with self._lock:
            return self._created_per_external_id.get(external_id, 0)

    # -- the API's operations -------------------------------------------------------------

    def create(self, body: Mapping[str, Any]) -> SandboxOrder:
        """A draft order from a schema-valid create body; a taken external_id is a 400 (create lists no 409)."""
        items = [self._item_from(index, spec) for index, spec in enumerate(body["order_items"])]
        self._check_recipient(body["recipient"])
        external_id = body.get("external_id")
        with self._lock:
            if external_id is not None and external_id in self._by_external_id:
                raise BadRequest(f"Order with external ID {external_id} already exists")
            now = self.now()
            order = SandboxOrder(
                id=next(self._order_ids), external_id=external_id, store_id=self.store_id,
                shipping=body.get("shipping") or "STANDARD", status="draft", created_at=now, updated_at=now,
                recipient=dict(body["recipient"]), items=items, retail_costs=dict(body.get("retail_costs") or {}),
            )
            self._orders[order.id] = order
            if external_id is not None:
                self._by_external_id[external_id] = order
                self._created_per_external_id[external_id] = self._created_per_external_id.get(external_id, 0) + 1
        self._emit("order_created", order)
        return order

    def confirm(self, order: SandboxOrder) -> SandboxOrder:
        """Submit a draft for fulfilment (draft -> pending); any other order is returned unchanged (the spec lists only 200)."""
        with self._lock:
            if order.status != "draft":
                return order
            self._set_status(order, "pending")
        self._emit("order_updated", order)
        return order

    def delete(self, order: SandboxOrder) -> None:
        """DELETE: remove a draft, failed or canceled order (its external_id is free again); any other is a 409."""
        with self._lock:
            if order.status not in DELETABLE:
                raise Conflict(f"Order can not be deleted: its status is {order.status}")
            self._orders.pop(order.id, None)
            if order.external_id is not None and self._by_external_id.get(order.external_id) is order:
                del self._by_external_id[order.external_id]

    def update(self, order: SandboxOrder, body: Mapping[str, Any]) -> SandboxOrder:
        """PATCH: a partial update (recipient, shipping, order_items replaced as a whole) until production starts (409 after)."""
        items = [self._item_from(index, spec) for index, spec in enumerate(body["order_items"])] if "order_items" in body else None
        if "recipient" in body:
            self._check_recipient(body["recipient"])
        with self._lock:
            if order.status not in MODIFIABLE:
                raise BadRequest(f"Order can not be modified: its status is {order.status}")
            if items is not None:
                if not items and order.status != "draft":
                    raise BadRequest("order_items: a confirmed order needs at least one item")
                order.items = items
            if "recipient" in body:
                order.recipient = dict(body["recipient"])
            if body.get("shipping"):
                order.shipping = body["shipping"]
            if body.get("retail_costs"):
                order.retail_costs = dict(body["retail_costs"])
            order.updated_at = self.now()
        self._emit("order_updated", order)
        return order

    # -- what happens at the supplier (driven by tests and demos) --------------------------

    def set_status(self, order: SandboxOrder, status: str, event: str | None = None, **extra: Any) -> SandboxOrder:
        """Move an order to `status` and report `event` (plus order_updated)."""
        with self._lock:
            self._set_status(order, status)
        if event:
            self._emit(event, order, extra)
        self._emit("order_updated", order)
        return order

    def ship(
        self,
        order: SandboxOrder,
        items: Mapping[str | int, int] | Iterable[tuple[str | int, int]] | None,
        *,
        tracking_number: str,
        carrier: str,
        service: str,
        tracking_url: str | None,
    ) -> ShipmentRecord:
        """Ship some (or, with items=None, all remaining) items; keys are item external_id or id."""
        with self._lock:
            if order.status not in SHIPPABLE:
                raise ValueError(f"order {order.id} is {order.status}; only confirmed orders ship")
            if items is None:
                picked = [(item, order.remaining(item)) for item in order.items if order.remaining(item) > 0]
            else:
                pairs = items.items() if isinstance(items, Mapping) else items
                picked = [(self._find_item(order, key), quantity) for key, quantity in pairs]
            if not picked:
                raise ValueError(f"order {order.id} has nothing left to ship")
            for item, quantity in picked:
                if quantity < 1 or quantity > order.remaining(item):
                    raise ValueError(f"cannot ship {quantity} of item {item.id}: {order.remaining(item)} left")
            now = self.now()
            shipment = ShipmentRecord(
                id=next(self._shipment_ids), carrier=carrier, service=service, tracking_number=tracking_number,
                tracking_url=tracking_url or f"https://tracking.sandbox.test/{carrier.lower()}/{tracking_number}",
                created_at=now, shipped_at=now, items=picked,
            )
            order.shipments.append(shipment)
            done = all(order.remaining(item) == 0 for item in order.items)
            self._set_status(order, "fulfilled" if done else "partial")
        self._emit("shipment_sent", order, {"shipment": shipment})
        self._emit("order_updated", order)
        return shipment

    def announce(self, event: str, order: SandboxOrder, **extra: Any) -> None:
        """Report an event about the order without changing its status."""
        self._emit(event, order, extra)

    def clear(self) -> None:
        """Forget every order (ids keep counting, so old ids never come back)."""
        with self._lock:
            self._orders.clear()
            self._by_external_id.clear()
            self._created_per_external_id.clear()

    # -- internals -------------------------------------------------------------------------

    def _item_from(self, index: int, spec: Mapping[str, Any]) -> OrderItem:
        variant = self.catalog.get(spec["catalog_variant_id"])
        if variant is None:
            raise BadRequest(f"order_items.{index}.catalog_variant_id: catalog variant not found")
        quantity = spec.get("quantity", 1)
        if quantity < 1:
            raise BadRequest(f"order_items.{index}.quantity: must be at least 1")
        return OrderItem(
            id=next(self._item_ids), catalog_variant_id=variant.id, quantity=quantity, price=variant.price,
            name=spec.get("name") or variant.name, external_id=spec.get("external_id"),
            retail_price=spec.get("retail_price"), placements=list(spec.get("placements") or []),
        )

    @staticmethod
    def _check_recipient(recipient: Mapping[str, Any]) -> None:
        # The schema makes every field optional; Printful still refuses to ship without these.
        missing = [name for name in ("name", "address1", "city", "country_code") if not recipient.get(name)]
        if missing:
            raise BadRequest(f"recipient: missing required {', '.join(missing)}")

    @staticmethod
    def _find_item(order: SandboxOrder, key: str | int) -> OrderItem:
        for item in order.items:
            if key == item.id or (item.external_id is not None and key == item.external_id):
                return item
        raise ValueError(f"order {order.id} has no item {key!r}")

    def _set_status(self, order: SandboxOrder, status: str) -> None:
        order.status = status
        order.updated_at = self.now()

    def _emit(self, event: str, order: SandboxOrder, extra: Mapping[str, Any] | None = None) -> None:
        for listener in list(self.listeners):
            listener(event, order, dict(extra or {}))
