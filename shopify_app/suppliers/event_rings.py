"""Ringing the way-back lane for suppliers' webhooks: once for all those committed within a short window.

Every supplier webhook rang the lane at once, and each ring cost the lane a look (a claim
query) for the one delivery: about as much CPU as handling it (issue 19 session 33 part S).
A supplier's event (a status, a parcel) is not on the path of a new order, so it may wait a
fraction of a second: the first webhook of a window starts a timer, the ring comes at its end,
after every webhook of the window has committed, and one look claims them all (a batch).
"""
from __future__ import annotations

import threading
from typing import Callable

# How long a supplier's event may wait for its lane's look. Short enough that a window holds fewer events than
# the way back's batch (WAY_BACK_BATCH, 10) at 50 orders/s: a full look makes the lane's sibling thread look
# again and again while the first holds the rows (harness: 0.25 s windows did that).
RING_WINDOW_SECONDS = 0.1


class CoalescedRing:
    """`ring()` at most once per `seconds`: at the end of the window the first call opened, so it follows every call of that window."""

    def __init__(self, ring: Callable[[], None], seconds: float | None = None):
        self.ring = ring
        self.seconds = RING_WINDOW_SECONDS if seconds is None else seconds
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __call__(self) -> None:
        """Ring within `seconds` (a ring already due covers this call: it comes after it)."""
        with self._lock:
            if self._timer is not None:
                return
            timer = self._timer = threading.Timer(self.seconds, self._fire)
            timer.daemon = True  # a ring left pending at exit is not needed: the rows are committed, the next start's poll finds them
        timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None  # cleared before ringing: a call from now on opens a new window, so none goes unrung
        self.ring()
