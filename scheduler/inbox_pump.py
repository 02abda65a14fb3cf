"""A background thread that drains the webhook inbox as soon as a delivery lands (and polls)."""
from __future__ import annotations

import logging
import threading

from shopify_app.webhooks.worker import InboxWorker

log = logging.getLogger(__name__)


class InboxPump:
    """Runs InboxWorker.drain whenever woken, and at least every poll_seconds."""

    def __init__(self, services, poll_seconds: float = 1.0):
        self.services = services
        self.worker = InboxWorker(services.session_factory, services.settings, services)
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the pump thread."""
        self._thread = threading.Thread(target=self._run, name="inbox-pump", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        self.services.inbox_wakeup.set()
        if self._thread:
            self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return bool(self._thread and self._thread.is_alive())

    def _run(self) -> None:
        wakeup = self.services.inbox_wakeup
        while not self._stop.is_set():
            wakeup.wait(self.poll_seconds)
            wakeup.clear()
            try:
                self.worker.drain()
            except Exception:  # noqa: BLE001 - keep pumping; the row stays in the inbox
                log.exception("inbox drain pass failed")
