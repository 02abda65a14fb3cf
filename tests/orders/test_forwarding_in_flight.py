"""A process's forwarding keeps as many supplier calls in flight as its capacity says (real adapter, Printful sandbox)."""
from __future__ import annotations

import threading

from forwarding_kit import add_printful_supplier, app, deliver, deliveries, paid_order_payload, sandbox, supplier_sandbox  # noqa: F401 - fixtures
from scheduler.forwarding_capacity import forwarding_capacity, forwarding_worker
from shopify_app.suppliers.forwarding import adapter_from_record


def test_one_supplier_gets_its_whole_default_share_of_calls_in_flight_at_once(app, sandbox):
    """Default capacity: FORWARDING_CALLS_PER_SUPPLIER calls to one slow supplier at the same time, not the old 4."""
    _, per_supplier = forwarding_capacity({})
    add_printful_supplier(app, sandbox, skus=("TSHIRT-BLK-S",), timeout=10.0)
    for number in range(1001, 1001 + per_supplier):
        deliver(app, "orders/paid", paid_order_payload(skus=("TSHIRT-BLK-S",), order_number=number))
    sandbox.set_latency(1.0)  # each request: long enough that every thread is in its call before the first returns
    services = app.extensions["services"]
    lock, counts = threading.Lock(), {"now": 0, "most": 0}

    class Counted:
        """The real adapter; counts its place_order calls in flight."""

        def __init__(self, supplier):
            self.inner = adapter_from_record(supplier, services.box)

        def place_order(self, request):
            with lock:
                counts["now"] += 1
                counts["most"] = max(counts["most"], counts["now"])
            try:
                return self.inner.place_order(request)
            finally:
                with lock:
                    counts["now"] -= 1

        def __getattr__(self, name):
            return getattr(self.inner, name)

    worker = forwarding_worker(services)
    worker.adapter_for = Counted
    try:
        report = worker.drain()
    finally:
        worker.close()
    assert report.placed == per_supplier
    assert counts["most"] == per_supplier > 4
    assert [sandbox.orders_created(d.idempotency_key) for d in deliveries(app)] == [1] * per_supplier
