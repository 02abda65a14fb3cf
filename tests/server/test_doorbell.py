"""A lane's pump threads share a Doorbell: one new delivery wakes one thread, not the whole lane."""
from __future__ import annotations

import threading
import time

from scheduler.pump import Pump
from shopify_app.jobs.doorbell import Doorbell


def _passes_until(counts: list[int], at_least: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(counts) < at_least and time.monotonic() < deadline:
        time.sleep(0.01)


def test_one_ring_wakes_one_of_the_lanes_threads_and_stop_wakes_them_all():
    bell = Doorbell()
    passes = [0, 0, 0]
    started = threading.Barrier(4)

    def work_of(n):
        def work():
            passes[n] += 1
        return work

    # A poll far longer than the test: a pass happens only when the bell wakes a thread.
    pumps = [Pump(f"lane-{n}", work_of(n), bell, poll_seconds=600) for n in range(3)]
    original_wait = bell.wait

    def counting_wait(timeout=None):
        if not getattr(threading.current_thread(), "seen", False):
            threading.current_thread().seen = True
            started.wait(10)
        return original_wait(timeout)

    bell.wait = counting_wait
    try:
        for pump in pumps:
            pump.start()
        started.wait(10)
        time.sleep(0.05)  # every thread is inside wait()
        # The pump's first pass (before its first wait) does not count: start from what they did.
        before = sum(passes)
        bell.set()
        _passes_until(passes, before + 1)
        time.sleep(0.3)  # room for a second thread to (wrongly) wake too
        assert sum(passes) == before + 1
        bell.set()
        bell.set()
        _passes_until(passes, before + 3)
        time.sleep(0.3)
        assert sum(passes) == before + 3
    finally:
        stopping = time.monotonic()
        for pump in pumps:
            pump.stop()
    # Each stop woke its own thread at once (a poll of 600 s would otherwise hold every join).
    assert not any(pump.alive for pump in pumps)
    assert time.monotonic() - stopping < 30


def test_a_ring_with_no_thread_waiting_is_kept_for_the_next_one():
    bell = Doorbell()
    bell.set()
    bell.set()
    assert bell.is_set()
    assert bell.wait(0) is True  # taken at once, no waiting
    assert bell.wait(0.01) is False  # rings do not pile up: one pass sees every row due
    assert not bell.is_set()
