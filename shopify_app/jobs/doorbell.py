"""Waking a lane's pump threads one at a time."""
from __future__ import annotations

import threading


class Doorbell:
    """A wake-up shared by a lane's pump threads: each ring wakes ONE waiting thread, not all of them.

    With a plain Event every webhook woke every thread of the lane, and all but one ran a claim
    query that found nothing (or lost the race). A ring that finds no thread waiting is kept
    (one), so a thread busy with a pass looks again when it is done. Same interface as the
    Event the pump waits on (set, wait, clear, is_set).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._rung = False

    def set(self) -> None:
        """Ring: wake one waiting thread (or the next one to wait)."""
        with self._cond:
            self._rung = True
            self._cond.notify()

    def wake_all(self) -> None:
        """Wake every waiting thread (at shutdown, so each sees its stop flag at once)."""
        with self._cond:
            self._rung = True
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a ring (at most `timeout` seconds); True if one was taken."""
        with self._cond:
            if not self._rung:
                self._cond.wait(timeout)
            rung, self._rung = self._rung, False
            return rung

    def clear(self) -> None:
        """Nothing to do: `wait` takes its ring."""

    def is_set(self) -> bool:
        """Whether a ring waits for a thread."""
        with self._cond:
            return self._rung
