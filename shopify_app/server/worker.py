"""The gunicorn worker class: gthread, whose SIGTERM also starts stopping the pumps at once."""
from __future__ import annotations

import threading
import time

from gunicorn.workers.gthread import ThreadWorker

from .lifecycle import stop_background_work


class GracefulThreadWorker(ThreadWorker):
    """On SIGTERM the pumps and the clock stop while in-flight requests drain, not after.

    gunicorn's arbiter kills a worker GRACEFUL_TIMEOUT after the signal; stopping the
    pumps only in worker_exit (after the requests) could be cut short by that kill when a
    client stalls. The drains stop between rows either way; requests still being answered
    commit their rows, which the next process picks up.
    """

    NOTIFY_EVERY = 1.0  # seconds; the arbiter kills a worker silent for WORKER_TIMEOUT (60 s)
    _notified_at = float("-inf")

    def notify(self) -> None:
        """Tell the arbiter we are alive at most once a second: gthread called it (a utime syscall) on every event-loop turn, i.e. several times per request."""
        now = time.monotonic()
        if now - self._notified_at >= self.NOTIFY_EVERY:
            self._notified_at = now
            super().notify()

    def handle_exit(self, sig, frame) -> None:
        """Begin the graceful stop (gunicorn's), and stop background work in a thread (no blocking in a signal handler)."""
        first = self.alive
        super().handle_exit(sig, frame)
        app = getattr(self, "wsgi", None)
        if first and app is not None and hasattr(app, "extensions"):
            threading.Thread(target=stop_background_work, args=(app.extensions["services"],), name="stop-background-work", daemon=True).start()
