"""The REST sandbox supplier's returns desk: return authorisations against shipped units, and receipt.

POST /api/v1/orders/{id}/returns {"items": [{"sku", "qty", "line_ref"?, "reason"?}]} answers
201 {"return": {"rma", "status": "approved", "label_url", "return_address", "note"}}; 404 for
an unknown order; 422 when a SKU was not in the order or more units are asked back than
shipped and not yet returned; 409 "window_closed" while `refuse_returns` is set.
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from .rest_orders import Order, RestRefusal, utc_now

RETURN_ADDRESS = {"name": "Sandbox Supplier Returns", "address1": "1 Return Lane", "city": "Leeds", "zip": "LS1 1AA", "country_code": "GB"}


@dataclass
class Authorization:
    """One RMA: what may come back, and what arrived."""

    rma: str
    order_id: int
    items: dict[str, int]  # sku -> quantity
    created_at: str
    received: dict[str, int] = field(default_factory=dict)

    def json(self, base_url: str) -> dict[str, Any]:
        """As the API shows it."""
        return {"rma": self.rma, "status": "received" if self.received else "approved", "label_url": f"{base_url}/labels/{self.rma}.pdf",
                "return_address": RETURN_ADDRESS, "note": None, "order_id": self.order_id,
                "items": [{"sku": sku, "qty": qty, "received_qty": self.received.get(sku, 0)} for sku, qty in self.items.items()]}


class ReturnsDesk:
    """RMAs per order, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers = itertools.count(5001)
        self.authorizations: dict[str, Authorization] = {}
        self.refusal: str | None = None  # set: every request is refused with this reason

    def clear(self) -> None:
        """No RMAs, no refusal."""
        with self._lock:
            self.authorizations.clear()
            self.refusal = None

    def authorize(self, order: Order, body: Any) -> Authorization:
        """Check a request against the order's shipped units and open an RMA."""
        if self.refusal:
            raise RestRefusal(409, "window_closed", self.refusal)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise RestRefusal(422, "invalid", "items must be a non-empty list")
        wanted: dict[str, int] = {}
        for entry in items:
            sku, qty = (entry or {}).get("sku"), (entry or {}).get("qty")
            if not isinstance(sku, str) or isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
                raise RestRefusal(422, "invalid", "each item needs a sku and a qty >= 1")
            wanted[sku] = wanted.get(sku, 0) + qty
        with self._lock:
            for sku, qty in wanted.items():
                shipped = sum(order.shipped(item) for item in order.items if item.sku == sku)
                if not any(item.sku == sku for item in order.items):
                    raise RestRefusal(422, "invalid", f"{sku} is not in order {order.id}")
                already = sum(a.items.get(sku, 0) for a in self.authorizations.values() if a.order_id == order.id)
                if qty > shipped - already:
                    raise RestRefusal(422, "invalid", f"only {shipped - already} of {sku} can still be returned")
            authorization = Authorization(f"RMA-{next(self._numbers)}", order.id, wanted, utc_now())
            self.authorizations[authorization.rma] = authorization
            return authorization

    def receive(self, rma: str, items: dict[str, int] | None = None) -> Authorization:
        """The parcel arrived at the supplier (everything authorised, unless `items` says otherwise)."""
        with self._lock:
            authorization = self.authorizations[rma]
            authorization.received = dict(items or authorization.items)
            return authorization
