"""A background thread that runs one worker pass whenever woken, and at least every poll interval."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


class Pump:
    """Calls `work()` when `wakeup` is set (new rows) or every `poll_seconds` (due retries)."""

    def __init__(self, name: str, work: Callable[[], object], wakeup: threading.Event, poll_seconds: float = 1.0):
        self.name = name
        self.work = work
        self.wakeup = wakeup
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_beat = time.monotonic()  # the loop's heartbeat, for /readyz

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        self.wakeup.set()
        if self._thread:
            self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return bool(self._thread and self._thread.is_alive())

    @property
    def silent_seconds(self) -> float:
        """Seconds since the loop last beat (a pass that never returns makes this grow)."""
        return time.monotonic() - self.last_beat

    def _run(self) -> None:
        while not self._stop.is_set():
            self.last_beat = time.monotonic()
            self.wakeup.wait(self.poll_seconds)
            self.wakeup.clear()
            try:
                self.work()
            except Exception:  # noqa: BLE001 - keep pumping; the rows stay in their tables
                log.exception("%s pass failed", self.name)
