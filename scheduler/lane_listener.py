"""A worker's LISTEN connection: each NOTIFY on the lanes' channels rings that lane's doorbell in this process."""
from __future__ import annotations

import logging
import threading
from collections import Counter

import psycopg

from shopify_app.jobs.lane_notices import (CHANNEL, FORWARDING, LEAVING_NAME, LISTENER_NAME, ORDERS, PASS_ON, PASS_ON_PARAMS, WAY_BACK, process_channel,
                                           process_id)

log = logging.getLogger(__name__)

STOP_CHECK_SECONDS = 1.0  # the listen loop looks at its stop flag this often (worker shutdown)
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0


def lane_wakeups(services) -> dict[str, object]:
    """The doorbell (or Event) each lane's pump threads wait on, by the NOTIFY payload naming the lane."""
    return {ORDERS: services.inbox_wakeup, WAY_BACK: services.supplier_events_wakeup, FORWARDING: services.forwarding_wakeup}


class LaneListener:
    """One autocommit psycopg connection per process, LISTENing on the lanes' channels in a thread of its own.

    Its own channel (a web's NOTIFY picks one live listener: lane_notices.py) and the shared one.

    Each notification rings its lane once (a Doorbell wakes one waiting thread; rings while
    every thread is busy coalesce into one look when a thread is free). Notifications sent
    while the connection is down are lost to it, so every (re)connection rings every lane
    once: the rows committed meanwhile are claimed at once, not at the lanes' next poll.

    `leave()` (the worker begins to stop) renames the connection so no NOTIFY picks it any
    more, and from then on passes each wake-up on its own channel to another live listener
    (its lanes stop between rows: a ring here would wait for the others' poll).
    """

    def __init__(self, conninfo: str, wakeups: dict[str, object], process: str | None = None):
        """`process`: the id of the process whose lanes it rings (its lease owners' prefix; default this OS process's)."""
        self.conninfo = conninfo
        self.wakeups = wakeups
        self.process = process or process_id()
        self.listening = threading.Event()  # set while LISTEN is in place (tests, health)
        self.backend_pid: int | None = None  # the listening connection's server process (tests kill it)
        self.reconnects = 0
        self.heard: Counter[str] = Counter()  # notifications received, by lane (tests, debugging)
        self.passed_on: Counter[str] = Counter()  # wake-ups passed to another listener while leaving, by lane
        self.left = threading.Event()  # set once no NOTIFY picks this listener any more (leave())
        self._leaving = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="lane-listener", daemon=True)
        self._thread.start()

    def leave(self) -> None:
        """Stop being picked by the web's NOTIFY (within STOP_CHECK_SECONDS; returns at once); keep listening to pass wake-ups on until stop()."""
        self._leaving.set()

    def stop(self) -> None:
        """Stop listening (within STOP_CHECK_SECONDS)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=STOP_CHECK_SECONDS * 5)

    @property
    def alive(self) -> bool:
        """Whether the listen thread runs (connected or reconnecting)."""
        return bool(self._thread and self._thread.is_alive())

    def ring(self, lane: str) -> None:
        """Wake one thread of the lane a notification names (other payloads are ignored)."""
        self.heard[lane] += 1
        wakeup = self.wakeups.get(lane)
        if wakeup is None:
            log.debug("lane listener: no lane %r here", lane)
            return
        wakeup.set()

    def ring_all(self) -> None:
        """Wake every lane once (after a (re)connection: what was committed meanwhile)."""
        for wakeup in self.wakeups.values():
            wakeup.set()

    def _run(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while not self._stop.is_set():
            try:
                self._listen()
                return  # stopped
            except psycopg.Error as exc:
                if self._leaving.is_set():
                    return  # stopping: the other listeners take the wake-ups (none is picked for it now)
                if self.listening.is_set():  # it was up: the backoff starts again
                    delay = RECONNECT_FIRST_SECONDS
                self.listening.clear()
                self.reconnects += 1
                log.warning("lane listener lost its connection (%s: %s); reconnecting in %.1f s, the lanes keep polling meanwhile",
                            type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "", delay)
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    def _listen(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True, application_name=f"{LISTENER_NAME}-starting") as conn:
            self.backend_pid = conn.info.backend_pid
            conn.execute(f"LISTEN {CHANNEL}")
            conn.execute(f"LISTEN {process_channel(self.process)}")
            # Named a listener only now: a NOTIFY never picks a channel nobody LISTENs on yet.
            conn.execute("SELECT set_config('application_name', %s, false)", (f"{LISTENER_NAME}:{self.process}",))
            if self.reconnects:
                log.info("lane listener reconnected (after %d loss(es))", self.reconnects)
            self.listening.set()
            self.ring_all()
            while not self._stop.is_set():
                late = None
                if self._leaving.is_set() and not self.left.is_set():
                    self._stop_being_picked(conn)
                for notice in conn.notifies(timeout=STOP_CHECK_SECONDS):
                    if not self._leaving.is_set():
                        self.ring(notice.payload)
                    elif notice.channel != CHANNEL:  # (the shared channel reaches every listener: nothing to pass on)
                        late = notice.payload
                        break  # passed on outside notifies(), which holds the connection (later ones wait in its backlog)
                if late is not None:
                    if not self.left.is_set():
                        self._stop_being_picked(conn)  # first: the pass-on's pick must not name this listener
                    self._pass_on(conn, late)
        self.listening.clear()

    def _stop_being_picked(self, conn) -> None:
        # Not UNLISTEN: a NOTIFY that picked this listener just before commits after this, and
        # is passed on. The new name also ends this process's order holds (order_holds.py).
        conn.execute("SELECT set_config('application_name', %s, false)", (f"{LEAVING_NAME}:{self.process}",))
        self.left.set()
        log.info("lane listener leaving: wake-ups go to the other workers")

    def _pass_on(self, conn, lane: str) -> None:
        self.passed_on[lane] += 1
        conn.execute(PASS_ON, {**PASS_ON_PARAMS, "lane": lane})
