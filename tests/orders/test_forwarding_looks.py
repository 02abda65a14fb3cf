"""Issue 20 (CPU per order), placing: a drain with calls in flight looks for new rows when rung, not every poll.

The drain used to run a claim query every IN_FLIGHT_POLL (0.25 s) while any call was in
flight, which at a steady order rate was more claims than orders. With the pump's doorbell
(set by the handler that routes an order) it looks when rung, when a finished call frees a
slot that due rows were waiting for, and every IN_FLIGHT_RELOOK otherwise. These tests hold
one placement at the (real) Printful sandbox and prove: no look while nothing rang, a ring
is answered inside the same drain (the new order goes while the first is still in flight),
and each order is created at the supplier exactly once.
"""
from __future__ import annotations

import threading

from forwarding_kit import (  # noqa: F401 - app, sandbox, supplier_sandbox: fixtures
    add_printful_supplier, app, deliver, deliveries, paid_order_payload, sandbox, supplier_sandbox, worker,
)
from shopify_app.suppliers import forwarding

WAIT = 20.0  # seconds: generous on a loaded machine; every wait below ends on an event


class GatedPlacing:
    """The real adapter, whose placements wait for `go` (a supplier taking its time): the call stays in flight."""

    def __init__(self, box):
        self.box = box
        self.go = threading.Event()
        self.entered: list[str] = []
        self.entered_event = threading.Condition()

    def adapter_for(self, supplier):
        real = forwarding.adapter_from_record(supplier, self.box)
        gate = self

        class Held:
            def __getattr__(self, name):
                return getattr(real, name)

            def place_order(self, request):
                with gate.entered_event:
                    gate.entered.append(request.external_id)
                    gate.entered_event.notify_all()
                assert gate.go.wait(WAIT)
                return real.place_order(request)

        return Held()

    def wait_entered(self, n: int) -> bool:
        with self.entered_event:
            return self.entered_event.wait_for(lambda: len(self.entered) >= n, timeout=WAIT)


def _counting_looks(forwarder):
    looks = []
    claim = forwarder._claim

    def counted(*args, **kw):
        looks.append(1)
        return claim(*args, **kw)

    forwarder._claim = counted
    return looks


def test_a_drain_with_a_call_in_flight_looks_again_only_when_rung(app, sandbox, monkeypatch):
    monkeypatch.setattr(forwarding, "IN_FLIGHT_RELOOK", 3600.0)  # only a ring (or a freed slot) may bring a look here
    services = app.extensions["services"]
    add_printful_supplier(app, sandbox, timeout=10)
    gate = GatedPlacing(services.box)
    forwarder = worker(app, adapter_for=gate.adapter_for)
    forwarder.rung = services.forwarding_wakeup  # as the embedded scheduler wires it
    looks = _counting_looks(forwarder)
    deliver(app, "orders/paid", paid_order_payload(order_number=1001))
    services.forwarding_wakeup.clear()  # the pump would have cleared it before this pass
    reports = []
    drain = threading.Thread(target=lambda: reports.append(forwarder.drain()), daemon=True)
    drain.start()
    try:
        assert gate.wait_entered(1)
        # Several in-flight polls pass with nothing rung: no look (each was a read transaction).
        assert not drain.join(timeout=4 * forwarding.IN_FLIGHT_POLL + 0.5) and drain.is_alive()
        assert len(looks) == 1
        # A new order is routed (its handler rings): the same drain takes it while the first is still held.
        deliver(app, "orders/paid", paid_order_payload(order_number=1002))
        assert gate.wait_entered(2)
        assert len(looks) >= 2
    finally:
        gate.go.set()
        drain.join(timeout=WAIT)
    assert not drain.is_alive()
    assert sum(report.placed for report in reports) == 2
    for delivery in deliveries(app):
        assert delivery.state == "placed"
        assert sandbox.orders_created(delivery.idempotency_key) == 1


def test_without_a_doorbell_the_drain_still_looks_while_calls_are_in_flight(app, sandbox):
    """A procrastinate worker has no doorbell: rows of other processes are found only by looking."""
    services = app.extensions["services"]
    add_printful_supplier(app, sandbox, timeout=10)
    gate = GatedPlacing(services.box)
    forwarder = worker(app, adapter_for=gate.adapter_for)
    assert forwarder.rung is None
    looks = _counting_looks(forwarder)
    deliver(app, "orders/paid", paid_order_payload(order_number=1001))
    reports = []
    drain = threading.Thread(target=lambda: reports.append(forwarder.drain()), daemon=True)
    drain.start()
    try:
        assert gate.wait_entered(1)
        deliver(app, "orders/paid", paid_order_payload(order_number=1002))  # rings nobody this worker listens to
        assert gate.wait_entered(2)
        assert len(looks) >= 2
    finally:
        gate.go.set()
        drain.join(timeout=WAIT)
    assert sum(report.placed for report in reports) == 2
    for delivery in deliveries(app):
        assert sandbox.orders_created(delivery.idempotency_key) == 1
