"""How forwarding copes with a flaky supplier: the retry schedule, the circuit breaker, per-supplier slots.

A supplier failing one call in five is not down: the next try should come within a second
or two, so the first retries are fast (with jitter, so a burst of failures does not come
back as a burst) and only later ones back off exponentially. A supplier that tells us
when to come back (Retry-After, rate-limit reset) is obeyed to the letter. When most
recent calls fail, the breaker opens: nothing is sent for a short cooldown, then a few
probes go through (half-open); one answer closes it, a failure reopens it for twice as
long. Slots cap the calls in flight per supplier, so a slow supplier holds a few threads,
never all of them.
"""
from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

FIRST_RETRY = 0.5  # seconds: the ceiling of the first retry's delay
RETRY_CAP = 1800.0  # no computed delay (and no supplier's Retry-After) parks an order longer than this

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


def retry_delay(attempts: int, rng: random.Random, retry_after: float | None = None) -> float:
    """Seconds to wait after the `attempts`-th failed try: 0.25-0.5 s, 0.5-1 s, 1-2 s, ... up to 30 min.

    Equal jitter (half fixed, half random) keeps the fast first retries fast while still
    spreading a burst; Retry-After, when the supplier sent one, is the delay, exactly.
    """
    if retry_after is not None:
        return min(max(0.0, retry_after), RETRY_CAP)
    ceiling = min(RETRY_CAP, FIRST_RETRY * 2 ** max(0, attempts - 1))
    return rng.uniform(ceiling / 2, ceiling)


@dataclass
class Transition:
    """A breaker changing state (monotonic `at`, plus wall-clock `wall` for people)."""

    supplier_id: int
    old: str
    new: str
    reason: str
    at: float
    wall: float


@dataclass
class _Circuit:
    state: str = CLOSED
    recent: deque = field(default_factory=deque)
    until: float = 0.0  # open: when probes may start
    reopenings: int = 0  # consecutive opens without a close: the cooldown doubles with each
    probes_started: list[float] = field(default_factory=list)


@dataclass
class CircuitBreaker:
    """Per supplier: closed -> open (most of the last `window` calls failed) -> half-open -> closed or open again.

    It opens on a failure *rate* rather than a run of failures: a supplier failing one call
    in three is slow, not down, and keeps getting orders. Open, nothing is sent for
    `cooldown` seconds (doubling on every reopening, up to `max_cooldown`); then up to
    `probes` calls go through. The first answer closes it; a failed probe reopens it. A
    supplier's Retry-After on a refused call opens it until then (`pause`): the other
    orders wait too, instead of each being refused in turn.
    """

    window: int = 10
    open_ratio: float = 0.8
    cooldown: float = 1.0
    max_cooldown: float = 30.0
    probes: int = 2
    probe_timeout: float = 60.0  # a probe whose result never came (a crash) frees its slot after this
    clock: Callable[[], float] = time.monotonic
    on_transition: Callable[[Transition], None] | None = None
    _circuits: dict[int, _Circuit] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- asking -------------------------------------------------------------------------

    def acquire(self, supplier_id: int) -> float:
        """0 when a call to the supplier may go now (taking a probe slot when half-open), else seconds to wait."""
        changes: list[Transition] = []
        with self._lock:
            circuit = self._circuits.setdefault(supplier_id, _Circuit())
            now = self.clock()
            self._ripen(supplier_id, circuit, now, changes)
            if circuit.state == CLOSED:
                wait = 0.0
            elif circuit.state == OPEN:
                wait = circuit.until - now
            else:
                circuit.probes_started = [t for t in circuit.probes_started if now - t < self.probe_timeout]
                if len(circuit.probes_started) < self.probes:
                    circuit.probes_started.append(now)
                    wait = 0.0
                else:
                    # The probes are out: their answer decides. Look again shortly.
                    wait = min(self.cooldown, self.probe_timeout)
        self._announce(changes)
        return wait

    def is_open(self, supplier_id: int) -> float:
        """Seconds until calls may go again (0 when closed or half-open); takes no probe slot."""
        changes: list[Transition] = []
        with self._lock:
            circuit = self._circuits.get(supplier_id)
            if circuit is None:
                return 0.0
            now = self.clock()
            self._ripen(supplier_id, circuit, now, changes)
            wait = circuit.until - now if circuit.state == OPEN else 0.0
        self._announce(changes)
        return wait

    def state(self, supplier_id: int) -> str:
        """The supplier's breaker state now."""
        return self.breaker_states().get(supplier_id, CLOSED)

    def breaker_states(self) -> dict[int, str]:
        """{supplier_id: "closed" | "open" | "half_open"} for every supplier called so far.

        A pure read (a metrics scrape asks it): an open breaker whose cooldown is over reads
        half-open, but it moves there, and the move is recorded, only when forwarding asks to call.
        """
        with self._lock:
            now = self.clock()
            return {supplier_id: HALF_OPEN if circuit.state == OPEN and now >= circuit.until else circuit.state
                    for supplier_id, circuit in self._circuits.items()}

    def give_back_probe(self, supplier_id: int) -> None:
        """A probe slot taken with `acquire` whose call never went (its row was claimed by another worker)."""
        with self._lock:
            circuit = self._circuits.get(supplier_id)
            if circuit is not None and circuit.state == HALF_OPEN and circuit.probes_started:
                circuit.probes_started.pop()

    # -- results ------------------------------------------------------------------------

    def success(self, supplier_id: int) -> None:
        """The supplier answered (any answer, a refusal too: it is up)."""
        self._record(supplier_id, True)

    def failure(self, supplier_id: int) -> None:
        """The supplier failed transiently (5xx, 429, no answer)."""
        self._record(supplier_id, False)

    def pause(self, supplier_id: int, seconds: float) -> None:
        """The supplier asked us to come back in `seconds` (Retry-After): open until then."""
        changes: list[Transition] = []
        with self._lock:
            circuit = self._circuits.setdefault(supplier_id, _Circuit())
            now = self.clock()
            until = now + min(max(0.0, seconds), RETRY_CAP)
            if not (circuit.state == OPEN and circuit.until >= until):
                self._move(supplier_id, circuit, OPEN, f"the supplier asked us to come back in {seconds:.1f} s", now, changes)
                circuit.until = until
                circuit.probes_started.clear()
        self._announce(changes)

    def _record(self, supplier_id: int, ok: bool) -> None:
        changes: list[Transition] = []
        with self._lock:
            circuit = self._circuits.setdefault(supplier_id, _Circuit())
            now = self.clock()
            self._ripen(supplier_id, circuit, now, changes)
            if circuit.state == HALF_OPEN:
                if ok:
                    self._move(supplier_id, circuit, CLOSED, "a probe got an answer", now, changes)
                    circuit.reopenings = 0
                    circuit.recent.clear()
                    circuit.probes_started.clear()
                else:
                    self._open(supplier_id, circuit, "a probe failed", now, changes)
            elif circuit.state == CLOSED:
                circuit.recent.append(ok)
                while len(circuit.recent) > self.window:
                    circuit.recent.popleft()
                failures = len(circuit.recent) - sum(circuit.recent)
                if len(circuit.recent) == self.window and failures >= self.open_ratio * self.window:
                    self._open(supplier_id, circuit, f"{failures} of the last {self.window} calls failed", now, changes)
            # OPEN: late answers of calls sent before it opened change nothing.
        self._announce(changes)

    # -- internals (under the lock) -----------------------------------------------------

    def _open(self, supplier_id: int, circuit: _Circuit, reason: str, now: float, changes: list) -> None:
        cooldown = min(self.max_cooldown, self.cooldown * 2 ** circuit.reopenings)
        circuit.reopenings += 1
        circuit.until = now + cooldown
        circuit.probes_started.clear()
        circuit.recent.clear()
        self._move(supplier_id, circuit, OPEN, f"{reason}; probing again in {cooldown:.0f} s", now, changes)

    def _ripen(self, supplier_id: int, circuit: _Circuit, now: float, changes: list) -> None:
        if circuit.state == OPEN and now >= circuit.until:
            self._move(supplier_id, circuit, HALF_OPEN, "cooldown over: letting probes through", now, changes)

    def _move(self, supplier_id: int, circuit: _Circuit, new: str, reason: str, now: float, changes: list) -> None:
        if circuit.state != new or new == OPEN:
            changes.append(Transition(supplier_id, circuit.state, new, reason, now, time.time()))
        circuit.state = new

    def _announce(self, changes: list[Transition]) -> None:
        # Outside the lock: the listener writes to the database.
        if self.on_transition is not None:
            for change in changes:
                try:
                    self.on_transition(change)
                except Exception:  # noqa: BLE001 - visibility must never stop forwarding
                    import logging

                    logging.getLogger(__name__).exception("recording a breaker transition failed")


class SupplierSlots:
    """At most `limit` calls in flight per supplier, so one slow supplier never holds every thread."""

    def __init__(self, limit: int = 4):
        self.limit = limit
        self._busy: dict[int, int] = {}
        self._lock = threading.Lock()

    def free(self, supplier_id: int) -> int:
        """How many more calls this supplier may take now."""
        with self._lock:
            return self.limit - self._busy.get(supplier_id, 0)

    def take(self, supplier_id: int) -> bool:
        """Take a slot if one is free."""
        with self._lock:
            if self._busy.get(supplier_id, 0) >= self.limit:
                return False
            self._busy[supplier_id] = self._busy.get(supplier_id, 0) + 1
            return True

    def give_back(self, supplier_id: int) -> None:
        """Free a slot taken with `take`."""
        with self._lock:
            left = self._busy.get(supplier_id, 0) - 1
            if left > 0:
                self._busy[supplier_id] = left
            else:
                self._busy.pop(supplier_id, None)

    def in_flight(self) -> dict[int, int]:
        """{supplier_id: calls in flight}."""
        with self._lock:
            return dict(self._busy)
