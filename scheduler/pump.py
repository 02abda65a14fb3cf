"""A background thread that runs one worker pass whenever woken, when its next work is due, and at least every poll interval."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


MIN_WAIT = 0.02  # seconds: a pass that says "due now" again is not run in a tight loop


class Pump:
    """Calls `work()` when `wakeup` is set (new rows), when `next_due()` says work is due, or every `poll_seconds`.

    `next_due()` returns the seconds until the earliest scheduled work (None: none), so a
    retry due in 300 ms runs in 300 ms, not at the next poll.
    """

    def __init__(self, name: str, work: Callable[[], object], wakeup: threading.Event, poll_seconds: float = 1.0,
                 next_due: Callable[[], float | None] | None = None):
        self.name = name
        self.work = work
        self.wakeup = wakeup
        self.poll_seconds = poll_seconds
        self.next_due = next_due
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_beat = time.monotonic()  # the loop's heartbeat, for /readyz
        self._waiting = False  # between passes: idle is not stuck, however long the poll interval

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        getattr(self.wakeup, "wake_all", self.wakeup.set)()  # a Doorbell wakes one thread per ring: wake this one too
        if self._thread:
            self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return bool(self._thread and self._thread.is_alive())

    def beat(self) -> None:
        """Say the loop is alive: a pass that keeps making progress calls this, so it is busy, not stuck."""
        self.last_beat = time.monotonic()

    @property
    def silent_seconds(self) -> float:
        """Seconds since the loop last beat in a pass (a pass that never returns makes this grow); 0 while it waits for work."""
        return 0.0 if self._waiting else time.monotonic() - self.last_beat

    def _run(self) -> None:
        timeout = self.poll_seconds
        while not self._stop.is_set():
            self.beat()
            self._waiting = True
            try:
                self.wakeup.wait(timeout)
            finally:
                self._waiting = False
                self.beat()
            self.wakeup.clear()
            try:
                self.work()
            except Exception:  # noqa: BLE001 - keep pumping; the rows stay in their tables
                log.exception("%s pass failed", self.name)
            timeout = self._until_due()

    def _until_due(self) -> float:
        if self.next_due is None:
            return self.poll_seconds
        try:
            due = self.next_due()
        except Exception:  # noqa: BLE001 - the poll interval still brings it back
            log.exception("%s: reading when work is due failed", self.name)
            return self.poll_seconds
        return self.poll_seconds if due is None else min(self.poll_seconds, max(MIN_WAIT, due))
