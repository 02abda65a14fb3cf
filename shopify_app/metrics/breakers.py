"""Circuit breaker states as metrics: `breaker_states()` reads every breaker this process watches.

Breakers live in the memory of the process that forwards (the embedded scheduler's
process, or each procrastinate worker), so that process publishes their states into a
gauge (multiprocess mode "livemax": the web process's scrape sees the worker's value, and a
dead worker's breaker disappears with it). It publishes on every state change of a breaker
(its `on_transition`) and on every scrape it answers.
"""
from __future__ import annotations

import threading
import weakref

from .instruments import SUPPLIER_BREAKER_STATE
from .safety import never_raises

STATES = ("closed", "open", "half_open")
SEVERITY = {"closed": 0, "half_open": 1, "open": 2}

# Keyed by id(): breakers are dataclasses (unhashable); a forgotten worker's breaker drops out.
_watched: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()
_ever_tripped: set[int] = set()  # suppliers with series: they stay, at closed=1, after recovering
_lock = threading.Lock()


class WatchedBreaker:
    """The breaker it wraps, unchanged, except that every method call republishes the states."""

    def __init__(self, breaker):
        self.watched_breaker = breaker

    def __getattr__(self, name: str):
        attribute = getattr(self.watched_breaker, name)
        if not callable(attribute):
            return attribute

        def call_then_publish(*args, **kwargs):
            try:
                return attribute(*args, **kwargs)
            finally:
                publish_breaker_states()

        return call_then_publish


def watch_breaker(breaker):
    """Watch `breaker` (a forwarding CircuitBreaker): its states show in dropship_supplier_breaker_state.

    A breaker that announces its changes (`on_transition`, as CircuitBreaker does) is returned
    as it is, publishing after each change: wrapping it would publish on every call, several
    per order. Any other is wrapped so that every call on it republishes.
    """
    if isinstance(breaker, WatchedBreaker) or getattr(breaker, "_published_on_transition", False):
        return breaker
    with _lock:
        _watched[id(breaker)] = breaker
    if not hasattr(breaker, "on_transition"):
        return WatchedBreaker(breaker)
    listener = breaker.on_transition

    def record_then_publish(change) -> None:
        try:
            if listener is not None:
                listener(change)
        finally:
            publish_breaker_states()

    breaker.on_transition = record_then_publish
    breaker._published_on_transition = True
    return breaker


def states_of(breaker) -> dict[int, str]:
    """{supplier_id: "open"|"half_open"} of one breaker (suppliers not listed are closed)."""
    if hasattr(breaker, "breaker_states"):  # the half-open breaker (issue 20) says it itself
        return {sid: state for sid, state in breaker.breaker_states().items() if state != "closed"}
    # Today's breaker is closed or open: open while is_open() has seconds left.
    return {sid: "open" for sid in list(getattr(breaker, "_open_until", {})) if breaker.is_open(sid)}


def breaker_states() -> dict[int, str]:
    """{supplier_id: "closed"|"open"|"half_open"} for every supplier a breaker in this process has seen trip."""
    current: dict[int, str] = {}
    with _lock:
        watched = list(_watched.values())  # a snapshot: workers may start while a scrape reads
    for breaker in watched:
        for sid, state in states_of(breaker).items():
            # Two breakers for one supplier (two workers in one process): the worse one counts.
            if SEVERITY[state] > SEVERITY[current.get(sid, "closed")]:
                current[sid] = state
    with _lock:
        _ever_tripped.update(current)
        return {sid: current.get(sid, "closed") for sid in _ever_tripped}


@never_raises
def publish_breaker_states() -> None:
    """Write this process's breaker states into the gauge (1 for the state each supplier is in, 0 for the others)."""
    for sid, state in breaker_states().items():
        for candidate in STATES:
            SUPPLIER_BREAKER_STATE.labels(str(sid), candidate).set(1 if candidate == state else 0)
