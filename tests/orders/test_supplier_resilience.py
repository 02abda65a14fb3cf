"""A flaky supplier: the retry schedule, the half-open breaker, the pump waking for the earliest retry,
per-supplier concurrency, and exactly-once placing through random faults (Printful sandbox, real adapter)."""
from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
from sqlalchemy import select, update

from forwarding_kit import (  # noqa: F401 - app, sandbox, supplier_sandbox: fixtures
    SHOP, add_printful_supplier, app, deliver, deliveries, make_due, paid_order_payload, sandbox, supplier_sandbox, worker,
)
from sandbox.supplier.printful import SandboxSupplier
from scheduler.pump import Pump
from shopify_app.models import utcnow
from shopify_app.suppliers.forwarding import ForwardReport, adapter_from_record
from shopify_app.suppliers.models import BreakerEvent, DeliveryAttempt, Supplier, SupplierOrder
from shopify_app.suppliers.resilience import CircuitBreaker, SupplierSlots, retry_delay


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the retry schedule -----------------------------------------------------------------------


def test_first_retries_come_within_a_second_with_jitter_then_back_off_exponentially():
    rng = random.Random(5)
    for attempts, (low, high) in {1: (0.25, 0.5), 2: (0.5, 1.0), 3: (1.0, 2.0), 4: (2.0, 4.0), 8: (32.0, 64.0)}.items():
        delays = [retry_delay(attempts, rng) for _ in range(200)]
        assert all(low <= d <= high for d in delays), (attempts, min(delays), max(delays))
        assert len({round(d, 6) for d in delays}) > 150  # jittered: a burst of failures does not come back as a burst
    assert max(retry_delay(40, rng) for _ in range(50)) <= 1800.0  # capped


def test_retry_after_is_the_delay_exactly_and_capped():
    rng = random.Random(1)
    assert retry_delay(1, rng, retry_after=7.0) == 7.0  # not the fast schedule, not later either
    assert retry_delay(9, rng, retry_after=2.5) == 2.5  # not the long backoff of attempt 9
    assert retry_delay(1, rng, retry_after=0.0) == 0.0
    assert retry_delay(1, rng, retry_after=10**9) == 1800.0  # a supplier cannot park our orders for years


# -- the breaker --------------------------------------------------------------------------------


def test_breaker_closed_open_half_open_closed_with_probes():
    clock, seen = FakeClock(), []
    breaker = CircuitBreaker(window=4, open_ratio=0.75, cooldown=2.0, probes=2, clock=clock, on_transition=seen.append)
    for _ in range(4):
        assert breaker.acquire(7) == 0
        breaker.failure(7)
    assert breaker.breaker_states() == {7: "open"}
    assert breaker.acquire(7) == pytest.approx(2.0)  # nothing goes while open
    clock.now += 1.0
    assert breaker.acquire(7) == pytest.approx(1.0)
    clock.now += 1.0
    assert breaker.breaker_states() == {7: "half_open"}
    assert breaker.acquire(7) == 0 and breaker.acquire(7) == 0  # two probes go through
    assert breaker.acquire(7) > 0  # a third waits for their answers
    breaker.success(7)
    assert breaker.breaker_states() == {7: "closed"}
    assert breaker.acquire(7) == 0
    assert [(t.old, t.new) for t in seen] == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert "3 of the last 4 calls failed" in seen[0].reason or "4 of the last 4 calls failed" in seen[0].reason


def test_a_failed_probe_reopens_for_twice_as_long_and_a_close_resets_the_cooldown():
    clock = FakeClock()
    breaker = CircuitBreaker(window=2, open_ratio=1.0, cooldown=1.0, max_cooldown=8.0, clock=clock)
    breaker.failure(1)
    breaker.failure(1)
    assert breaker.is_open(1) == pytest.approx(1.0)
    for expected in (2.0, 4.0, 8.0, 8.0):  # doubling, capped
        clock.now += 100
        assert breaker.acquire(1) == 0  # the probe
        breaker.failure(1)
        assert breaker.state(1) == "open" and breaker.is_open(1) == pytest.approx(expected)
    clock.now += 100
    assert breaker.acquire(1) == 0
    breaker.success(1)
    breaker.failure(1)
    breaker.failure(1)
    assert breaker.is_open(1) == pytest.approx(1.0)  # back to the first cooldown


def test_breaker_opens_on_a_failure_rate_not_on_a_degraded_supplier():
    clock = FakeClock()
    breaker = CircuitBreaker(window=10, open_ratio=0.8, clock=clock)
    for n in range(300):  # one call in three fails: degraded, not down
        (breaker.failure if n % 3 == 0 else breaker.success)(1)
    assert breaker.breaker_states() == {1: "closed"}
    for _ in range(8):
        breaker.failure(1)
    assert breaker.breaker_states() == {1: "open"}
    assert breaker.breaker_states().keys() == {1}  # other suppliers are not tracked until called


def test_retry_after_holds_every_call_to_that_supplier_until_then():
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock)
    breaker.pause(3, 12.0)
    assert breaker.state(3) == "open" and breaker.acquire(3) == pytest.approx(12.0)
    assert breaker.acquire(4) == 0  # only that supplier
    breaker.pause(3, 5.0)  # a shorter ask does not cut the first one short
    assert breaker.acquire(3) == pytest.approx(12.0)
    clock.now += 12.0
    assert breaker.state(3) == "half_open" and breaker.acquire(3) == 0


def test_slots_cap_calls_in_flight_per_supplier():
    slots = SupplierSlots(limit=2)
    assert slots.take(1) and slots.take(1) and not slots.take(1)
    assert slots.take(2)  # another supplier is not affected
    slots.give_back(1)
    assert slots.free(1) == 1 and slots.take(1)
    assert slots.in_flight() == {1: 2, 2: 1}


# -- the pump -----------------------------------------------------------------------------------


def test_pump_wakes_for_the_earliest_due_work_instead_of_its_poll_interval():
    passes, second_pass = [], threading.Event()

    def work():
        passes.append(len(passes))
        if len(passes) == 2:
            second_pass.set()

    due = iter([0.05])  # after the first pass: something is due in 50 ms; then nothing scheduled
    pump = Pump("test-pump", work, threading.Event(), poll_seconds=3600, next_due=lambda: next(due, None))
    pump.start()
    try:
        pump.wakeup.set()  # the first pass
        # With only the poll interval the second pass would come in an hour: it comes because it is due.
        assert second_pass.wait(timeout=30), passes
    finally:
        pump.stop()
    assert len(passes) >= 2


def test_pump_without_due_work_waits_for_its_poll_or_a_wakeup():
    passes = []
    woke = threading.Event()
    pump = Pump("test-pump", lambda: (passes.append(1), woke.set()), threading.Event(), poll_seconds=3600, next_due=lambda: None)
    pump.start()
    try:
        assert not woke.wait(timeout=0.3)  # nothing due, nothing woke it: no pass
        pump.wakeup.set()
        assert woke.wait(timeout=30)
    finally:
        pump.stop()


# -- the worker against the Printful sandbox ---------------------------------------------------


def test_a_5xx_is_retried_within_a_second_and_the_worker_says_when(app, sandbox):
    add_printful_supplier(app, sandbox)
    deliver(app, "orders/paid", paid_order_payload())
    sandbox.fail_next(503, count=1, route="POST /v2/orders")
    w = worker(app)
    before = utcnow()
    assert w.drain().retrying == 1
    [delivery] = deliveries(app)
    scheduled = (delivery.next_attempt_at - before).total_seconds()
    assert 0.25 <= scheduled <= 0.5 + (utcnow() - before).total_seconds()
    assert delivery.backoff_wait_ms >= 250 and delivery.breaker_wait_ms == 0
    assert 0 <= w.next_due_in() <= 0.5  # what the pump sleeps for, not its 1 s poll
    make_due(app)
    assert w.drain().placed == 1
    assert w.next_due_in() is None


def test_retry_after_from_the_supplier_is_obeyed_for_that_order_and_holds_the_others(app, sandbox):
    add_printful_supplier(app, sandbox)
    for number in (1001, 1002, 1003):
        deliver(app, "orders/paid", paid_order_payload(order_number=number))
    sandbox.fail_next(429, count=1, retry_after=30, route="POST /v2/orders")
    w = worker(app, slots=SupplierSlots(1))  # one call at a time: the 429 comes before the others are sent
    before = utcnow()
    report = w.drain()
    after = utcnow()
    assert report.retrying == 1 and report.placed == 0
    rows = deliveries(app)
    # The refused one exactly as asked, 30 s after the 429 (which came during the drain, however slow
    # the machine); the others parked by the breaker until the same moment.
    assert len(rows) == 3
    assert all(before + dt.timedelta(seconds=30) <= d.next_attempt_at <= after + dt.timedelta(seconds=30) for d in rows)
    assert sorted((d.backoff_wait_ms > 0, d.breaker_wait_ms > 0) for d in rows) == [(False, True), (False, True), (True, False)]
    assert w.breaker.breaker_states() == {rows[0].supplier_id: "open"}
    assert len([r for r in sandbox.received if r[1] == "/v2/orders"]) == 1  # nothing else was sent meanwhile


def test_unknown_outcomes_are_looked_up_as_soon_as_the_supplier_answers_again(app, sandbox):
    # The timeout also bounds the lookups that must answer "ok": 0.3 s failed now and then on a loaded
    # 2-core machine, so 1 s, with the held answers three times as long.
    supplier_id = add_printful_supplier(app, sandbox, timeout=1.0)
    for number in (1001, 1002):
        deliver(app, "orders/paid", paid_order_payload(order_number=number))
    breaker = CircuitBreaker(window=2, open_ratio=1.0, cooldown=0.0)
    w = worker(app, breaker=breaker)
    sandbox.time_out_next(hold_seconds=3.0, count=2, route="POST /v2/orders")  # both sent, neither answered in time
    w.drain()
    assert {d.state for d in deliveries(app)} == {"unknown"}
    assert breaker.state(supplier_id) in ("open", "half_open")
    # Push their retries far out: only the breaker closing may bring them back now.
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(next_attempt_at=utcnow() + dt.timedelta(hours=1)))
    assert breaker.acquire(supplier_id) == 0  # a probe...
    breaker.success(supplier_id)  # ...answered: closed, and what waited for the supplier is due now
    assert w.next_due_in() == 0
    report = w.drain()
    assert report.found_after_unknown + report.placed == 2  # drafts (create landed, no confirmation) are confirmed
    assert all(sandbox.orders_created(d.idempotency_key) == 1 for d in deliveries(app))
    with app.extensions["services"].session_factory() as session:
        assert sorted(a.outcome for a in session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.action == "lookup"))) == ["ok", "ok"]  # looked up first
        states = [(e.old_state, e.state) for e in session.scalars(select(BreakerEvent).order_by(BreakerEvent.id))]
    assert states[0] == ("closed", "open") and states[-1] == ("half_open", "closed")


def two_suppliers(app, slow: SandboxSupplier, fast: SandboxSupplier) -> tuple[int, int]:
    slow_id = add_printful_supplier(app, slow, skus=("TSHIRT-BLK-S",), timeout=5.0)
    with app.extensions["services"].session_factory.begin() as session:
        session.get(Supplier, slow_id).name = "Slow Printful"
    fast_id = add_printful_supplier(app, fast, skus=("MUG-WHT-11",))
    return slow_id, fast_id


def test_a_slow_supplier_holds_its_own_slots_never_the_other_suppliers_orders(app, sandbox):
    fast = SandboxSupplier()
    fast.start()
    try:
        slow_id, fast_id = two_suppliers(app, sandbox, fast)
        for number in range(1001, 1007):
            deliver(app, "orders/paid", paid_order_payload(skus=("TSHIRT-BLK-S",), order_number=number))
        for number in range(2001, 2007):
            deliver(app, "orders/paid", paid_order_payload(skus=("MUG-WHT-11",), order_number=number))
        sandbox.set_latency(0.4)
        in_flight, most, finished, lock = {}, {}, [], threading.Lock()
        services = app.extensions["services"]

        class Counted:
            """The real adapter; counts its calls in flight and the order they finish in."""

            def __init__(self, supplier):
                self.inner, self.supplier_id = adapter_from_record(supplier, services.box), supplier.id

            def place_order(self, request):
                with lock:
                    in_flight[self.supplier_id] = in_flight.get(self.supplier_id, 0) + 1
                    most[self.supplier_id] = max(most.get(self.supplier_id, 0), in_flight[self.supplier_id])
                try:
                    return self.inner.place_order(request)
                finally:
                    with lock:
                        in_flight[self.supplier_id] -= 1
                        finished.append(self.supplier_id)

            def __getattr__(self, name):
                return getattr(self.inner, name)

        report = worker(app, adapter_for=Counted, slots=SupplierSlots(2), threads=4).drain()
        assert report.placed == 12
        assert most[slow_id] == 2 and 1 <= most[fast_id] <= 2  # the cap (the slow one used it all)
        # Every order of the fast supplier was placed before the slow one's queue was through.
        assert max(i for i, s in enumerate(finished) if s == fast_id) < max(i for i, s in enumerate(finished) if s == slow_id)
        assert finished[-2:] == [slow_id, slow_id]
    finally:
        fast.stop()


def test_exactly_once_through_random_5xx_timeouts_and_an_open_breaker(app, sandbox):
    add_printful_supplier(app, sandbox, timeout=0.5)
    for number in range(1001, 1031):
        deliver(app, "orders/paid", paid_order_payload(order_number=number))
    sandbox.set_failure_rate(0.3)
    sandbox.time_out_next(hold_seconds=0.8, count=3, route="POST /v2/orders")  # processed, answer lost
    sandbox.time_out_next(hold_seconds=0.8, count=2, route="POST /v2/orders/{id}/confirmation")
    w = worker(app, breaker=CircuitBreaker(window=4, open_ratio=0.75, cooldown=0.0), max_attempts=1000)  # exactly-once here, not giving up
    for _ in range(60):
        w.drain()
        if all(d.state == "placed" for d in deliveries(app)):
            break
        make_due(app)
    rows = deliveries(app)
    assert [d.state for d in rows] == ["placed"] * 30
    assert [sandbox.orders_created(d.idempotency_key) for d in rows] == [1] * 30
    assert all(sandbox.order(d.supplier_order_id).status != "draft" for d in rows)  # each confirmed too
    assert sum(d.attempts for d in rows) > 30  # the faults were really met


def test_breaker_events_are_kept_under_the_suppliers_shop(app, sandbox):
    """The breaker's events are kept per supplier, under the supplier's own shop."""
    supplier_id = add_printful_supplier(app, sandbox)
    w = worker(app, breaker=CircuitBreaker(window=1, open_ratio=1.0))
    w.breaker.failure(supplier_id)
    with app.extensions["services"].session_factory() as session:
        [event] = session.scalars(select(BreakerEvent)).all()
        assert (event.shop_domain, event.supplier_id, event.old_state, event.state) == (SHOP, supplier_id, "closed", "open")


def test_a_429_without_retry_after_waits_for_the_rate_limit_reset():
    import time

    import httpx

    from integrations.suppliers.http import retry_after_seconds

    def answer(status, **headers):
        return httpx.Response(status, headers=headers, request=httpx.Request("POST", "http://supplier.test/orders"))

    assert retry_after_seconds(answer(429, **{"Retry-After": "4"})) == 4.0  # Retry-After wins
    assert retry_after_seconds(answer(429, **{"X-RateLimit-Reset": "12"})) == 12.0  # a delta
    assert retry_after_seconds(answer(429, **{"RateLimit-Reset": "3", "X-RateLimit-Reset": "50"})) == 3.0  # the IETF header first
    at = retry_after_seconds(answer(429, **{"X-RateLimit-Reset": str(int(time.time()) + 30)}))  # a Unix time
    assert 25 <= at <= 30
    assert retry_after_seconds(answer(503, **{"X-RateLimit-Reset": "12"})) is None  # not a rate limit
    assert retry_after_seconds(answer(429, **{"X-RateLimit-Reset": "soon"})) is None  # unreadable: the fast schedule


def test_a_delivery_whose_lease_ran_out_in_the_pool_queue_is_placed_once(app, sandbox):
    """A claim waiting behind a slow call may lose its lease to another worker: then only that worker sends it."""
    add_printful_supplier(app, sandbox)
    for number in (1001, 1002):
        deliver(app, "orders/paid", paid_order_payload(order_number=number))
    first, queued = deliveries(app)
    services = app.extensions["services"]
    sent, entered, release_first, release_other = [], {}, threading.Event(), threading.Event()
    lock = threading.Lock()

    def counted(tag):
        class Counted:
            """The real adapter; records each place_order and holds it until the test says so."""

            def __init__(self, supplier):
                self.inner = adapter_from_record(supplier, services.box)

            def place_order(self, request):
                with lock:
                    sent.append((tag, request.external_id))
                    entered.setdefault((tag, request.external_id), threading.Event()).set()
                if tag == "one" and request.external_id == first.idempotency_key:
                    release_first.wait(10)
                if tag == "two":
                    release_other.wait(10)
                return self.inner.place_order(request)

            def __getattr__(self, name):
                return getattr(self.inner, name)
        return Counted

    def started(key):
        with lock:
            return entered.setdefault(key, threading.Event())

    one = worker(app, adapter_for=counted("one"), slots=SupplierSlots(2), threads=1)
    two = worker(app, adapter_for=counted("two"))
    drains = [threading.Thread(target=one.drain)]
    drains[0].start()
    try:
        assert started(("one", first.idempotency_key)).wait(10)  # the second delivery waits in one's queue
        with services.session_factory.begin() as session:  # ...until its lease runs out
            session.execute(update(SupplierOrder).where(SupplierOrder.id == queued.id).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
        drains.append(threading.Thread(target=two.drain))
        drains[1].start()
        assert started(("two", queued.idempotency_key)).wait(10)  # another worker claimed it and is sending it
        release_first.set()
        drains[0].join(10)  # one's thread reaches the queued row while two's call is in flight
    finally:
        release_first.set()
        release_other.set()
        for thread in drains:
            thread.join(10)
    assert [key for _, key in sent].count(queued.idempotency_key) == 1
    assert sandbox.orders_created(queued.idempotency_key) == 1
    assert [d.state for d in deliveries(app)] == ["placed", "placed"]


def test_the_forwarding_drain_beats_its_pump_per_finished_delivery(app, sandbox):
    """A long pass that keeps placing orders tells /readyz it is busy, not stuck."""
    add_printful_supplier(app, sandbox)
    for number in (1001, 1002, 1003):
        deliver(app, "orders/paid", paid_order_payload(order_number=number))
    beats = []
    w = worker(app)
    w.beat = lambda: beats.append(1)
    assert w.drain().placed == 3
    assert len(beats) == 3


# -- left alone last time: a lost claim's probe, a scrape that wrote, an unbounded close, a wrapper per call ---------


def test_a_probe_taken_for_a_row_another_worker_claimed_is_given_back(app, sandbox):
    supplier_id = add_printful_supplier(app, sandbox)
    deliver(app, "orders/paid", paid_order_payload())
    clock = FakeClock()
    breaker = CircuitBreaker(window=1, open_ratio=1.0, cooldown=1.0, probes=1, clock=clock)
    w = worker(app, breaker=breaker)
    breaker.failure(supplier_id)  # open
    clock.now += 2  # cooldown over: the next call is the one probe
    rival = worker(app)

    class RivalClaimsFirst:
        """Between our choice (the probe taken) and our conditional UPDATE, another worker claims the row."""

        def __init__(self, inner):
            self.inner, self.done = inner, False

        def begin(self):
            if not self.done:
                self.done = True
                assert rival._claim(10, ForwardReport())
            return self.inner.begin()

    w.session_factory = RivalClaimsFirst(w.session_factory)
    assert w._claim(10, ForwardReport()) == []
    assert breaker.state(supplier_id) == "half_open"
    assert breaker.acquire(supplier_id) == 0  # the probe slot is free again: the next due order may probe


def test_reading_the_breakers_states_for_a_scrape_records_no_transition():
    from shopify_app.metrics.breakers import publish_breaker_states, watch_breaker

    clock, seen = FakeClock(), []
    breaker = watch_breaker(CircuitBreaker(window=1, open_ratio=1.0, cooldown=5.0, clock=clock, on_transition=seen.append))
    breaker.failure(424242)
    assert [(c.old, c.new) for c in seen] == [("closed", "open")]
    clock.now += 6
    publish_breaker_states()  # what /metrics does on every scrape
    assert breaker.breaker_states()[424242] == "half_open"  # it reads as half-open...
    assert [(c.old, c.new) for c in seen] == [("closed", "open")]  # ...but nothing moved, nothing was written
    assert breaker.acquire(424242) == 0  # forwarding asks: now it moves, and the move is recorded
    assert [(c.old, c.new) for c in seen] == [("closed", "open"), ("open", "half_open")]


def test_the_breaker_is_not_wrapped_and_its_metric_follows_its_transitions():
    from prometheus_client import REGISTRY

    from shopify_app.metrics.breakers import watch_breaker

    clock = FakeClock()
    raw = CircuitBreaker(window=1, open_ratio=1.0, cooldown=5.0, clock=clock)
    assert watch_breaker(raw) is raw  # no proxy in front of every acquire/success/failure
    raw.failure(434343)
    assert REGISTRY.get_sample_value("dropship_supplier_breaker_state", {"supplier_id": "434343", "state": "open"}) == 1


def test_closing_the_forwarding_pool_waits_a_bounded_time_for_a_hung_call(app, sandbox):
    add_printful_supplier(app, sandbox)
    deliver(app, "orders/paid", paid_order_payload())
    entered, release = threading.Event(), threading.Event()
    services = app.extensions["services"]

    class Hung:
        def __init__(self, supplier):
            self.inner = adapter_from_record(supplier, services.box)

        def place_order(self, request):
            entered.set()
            release.wait(30)  # a supplier that never answers (until the test lets it)
            return self.inner.place_order(request)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    w = worker(app, adapter_for=Hung)
    drain = threading.Thread(target=w.drain)
    drain.start()
    try:
        assert entered.wait(10)
        w.stopping.set()
        assert w.close(timeout=0.2) is False  # returned with the call still in flight, instead of waiting for it
        assert drain.is_alive()
    finally:
        release.set()
        drain.join(30)
    [delivery] = deliveries(app)
    assert delivery.state == "placed"  # the call in flight finished on its own
